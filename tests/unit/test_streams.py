from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from typemux import jsonrpc
from typemux.wire.endpoint import NEED_DATA, Endpoint
from typemux.wire.framing import EOF, Frame, FrameDecoder, encode_frame
from typemux.wire.outbox import Outbox
from typemux.wire.streams import (
    READ_CHUNK,
    Incoming,
    Malformed,
    connect_read_fd,
    connect_write_fd,
)
from typemux.wire.writer import Batch, FrameWriter

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


class Feed:
    """Input the way the proxy reads it: chunks into an Endpoint, then every event."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ended = False

    def feed_data(self, data: bytes) -> None:
        self.data += data

    def feed_eof(self) -> None:
        self.ended = True


def events_of(data: bytes, max_size: int = 1 << 20, *, eof: bool = True) -> list[Any]:
    endpoint = Endpoint(max_size)
    endpoint.receive_data(data)
    if eof:
        endpoint.receive_data(b"")
    items = []
    while (item := endpoint.next_event()) is not NEED_DATA and item is not EOF:
        items.append(item)
    return items


async def collect(reader: Feed, max_size: int = 1 << 20) -> list[Any]:
    return events_of(bytes(reader.data), max_size, eof=reader.ended)


async def read_chunks(fd: int) -> list[bytes]:
    """The chunks read from `fd` until EOF, through connect_read_fd's callbacks."""
    chunks: list[bytes] = []
    done = asyncio.get_running_loop().create_future()

    def on_data(data: bytes) -> None:
        chunks.append(data)
        if not data and not done.done():
            done.set_result(None)

    await connect_read_fd(fd, on_data)
    await asyncio.wait_for(done, 30)
    return chunks


async def read_fd(fd: int, max_size: int = 1 << 20) -> list[Any]:
    """Everything on `fd` until EOF, as events."""
    return events_of(b"".join(await read_chunks(fd)), max_size)


# ----- reading ------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="F_SETPIPE_SZ is Linux's")
async def test_stdin_is_read_in_pieces_no_larger_than_a_default_pipe(
    pipe: tuple[int, int],
) -> None:
    # asyncio reads 256 KiB at a time, which CPython allocates per read and glibc serves
    # with mmap: three syscalls and a zeroed page per read. A pipe enlarged to 1 MiB and
    # filled with 300 KiB before the first read shows the size of each read.
    r, w = pipe
    fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
    body = b'{"jsonrpc":"2.0","method":"x","params":{"v":"' + b"y" * 300_000 + b'"}}'
    os.write(w, encode_frame(body))
    os.close(w)
    chunks = await read_chunks(r)
    assert b"".join(chunks) == encode_frame(body)
    assert max(len(c) for c in chunks) <= READ_CHUNK < 128 * 1024


async def test_reading_a_pipe_keeps_raw_bytes_and_resumes_after_bad_input(
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
    items = await read_fd(r)

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
    reader = Feed()
    reader.feed_data(b"Content-Length: nope\r\n\r\n" + encode_frame(b'{"id":1,"result":null}'))
    reader.feed_eof()
    items = await collect(reader)
    assert len(items) == 2
    assert isinstance(items[0], Malformed)
    assert (items[0].code, items[0].request_id) == (jsonrpc.INVALID_REQUEST, None)
    assert items[1] == Incoming({"id": 1, "result": None}, b'{"id":1,"result":null}')


async def test_invalid_message_with_bool_id_has_no_request_id() -> None:
    reader = Feed()
    reader.feed_data(encode_frame(b'{"id":true}') + encode_frame(b"[1]"))
    reader.feed_eof()
    items = await collect(reader)
    assert [(i.code, i.request_id) for i in items] == [
        (jsonrpc.INVALID_REQUEST, None),
        (jsonrpc.INVALID_REQUEST, None),
    ]


async def test_truncated_frame_at_eof_is_reported_then_iteration_ends() -> None:
    reader = Feed()
    reader.feed_data(b"Content-Length: 50\r\n\r\n{")
    reader.feed_eof()
    items = await collect(reader)
    assert len(items) == 1
    assert isinstance(items[0], Malformed)
    assert "truncated" in items[0].reason


# ----- FrameWriter ---------------------------------------------------------------------------


def spy_writes(writer: FrameWriter) -> list[bytes]:
    """What `writer` hands its transport, one item per write call."""
    calls: list[bytes] = []
    transport = writer.transport
    assert transport is not None
    original = transport.write

    def record(data: bytes) -> None:
        calls.append(bytes(data))
        original(data)

    transport.write = record  # type: ignore[method-assign]
    return calls


async def test_writer_sends_raw_and_dict_frames_in_order_at_once_when_idle(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    writer = await connect_write_fd(w, name="test")
    calls = spy_writes(writer)
    writer.send(raw=b'{"raw":1}')
    writer.send({"id": 2, "result": None, "extra": "é"})
    writer.send({"ignored": True}, raw=b'{"raw":3}')
    assert writer.pending == 0  # handed to the transport in the caller's callback
    assert len(calls) == 3
    await writer.aclose()

    assert frames_of(read_all(r)) == [
        b'{"raw":1}',
        '{"id":2,"result":null,"extra":"é"}'.encode(),
        b'{"raw":3}',
    ]
    assert writer.closed
    assert writer.pending == 0


async def test_a_batch_holds_the_frames_of_a_chunk_and_writes_them_at_once(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    batch = Batch()
    writer = await connect_write_fd(w, name="test", batch=batch)
    calls = spy_writes(writer)
    batch.begin()
    for i in range(100):
        writer.send({"id": i, "result": None})
    assert calls == [] and writer.pending == 100
    batch.end()
    assert len(calls) == 1 and writer.pending == 0  # one write for the whole chunk
    await writer.aclose()
    assert [json.loads(b)["id"] for b in frames_of(read_all(r))] == list(range(100))


async def test_writer_queues_once_the_pipe_backs_up_and_writes_in_batches(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    writer = await connect_write_fd(w, name="test")
    calls = spy_writes(writer)
    bodies = [b'{"n":%d,"pad":"%s"}' % (i, b"p" * 30_000) for i in range(40)]
    for body in bodies:
        writer.send({"id": 1}, raw=body)
    assert writer.pending > 0  # the transport paused (its high-water mark): queued
    loop = asyncio.get_running_loop()
    closing = asyncio.ensure_future(writer.aclose(timeout=30))
    data = bytearray()
    while chunk := await loop.run_in_executor(None, os.read, r, 1 << 20):
        data += chunk
    await closing
    assert frames_of(bytes(data)) == bodies
    assert 1 <= len(calls) < len(bodies)  # the queued frames went in a few batches


async def test_writer_survives_the_read_end_closing(pipe: tuple[int, int]) -> None:
    r, w = pipe
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    writer = await connect_write_fd(w, name="test")
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
    writer = await connect_write_fd(w, name="test")
    for _ in range(20):
        writer.send(raw=b"x" * 65536)  # far more than a pipe buffer holds
    await writer.aclose(timeout=0.2)
    assert writer.closed
    writer.send({"late": True})
    assert writer.pending == 0


async def test_aclose_writes_what_a_batch_still_holds(pipe: tuple[int, int]) -> None:
    r, w = pipe
    batch = Batch()
    writer = await connect_write_fd(w, name="test", batch=batch)
    batch.begin()
    writer.send({"a": 1})
    await writer.aclose()
    assert frames_of(read_all(r)) == [b'{"a":1}']


async def test_unencodable_message_is_dropped_and_the_stream_stays_usable(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    writer = await connect_write_fd(w, name="test")
    writer.send({"bad": object()})
    writer.send({"good": 1})
    await writer.aclose()
    assert frames_of(read_all(r)) == [b'{"good":1}']


# ----- connect_stdio ---------------------------------------------------------------------------

ECHO = textwrap.dedent(
    """
    import asyncio
    from typemux.wire.endpoint import EOF, NEED_DATA, Endpoint
    from typemux.wire.streams import connect_stdio

    async def main() -> None:
        endpoint = Endpoint(1 << 20)
        done = asyncio.get_running_loop().create_future()

        def on_data(data):
            endpoint.receive_data(data)
            while (item := endpoint.next_event()) is not NEED_DATA:
                if item is EOF:
                    done.set_result(None)
                    return
                writer.send({"echo": item.msg})

        writer, _ = await connect_stdio(on_data)
        print("stray output must not reach the protocol stream")
        await done
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
def test_connect_stdio_reads_pipes_files_and_devnull(source: str, tmp_path: Path) -> None:
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


def test_connect_stdio_writes_to_a_regular_file(tmp_path: Path) -> None:
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


# ----- hostile input through the Endpoint -----------------------------------------------------


async def test_wrong_length_costs_one_error_and_the_message_is_recovered() -> None:
    cafe = '{"jsonrpc":"2.0","id":9,"method":"x","params":{"t":"café ☕"}}'.encode()
    after = b'{"jsonrpc":"2.0","id":10,"method":"y"}'
    reader = Feed()
    reader.feed_data(b"Content-Length: %d\r\n\r\n" % len(cafe.decode()) + cafe + encode_frame(after))
    reader.feed_eof()
    items = await collect(reader)
    assert isinstance(items[0], Malformed) and items[0].code == jsonrpc.PARSE_ERROR
    assert items[1:] == [Incoming(json.loads(cafe), cafe), Incoming(json.loads(after), after)]


async def test_invalid_utf8_is_replaced_and_the_forwarded_bytes_are_repaired() -> None:
    body = b'{"jsonrpc":"2.0","method":"m","params":{"t":"caf\xe9"}}'
    reader = Feed()
    reader.feed_data(encode_frame(body))
    reader.feed_eof()
    [item] = await collect(reader)
    assert isinstance(item, Incoming)
    assert item.msg["params"]["t"] == "caf\ufffd"
    assert item.raw == body.replace(b"\xe9", "\ufffd".encode())


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"[1]", jsonrpc.INVALID_REQUEST), (b"[]", jsonrpc.INVALID_REQUEST), (b"7", jsonrpc.INVALID_REQUEST),
     (b"{", jsonrpc.PARSE_ERROR)],
)
async def test_unusable_bodies_are_malformed_without_id(body: bytes, code: int) -> None:
    reader = Feed()
    reader.feed_data(encode_frame(body) + encode_frame(b'{"id":1,"result":null}'))
    reader.feed_eof()
    items = await collect(reader)
    assert [(i.code, i.request_id) for i in items[:1]] == [(code, None)]
    assert items[1:] == [Incoming({"id": 1, "result": None}, b'{"id":1,"result":null}')]


# ----- Outbox: bounded, coalescing ----------------------------------------------------------------


def diag(uri: str, version: int, pad: int = 0) -> tuple[dict[str, Any], bytes]:
    msg = {"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
           "params": {"uri": uri, "version": version, "diagnostics": [], "pad": "x" * pad}}
    return msg, json.dumps(msg).encode()


def bodies(items: list[bytes]) -> list[Any]:
    return [json.loads(b) for b in items[1::2]]


def test_outbox_keeps_only_the_latest_diagnostics_per_uri_in_place_of_order() -> None:
    box = Outbox(limit=1 << 20)
    for version in range(100):
        for uri in ("a", "b"):
            box.put(b"H", diag(uri, version)[1], droppable=True, key=uri)
        box.put(b"H", b'{"id":%d,"result":null}' % version, droppable=False)
    assert len(box) == 102
    assert box.coalesced == 198
    taken = bodies(box.take(1 << 30))
    assert [m["id"] for m in taken if "id" in m] == list(range(100))
    assert [(m["params"]["uri"], m["params"]["version"]) for m in taken if "method" in m] == [
        ("a", 99), ("b", 99)]
    assert len(box) == 0 and box.size == 0


def test_outbox_drops_old_notifications_past_its_limit_but_never_responses() -> None:
    box = Outbox(limit=100_000)
    note = b'{"jsonrpc":"2.0","method":"window/logMessage","params":{"m":"%s"}}' % (b"x" * 1000)
    for i in range(1000):
        box.put(b"H", note, droppable=True)
        box.put(b"H", b'{"id":%d,"result":"%s"}' % (i, b"y" * 10), droppable=False)
        assert box.size <= 100_000 + 1100 + 30 * (i + 1)
    assert box.dropped > 900
    taken = bodies(box.take(1 << 30))
    assert [m["id"] for m in taken if "id" in m] == list(range(1000))


def test_outbox_take_is_bounded_per_batch_but_returns_at_least_one_frame() -> None:
    box = Outbox()
    box.put(b"H", b"x" * 5000, droppable=False)
    box.put(b"H", b"y" * 10, droppable=False)
    assert box.take(100) == [b"H", b"x" * 5000]
    assert box.take(100) == [b"H", b"y" * 10]
    assert box.take(100) == []


def test_outbox_dead_entries_do_not_pile_up() -> None:
    box = Outbox(limit=1 << 30)
    for version in range(50_000):
        box.put(b"H", diag("a", version)[1], droppable=True, key="a")
    assert len(box) == 1
    assert len(box._queue) < 5000 and len(box._droppable) < 5000


# ----- FrameWriter against a peer that does not read --------------------------------------------


async def test_writer_to_a_stalled_reader_stays_bounded_and_delivers_latest_and_all_responses(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    writer = await connect_write_fd(w, name="test", queue_limit=512 * 1024)
    last: dict[str, int] = {}
    for i in range(20_000):
        uri = f"file:///m{i % 4}.py"
        msg, raw = diag(uri, i, pad=2000)
        writer.send(msg, raw=raw)
        last[uri] = i
        if i % 100 == 0:
            writer.send({"jsonrpc": "2.0", "id": i, "result": None})
        if i % 1000 == 0:
            await asyncio.sleep(0)  # let the writer fill the pipe and block in drain()
    assert writer.pending_bytes < 512 * 1024
    assert writer.buffered < 2 * 256 * 1024

    data = bytearray()
    loop = asyncio.get_running_loop()
    closing = asyncio.ensure_future(writer.aclose(timeout=30))
    while True:
        chunk = await loop.run_in_executor(None, os.read, r, 1 << 20)
        if not chunk:
            break
        data += chunk
    await closing
    received = [json.loads(b) for b in frames_of(bytes(data))]
    assert [m["id"] for m in received if "id" in m] == list(range(0, 20_000, 100))
    seen: dict[str, int] = {}
    for m in received:
        if "method" in m:
            seen[m["params"]["uri"]] = m["params"]["version"]
    assert seen == last
    assert len(received) < 20_000 / 2


async def test_writer_reports_a_lost_stream(pipe: tuple[int, int]) -> None:
    r, w = pipe
    lost: list[str] = []
    writer = await connect_write_fd(w, name="test", on_lost=lost.append)
    os.close(r)
    writer.send({"id": 1, "result": None})
    await until(lambda: bool(lost))
    await writer.aclose()


def test_a_message_without_the_jsonrpc_version_is_forwarded_with_it() -> None:
    from typemux.wire.messages import Incoming, parse_body

    item = parse_body(b'{"id": 77, "method": "custom/thing", "params": {}}')
    assert isinstance(item, Incoming)
    assert item.msg["jsonrpc"] == "2.0"
    assert json.loads(item.raw) == {"jsonrpc": "2.0", "id": 77, "method": "custom/thing", "params": {}}


# ----- an undecodable body whose head shows a request id (F5) --------------------------------


@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_a_request_nested_too_deeply_is_refused_under_its_own_id(depth: int) -> None:
    body = (b'{"jsonrpc":"2.0","id":%d,"method":"textDocument/hover","params":' % depth
            + b"[" * depth + b"]" * depth + b"}")
    after = b'{"jsonrpc":"2.0","method":"initialized","params":{}}'
    items = events_of(encode_frame(body) + encode_frame(after), max_size=1 << 22)
    assert len(items) == 2, items
    assert isinstance(items[0], Malformed)
    assert (items[0].code, items[0].request_id) == (jsonrpc.PARSE_ERROR, depth)
    assert items[1] == Incoming({"jsonrpc": "2.0", "method": "initialized", "params": {}}, after)


def test_an_invalid_but_whole_request_body_is_refused_under_its_own_id() -> None:
    body = b'{"jsonrpc":"2.0","id":"abc","method":"textDocument/hover","params":{"x":tru}}'
    items = events_of(encode_frame(body))
    assert len(items) == 1, items
    assert isinstance(items[0], Malformed)
    assert (items[0].code, items[0].request_id) == (jsonrpc.PARSE_ERROR, "abc")


def test_an_undecodable_response_or_notification_keeps_id_null() -> None:
    for body in (b'{"jsonrpc":"2.0","id":4,"result":{"x":tru}}',
                 b'{"jsonrpc":"2.0","method":"initialized","params":{"x":tru}}'):
        items = events_of(encode_frame(body))
        assert len(items) == 1, items
        assert isinstance(items[0], Malformed)
        assert items[0].request_id is None


def test_a_request_cut_short_by_a_wrong_length_is_answered_once_after_salvage() -> None:
    # Content-Length too short: the truncated body shows id 9 and "method", but the whole
    # message is salvaged at the next header and answered: the error must not claim id 9.
    whole = b'{"jsonrpc":"2.0","id":9,"method":"textDocument/hover","params":{"a":[1,2]}}'
    after = b'{"jsonrpc":"2.0","method":"initialized","params":{}}'
    data = b"Content-Length: %d\r\n\r\n" % (len(whole) - 4) + whole + encode_frame(after)
    items = events_of(data)
    with_id_9 = [i for i in items if (isinstance(i, Malformed) and i.request_id == 9)
                 or (isinstance(i, Incoming) and i.msg.get("id") == 9)]
    assert len(with_id_9) == 1, items
    assert isinstance(with_id_9[0], Incoming)


def test_the_head_of_an_oversize_message_says_what_it_was() -> None:
    from typemux.wire.messages import is_notification_head, scan_request_id, scan_response_id

    answer = b'{"jsonrpc":"2.0","id":12,"result":{"contents":"' + b"x" * 5000
    late_id = b'{"jsonrpc":"2.0","result":{"contents":"' + b"x" * 5000
    error = b'{"id":"a","jsonrpc":"2.0","error":{"code":1,"message":"' + b"x" * 5000
    note = b'{"jsonrpc":"2.0","method":"textDocument/publishDiagnostics","params":{"d":[' + b"1," * 3000
    request = b'{"jsonrpc":"2.0","id":3,"method":"workspace/applyEdit","params":{"l":"' + b"x" * 5000
    assert [scan_response_id(h) for h in (answer, late_id, error, note, request)] == [12, None, "a", None, None]
    assert [scan_request_id(h) for h in (answer, late_id, error, note, request)] == [None, None, None, None, 3]
    assert [is_notification_head(h) for h in (answer, late_id, error, note, request)] == [
        False, False, False, True, False]


def test_outbox_past_its_limit_keeps_each_uris_latest_diagnostics() -> None:
    # Black-box pass 5, F3: behind 18 MB of large answers the only (newest) publish for a
    # file was dropped as an "other notification": the editor kept stale errors.
    box = Outbox(limit=100_000)
    box.put(b"H", diag("a", 1)[1], droppable=True, key="a")
    note = b'{"jsonrpc":"2.0","method":"window/logMessage","params":{"m":"%s"}}' % (b"x" * 1000)
    for i in range(300):
        box.put(b"H", b'{"id":%d,"result":"%s"}' % (i, b"y" * 1000), droppable=False)
        box.put(b"H", note, droppable=True)
    box.put(b"H", diag("b", 2)[1], droppable=True, key="b")
    for i in range(300, 400):
        box.put(b"H", b'{"id":%d,"result":"%s"}' % (i, b"y" * 1000), droppable=False)
    assert box.dropped > 0
    taken = bodies(box.take(1 << 30))
    assert [(m["params"]["uri"], m["params"]["version"]) for m in taken
            if m.get("method") == "textDocument/publishDiagnostics"] == [("a", 1), ("b", 2)]
    assert [m["id"] for m in taken if "id" in m] == list(range(400))
