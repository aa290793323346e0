"""typemux with a count of its event-loop iterations, for bench/run.py.

    python bench/loop_probe.py [typemux arguments]

Counts the calls of the asyncio loop's `_run_once` (one per iteration: one select() and the
callbacks it made ready). On SIGUSR1 it writes `typemux-loops <count>` to stderr (never to
stdout, the LSP stream); the bench reads the count before and after N sequential round
trips, so (after - before) / N is the iterations per round trip inside typemux.
"""

from __future__ import annotations

import asyncio.base_events
import os
import signal
import sys
from typing import Any

_count = 0
_run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]


def _counting_run_once(self: Any) -> None:
    global _count
    _count += 1
    _run_once(self)


def _report(_signum: int, _frame: Any) -> None:
    os.write(2, b"typemux-loops %d\n" % _count)


asyncio.base_events.BaseEventLoop._run_once = _counting_run_once  # type: ignore[attr-defined]
signal.signal(signal.SIGUSR1, _report)

from typemux.cli import main  # noqa: E402 - after the patch, so the loop is counted

sys.exit(main())
