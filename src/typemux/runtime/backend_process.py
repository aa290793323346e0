"""One backend language-server process: spawn, pipes, process group, exit detection.

Uses an asyncio SubprocessProtocol rather than streams: `process_exited` fires when the
process itself exits, even when a child it left behind (pyright's node) still holds the
pipes open. Its stdin and stdout are pipes typemux makes and connects itself: asyncio hands
a subprocess pipe's data to the protocol through `call_soon`, one more event-loop iteration
per read, where a plain read-pipe Protocol gets it in the callback that read it. The stdout
is read by a `wire.Endpoint` (the same one as the client's stdin) and the stdin written by a
`wire.FrameWriter` with the pipe's own flow control.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from typemux import jsonrpc
from typemux.log import get_logger
from typemux.runtime.descendants import die_with_parent, kill_marked, owner_prefix, watchdog
from typemux.runtime.exit_report import StderrTail, describe_end
from typemux.wire.endpoint import EOF, NEED_DATA, Endpoint, Incoming, Malformed
from typemux.wire.messages import is_notification_head, scan_request_id, scan_response_id
from typemux.wire.streams import read_in_pieces
from typemux.wire.writer import Batch, FrameWriter, WriteProtocol

log = get_logger("typemux.backend")

OnMessage = Callable[[int, jsonrpc.Message, bytes], None]
OnGone = Callable[[int, str], None]
# (session, id of the request whose answer was over max_message_size, its size in bytes)
OnOversize = Callable[[int, jsonrpc.RequestId, int], None]
OnSettled = Callable[[], None]

SPAWN_LIMIT = 30.0  # longest a fork+exec may take before a stop stops waiting for it
# After the stdout closed or the process exited: how long the report of the end waits for
# the other, and for the end of stderr (the exit code and last words say why it ended).
END_WAIT = 1.0

# A backend whose unread input exceeds max(this, 2 x max_message_size) is treated as hung.
WRITE_LIMIT_FLOOR = 64 * 1024 * 1024




class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, owner: BackendProcess) -> None:
        self.owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.owner._exists(transport)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.owner._stderr(data)  # stdin and stdout are typemux's own pipes

    def process_exited(self) -> None:
        self.owner._exited()

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self.owner._stderr_ended()


class _Stdout(asyncio.Protocol):
    def __init__(self, owner: BackendProcess) -> None:
        self.owner = owner

    def data_received(self, data: bytes) -> None:
        self.owner._stdout(data)

    def eof_received(self) -> bool | None:
        self.owner._stdout(b"")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._stdout(b"")  # a no-op after EOF: the backend is gone by then


class BackendProcess:
    def __init__(
        self,
        session: int,
        venv: Path,
        *,
        max_message_size: int,
        on_message: OnMessage,
        on_gone: OnGone,
        batch: Batch | None = None,
        on_settled: OnSettled | None = None,
        on_oversize: OnOversize | None = None,
    ) -> None:
        self.session = session
        self.venv = venv
        self.pid: int | None = None
        self.started_at = time.monotonic()
        self._endpoint = Endpoint(max_message_size, lazy=True)
        self._on_message = on_message
        self._on_gone = on_gone
        self._on_settled = on_settled  # after each chunk of output is handled
        self._on_oversize = on_oversize
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._stdout_pipe: asyncio.ReadTransport | None = None
        # Nothing to a backend is ever dropped: a backend that stops reading is stopped
        # once this much waits for it (in typemux and in the transport).
        self._writer = FrameWriter(
            name=f"backend {session}", batch=batch, droppable=False,
            hard_limit=max(WRITE_LIMIT_FLOOR, 2 * max_message_size),
            on_overflow=self._not_reading,
        )
        self._registered = False
        self._stderr_tail = StderrTail()
        self._stderr_done = False
        # Set when the stdout closed or the process exited: the end is reported once the
        # exit code and the rest of stderr are in, or END_WAIT later (see _ended).
        self._ending: asyncio.TimerHandle | None = None
        self._stdout_closed_first = False
        self._gone = False
        self._exited_event = asyncio.Event()
        self.returncode: int | None = None
        # A stop can come before the process exists (evicted while spawning): start() then
        # never forks, or kills it the moment it exists; stop() waits for start() to settle.
        self.stop_requested = False
        self._stop_event = asyncio.Event()
        self._settled = asyncio.Event()
        self._slots: asyncio.Semaphore | None = None  # held from fork until the process is gone
        self.mark = f"{owner_prefix()}{session}"

    async def start(self, argv: Sequence[str], env: dict[str, str], cwd: Path,
                    slots: asyncio.Semaphore | None = None) -> None:
        """Spawn the process, then write what was queued for it. With `slots`, first wait
        for a free one: it bounds the processes alive at once (pool + being stopped).
        Stopped before or while spawning: no process is left and nothing is written to it."""
        try:
            if slots is not None and not await self._take_slot(slots):
                return
            if self.stop_requested:
                return
            loop = asyncio.get_running_loop()
            name, value = self.mark.split("=", 1)
            out_r, out_w = os.pipe()  # not inheritable: only the child's copies reach it
            in_r, in_w = os.pipe()
            try:
                transport, _ = await loop.subprocess_exec(
                    lambda: _Protocol(self),
                    *argv,
                    stdin=in_r,
                    stdout=out_w,
                    stderr=asyncio.subprocess.PIPE,
                    env={**env, name: value},
                    cwd=str(cwd),
                    start_new_session=True,  # own process group: killpg takes its children too
                    preexec_fn=die_with_parent,
                )
            except BaseException:
                os.close(out_r)
                os.close(in_w)
                raise
            finally:
                os.close(in_r)
                os.close(out_w)
            self._exists(transport)
            await self._connect(out_r, in_w)
        finally:
            if self._transport is None:
                self._give_slot()  # no process: nothing holds the slot
            self._settled.set()

    async def _connect(self, out_r: int, in_w: int) -> None:
        """Read the backend's stdout and write what was sent meanwhile to its stdin."""
        stdout = open(out_r, "rb", buffering=0)  # noqa: SIM115 - the transport owns it
        stdin = open(in_w, "wb", buffering=0)  # noqa: SIM115 - the transport owns it
        if self.stop_requested:
            stdout.close()
            stdin.close()
            return
        loop = asyncio.get_running_loop()
        read, _ = await loop.connect_read_pipe(lambda: _Stdout(self), stdout)
        read_in_pieces(read)
        write, _ = await loop.connect_write_pipe(lambda: WriteProtocol(self._writer), stdin)
        self._stdout_pipe, self._stdin = read, write
        if self.stop_requested or self._gone:
            self.kill()  # stopped or gone while the pipes were connected
            return
        self._writer.attach(write)

    async def _take_slot(self, slots: asyncio.Semaphore) -> bool:
        """Wait for a slot, or for a stop (False)."""
        acquire = asyncio.ensure_future(slots.acquire())
        stopped = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not acquire.done():
                acquire.cancel()
        if acquire.done() and not acquire.cancelled():
            self._slots = slots
        return self._slots is not None and not self.stop_requested

    def _give_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()
            self._slots = None

    def _exists(self, transport: asyncio.SubprocessTransport) -> None:
        """The process exists (called from connection_made, before the pipes are handed
        back to start(): output and exit can arrive first)."""
        if self._transport is not None:
            return
        self._transport = transport
        self.pid = transport.get_pid()
        watchdog.register(self.pid)
        self._registered = True
        if self.stop_requested:
            self._writer.discard()  # queued for a process that was stopped: never sent
            self.kill()

    # ----- writing (never blocks) ----------------------------------------------------------
    def send(self, msg: jsonrpc.Message, raw: bytes | None = None) -> None:
        if not self._gone:
            self._writer.send(msg, raw)

    def _not_reading(self, waiting: int) -> None:
        limit = max(WRITE_LIMIT_FLOOR, 2 * self._endpoint.max_size)
        log.warning("backend_not_reading", session=self.session, pid=self.pid,
                    waiting_bytes=waiting, limit_bytes=limit)
        # Not from inside send(): the proxy may be executing the router's actions.
        asyncio.get_running_loop().call_soon(
            self._lost, f"stopped reading its input ({waiting} bytes waiting); treated as hung")

    # ----- reading -------------------------------------------------------------------------
    def _stdout(self, data: bytes) -> None:
        if self._gone:
            return
        try:
            self._read(data)
        finally:
            if self._on_settled is not None:
                self._on_settled()

    def _read(self, data: bytes) -> None:
        endpoint = self._endpoint
        endpoint.receive_data(data)
        while True:
            event = endpoint.next_event()
            if type(event) is Incoming:
                # Invalid UTF-8 is replaced, not fatal; `raw` is the repaired body.
                self._on_message(self.session, event.msg, event.raw)
                if self._gone:
                    return
                continue
            if event is NEED_DATA:
                return
            if event is EOF:
                self._ended(stdout_closed=True)
                return
            if isinstance(event, Malformed):
                if event.stage == "frame" and event.size and self._too_large(event):
                    if self._gone:
                        return
                    continue
                if event.stage == "frame":
                    self._lost(f"broke the LSP framing ({event.reason})")
                    return
                if event.stage == "json":
                    self._lost(f"sent a body that is not JSON ({event.reason})")
                    return
                log.warning("backend_bad_message", session=self.session, reason=event.reason)

    def _too_large(self, event: Malformed) -> bool:
        """A message over max_message_size: the framing skipped its body and is still in
        sync, so only this message is lost. What it was is read from its first bytes: an
        answer is replaced by an error (the router's), a notification is dropped, a request
        of the backend's is refused to it. False when its head shows none of these (an
        answer whose id comes after a long result): a request would wait for it forever,
        so the backend is then handled as broken, which answers every pending request."""
        limit = self._endpoint.max_size
        response_id = scan_response_id(event.head)
        request_id = scan_request_id(event.head)
        if response_id is not None and self._on_oversize is not None:
            kind = "response"
        elif request_id is not None:
            kind = "request"
        elif is_notification_head(event.head):
            kind = "notification"
        else:
            return False
        log.warning("backend_message_too_large", session=self.session, kind=kind,
                    id=response_id if kind == "response" else request_id,
                    size=event.size, max_message_size=limit)
        if kind == "response":
            assert self._on_oversize is not None and response_id is not None
            self._on_oversize(self.session, response_id, event.size)
        elif kind == "request":
            self.send(jsonrpc.too_large(request_id, "the request", event.size, limit))
        return True

    def _stderr(self, data: bytes) -> None:
        # Drained continuously: a full 64 KB stderr pipe would block a chatty backend (pyrefly).
        for line in self._stderr_tail.feed(data):
            log.debug("backend_stderr", session=self.session, line=line)

    def _stderr_ended(self) -> None:
        self._stderr_done = True
        self._report_end(final=False)

    def _exited(self) -> None:
        assert self._transport is not None
        self.returncode = self._transport.get_returncode()
        self._exited_event.set()
        self._give_slot()
        self._ended(stdout_closed=False)

    def _ended(self, *, stdout_closed: bool) -> None:
        """The stdout closed or the process exited. It is gone either way, but the report
        waits (at most END_WAIT) for the exit code and the rest of stderr."""
        if self._gone:
            return
        if self._ending is None:
            self._stdout_closed_first = stdout_closed
            self._ending = asyncio.get_running_loop().call_later(END_WAIT, self._report_end)
        self._report_end(final=False)

    def _report_end(self, final: bool = True) -> None:
        if self._ending is None or self._gone:
            return
        if not final and (self.returncode is None or not self._stderr_done):
            return
        self._ending.cancel()
        self._lost(describe_end(self._stdout_closed_first, self.returncode,
                                self._stderr_tail.last()))

    def _lost(self, why: str) -> None:
        if self._gone:
            return
        self._gone = True
        self.kill()
        self._on_gone(self.session, why)

    # ----- ending --------------------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL the whole process group and close our end of the pipes."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            if self._registered:
                self._registered = False
                watchdog.unregister(self.pid)
        for pipe in (self._stdin, self._stdout_pipe):
            if pipe is not None:
                with contextlib.suppress(Exception):
                    pipe.close()

    async def stop(self, graceful: bool, grace: float) -> None:
        """Let it leave on its own (shutdown/exit were sent) for `grace` seconds, then kill
        its group and whatever it started outside the group. Safe before the process
        exists: it is then never started, or killed as soon as it exists."""
        self._gone = True
        if not self.stop_requested:
            self.stop_requested = True
            self._stop_event.set()
            if self._transport is None:
                self._writer.discard()
        if not self._settled.is_set():
            graceful = False  # it never got shutdown/exit: nothing was written to it
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._settled.wait(), SPAWN_LIMIT)
        if graceful and self._transport is not None and self.returncode is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exited_event.wait(), grace)
        self.kill()
        if self._transport is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exited_event.wait(), 2.0)
            self._transport.close()
            # A descendant that called setsid() escaped killpg; it still carries our mark.
            await asyncio.to_thread(kill_marked, self.mark + "\0")
        self._give_slot()  # even if it would not die: a slot must never leak
