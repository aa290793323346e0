"""asyncio streams around the frame decoder: a message reader and a non-blocking writer.

The writer never makes its caller wait: `send()` only queues, and one task per stream
batches the queue into the pipe. A peer that stops reading therefore slows only its own
stream, never the proxy's loop, and costs bounded memory (see outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import stat
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from typemux.wire import codec
from typemux.wire.framing import EOF, NEED_DATA
from typemux.wire.messages import Incoming, Malformed, MessageDecoder, parse_body
from typemux.wire.outbox import DEFAULT_LIMIT, Outbox

log = logging.getLogger("typemux.wire")

__all__ = ["Incoming", "Malformed", "MessageWriter", "open_stdio", "parse_body", "read_messages"]

READ_CHUNK = 65536
CLOSE_TIMEOUT = 2.0


async def read_messages(
    reader: asyncio.StreamReader, *, max_size: int
) -> AsyncIterator[Incoming | Malformed]:
    """Every message on `reader` until EOF; bad input is yielded as `Malformed`, never raised."""
    decoder = MessageDecoder(max_size)
    while True:
        try:
            data = await reader.read(READ_CHUNK)
        except OSError as exc:
            log.warning("read failed, treating it as end of input: %s", exc)
            data = b""
        decoder.receive_data(data)
        while True:
            event = decoder.next_event()
            if event is NEED_DATA:
                break
            if event is EOF:
                return
            assert isinstance(event, Incoming | Malformed)
            yield event


WRITE_BATCH = 256 * 1024  # handed to the transport at once; the rest waits in the outbox
# Below this much data buffered in the transport, send() writes directly (see send()).
DIRECT_WRITE_LIMIT = 64 * 1024
_DIAGNOSTICS = "textDocument/publishDiagnostics"


def _coalesce_key(msg: dict[str, Any]) -> str | None:
    """The uri of a publishDiagnostics notification: a newer one for it supersedes it."""
    if msg.get("method") != _DIAGNOSTICS or "id" in msg:
        return None
    params = msg.get("params")
    uri = params.get("uri") if isinstance(params, dict) else None
    return uri if isinstance(uri, str) else None


class MessageWriter:
    """Frames messages onto one stream from a single task, in `send()` order.

    While the peer keeps up, `send()` writes at once (one event-loop hop less per
    message). Otherwise frames wait in an `Outbox`: bounded for notifications (superseded
    diagnostics are coalesced, the oldest notifications dropped past `queue_limit` bytes),
    never for responses and requests, and the writer task hands the transport at most
    WRITE_BATCH bytes before each `drain()`. A peer that stops reading therefore costs at
    most DIRECT_WRITE_LIMIT + WRITE_BATCH in the transport plus the outbox.
    """

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        *,
        name: str,
        queue_limit: int = DEFAULT_LIMIT,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self._writer = writer
        self._outbox = Outbox(queue_limit)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._on_lost = on_lost

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"typemux-writer-{self.name}"
            )

    @property
    def closed(self) -> bool:
        return self._closed or self._writer.transport.is_closing()

    @property
    def pending(self) -> int:
        """Frames queued but not yet handed to the transport."""
        return len(self._outbox)

    @property
    def pending_bytes(self) -> int:
        return self._outbox.size

    def send(self, msg: dict[str, Any] | None = None, *, raw: bytes | None = None) -> None:
        """Queue one message; `raw` is an encoded JSON body sent unchanged."""
        if self._closing or self.closed:
            log.debug("%s: stream closed, message dropped", self.name)
            return
        if raw is None:
            if msg is None:
                raise TypeError("send() needs a message or raw bytes")
            try:
                raw = codec.dumps(msg)
            except (TypeError, ValueError):
                # A bug in whoever built the message; the stream itself stays usable.
                log.exception("%s: message cannot be encoded, dropped", self.name)
                return
        header = b"Content-Length: %d\r\n\r\n" % len(raw)
        # Without the message we cannot tell a notification: keep it like a response.
        droppable = msg is not None and "id" not in msg
        if not self._outbox and self._task is not None:
            transport = self._writer.transport
            if transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT:
                # Nothing waits and the pipe keeps up: the transport keeps the order and
                # tries the syscall at once; a full pipe falls back to the outbox + drain().
                try:
                    transport.writelines((header, raw))
                except Exception as exc:  # the peer is gone
                    self._gone(repr(exc))
                    return
                if transport.is_closing():  # a broken pipe closes the transport at once
                    self._gone("stream closed")
                return
        key = _coalesce_key(msg) if droppable and msg is not None else None
        self._outbox.put(header, raw, droppable=droppable, key=key)
        self._wake.set()

    async def aclose(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Flush the queue (waiting at most `timeout` in all), then close the stream."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._closing = True
        if self._outbox and not self.closed:
            self.start()
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                log.warning(
                    "%s: %d frames not flushed within %.1fs", self.name, self.pending, timeout
                )
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._report_losses()
        self._closed = True
        self._outbox.clear()
        transport = self._writer.transport
        try:
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            transport.abort()
        except Exception as exc:  # the peer is gone; nothing left to report it to
            log.debug("%s: close: %r", self.name, exc)

    async def _run(self) -> None:
        try:
            while True:
                if not self._outbox:
                    self._report_losses()
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if self.closed:
                    self._gone("stream closed")
                    return
                self._writer.writelines(self._outbox.take(WRITE_BATCH))
                await self._writer.drain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # broken pipe, reset, or a transport already torn down
            self._gone(repr(exc))

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
        dropped = self.pending
        self._closed = True
        self._outbox.clear()
        log.warning(
            "%s: output stream lost (%s); %d queued frames dropped", self.name, why, dropped
        )
        if self._on_lost is not None:
            self._on_lost(why)


# ----- stdio ------------------------------------------------------------------------------


async def open_stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """This process's stdin and stdout as asyncio streams.

    The protocol keeps a private duplicate of stdout, and fd 1 is pointed at stderr: a stray
    print, a library banner or a child process inheriting fd 1 can then never corrupt the
    LSP stream. The duplicate is not inheritable, so children cannot hold the editor's
    pipe open after typemux exits.
    """
    if sys.stdout is not None:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
    out_fd = os.dup(1)
    try:
        os.dup2(2, 1)
    except OSError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    reader = await connect_read_fd(0)
    writer = await connect_write_fd(out_fd)
    return reader, writer


async def connect_read_fd(fd: int) -> asyncio.StreamReader:
    """A StreamReader over `fd`; a thread feeds it when epoll cannot watch `fd`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    if _pollable(fd):
        protocol = asyncio.StreamReaderProtocol(reader)
        pipe = open(fd, "rb", buffering=0, closefd=False)  # noqa: SIM115 - the transport owns it
        await loop.connect_read_pipe(lambda: protocol, pipe)
    else:
        # Regular files and /dev/null: always "ready", so epoll refuses them.
        threading.Thread(
            target=_pump, args=(fd, loop, reader), name="typemux-stdin", daemon=True
        ).start()
    return reader


async def connect_write_fd(fd: int) -> asyncio.StreamWriter:
    """A StreamWriter that owns `fd` (closing the writer closes it)."""
    loop = asyncio.get_running_loop()
    protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader())
    transport: asyncio.WriteTransport
    if stat.S_ISREG(os.fstat(fd).st_mode):
        transport = _FileWriteTransport(fd, protocol, loop)
        protocol.connection_made(transport)
    else:
        pipe = open(fd, "wb", buffering=0)  # noqa: SIM115 - the transport owns it
        transport, _ = await loop.connect_write_pipe(lambda: protocol, pipe)
    return asyncio.StreamWriter(transport, protocol, None, loop)


def _pollable(fd: int) -> bool:
    with selectors.DefaultSelector() as probe:
        try:
            probe.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            return False
    return True


def _pump(fd: int, loop: asyncio.AbstractEventLoop, reader: asyncio.StreamReader) -> None:
    while True:
        try:
            data = os.read(fd, READ_CHUNK)
        except OSError:
            data = b""
        try:
            if data:
                loop.call_soon_threadsafe(reader.feed_data, data)
            else:
                loop.call_soon_threadsafe(reader.feed_eof)
                return
        except RuntimeError:  # the loop is closed: nobody is reading any more
            return


class _FileWriteTransport(asyncio.WriteTransport):
    """Blocking writes to a regular file, which pipe transports refuse (stdout > file)."""

    def __init__(
        self, fd: int, protocol: asyncio.BaseProtocol, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__()
        self._fd = fd
        self._protocol = protocol
        self._loop = loop
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._close(exc)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._close(None)

    def abort(self) -> None:
        self._close(None)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def _close(self, exc: Exception | None) -> None:
        if self._closing:
            return
        self._closing = True
        os.close(self._fd)
        self._loop.call_soon(self._protocol.connection_lost, exc)
