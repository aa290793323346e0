from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from typemux import jsonrpc
from typemux.wire.framing import EOF, Frame, FrameDecoder, encode_frame
from typemux.wire.streams import (
    Incoming,
    Malformed,
    MessageWriter,
    connect_read_fd,
    connect_write_fd,
    read_messages,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def frames_of(data: bytes) -> list[bytes]:
    decoder = FrameDecoder()
    decoder.receive_data(data)
    decoder.receive_data(b"")
    bodies = []
    while (event := decoder.next_event()) is not EOF:
        assert isinstance(event, Frame), event
        bodies.append(event.body)
    return bodies


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a condition the event loop will make true (bounded, never a timing check)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):  # already closed by the test or a transport
            os.close(fd)


async def collect(reader: asyncio.StreamReader, max_size: int = 1 << 20) -> list[Any]:
    return [item async for item in read_messages(reader, max_size=max_size)]


# ----- read_messages ------------------------------------------------------------------------


async def test_read_messages_over_a_pipe_keeps_raw_bytes_and_resumes_after_bad_input(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    first = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"x":null}}'
    last = b'{"jsonrpc":"2.0","method":"initialized","params":{}}'
    os.write(
        w,
        encode_frame(first)
        + encode_frame(b'{"id":')
        + encode_frame(b'{"id": 3}')
        + encode_frame(last),
    )
    os.close(w)
    items = await collect(await connect_read_fd(r))

    assert len(items) == 4
    assert items[0] == Incoming(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"x": None}}, first
    )
    assert isinstance(items[1], Malformed)
    assert (items[1].code, items[1].request_id) == (jsonrpc.PARSE_ERROR, None)
    assert isinstance(items[2], Malformed)
    assert (items[2].code, items[2].request_id) == (jsonrpc.INVALID_REQUEST, 3)
    assert items[3] == Incoming({"jsonrpc": "2.0", "method": "initialized", "params": {}}, last)


async def test_frame_errors_become_invalid_request_without_id() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"Content-Length: nope\r\n\r\n" + encode_frame(b'{"id":1,"result":null}'))
    reader.feed_eof()
    items = await collect(reader)
    assert len(items) == 2
    assert isinstance(items[0], Malformed)
    assert (items[0].code, items[0].request_id) == (jsonrpc.INVALID_REQUEST, None)
    assert items[1] == Incoming({"id": 1, "result": None}, b'{"id":1,"result":null}')


async def test_invalid_message_with_bool_id_has_no_request_id() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode_frame(b'{"id":true}') + encode_frame(b"[1]"))
    reader.feed_eof()
    items = await collect(reader)
    assert [(i.code, i.request_id) for i in items] == [
        (jsonrpc.INVALID_REQUEST, None),
        (jsonrpc.INVALID_REQUEST, None),
    ]


async def test_truncated_frame_at_eof_is_reported_then_iteration_ends() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"Content-Length: 50\r\n\r\n{")
    reader.feed_eof()
    items = await collect(reader)
    assert len(items) == 1
    assert isinstance(items[0], Malformed)
    assert "truncated" in items[0].reason


# ----- MessageWriter -------------------------------------------------------------------------


def spy_writelines(writer: asyncio.StreamWriter) -> list[list[bytes]]:
    calls: list[list[bytes]] = []
    original = writer.writelines

    def record(data: Iterable[bytes]) -> None:
        batch = list(data)
        calls.append(batch)
        original(batch)

    writer.writelines = record  # type: ignore[method-assign,assignment]
    return calls


async def test_writer_sends_raw_and_dict_frames_in_order_in_one_batch(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    stream = await connect_write_fd(w)
    calls = spy_writelines(stream)
    writer = MessageWriter(stream, name="test")
    writer.start()
    writer.send(raw=b'{"raw":1}')
    writer.send({"id": 2, "result": None, "extra": "é"})
    writer.send({"ignored": True}, raw=b'{"raw":3}')
    assert writer.pending == 3
    await writer.aclose()

    assert frames_of(read_all(r)) == [
        b'{"raw":1}',
        '{"id":2,"result":null,"extra":"é"}'.encode(),
        b'{"raw":3}',
    ]
    assert len(calls) == 1
    assert writer.closed
    assert writer.pending == 0


async def test_direct_writer_writes_at_once_in_order_without_queueing(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    stream = await connect_write_fd(w)
    writer = MessageWriter(stream, name="test", direct=True)
    writer.start()
    writer.send(raw=b'{"raw":1}')
    writer.send({"id": 2, "result": None})
    assert writer.pending == 0  # handed to the transport, no hop through the writer task
    await writer.aclose()
    assert frames_of(read_all(r)) == [b'{"raw":1}', b'{"id":2,"result":null}']


async def test_writer_survives_the_read_end_closing(pipe: tuple[int, int]) -> None:
    r, w = pipe
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    writer = MessageWriter(await connect_write_fd(w), name="test")
    writer.start()
    os.close(r)
    writer.send({"id": 1, "result": None})
    await until(lambda: writer.closed)

    writer.send({"id": 2, "result": None})  # dropped, not raised
    assert writer.pending == 0
    await writer.aclose()
    assert writer.closed
    assert errors == []


async def test_aclose_is_bounded_when_the_peer_never_reads(pipe: tuple[int, int]) -> None:
    _r, w = pipe
    writer = MessageWriter(await connect_write_fd(w), name="test")
    writer.start()
    for _ in range(20):
        writer.send(raw=b"x" * 65536)  # far more than a pipe buffer holds
    await writer.aclose(timeout=0.2)
    assert writer.closed
    writer.send({"late": True})
    assert writer.pending == 0


async def test_aclose_without_start_still_flushes(pipe: tuple[int, int]) -> None:
    r, w = pipe
    writer = MessageWriter(await connect_write_fd(w), name="test")
    writer.send({"a": 1})
    await writer.aclose()
    assert frames_of(read_all(r)) == [b'{"a":1}']


async def test_unencodable_message_is_dropped_and_the_stream_stays_usable(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    writer = MessageWriter(await connect_write_fd(w), name="test")
    writer.start()
    writer.send({"bad": object()})
    writer.send({"good": 1})
    await writer.aclose()
    assert frames_of(read_all(r)) == [b'{"good":1}']


# ----- open_stdio ------------------------------------------------------------------------------

ECHO = textwrap.dedent(
    """
    import asyncio
    from typemux.wire.streams import MessageWriter, open_stdio, read_messages

    async def main() -> None:
        reader, stream = await open_stdio()
        print("stray output must not reach the protocol stream")
        writer = MessageWriter(stream, name="client")
        writer.start()
        async for item in read_messages(reader, max_size=1 << 20):
            writer.send({"echo": item.msg})
        writer.send({"done": True})
        await writer.aclose()

    asyncio.run(main())
    """
)


def run_echo(stdin: Any, tmp_path: Path, input_bytes: bytes | None = None) -> bytes:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", ECHO],
        stdin=stdin,
        input=input_bytes,
        capture_output=True,
        env=env,
        timeout=30,
        check=True,
    )
    assert b"stray output" in proc.stderr
    return proc.stdout


@pytest.mark.parametrize("source", ["pipe", "file", "devnull"])
def test_open_stdio_reads_pipes_files_and_devnull(source: str, tmp_path: Path) -> None:
    data = encode_frame(b'{"jsonrpc":"2.0","method":"a"}') + encode_frame(b'{"id":1,"result":null}')
    if source == "pipe":
        out = run_echo(None, tmp_path, data)
        expected_inputs: list[bytes] = [
            b'{"jsonrpc":"2.0","method":"a"}',
            b'{"id":1,"result":null}',
        ]
    elif source == "file":
        path = tmp_path / "input"
        path.write_bytes(data)
        with path.open("rb") as stdin:
            out = run_echo(stdin, tmp_path)
        expected_inputs = [b'{"jsonrpc":"2.0","method":"a"}', b'{"id":1,"result":null}']
    else:
        out = run_echo(subprocess.DEVNULL, tmp_path)
        expected_inputs = []
    expected = [b'{"echo":' + body + b"}" for body in expected_inputs] + [b'{"done":true}']
    assert frames_of(out) == expected


def test_open_stdio_writes_to_a_regular_file(tmp_path: Path) -> None:
    out_path = tmp_path / "out"
    with out_path.open("wb") as stdout:
        subprocess.run(
            [sys.executable, "-c", ECHO],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(SRC)},
            timeout=30,
            check=True,
        )
    assert frames_of(out_path.read_bytes()) == [b'{"done":true}']
