"""One backend language-server process: spawn, pipes, process group, exit detection.

Uses an asyncio SubprocessProtocol rather than streams: output arrives as callbacks (no task
per pipe to schedule), and `process_exited` fires when the process itself exits, even when a
child it left behind (pyright's node) still holds the pipes open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.log import get_logger
from typemux.wire import codec
from typemux.wire.framing import EOF, NEED_DATA, Frame, FrameDecoder, FrameError

log = get_logger("typemux.backend")

OnMessage = Callable[[int, jsonrpc.Message, bytes], None]
OnGone = Callable[[int, str], None]

_PR_SET_PDEATHSIG = 1
# A backend whose unread input exceeds max(this, 2 x max_message_size) is treated as hung.
WRITE_LIMIT_FLOOR = 64 * 1024 * 1024


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when typemux dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# Kills every registered process group once its stdin (our pipe) reaches EOF, which happens
# however typemux ends, SIGKILL included. PDEATHSIG alone reaches only the direct child:
# pyright-langserver's node, or any backend's own children, would outlive a SIGKILLed typemux.
_WATCHDOG_SCRIPT = """
groups=' '
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups${line#+} " ;;
    -*) kept=' '
        for g in $groups; do [ "$g" = "${line#-}" ] || kept="$kept$g "; done
        groups=$kept ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
"""


class _Watchdog:
    """One `sh` per typemux that holds the list of live backend process groups."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def _write(self, line: str) -> None:
        if self._proc is None or self._proc.poll() is not None:
            try:
                self._proc = subprocess.Popen(
                    ["/bin/sh", "-c", _WATCHDOG_SCRIPT], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,  # a signal to typemux's group must not end it
                )
            except OSError as exc:
                log.warning("watchdog_unavailable", error=str(exc))
                self._proc = None
                return
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
        except OSError as exc:
            log.warning("watchdog_write_failed", error=str(exc))

    def register(self, pgid: int) -> None:
        self._write(f"+{pgid}")

    def unregister(self, pgid: int) -> None:
        if self._proc is not None:
            self._write(f"-{pgid}")


_watchdog = _Watchdog()


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, owner: BackendProcess) -> None:
        self.owner = owner

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 1:
            self.owner._stdout(data)
        else:
            self.owner._stderr(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.owner._stdout(b"")

    def process_exited(self) -> None:
        self.owner._exited()

    # The stdin pipe transport forwards its flow control here.
    def pause_writing(self) -> None:
        self.owner._pause_writing()

    def resume_writing(self) -> None:
        self.owner._resume_writing()


class BackendProcess:
    def __init__(
        self,
        session: int,
        venv: Path,
        *,
        max_message_size: int,
        on_message: OnMessage,
        on_gone: OnGone,
    ) -> None:
        self.session = session
        self.venv = venv
        self.pid: int | None = None
        self.started_at = time.monotonic()
        self._decoder = FrameDecoder(max_message_size)
        self._on_message = on_message
        self._on_gone = on_gone
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        # Frames not yet handed to the pipe: written once per loop iteration, so a burst of
        # messages costs one write syscall (and one wake-up of the backend), not one each.
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._paused = False  # the pipe is full: frames wait in _pending (bounded, see send)
        self._flush_scheduled = False
        self._registered = False
        self._stderr_tail = b""
        self._gone = False
        self._exited_event = asyncio.Event()
        self.returncode: int | None = None

    async def start(self, argv: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.subprocess_exec(
            lambda: _Protocol(self),
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(cwd),
            start_new_session=True,  # own process group: killpg takes its children too
            preexec_fn=_die_with_parent,
        )
        self._transport = transport
        self.pid = transport.get_pid()
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        _watchdog.register(self.pid)
        self._registered = True
        self._flush()

    # ----- writing (never blocks) ----------------------------------------------------------
    def send(self, msg: jsonrpc.Message, raw: bytes | None = None) -> None:
        if self._gone:
            return
        body = raw if raw is not None else codec.dumps(msg)
        header = b"Content-Length: %d\r\n\r\n" % len(body)
        self._pending.append(header)
        self._pending.append(body)
        self._pending_bytes += len(header) + len(body)
        if self._stdin is None:
            return  # start() flushes
        waiting = self._pending_bytes + self._stdin.get_write_buffer_size()
        limit = max(WRITE_LIMIT_FLOOR, 2 * self._decoder.max_size)
        if waiting > limit:
            log.warning("backend_not_reading", session=self.session, pid=self.pid,
                        waiting_bytes=waiting, limit_bytes=limit)
            self._pending = []
            self._pending_bytes = 0
            # Not from inside send(): the proxy may be executing the router's actions.
            asyncio.get_running_loop().call_soon(
                self._lost, f"stopped reading its input ({waiting} bytes waiting); treated as hung")
            return
        if not self._flush_scheduled and not self._paused:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending or self._stdin is None or self._paused:
            return
        if not self._stdin.is_closing():
            self._stdin.writelines(self._pending)
        self._pending = []  # a new list: a burst's large one is given back
        self._pending_bytes = 0

    def _pause_writing(self) -> None:
        self._paused = True

    def _resume_writing(self) -> None:
        self._paused = False
        self._flush()

    @property
    def write_buffer_size(self) -> int:
        return self._stdin.get_write_buffer_size() if self._stdin is not None else 0

    # ----- reading -------------------------------------------------------------------------
    def _stdout(self, data: bytes) -> None:
        if self._gone:
            return
        self._decoder.receive_data(data)
        while True:
            event = self._decoder.next_event()
            if event is NEED_DATA:
                return
            if event is EOF:
                self._lost("closed its stdout")
                return
            if isinstance(event, FrameError):
                self._lost(f"broke the LSP framing ({event.reason})")
                return
            assert isinstance(event, Frame)
            try:
                # Invalid UTF-8 is replaced, not fatal; `raw` is the repaired body.
                msg, raw = codec.decode(event.body)
            except codec.DecodeError as exc:
                self._lost(f"sent a body that is not JSON ({exc})")
                return
            problem = jsonrpc.validate(msg)
            if problem is not None:
                log.warning("backend_bad_message", session=self.session, reason=problem)
                continue
            self._on_message(self.session, msg, raw)
            if self._gone:
                return

    def _stderr(self, data: bytes) -> None:
        # Drained continuously: a full 64 KB stderr pipe would block a chatty backend (pyrefly).
        text = self._stderr_tail + data
        lines = text.split(b"\n")
        self._stderr_tail = lines.pop()[-4096:]
        for line in lines:
            if line.strip():
                log.debug("backend_stderr", session=self.session,
                          line=line.decode("utf-8", "replace")[:2000])

    def _exited(self) -> None:
        assert self._transport is not None
        self.returncode = self._transport.get_returncode()
        self._exited_event.set()
        self._lost(f"exited with code {self.returncode}")

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
                _watchdog.unregister(self.pid)
        if self._stdin is not None:
            with contextlib.suppress(Exception):
                self._stdin.close()

    async def stop(self, graceful: bool, grace: float) -> None:
        """Let it leave on its own (shutdown/exit were sent) for `grace` seconds, then kill."""
        self._gone = True
        if graceful and self._transport is not None and self.returncode is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exited_event.wait(), grace)
        self.kill()
        if self._transport is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exited_event.wait(), 2.0)
            self._transport.close()

    def status(self) -> dict[str, Any]:
        return {"pid": self.pid, "returncode": self.returncode}
