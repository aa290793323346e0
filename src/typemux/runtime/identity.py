"""Venv identity checks for the core: the stat of each pooled venv's pyvenv.cfg.

The router is sans-IO, so the runtime looks at the venvs the pool serves (at most once a
second each: before a client message is fed, and after each event) and tells the router
what it saw (`Router.venv_checked`); a backend whose venv was removed or rebuilt is then
stopped before the next message goes to it. A venv is looked at as soon as its session
joins the pool. Between checks a call costs two comparisons (it runs for every event). The
proxy also runs it every CHECK_INTERVAL / 2 while backends are pooled, so a venv removed
or rebuilt while the client is quiet is noticed too.

A pyvenv.cfg found missing is looked at again MISSING_GRACE later before it is reported:
rebuilding a venv (`rm -rf .venv && uv venv`) removes it for a moment, and the requests of
its backend should go to the rebuilt venv, not fail for want of one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typemux.core.pool import BackendPool
from typemux.venv import VenvIdentity, venv_identity

CHECK_INTERVAL = 1.0  # seconds between two checks of one venv
MISSING_GRACE = 0.5  # seconds: a missing pyvenv.cfg is looked at again this much later

Report = Callable[[Path, VenvIdentity | None, float], None]


class IdentityChecks:
    def __init__(self, interval: float = CHECK_INTERVAL) -> None:
        self.interval = interval
        self._checked_at: dict[Path, float] = {}
        self._missing: set[Path] = set()  # seen missing once, not reported yet
        self._generation = -1  # the pool's generation when last looked at
        self._next_due = 0.0

    def run(self, pool: BackendPool, report: Report, now: float) -> int:
        """Check each pooled venv not checked for `interval` and report what it is now;
        the number checked."""
        if pool.generation == self._generation and now < self._next_due:
            return 0
        self._generation = pool.generation
        venvs = {s.venv for s in pool}
        for venv in [v for v in self._checked_at if v not in venvs]:
            del self._checked_at[venv]  # left the pool: checked afresh when it returns
            self._missing.discard(venv)
        checked = 0
        for venv in venvs:
            last = self._checked_at.get(venv)
            if last is not None and now - last < self.interval:
                continue
            identity = venv_identity(venv)
            if identity is None and venv not in self._missing:
                self._missing.add(venv)  # maybe mid-rebuild: look again MISSING_GRACE later
                self._checked_at[venv] = now - self.interval + MISSING_GRACE
                continue
            self._missing.discard(venv)
            self._checked_at[venv] = now
            report(venv, identity, now)
            checked += 1
        # A report can change the pool (a stopped backend): the next call looks again.
        self._next_due = min(self._checked_at.values(), default=now) + self.interval
        return checked
