"""A small run of bench/pool_load.py: many venvs, a small pool, pipelined hovers, backends
SIGKILLed at random, the process table sampled every 100 ms.

Every request is answered exactly once, the live backend trees never exceed max_backends +
those being stopped (typemux bounds them: a spawn waits for a stopped process to be gone),
and a tree the pool does not list is gone within grace + kill + slack. The full figures
(20 venvs, 5,000 hovers) come from `python bench/pool_load.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from pool_load import run_load

MAX_BACKENDS = 3


async def test_pipelined_load_over_many_venvs_with_kills(tmp_path: Path) -> None:
    report = await run_load(tmp_path, venvs=10, max_backends=MAX_BACKENDS, requests=1000,
                            kills=True, seed=7, waves=20)
    print("\n".join(report.lines()))
    assert report.exactly_once, (report.answered, report.duplicates, report.missing)
    assert report.protocol_errors == []
    assert report.sampler["samples"] >= 10
    assert report.kills >= 1  # the chaos really happened
    assert report.violations == [], report.violations[:10]
    assert report.sampler["peak_live_backends"] <= 2 * MAX_BACKENDS


async def test_paced_load_over_more_venvs_than_slots_is_served_not_cancelled(tmp_path: Path) -> None:
    """The pool-thrash defect: 10 venvs, 50 requests/s, max_backends 3. A new venv's request
    used to evict a starting backend with queued work, so most answers were -32800 (58 % of
    answers were results in bench/pool_load.py --rate 50 before the fix). Now a new venv
    waits for a backend to go idle instead."""
    report = await run_load(tmp_path, venvs=10, max_backends=MAX_BACKENDS, requests=300,
                            kills=False, seed=3, rate=50)
    print("\n".join(report.lines()))
    assert report.exactly_once, (report.answered, report.duplicates, report.missing)
    assert report.outcomes.get("result", 0) >= 0.95 * report.requests, report.outcomes
    assert report.violations == [], report.violations[:10]
    assert report.sampler["peak_live_backends"] <= 2 * MAX_BACKENDS
