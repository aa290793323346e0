"""BackendProcess's pipes against real processes: a backend that stops reading its input,
and one that writes invalid UTF-8."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from typemux.runtime import backend_process
from typemux.runtime.backend_process import BackendProcess
from typemux.wire import streams


async def until(condition: Any, timeout: float = 20) -> None:
    for _ in range(int(timeout * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never became true")


def make(tmp_path: Path, max_message_size: int = 1 << 20) -> tuple[BackendProcess, list[Any], list[str]]:
    messages: list[Any] = []
    gone: list[str] = []
    proc = BackendProcess(
        1, tmp_path, max_message_size=max_message_size,
        on_message=lambda _s, msg, raw: messages.append((msg, raw)),
        on_gone=lambda _s, why: gone.append(why),
    )
    return proc, messages, gone


async def test_a_backend_that_stops_reading_is_treated_as_hung_not_buffered_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_process, "WRITE_LIMIT_FLOOR", 2 * 1024 * 1024)
    proc, _messages, gone = make(tmp_path, max_message_size=1024)
    await proc.start([sys.executable, "-c", "import time; time.sleep(120)"], {}, tmp_path)
    try:
        chunk = b'{"jsonrpc":"2.0","method":"x","params":"' + b"x" * 65536 + b'"}'
        largest = 0
        for _ in range(200):  # 13 MB, far past the limit
            if gone:
                break
            proc.send({}, chunk)
            largest = max(largest, proc._writer.pending_bytes + proc._writer.buffered)
            await asyncio.sleep(0)
        await until(lambda: bool(gone))
        assert "stopped reading its input" in gone[0]
        assert largest <= 2 * 1024 * 1024 + len(chunk) + 100
        await until(lambda: proc.returncode is not None)  # killed
    finally:
        await proc.stop(False, 0)


async def test_writes_wait_while_the_pipe_is_full_and_all_arrive_in_order(tmp_path: Path) -> None:
    out = tmp_path / "received"
    reader = (
        "import sys, time\n"
        "time.sleep(1)\n"  # let the pipe fill and the transport pause first
        f"open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())\n"
    )
    proc, _messages, _gone = make(tmp_path)
    paused: list[bool] = []
    original = proc._writer.pause_writing

    def pause() -> None:
        paused.append(True)
        original()

    proc._writer.pause_writing = pause  # type: ignore[method-assign]
    await proc.start([sys.executable, "-c", reader], {}, tmp_path)
    try:
        bodies = [b'{"n":%d,"pad":"%s"}' % (i, b"p" * 4000) for i in range(500)]
        for body in bodies:
            proc.send({}, body)
            await asyncio.sleep(0)
        assert proc._writer.pending, "frames wait in typemux while the pipe is full"
        await until(lambda: proc._writer.pending == 0 and proc._writer.buffered == 0)
        assert proc._stdin is not None
        proc._stdin.close()
        await until(lambda: out.exists() and out.stat().st_size > 0 and proc.returncode is not None)
        data = out.read_bytes()
        assert data == b"".join(b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies)
        assert paused, "the transport never paused: the test did not fill the pipe"
    finally:
        await proc.stop(False, 0)


async def test_invalid_utf8_from_a_backend_is_replaced_not_a_crash(tmp_path: Path) -> None:
    body = b'{"jsonrpc":"2.0","method":"window/logMessage","params":{"type":3,"message":"caf\xe9"}}'
    writer = (
        "import sys, time\n"
        f"body = {body!r}\n"
        "sys.stdout.buffer.write(b'Content-Length: %d\\r\\n\\r\\n' % len(body) + body)\n"
        "sys.stdout.buffer.flush()\n"
        "time.sleep(120)\n"
    )
    proc, messages, gone = make(tmp_path)
    await proc.start([sys.executable, "-c", writer], {}, tmp_path)
    try:
        await until(lambda: bool(messages) or bool(gone))
        assert gone == []
        [(msg, raw)] = messages
        assert msg["params"]["message"] == "caf\ufffd"
        assert raw == body.replace(b"\xe9", "\ufffd".encode())
    finally:
        await proc.stop(False, 0)


# A child that enlarges its stdout pipe to 1 MiB (Linux's default limit for a process) and
# writes a 300 KiB frame into it in one go, before typemux reads any of it.
_BIG_PIPE_WRITER = (
    "import fcntl, os, sys, time\n"
    "fcntl.fcntl(1, 1031, 1 << 20)\n"  # F_SETPIPE_SZ
    "body = b'{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"v\":\"' + b'y' * 300_000 + b'\"}}'\n"
    "os.write(1, b'Content-Length: %d\\r\\n\\r\\n' % len(body) + body)\n"
    "time.sleep(60)\n"
)


@pytest.mark.skipif(sys.platform != "linux", reason="F_SETPIPE_SZ is Linux's")
async def test_a_backend_is_read_in_pieces_no_larger_than_a_default_pipe(
    tmp_path: Path
) -> None:
    # asyncio reads 256 KiB at a time: CPython allocates that much per read, which glibc
    # serves with mmap (three syscalls and a zeroed page per read). READ_CHUNK is below it.
    proc, messages, _gone = make(tmp_path)
    sizes: list[int] = []
    original = proc._stdout

    def record(data: bytes) -> None:
        sizes.append(len(data))
        original(data)

    proc._stdout = record  # type: ignore[method-assign]
    await asyncio.sleep(0)
    await proc.start([sys.executable, "-c", _BIG_PIPE_WRITER], {}, tmp_path)
    try:
        await asyncio.sleep(0.5)  # the whole frame is in the pipe before the first read
        await until(lambda: bool(messages), timeout=3)
        assert len(messages[0][0]["params"]["v"]) == 300_000  # whole, from several pieces
        assert sizes and max(sizes) <= streams.READ_CHUNK < 128 * 1024
        assert len(sizes) >= 300_000 // streams.READ_CHUNK
    finally:
        await proc.stop(False, 0)
