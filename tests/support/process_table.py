"""The process table around a typemux under test: its backends, sampled while it runs.

A backend "tree" is a process group led by a backend (typemux starts each backend as the
leader of its own session and group). Anything that escaped (a setsid'd grandchild) shows up
as a group of its own among typemux's descendants, or, once reparented to init, through the
session/group ids it shares with a known backend process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

WATCHDOG_MARK = "typemux-watchdog"


def running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (a zombie has ended; only its parent has not reaped it)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pid_running(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return running(psutil.Process(pid))
    return False


def _cmdline(proc: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return proc.cmdline()
    return []


def is_watchdog(proc: psutil.Process) -> bool:
    return any(WATCHDOG_MARK in part for part in _cmdline(proc))


def backend_processes(typemux_pid: int, known: set[int] | None = None) -> list[psutil.Process]:
    """Live processes that belong to typemux's backends: its descendants (the watchdog
    aside), plus any process in the session or group of one of them or of a pid in `known`
    (a descendant that was reparented away from typemux)."""
    try:
        tree = psutil.Process(typemux_pid).children(recursive=True)
        own_group = os.getpgid(typemux_pid)
    except (psutil.Error, OSError):
        tree, own_group = [], -1
    # A child still in typemux's own group is a fork that has not exec'd and left for its
    # own session yet (a backend being spawned, or the watchdog): not a backend tree.
    found = {p.pid: p for p in tree
             if running(p) and not is_watchdog(p) and _pgid(p.pid) != own_group}
    leaders = set(found) | (known or set())
    for proc in psutil.process_iter():
        if proc.pid in found or proc.pid == typemux_pid:
            continue
        try:
            if (os.getpgid(proc.pid) in leaders or os.getsid(proc.pid) in leaders) \
                    and running(proc) and not is_watchdog(proc):
                found[proc.pid] = proc
        except (OSError, psutil.Error):
            continue
    return list(found.values())


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def groups(procs: list[psutil.Process]) -> dict[int, list[int]]:
    """Live processes by process group id: one entry per backend tree (or escapee)."""
    result: dict[int, list[int]] = {}
    for proc in procs:
        with contextlib.suppress(OSError):
            result.setdefault(os.getpgid(proc.pid), []).append(proc.pid)
    return result


def pool_pids(state_file: Path) -> set[int] | None:
    """The pids of the pool as the state file lists them; None when it cannot be read."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    return {b["pid"] for b in state.get("backends", []) if isinstance(b.get("pid"), int)}


@dataclass
class Sample:
    at: float
    groups: dict[int, list[int]]
    pool: set[int]


@dataclass
class ProcessSampler:
    """Samples typemux's backend processes every `interval` seconds while it runs.

    Checks at every sample: the number of live backend trees is at most `max_backends` +
    `stopping_allowance`, and a tree the pool does not list (one being stopped) is gone
    within `stop_limit` seconds (grace + kill + the state file's lag + slack)."""

    typemux_pid: int
    state_file: Path
    max_backends: int
    stopping_allowance: int
    stop_limit: float
    interval: float = 0.1
    samples: int = 0
    peak_trees: int = 0
    peak_rss: int = 0
    violations: list[str] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    _outside_since: dict[int, float] = field(default_factory=dict)
    _pool: set[int] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def sample(self) -> Sample:
        now = time.monotonic()
        trees = groups(backend_processes(self.typemux_pid, self.seen))
        self.seen.update(trees)
        pool = pool_pids(self.state_file)
        if pool is not None:
            self._pool = pool
        with contextlib.suppress(psutil.Error):
            self.peak_rss = max(self.peak_rss, psutil.Process(self.typemux_pid).memory_info().rss)
        self.samples += 1
        self.peak_trees = max(self.peak_trees, len(trees))
        bound = self.max_backends + self.stopping_allowance
        if len(trees) > bound:
            self.violations.append(f"{len(trees)} live backend trees > {bound}: {sorted(trees)}")
        for pgid in list(self._outside_since):
            if pgid not in trees or pgid in self._pool:
                del self._outside_since[pgid]
        for pgid in trees:
            if pgid in self._pool:
                continue
            since = self._outside_since.setdefault(pgid, now)
            if now - since > self.stop_limit:
                self.violations.append(
                    f"backend group {pgid} ({trees[pgid]}) outside the pool for "
                    f"{now - since:.1f} s > {self.stop_limit} s")
                self._outside_since[pgid] = now  # report it once per period
        return Sample(now, trees, set(self._pool))

    async def run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def settle(self) -> bool:
        """Wait (sampling) until every live tree is the pool's, at most `stop_limit` + 2 s:
        what was being stopped is gone. False when it never settled."""
        deadline = time.monotonic() + self.stop_limit + 2
        while time.monotonic() < deadline:
            sample = self.sample()
            if set(sample.groups) <= sample.pool:
                return True
            await asyncio.sleep(self.interval)
        return False

    def stop(self) -> None:
        self._stop.set()

    def report(self) -> dict[str, Any]:
        return {"samples": self.samples, "peak_live_backends": self.peak_trees,
                "peak_typemux_rss_mb": round(self.peak_rss / 2**20, 1),
                "violations": len(self.violations)}
