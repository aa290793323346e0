"""Resident memory of backend process trees, read from /proc (Linux; no psutil at runtime).

Each backend runs in its own process group whose id is the backend's pid, so its tree
(pyright's node, a wrapper's children) is every process with that group id. One pass over
/proc/*/stat serves all backends at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_PROC = "/proc"


def page_size() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4096


def parse_stat(text: str) -> tuple[int, int, int] | None:
    """(pgid, rss in pages, starttime in clock ticks) from one /proc/<pid>/stat line."""
    # The command name is in parentheses and may itself hold spaces or ')'.
    end = text.rfind(")")
    if end < 0:
        return None
    fields = text[end + 2:].split()
    # fields[0] is field 3 (state): pgid is field 5, starttime 22, rss 24.
    try:
        return int(fields[2]), int(fields[21]), int(fields[19])
    except (IndexError, ValueError):
        return None


def group_rss(pgids: Iterable[int], proc: str = _PROC) -> dict[int, int]:
    """Summed RSS in bytes of all live processes of each process group in `pgids`.

    A group with no live process is left out. Empty where /proc is missing."""
    wanted = set(pgids)
    totals: dict[int, int] = {}
    if not wanted:
        return totals
    try:
        entries = os.listdir(proc)
    except OSError:
        return totals
    pages = page_size()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "stat"), encoding="utf-8", errors="replace") as f:
                parsed = parse_stat(f.read())
        except OSError:
            continue  # it exited meanwhile
        if parsed is None or parsed[0] not in wanted:
            continue
        totals[parsed[0]] = totals.get(parsed[0], 0) + parsed[1] * pages
    return totals


def process_start_time(pid: int, proc: str = _PROC) -> int | None:
    """The process's start time in clock ticks since boot: with the pid, it names one
    process even after the pid is reused."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), encoding="utf-8", errors="replace") as f:
            parsed = parse_stat(f.read())
    except OSError:
        return None
    return parsed[2] if parsed is not None else None
