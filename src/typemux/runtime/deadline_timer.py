"""One asyncio timer for all of the router's deadlines, re-armed cheaply while messages flow.

The router knows its next deadline (a cancel's grace, a hang, a fan-out, an idle TTL,...);
the proxy asks it after each input chunk, not after each message: a pipelined burst is one
chunk, and computing the deadline per event was ~17 % of the proxy's time under 10,000
requests. While messages flow it is computed at most every ARM_EVERY; a timer at the next
computation stands in for it, so nothing due is handled more than ARM_EVERY late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

ARM_EVERY = 0.02  # s: while messages flow, the next deadline is computed at most this often


class DeadlineTimer:
    def __init__(self, next_deadline: Callable[[], float | None], on_due: Callable[[], None],
                 guard: Callable[[Callable[[], None]], None]) -> None:
        """`next_deadline`: the router's next deadline (monotonic time, None: none);
        `on_due`: called when it comes (the router then does what is due and the proxy
        arms the timer again); `guard`: runs `on_due` as the proxy runs its own timer
        callbacks."""
        self._next_deadline = next_deadline
        self._on_due = on_due
        self._guard = guard
        self._timer: asyncio.TimerHandle | None = None
        self._at: float | None = None
        self._due = 0.0  # the next deadline is computed again from then on

    def arm(self) -> None:
        now = time.monotonic()
        if now < self._due:
            # Computed less than ARM_EVERY ago (on a sequential round trip, where each
            # message is a chunk of its own, computing it was ~12 % of typemux's calls).
            if self._at is None or self._at > self._due:
                self._set(self._due, now)
            return
        self._due = now + ARM_EVERY
        deadline = self._next_deadline()
        if self._at is not None and (deadline is None or deadline >= self._at):
            # The armed timer fires no later than needed; when it fires, the router does
            # what is due (maybe nothing) and the timer is armed again. Re-arming a timer
            # per request (a request's own deadline moves it later every time) cost a
            # cancel and a new timer handle per round trip.
            return
        self._set(deadline, now)

    def _set(self, at: float | None, now: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._at = at
        if at is not None:
            self._timer = asyncio.get_running_loop().call_later(
                max(0.0, at - now), self._guard, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._at = None
        self._on_due()
