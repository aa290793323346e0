"""bench/proxy_path.py keeps measuring what it says: hovers through both of the proxy's
callbacks, each request reaching the backend's writer and each answer the client's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import proxy_path


async def test_the_bench_drives_every_hover_through_the_proxy() -> None:
    # It raises SystemExit when a request or an answer did not go through.
    seconds = await proxy_path._measure(50)
    assert seconds > 0
