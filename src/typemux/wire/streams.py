"""The client's stdio as asyncio transports: input to a callback, output to a FrameWriter.

Reading is an asyncio Protocol: every chunk read from stdin goes straight to `on_data` in
the callback that read it (no StreamReader, no task, no async generator in between), so a
request can be routed and written to its backend in the iteration it arrived in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable

from typemux.wire.messages import Incoming, Malformed
from typemux.wire.outbox import DEFAULT_LIMIT
from typemux.wire.writer import Batch, FrameWriter, WriteProtocol

__all__ = ["Incoming", "InputReader", "Malformed", "connect_read_fd", "connect_stdio",
           "connect_write_fd"]

# What one read of a pipe asks for. asyncio's pipe transports ask for 256 KiB: CPython
# allocates that much for every read and shrinks it to what came, and glibc serves an
# allocation that large with mmap (over its 128 KiB threshold, unless earlier frees happened
# to raise it): three syscalls and a freshly zeroed page per read, ~30 us of CPU per round
# trip. A pipe holds 64 KiB (its default size): a read of that much takes what is there.
READ_CHUNK = 64 * 1024
OnData = Callable[[bytes], None]  # b"" once: the input ended


# ----- stdio ------------------------------------------------------------------------------


async def connect_stdio(
    on_data: OnData,
    *,
    batch: Batch | None = None,
    queue_limit: int = DEFAULT_LIMIT,
    on_lost: Callable[[str], None] | None = None,
) -> tuple[FrameWriter, InputReader]:
    """Read this process's stdin into `on_data`; returns the writer for its stdout and the
    reader of its stdin (to stop it and take what waits in the pipe, at the end).

    The writer keeps a private duplicate of stdout, and fd 1 is pointed at stderr: a stray
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
    writer = await connect_write_fd(out_fd, name="client", batch=batch,
                                    queue_limit=queue_limit, on_lost=on_lost)
    reader = await connect_read_fd(0, on_data)
    return writer, reader


class _ReadProtocol(asyncio.Protocol):
    def __init__(self, on_data: OnData) -> None:
        self.on_data = on_data
        self.ended = False

    def data_received(self, data: bytes) -> None:
        self.on_data(data)

    def eof_received(self) -> bool | None:
        self._end()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self.on_data(b"")


class InputReader:
    """The reading end of a stream: stopped at the end, and what already waits in its pipe
    then taken without blocking (see `read_waiting`)."""

    def __init__(self, fd: int, protocol: _ReadProtocol,
                 transport: asyncio.ReadTransport | None) -> None:
        self._fd = fd
        self._protocol = protocol
        self._transport = transport  # None: a thread reads (a regular file, /dev/null)
        self.stopped = False

    def stop(self) -> None:
        """Read nothing more from the event loop (what waits stays in the pipe)."""
        self.stopped = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def read_waiting(self, max_bytes: int, deadline: float) -> int:
        """Hand to `on_data` what is in the pipe now, never waiting for more: until it is
        empty, has ended (b"" is handed on), `max_bytes` were read or the monotonic clock
        passed `deadline`. Returns the bytes read. Call after `stop`.

        A thread-read input (a file, not a client) is read by its thread alone: 0."""
        if self._transport is None or self._protocol.ended:
            return 0
        total = 0
        while total < max_bytes and time.monotonic() < deadline:
            try:
                data = os.read(self._fd, min(READ_CHUNK, max_bytes - total))
            except (BlockingIOError, InterruptedError):
                break  # empty: what the peer writes from now on is not read
            except OSError:
                data = b""
            if not data:
                self._protocol.eof_received()
                break
            total += len(data)
            self._protocol.data_received(data)
        return total


def read_in_pieces(transport: asyncio.ReadTransport) -> None:
    """Make an asyncio read-pipe transport read READ_CHUNK at most per read."""
    transport.max_size = READ_CHUNK  # type: ignore[attr-defined]


async def connect_read_fd(fd: int, on_data: OnData) -> InputReader:
    """Hand every chunk read from `fd` to `on_data` (b"" at the end); a thread reads when
    epoll cannot watch `fd`."""
    loop = asyncio.get_running_loop()
    protocol = _ReadProtocol(on_data)
    if _pollable(fd):
        pipe = open(fd, "rb", buffering=0, closefd=False)  # noqa: SIM115 - the transport owns it
        transport, _ = await loop.connect_read_pipe(lambda: protocol, pipe)
        read_in_pieces(transport)
        return InputReader(fd, protocol, transport)
    # Regular files and /dev/null: always "ready", so epoll refuses them.
    threading.Thread(
        target=_pump, args=(fd, loop, on_data), name="typemux-stdin", daemon=True
    ).start()
    return InputReader(fd, protocol, None)


async def connect_write_fd(
    fd: int,
    *,
    name: str,
    batch: Batch | None = None,
    queue_limit: int = DEFAULT_LIMIT,
    on_lost: Callable[[str], None] | None = None,
) -> FrameWriter:
    """A FrameWriter that owns `fd` (closing the writer closes it)."""
    loop = asyncio.get_running_loop()
    writer = FrameWriter(name=name, batch=batch, queue_limit=queue_limit, on_lost=on_lost)
    protocol = WriteProtocol(writer)
    transport: asyncio.WriteTransport
    if stat.S_ISREG(os.fstat(fd).st_mode):
        transport = _FileWriteTransport(fd, protocol, loop)
        protocol.connection_made(transport)
    else:
        pipe = open(fd, "wb", buffering=0)  # noqa: SIM115 - the transport owns it
        transport, _ = await loop.connect_write_pipe(lambda: protocol, pipe)
    writer.attach(transport)
    return writer


def _pollable(fd: int) -> bool:
    with selectors.DefaultSelector() as probe:
        try:
            probe.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            return False
    return True


def _pump(fd: int, loop: asyncio.AbstractEventLoop, on_data: OnData) -> None:
    while True:
        try:
            data = os.read(fd, READ_CHUNK)
        except OSError:
            data = b""
        try:
            loop.call_soon_threadsafe(on_data, data)
        except RuntimeError:  # the loop is closed: nobody is reading any more
            return
        if not data:
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
