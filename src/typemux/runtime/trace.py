"""The traffic trace (`trace_dir`): every message on every stream, as JSON lines.

One file per typemux process, `<trace_dir>/typemux-<pid>-<UTC time>.jsonl`; one line per
message: `{"time": epoch seconds, "direction": ..., "session": int|null, "venv": str|null,
"message": {...}}`. Directions: client->typemux, typemux->client, typemux->backend,
backend->typemux. The message is embedded as the bytes that travelled whenever they are one
line of JSON, so the trace shows exactly what was on the wire.

Writes go to a 256 KB buffer that is flushed when full, after FLUSH_DELAY, and at exit:
tracing costs the loop a memory copy per message, never a wait on the disk. It never
writes to stdout. A write error (disk full) turns the trace off with one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import IO, Any

from typemux.log import get_logger
from typemux.wire import codec
from typemux.wire.streams import Incoming, Malformed

log = get_logger("typemux.trace")

BUFFER = 256 * 1024
FLUSH_DELAY = 0.5

CLIENT_IN = b"client->typemux"
CLIENT_OUT = b"typemux->client"
BACKEND_OUT = b"typemux->backend"
BACKEND_IN = b"backend->typemux"


def _body(msg: Any, raw: bytes | None) -> bytes:
    if raw is not None and b"\n" not in raw and b"\r" not in raw:
        return raw
    return codec.dumps(msg)


class Trace:
    """A trace file being written; the no-op `NoTrace` stands in when tracing is off."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # 0600: a trace holds the documents' text (didOpen), like the source itself.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: IO[bytes] | None = os.fdopen(fd, "ab", buffering=BUFFER)
        self._venvs: dict[int, bytes] = {}
        self._flush_at: asyncio.TimerHandle | None = None

    # ----- the four hook points --------------------------------------------------------------
    def from_client(self, item: Incoming | Malformed) -> None:
        if isinstance(item, Incoming):
            self._write(CLIENT_IN, None, item.msg, item.raw)
        else:
            self._write(CLIENT_IN, None, {"typemux_malformed": item.reason}, None)

    def to_client(self, msg: Any, raw: bytes | None) -> None:
        self._write(CLIENT_OUT, None, msg, raw)

    def to_backend(self, session: int, venv: Path, msg: Any, raw: bytes | None) -> None:
        if session not in self._venvs:
            self._venvs[session] = codec.dumps(str(venv))
        self._write(BACKEND_OUT, session, msg, raw)

    def from_backend(self, session: int, msg: Any, raw: bytes | None) -> None:
        self._write(BACKEND_IN, session, msg, raw)

    # ----- writing ---------------------------------------------------------------------------
    def _write(self, direction: bytes, session: int | None, msg: Any, raw: bytes | None) -> None:
        if self._file is None:
            return
        venv = self._venvs.get(session, b"null") if session is not None else b"null"
        line = b'{"time":%.6f,"direction":"%s","session":%s,"venv":%s,"message":%s}\n' % (
            time.time(), direction, b"null" if session is None else b"%d" % session, venv,
            _body(msg, raw))
        try:
            self._file.write(line)
        except (OSError, ValueError) as exc:
            self._fail(exc)
            return
        if self._flush_at is None:
            with contextlib.suppress(RuntimeError):  # no running loop: flushed at close
                self._flush_at = asyncio.get_running_loop().call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        self._flush_at = None
        if self._file is not None:
            try:
                self._file.flush()
            except (OSError, ValueError) as exc:
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        log.warning("trace_disabled", path=str(self.path), why=str(exc))
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError, ValueError):
                file.close()

    def close(self) -> None:
        if self._flush_at is not None:
            self._flush_at.cancel()
        self.flush()
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


class NoTrace(Trace):
    """Tracing off: every hook is a cheap no-op."""

    def __init__(self) -> None:
        self.path = Path(os.devnull)
        self._file = None
        self._venvs = {}
        self._flush_at = None

    def from_client(self, item: Incoming | Malformed) -> None:
        pass

    def to_client(self, msg: Any, raw: bytes | None) -> None:
        pass

    def to_backend(self, session: int, venv: Path, msg: Any, raw: bytes | None) -> None:
        pass

    def from_backend(self, session: int, msg: Any, raw: bytes | None) -> None:
        pass


def open_trace(directory: Path | None, pid: int | None = None) -> Trace:
    """This process's trace in `directory` (created), or a NoTrace when off or unusable."""
    if directory is None:
        return NoTrace()
    pid = os.getpid() if pid is None else pid
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = directory.expanduser() / f"typemux-{pid}-{stamp}.jsonl"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        trace = Trace(path)
    except OSError as exc:
        log.warning("trace_disabled", path=str(path), why=exc.strerror or str(exc))
        return NoTrace()
    log.info("trace_file", path=str(path))
    return trace
