"""Close, in the backend, the documents a client never closes (sans-IO).

Claude Code opens every file it asks about and never sends didClose, so a long session ends
up with hundreds of documents open in every backend, and each edit makes the backend
re-check all of them. After `document_idle_close` seconds with no message about a clean
document, typemux closes it in its backend and keeps the text; the next message that needs
it re-opens it first. The empty publishDiagnostics a backend sends when a document closes is
not forwarded while the client still has it open (the client's view must not turn "clean").
"""

from __future__ import annotations


class IdleClose:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._last: dict[str, float] = {}
        # uri -> session of the backend that typemux closed it in
        self._closed: dict[str, int] = {}
        self._next_check: float | None = None

    @property
    def enabled(self) -> bool:
        return self.idle > 0

    def touch(self, uri: str, now: float) -> None:
        if not self.enabled:
            return
        self._last[uri] = now
        if self._next_check is None:
            self._next_check = now + self.idle

    def forget(self, uri: str) -> None:
        """The client closed the document."""
        self._last.pop(uri, None)
        self._closed.pop(uri, None)

    def next_deadline(self) -> float | None:
        # Activity only moves a document's deadline later, so an early check is harmless:
        # it rescans and finds the next one. This keeps the per-event cost O(1).
        return self._next_check

    def due(self, now: float) -> list[str]:
        """Documents idle for `idle` seconds and still open in their backend."""
        if self._next_check is None or now < self._next_check:
            return []
        found: list[str] = []
        earliest: float | None = None
        for uri, last in self._last.items():
            if uri in self._closed:
                continue
            if now - last >= self.idle:
                found.append(uri)
            elif earliest is None or last + self.idle < earliest:
                earliest = last + self.idle
        self._next_check = earliest
        return found

    def mark_closed(self, uri: str, session: int) -> None:
        self._closed[uri] = session

    def closed_in(self, uri: str) -> int | None:
        """The session typemux closed `uri` in, or None."""
        return self._closed.get(uri)

    def reopened(self, uri: str) -> None:
        self._closed.pop(uri, None)

    def closed_count(self) -> int:
        return len(self._closed)
