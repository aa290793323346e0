"""The descendants of typemux's backends: marked, watched, and killed however typemux ends.

A backend's process group is killed when it stops, and PR_SET_PDEATHSIG kills a backend
when typemux dies. Neither reaches everything: pyright-langserver's node, or a grandchild
that called setsid(), leaves the group, and PDEATHSIG reaches only the direct child. So
every backend carries a mark in its environment, which its descendants inherit, and two
things act on it: typemux's own sweep at exit (`kill_marked`) and a watchdog `sh` that kills
the registered groups and every marked process once its stdin (a pipe from typemux) ends,
which happens however typemux ends, SIGKILL included.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess

from typemux.log import get_logger

log = get_logger("typemux.backend")

_PR_SET_PDEATHSIG = 1


# Every backend, and whatever it starts (a setsid'd grandchild included: it escapes killpg),
# inherits this variable: `<typemux pid>.<nonce>/<session>`. It is how typemux and its
# watchdog find a backend's descendants after the tree was broken up.
OWNER_ENV = "TYPEMUX_BACKEND_OF"
_owner: str | None = None


def owner_prefix() -> str:
    """`TYPEMUX_BACKEND_OF=<pid>.<nonce>/`, the mark of this typemux's backends."""
    global _owner
    if _owner is None or not _owner.startswith(f"{os.getpid()}."):
        _owner = f"{os.getpid()}.{secrets.token_hex(4)}"
    return f"{OWNER_ENV}={_owner}/"


def die_with_parent() -> None:
    """In the child before exec: get SIGKILL when typemux dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def marked_pids(mark: bytes, proc: str = "/proc") -> list[int]:
    """Pids of the processes whose environment holds an entry starting with `mark`."""
    found: list[int] = []
    me = os.getpid()
    try:
        names = os.listdir(proc)
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"{proc}/{name}/environ", "rb") as f:
                data = f.read()
        except OSError:
            continue  # gone, or another user's
        if data.startswith(mark) or b"\0" + mark in data:
            found.append(int(name))
    return found


def kill_marked(mark: str, rounds: int = 5) -> int:
    """SIGKILL every process carrying `mark` (blocking: reads /proc), again until none is
    left (one may fork while we look). Returns how many were killed."""
    killed = 0
    for _ in range(rounds):
        pids = marked_pids(mark.encode())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


# Kills every registered process group once its stdin (our pipe) reaches EOF, which happens
# however typemux ends, SIGKILL included. PDEATHSIG alone reaches only the direct child:
# pyright-langserver's node, or any backend's own children, would outlive a SIGKILLed typemux.
# Then it kills every process marked as one of our backends' ($1 is the mark): a descendant
# that called setsid() is in no registered group, and was reparented away from us.
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
n=0
while [ $n -lt 5 ]; do
  found=
  for f in $(grep -lasF "$1" /proc/[0-9]*/environ); do
    p=${f#/proc/}; kill -9 "${p%/environ}" 2>/dev/null; found=1
  done
  [ -n "$found" ] || break
  n=$((n+1))
done
"""


class Watchdog:
    """One `sh` per typemux that holds the list of live backend process groups."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def _write(self, line: str) -> None:
        if self._proc is None or self._proc.poll() is not None:
            try:
                self._proc = subprocess.Popen(
                    # "typemux-watchdog" is $0: it names the process in `ps`.
                    ["/bin/sh", "-c", _WATCHDOG_SCRIPT, "typemux-watchdog", owner_prefix()],
                    stdin=subprocess.PIPE,
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


watchdog = Watchdog()
