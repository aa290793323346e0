"""Backends that crash or fail to start, per venv: when the next attempt may be (sans-IO).

The first crash restarts at once; a backend that dies within CRASH_WINDOW of its start again
is crash-looping and backs off exponentially, up to MAX_BACKOFF. A failed start always
backs off and is always told to the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typemux import jsonrpc
from typemux.core.actions import Action, ToClient

CRASH_WINDOW = 30.0  # a backend that dies sooner than this after starting is crash-looping
MAX_BACKOFF = 60.0


@dataclass(slots=True)
class Failure:
    count: int
    retry_at: float
    reason: str


class Failures:
    def __init__(self) -> None:
        self._by_venv: dict[Path, Failure] = {}

    def refusal(self, venv: Path, now: float) -> str | None:
        """Why no backend for `venv` is started now, or None."""
        failure = self._by_venv.get(venv)
        if failure is None or now >= failure.retry_at:
            return None
        return (f"the backend for {venv} failed {failure.count} times ({failure.reason}); "
                f"next attempt in {failure.retry_at - now:.1f} s")

    def record(self, venv: Path, started_at: float, why: str, now: float, *,
               force_notice: bool = False, text: str | None = None) -> list[Action]:
        previous = self._by_venv.get(venv)
        recent = previous is not None and now - started_at < CRASH_WINDOW
        count = previous.count + 1 if (recent and previous is not None) else 1
        # The first crash restarts at once; a crash loop backs off exponentially.
        delay = 0.0 if count == 1 and not force_notice else min(MAX_BACKOFF, 2.0 ** (count - 1))
        self._by_venv[venv] = Failure(count, now + delay, why)
        if force_notice or count == 2:
            message = text or (f"the backend for {venv} keeps crashing ({why}); "
                               f"retrying in {delay:.0f} s")
            return [ToClient(jsonrpc.show_message(1, "typemux: " + message))]
        return []
