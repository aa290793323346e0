"""The client's input at the end: stopped, then what already waits in the pipe is read
without blocking, bounded (wire.streams.InputReader)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator

import pytest

from typemux.wire.streams import connect_read_fd


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)




async def test_after_stop_only_read_waiting_reads_and_never_waits(pipe: tuple[int, int]) -> None:
    r, w = pipe
    chunks: list[bytes] = []
    reader = await connect_read_fd(r, chunks.append)
    os.write(w, b"before")
    for _ in range(200):
        if chunks:
            break
        await asyncio.sleep(0.01)
    assert b"".join(chunks) == b"before"
    reader.stop()
    os.write(w, b"waiting")
    await asyncio.sleep(0.1)  # the loop runs: a stopped reader takes nothing
    assert b"".join(chunks) == b"before"
    started = time.monotonic()
    assert reader.read_waiting(1 << 20, time.monotonic() + 30) == len(b"waiting")
    assert time.monotonic() - started < 5  # an empty, open pipe ends the read: no wait
    assert b"".join(chunks) == b"beforewaiting"


async def test_read_waiting_stops_at_its_byte_bound_and_hands_on_the_end(
    pipe: tuple[int, int]
) -> None:
    r, w = pipe
    chunks: list[bytes] = []
    reader = await connect_read_fd(r, chunks.append)
    reader.stop()
    os.write(w, b"x" * 5000)
    assert reader.read_waiting(1000, time.monotonic() + 30) == 1000
    assert b"".join(chunks) == b"x" * 1000
    os.close(w)
    assert reader.read_waiting(1 << 20, time.monotonic() + 30) == 4000
    assert chunks[-1] == b""  # the end of the input is handed on, once
    assert chunks.count(b"") == 1
    assert reader.read_waiting(1 << 20, time.monotonic() + 30) == 0
