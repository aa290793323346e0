"""Frames onto a write transport (a pipe), in order, without ever making the caller wait.

`FrameWriter` writes a frame to the transport at once, in the caller's callback, while the
pipe keeps up. When the transport's flow control pauses it (its buffer passed the high-water
mark: the peer reads slowly), frames wait in an `Outbox` and go out in WRITE_BATCH pieces
from `resume_writing`. There is no writer task and no `call_soon`: a message is handed to
the pipe in the same event-loop iteration that produced it.

`Batch` holds the frames produced while one input chunk is handled (a pipelined burst of
requests), and `end()` hands each stream's frames to its transport with one `writelines`:
one write syscall (and one wake-up of the peer) per stream per chunk, not one per frame.

Two policies, one mechanism:
- client: waiting notifications are droppable (a newer publishDiagnostics for a uri replaces
  the waiting one; past `queue_limit` bytes the oldest are dropped), responses and requests
  never are.
- backend: nothing is droppable; past `hard_limit` bytes waiting (outbox + transport) the
  peer is declared not reading (`on_overflow`), and the caller stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from typemux.wire.endpoint import Endpoint
from typemux.wire.framing import frame_header
from typemux.wire.outbox import DEFAULT_LIMIT, Outbox

log = logging.getLogger("typemux.wire")

WRITE_BATCH = 256 * 1024  # handed to the transport at once; the rest waits in the outbox
CLOSE_TIMEOUT = 2.0
_DIAGNOSTICS = "textDocument/publishDiagnostics"

# A frame waiting to be written: header, body, droppable, and the message (for its key).
_Held = tuple[bytes, bytes, bool, Any]


def coalesce_key(msg: Any) -> str | None:
    """The uri of a publishDiagnostics notification: a newer one for it supersedes it."""
    if msg is None or msg.get("method") != _DIAGNOSTICS or "id" in msg:
        return None
    params = msg.get("params")
    uri = params.get("uri") if isinstance(params, dict) else None
    return uri if isinstance(uri, str) else None


class Batch:
    """While open, writers hold their frames; `end()` writes them, stream by stream."""

    __slots__ = ("_dirty", "open")

    def __init__(self) -> None:
        self.open = False
        self._dirty: list[FrameWriter] = []

    def begin(self) -> None:
        self.open = True

    def end(self) -> None:
        self.open = False
        while self._dirty:  # flush(), inline: this runs at the end of every chunk
            dirty, self._dirty = self._dirty, []
            for writer in dirty:
                writer._release()

    def flush(self) -> None:
        """Write what is held now (the batch stays as it is)."""
        while self._dirty:
            dirty, self._dirty = self._dirty, []
            for writer in dirty:
                writer._release()

    def _hold(self, writer: FrameWriter) -> None:
        self._dirty.append(writer)


class FrameWriter:
    def __init__(
        self,
        *,
        name: str,
        batch: Batch | None = None,
        droppable: bool = True,
        queue_limit: int = DEFAULT_LIMIT,
        hard_limit: int | None = None,
        on_lost: Callable[[str], None] | None = None,
        on_overflow: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.transport: asyncio.WriteTransport | None = None
        self._batch = batch
        self._droppable = droppable  # notifications may be given up (the client's stream)
        self._outbox = Outbox(queue_limit)
        self._hard_limit = hard_limit
        self._held: list[_Held] = []
        self._paused = False
        self._closing = False
        self._closed = False
        self._on_lost = on_lost
        self._on_overflow = on_overflow
        self._lost_waiter: asyncio.Future[None] | None = None
        self._flushed: asyncio.Event | None = None

    # ----- state -------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed or (self.transport is not None and self.transport.is_closing())

    @property
    def pending(self) -> int:
        """Frames not yet handed to the transport."""
        return len(self._outbox) + len(self._held)

    @property
    def pending_bytes(self) -> int:
        return self._outbox.size + sum(len(h[0]) + len(h[1]) for h in self._held)

    @property
    def buffered(self) -> int:
        """Bytes the transport holds (handed over, not yet taken by the pipe)."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def attach(self, transport: asyncio.WriteTransport) -> None:
        """Start writing to `transport` (what was sent before waits until now)."""
        self.transport = transport
        self._drain()

    # ----- sending -----------------------------------------------------------------------
    def send(self, msg: Any = None, raw: bytes | None = None) -> None:
        """Write one message now (or hold it for the batch, or queue it while the pipe is
        full); `raw` is its encoded body, sent unchanged."""
        if self._closing or self._closed:
            log.debug("%s: stream closed, message dropped", self.name)
            return
        if raw is not None:
            header, body = frame_header(raw), raw
        else:
            if msg is None:
                raise TypeError("send() needs a message or raw bytes")
            try:
                header, body = Endpoint.frame(msg)
            except (TypeError, ValueError):
                # A bug in whoever built the message; the stream itself stays usable.
                log.exception("%s: message cannot be encoded, dropped", self.name)
                return
        # Without the message we cannot tell a notification: keep it like a response.
        droppable = self._droppable and msg is not None and "id" not in msg
        entry = (header, body, droppable, msg)
        batch = self._batch
        if batch is not None and batch.open:
            if not self._held:
                batch._hold(self)
            self._held.append(entry)
            return
        if not self.closed:  # a transport that is closing takes nothing more
            self._write([entry])

    def _release(self) -> None:
        held, self._held = self._held, []
        if held and not self._closed:  # a transport that closed meanwhile: see _to_transport
            self._write(held)

    def _write(self, entries: list[_Held]) -> None:
        transport = self.transport
        start = 0
        if transport is not None and not self._paused and not self._outbox.live:
            if len(entries) == 1 and len(entries[0][1]) < WRITE_BATCH:
                # One frame (a sequential round trip's): written without building lines.
                self._to_transport(entries[0][0] + entries[0][1])
                return
            count = len(entries)
            while start < count and not self._paused:
                lines: list[bytes] = []
                size = 0
                while start < count and size < WRITE_BATCH:
                    header, body = entries[start][0], entries[start][1]
                    lines.append(header)
                    lines.append(body)
                    size += len(header) + len(body)
                    start += 1
                if not self._to_transport(b"".join(lines)):
                    return
        for header, body, droppable, msg in entries[start:]:
            key = coalesce_key(msg) if droppable else None
            self._outbox.put(header, body, droppable=droppable, key=key)
        if start < len(entries):
            self._check_limit()

    def _to_transport(self, data: bytes) -> bool:
        transport = self.transport
        assert transport is not None
        try:
            transport.write(data)  # may call pause_writing() before it returns
        except Exception as exc:  # the peer is gone
            self._gone(repr(exc))
            return False
        if transport.is_closing():  # a broken pipe closes the transport at once
            self._gone("stream closed")
            return False
        return True

    def _check_limit(self) -> None:
        if self._hard_limit is None or self.transport is None:
            return
        waiting = self._outbox.size + self.transport.get_write_buffer_size()
        if waiting > self._hard_limit:
            self._outbox.clear()
            if self._on_overflow is not None:
                self._on_overflow(waiting)

    # ----- flow control (from the transport's protocol) -----------------------------------
    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._drain()

    def _drain(self) -> None:
        outbox = self._outbox
        while outbox and not self._paused and self.transport is not None and not self.closed:
            if not self._to_transport(b"".join(outbox.take(WRITE_BATCH))):
                return
        if not outbox:
            self._report_losses()
            if self._flushed is not None:
                self._flushed.set()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._lost_waiter is not None and not self._lost_waiter.done():
            self._lost_waiter.set_result(None)
        if not self._closing and not self._closed:
            self._gone(repr(exc) if exc is not None else "stream closed")

    # ----- ending -------------------------------------------------------------------------
    def discard(self) -> None:
        """Forget every frame not yet written (the peer was stopped)."""
        self._held = []
        self._outbox.clear()

    async def aclose(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Flush what waits (at most `timeout` in all), then close the transport."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._release()
        self._closing = True
        if self._outbox and not self.closed:
            self._flushed = asyncio.Event()
            self._drain()
            try:
                await asyncio.wait_for(self._flushed.wait(), timeout)
            except TimeoutError:
                log.warning("%s: %d frames not flushed within %.1fs", self.name, self.pending,
                            timeout)
        self._report_losses()
        self._closed = True
        self._outbox.clear()
        transport = self.transport
        if transport is None:
            return
        self._lost_waiter = loop.create_future()
        try:
            transport.close()  # the transport writes its own buffer before it closes
            await asyncio.wait_for(asyncio.shield(self._lost_waiter),
                                   max(0.0, deadline - loop.time()))
        except TimeoutError:
            transport.abort()
        except Exception as exc:  # the peer is gone; nothing left to report it to
            log.debug("%s: close: %r", self.name, exc)

    def _report_losses(self) -> None:
        outbox = self._outbox
        if outbox.coalesced or outbox.dropped:
            log.warning(
                "client_output_coalesced: %s: the peer read slowly; %d superseded "
                "publishDiagnostics and %d other notifications were not sent",
                self.name, outbox.coalesced, outbox.dropped,
            )
            outbox.coalesced = outbox.dropped = 0

    def _gone(self, why: str) -> None:
        if self._closed:
            return
        dropped = self.pending
        self._closed = True
        self._held = []
        self._outbox.clear()
        if self._on_lost is not None:
            log.warning("%s: output stream lost (%s); %d queued frames dropped",
                        self.name, why, dropped)
            self._on_lost(why)


class WriteProtocol(asyncio.Protocol):
    """Hands a write pipe's flow control and loss to its FrameWriter."""

    def __init__(self, writer: FrameWriter) -> None:
        self.writer = writer

    def pause_writing(self) -> None:
        self.writer.pause_writing()

    def resume_writing(self) -> None:
        self.writer.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        with contextlib.suppress(Exception):
            self.writer.connection_lost(exc)
