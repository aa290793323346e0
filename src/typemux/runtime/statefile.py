"""The per-proxy state file that `typemux status` reads.

Each running proxy keeps `<state dir>/<pid>.json`: itself and its pool. The directory is
`$XDG_RUNTIME_DIR/typemux/`, else `<tmp>/typemux-<uid>/`; it is private (0700) and must be
owned by the user, because a shared /tmp lets anyone create that name first. Files are
replaced atomically (write a temporary file, rename), so a reader never sees half of one.
Times are wall-clock epoch seconds, so that another process can compute ages.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from typemux.core.session import BackendSession
from typemux.runtime.memory import process_start_time

FORMAT = 1


class StateDirError(Exception):
    pass


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The private directory for state files (created 0700 when missing)."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        path = Path(runtime) / "typemux"
    else:
        path = Path(tempfile.gettempdir()) / f"typemux-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise StateDirError(f"cannot use state directory {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise StateDirError(f"state directory {path} is not a directory owned by this user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        with contextlib.suppress(OSError):
            path.chmod(0o700)
    return path


def backend_state(backend: BackendSession, epoch_offset: float) -> dict[str, Any]:
    """One backend as the state file records it; `epoch_offset` turns monotonic into epoch."""
    return {
        "session": backend.session,
        "venv": str(backend.venv),
        "pid": backend.pid,
        "state": backend.state.value,
        "started_at": round(backend.created_at + epoch_offset, 3),
        "last_used_at": round(backend.last_used + epoch_offset, 3),
        "ready_at": None if backend.ready_at is None else round(backend.ready_at + epoch_offset, 3),
        "pending_requests": len(backend.in_flight) + backend.server_requests,
        "queued": backend.queued_requests(),
        "rss": backend.rss,
    }


def proxy_state(
    *,
    pid: int,
    cwd: Path,
    backend_kind: str,
    command: list[str],
    started_at: float,
    max_backends: int,
    max_memory_mb: int,
    backends: Iterable[BackendSession],
    epoch_offset: float,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "pid": pid,
        "proc_start": process_start_time(pid),
        "cwd": str(cwd),
        "backend": backend_kind,
        "command": command,
        "started_at": round(started_at, 3),
        "max_backends": max_backends,
        "max_memory_mb": max_memory_mb,
        "backends": [backend_state(b, epoch_offset) for b in backends],
    }


class StateFile:
    """This proxy's state file: rewritten only when its content changed."""

    def __init__(self, directory: Path, pid: int) -> None:
        self.path = directory / f"{pid}.json"
        self._last: dict[str, Any] | None = None

    def write(self, state: dict[str, Any]) -> bool:
        """Replace the file with `state`; False when it was unchanged (nothing written)."""
        if state == self._last:
            return False
        data = json.dumps(state, indent=1).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".tmp",
                                   dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._last = state
        return True

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._last = None


def is_alive(pid: int, proc_start: int | None) -> bool:
    """Whether `pid` runs and is still the process that wrote the file (not a reused pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process: our own proxy is gone
    if proc_start is not None:
        current = process_start_time(pid)
        if current is not None and current != proc_start:
            return False
    return True


def read_states(directory: Path, *, clean: bool = True) -> list[dict[str, Any]]:
    """The states of live proxies, oldest first; files of dead proxies are removed."""
    states: list[dict[str, Any]] = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return states
    for name in names:
        if not name.endswith(".json") or not name[:-5].isdigit():
            continue
        path = directory / name
        pid = int(name[:-5])
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = None
        if not isinstance(state, dict):
            state = None
        proc_start = state.get("proc_start") if state is not None else None
        if not is_alive(pid, proc_start if isinstance(proc_start, int) else None):
            if clean:
                with contextlib.suppress(OSError):
                    path.unlink()
            continue
        if state is not None:
            states.append(state)
    states.sort(key=lambda s: (s.get("started_at") or 0, s.get("pid") or 0))
    return states
