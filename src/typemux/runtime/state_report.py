"""The state file `typemux status` reads, kept current without slowing the proxy down.

Pool changes come in bursts (one backend stopped, another started): a change schedules one
write STATE_WRITE_DELAY later, which covers the whole burst; the proxy's heartbeat asks for
one too, so idle times and RSS stay fresh. A state directory that cannot be used disables
the file with a warning, and a failed write is logged: typemux serves on either way.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typemux.log import get_logger
from typemux.runtime.statefile import StateDirError, StateFile, state_dir

log = get_logger("typemux.proxy")

STATE_WRITE_DELAY = 0.2  # coalesce a burst of pool changes into one state-file write


class StateReport:
    def __init__(self, snapshot: Callable[[], dict[str, Any] | None],
                 guard: Callable[[Callable[[], None]], None]) -> None:
        """`snapshot`: the state to write now (None: typemux is ending, write nothing);
        `guard`: runs the delayed write as the proxy runs its own timer callbacks."""
        self._snapshot = snapshot
        self._guard = guard
        self._file: StateFile | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def path(self) -> Path | None:
        return self._file.path if self._file is not None else None

    def open(self) -> None:
        try:
            self._file = StateFile(state_dir(), os.getpid())
        except StateDirError as exc:
            log.warning("state_file_disabled", why=str(exc))
            return
        self.write()

    def schedule(self) -> None:
        if self._file is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                STATE_WRITE_DELAY, self._guard, self.write)

    def write(self) -> None:
        self._timer = None
        state = self._snapshot() if self._file is not None else None
        if self._file is None or state is None:
            return
        try:
            self._file.write(state)
        except OSError as exc:
            log.warning("state_file_write_failed", path=str(self._file.path), why=str(exc))

    def close(self) -> None:
        """No more writes; the file is removed."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._file is not None:
            self._file.remove()
            self._file = None
