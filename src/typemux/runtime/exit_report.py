"""What a backend's end is reported with: how it ended and the last lines of its stderr.

"closed its stdout" alone does not tell a user why their type checker did not start; the
exit code (or the signal) and what it last wrote to stderr usually do. Only the last few
lines are kept, each cut short, so a chatty backend's stderr costs a bounded ~2 KB.
"""

from __future__ import annotations

import signal
from collections import deque

STDERR_LINES = 8
STDERR_LINE_MAX = 240  # characters kept of each line (8 x 240: about 2 KB)
_PARTIAL_MAX = 4096  # bytes kept of a line still being written


class StderrTail:
    """The last STDERR_LINES non-blank lines of a stream fed in chunks."""

    def __init__(self) -> None:
        self._lines: deque[str] = deque(maxlen=STDERR_LINES)
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        """Take a chunk; returns the complete lines it ended (blank ones left out)."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()[-_PARTIAL_MAX:]
        done = [text for line in lines if (text := _text(line))]
        self._lines.extend(done)
        return done

    def last(self) -> list[str]:
        """The last lines, a final line without its line break included."""
        partial = _text(self._partial)
        lines = list(self._lines)
        return [*lines, partial][-STDERR_LINES:] if partial else lines


def _text(line: bytes) -> str:
    text = line.decode("utf-8", "replace").strip()
    return text if len(text) <= STDERR_LINE_MAX else text[: STDERR_LINE_MAX - 3] + "..."


# Signals whose default action ends a process: only these can be what a wrapper reports.
_ENDING = frozenset(
    sig for name in ("SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
                     "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM",
                     "SIGTERM", "SIGSTKFLT", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
                     "SIGIO", "SIGPWR", "SIGSYS")
    if (sig := getattr(signal, name, None)) is not None)


def wrapped_signal(code: int) -> signal.Signals | None:
    """The signal an exit `code` likely stands for, when a wrapper ended with its child's
    fate: a shell exits 128+N for a child killed by signal N; a Python wrapper such as
    pyright's, exiting with its child's returncode -N, exits 256-N (SIGKILL: 247). 255 is
    left alone: exit(-1) makes it, far more often than a SIGHUP does."""
    if code == 255:
        return None
    for number in (code - 128, 256 - code):
        try:
            sig = signal.Signals(number)
        except ValueError:
            continue
        if sig in _ENDING:
            return sig
    return None


def describe_end(stdout_closed_first: bool, returncode: int | None, stderr: list[str]) -> str:
    """How the backend ended: its stdout closed first or the process exited first, with the
    exit code or the signal once known, and its last stderr lines."""
    if returncode is None:
        text = "closed its stdout (the process was still running)"
    else:
        if returncode < 0:
            try:
                how = f"was killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"was killed by signal {-returncode}"
        else:
            how = f"exited with code {returncode}"
            killed_by = wrapped_signal(returncode)
            if killed_by is not None:
                how += (f" (likely a wrapper reporting signal {killed_by.value}, "
                        f"{killed_by.name})")
        text = f"closed its stdout and {how}" if stdout_closed_first else how
    if stderr:
        text += "; its last stderr lines: " + " | ".join(stderr)
    return text
