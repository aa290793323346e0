"""The proxy's one timer for the router's deadlines (runtime/deadline_timer.py)."""

from __future__ import annotations

import asyncio
import time

from typemux.runtime.deadline_timer import ARM_EVERY, DeadlineTimer


def _run(callback: object) -> None:
    callback()  # type: ignore[operator]


async def test_the_deadline_is_asked_at_most_once_per_arm_every_and_still_comes() -> None:
    # on_due plays the proxy: the router does what is due (maybe nothing yet), then the
    # timer is armed again.
    asked: list[float] = []
    handled: list[float] = []
    due = time.monotonic() + 0.1

    def next_deadline() -> float | None:
        asked.append(time.monotonic())
        return None if handled else due

    def on_due() -> None:
        if time.monotonic() >= due and not handled:
            handled.append(time.monotonic())
        timer.arm()

    timer = DeadlineTimer(next_deadline, on_due, _run)
    for _ in range(1000):  # a burst of chunks, each arming the timer
        timer.arm()
    assert len(asked) == 1
    for _ in range(300):
        if handled:
            break
        await asyncio.sleep(0.01)
    assert len(handled) == 1 and due <= handled[0]
    # computed about once per ARM_EVERY until then, not per arm
    assert len(asked) <= (handled[0] - asked[0]) / ARM_EVERY + 3


async def test_a_later_deadline_keeps_the_armed_timer_and_none_leaves_no_timer() -> None:
    fired: list[bool] = []
    deadlines: list[float | None] = [time.monotonic() + 0.05]
    timer = DeadlineTimer(lambda: deadlines[-1], lambda: fired.append(True), _run)
    timer.arm()
    deadlines.append(time.monotonic() + 60)  # later than the armed one: no re-arm needed
    await asyncio.sleep(ARM_EVERY * 2)
    timer.arm()
    for _ in range(200):
        if fired:
            break
        await asyncio.sleep(0.01)
    assert fired == [True]  # the earlier timer still fired
    deadlines.append(None)
    await asyncio.sleep(ARM_EVERY * 2)
    timer.arm()
    await asyncio.sleep(0.1)
    assert fired == [True]
