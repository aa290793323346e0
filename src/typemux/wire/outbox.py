"""The queue of frames waiting for a peer that reads slowly or not at all (sans-IO).

A client that stops reading must not make typemux grow without bound, yet every request
must still get its one answer. So only notifications are ever given up: a publish of
diagnostics replaces the one for the same uri still waiting (only the latest matters), and
past `limit` bytes the oldest waiting other notifications (log messages, progress) are
dropped. Responses, requests and each uri's latest diagnostics always stay: dropping those
would leave the editor showing errors that are no longer there, or none that are (the
diagnostics are bounded by the number of files, one publish each). Everything is O(1) per
frame, amortised.
"""

from __future__ import annotations

from collections import deque
from typing import Final

DEFAULT_LIMIT: Final = 16 * 1024 * 1024
# Below this many entries, dead ones are not worth a rebuild of the queues.
_COMPACT_MIN: Final = 1024


class _Entry:
    __slots__ = ("body", "droppable", "header", "key")

    def __init__(self, header: bytes, body: bytes, droppable: bool, key: str | None) -> None:
        self.header: bytes | None = header
        self.body = body
        self.droppable = droppable
        self.key = key

    @property
    def live(self) -> bool:
        return self.header is not None

    @property
    def size(self) -> int:
        return len(self.body) + len(self.header or b"")

    def kill(self) -> None:
        self.header = None
        self.body = b""  # the memory goes back at once, not when the entry leaves the queue


class Outbox:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.coalesced = 0  # superseded diagnostics given up since the last report
        self.dropped = 0  # notifications given up to the limit since the last report
        self._queue: deque[_Entry] = deque()
        # The notifications of _queue that may be dropped (not diagnostics), oldest first.
        self._droppable: deque[_Entry] = deque()
        self._latest: dict[str, _Entry] = {}  # uri -> its waiting publishDiagnostics
        self._dead = 0  # killed entries still in _queue
        self._bytes = 0
        self.live = 0  # frames waiting (a plain attribute: read on every write)

    def __len__(self) -> int:
        """Frames waiting."""
        return self.live

    @property
    def size(self) -> int:
        return self._bytes

    def put(self, header: bytes, body: bytes, *, droppable: bool, key: str | None = None) -> None:
        """Queue a frame; `droppable` for notifications, `key` (a uri) for diagnostics that
        the next ones with the same key supersede (and only they: the latest one stays)."""
        entry = _Entry(header, body, droppable, key)
        if key is not None:
            old = self._latest.get(key)
            if old is not None and old.live:
                self._kill(old)
                self.coalesced += 1
            self._latest[key] = entry
        self._queue.append(entry)
        self.live += 1
        self._bytes += entry.size
        if droppable and key is None:
            self._droppable.append(entry)
            if len(self._droppable) > 2 * self.live + _COMPACT_MIN:
                self._droppable = deque(e for e in self._droppable if e.live)
        if self._bytes > self.limit:
            self._shed()

    def take(self, max_bytes: int) -> list[bytes]:
        """The oldest frames (header, body, header, body...), about `max_bytes` of them but
        at least one frame when any waits."""
        out: list[bytes] = []
        size = 0
        queue = self._queue
        while queue and size < max_bytes:
            entry = queue.popleft()
            if entry.header is None:
                self._dead -= 1
                continue
            out.append(entry.header)
            out.append(entry.body)
            size += entry.size
            if entry.key is not None and self._latest.get(entry.key) is entry:
                del self._latest[entry.key]
            entry.kill()
            self.live -= 1
        self._bytes -= size
        if not queue:
            # Drop the emptied containers' memory too (a deque keeps no spare blocks, but
            # the side queue and dict would keep their high-water size).
            self._droppable = deque()
            self._latest = {}
            self._dead = 0
        return out

    def clear(self) -> None:
        self._queue = deque()
        self._droppable = deque()
        self._latest = {}
        self._dead = self._bytes = self.live = 0

    def _kill(self, entry: _Entry) -> None:
        self._bytes -= entry.size
        self.live -= 1
        self._dead += 1
        entry.kill()
        if self._dead > _COMPACT_MIN and self._dead * 2 > len(self._queue):
            self._queue = deque(e for e in self._queue if e.live)
            self._dead = 0

    def _shed(self) -> None:
        # Down to 3/4 of the limit, so shedding runs once per many frames, not per frame.
        target = self.limit * 3 // 4
        droppable = self._droppable
        while self._bytes > target and droppable:
            entry = droppable.popleft()
            if entry.live:
                self._kill(entry)
                self.dropped += 1
