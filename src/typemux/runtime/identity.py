"""Venv identity checks for the core: the stat of each pooled venv's pyvenv.cfg.

The router is sans-IO, so the runtime looks at the venvs the pool serves (at most once a
second each: before a client message is fed, and on the timer) and tells the router what it
saw (`Router.venv_checked`); a backend whose venv was removed or rebuilt is then stopped
before the next message goes to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from typemux.core.session import BackendSession
from typemux.venv import VenvIdentity, venv_identity

CHECK_INTERVAL = 1.0  # seconds between two checks of one venv

Report = Callable[[Path, VenvIdentity | None, float], None]


class IdentityChecks:
    def __init__(self, interval: float = CHECK_INTERVAL) -> None:
        self.interval = interval
        self._checked_at: dict[Path, float] = {}

    def run(self, sessions: Iterable[BackendSession], report: Report, now: float) -> int:
        """Check each venv of `sessions` not checked for `interval` and report what it is
        now; the number checked."""
        venvs = {s.venv for s in sessions}
        for venv in [v for v in self._checked_at if v not in venvs]:
            del self._checked_at[venv]  # left the pool: checked afresh when it returns
        checked = 0
        for venv in venvs:
            last = self._checked_at.get(venv)
            if last is not None and now - last < self.interval:
                continue
            self._checked_at[venv] = now
            report(venv, venv_identity(venv), now)
            checked += 1
        return checked
