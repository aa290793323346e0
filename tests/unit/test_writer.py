"""FrameWriter against a transport whose flow control the test drives: what is written at
once, what waits, what a client stream may drop and a backend stream never does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from typemux.wire.framing import encode_frame
from typemux.wire.writer import Batch, FrameWriter


class FakeTransport(asyncio.WriteTransport):
    """Takes everything; `buffered` is what the test says the pipe has not taken yet."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.writes = 0
        self.buffered = 0
        self.closing = False

    def writelines(self, list_of_data: Any) -> None:
        self.writes += 1
        self.data += b"".join(list_of_data)

    def write(self, data: Any) -> None:
        self.writelines([data])

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing


def bodies(data: bytes | bytearray) -> list[Any]:
    out, rest = [], bytes(data)
    while rest:
        head, _, rest = rest.partition(b"\r\n\r\n")
        size = int(head.split(b":")[1])
        out.append(json.loads(rest[:size]))
        rest = rest[size:]
    return out


def test_frames_sent_before_the_transport_exists_go_first_and_in_order() -> None:
    writer = FrameWriter(name="backend", droppable=False)
    for i in range(3):
        writer.send({"jsonrpc": "2.0", "method": "n", "params": {"i": i}})
    transport = FakeTransport()
    writer.attach(transport)
    writer.send({"jsonrpc": "2.0", "id": 9, "method": "r"})
    assert [m.get("params", {}).get("i", m.get("id")) for m in bodies(transport.data)] == [0, 1, 2, 9]


def test_a_backend_stream_drops_nothing_and_reports_a_peer_past_its_limit() -> None:
    overflow: list[int] = []
    writer = FrameWriter(name="backend", droppable=False, hard_limit=50_000,
                         on_overflow=overflow.append)
    transport = FakeTransport()
    writer.attach(transport)
    writer.pause_writing()  # the pipe is full
    note = {"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
            "params": {"uri": "file:///a.py", "diagnostics": [], "pad": "x" * 1000}}
    for _ in range(40):  # all for one uri: a client stream would keep only the last
        writer.send(note)
    assert transport.writes == 0 and writer.pending == 40 and overflow == []
    writer.resume_writing()
    assert len(bodies(transport.data)) == 40
    writer.pause_writing()
    transport.buffered = 45_000
    for _ in range(10):
        writer.send(note)
    assert overflow and overflow[0] > 50_000


def test_a_client_stream_keeps_the_latest_diagnostics_and_every_response_while_paused() -> None:
    writer = FrameWriter(name="client")
    transport = FakeTransport()
    writer.attach(transport)
    writer.pause_writing()
    for version in range(100):
        writer.send({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                     "params": {"uri": "file:///a.py", "version": version, "diagnostics": []}})
        writer.send({"jsonrpc": "2.0", "id": version, "result": None})
    writer.resume_writing()
    sent = bodies(transport.data)
    assert [m["id"] for m in sent if "id" in m] == list(range(100))
    assert [m["params"]["version"] for m in sent if "method" in m] == [99]


def test_a_batch_writes_each_stream_once_at_its_end_in_send_order() -> None:
    batch = Batch()
    a, b = FrameWriter(name="a", batch=batch), FrameWriter(name="b", batch=batch)
    ta, tb = FakeTransport(), FakeTransport()
    a.attach(ta)
    b.attach(tb)
    batch.begin()
    for i in range(50):
        a.send(raw=b'{"id":%d,"result":null}' % i)
        b.send(raw=b'{"id":%d,"result":1}' % i)
    assert ta.writes == tb.writes == 0
    batch.end()
    assert ta.writes == tb.writes == 1
    assert ta.data == b"".join(encode_frame(b'{"id":%d,"result":null}' % i) for i in range(50))
    a.send(raw=b"{}")  # outside a batch: at once
    assert ta.writes == 2


def test_a_batch_larger_than_the_pipe_takes_waits_once_the_transport_pauses() -> None:
    batch = Batch()
    writer = FrameWriter(name="client", batch=batch)
    transport = FakeTransport()
    writer.attach(transport)
    original = transport.writelines

    def pause_after(lines: Any) -> None:
        original(lines)
        writer.pause_writing()  # what a transport does past its high-water mark

    transport.writelines = pause_after  # type: ignore[method-assign]
    batch.begin()
    for i in range(100):
        writer.send({"jsonrpc": "2.0", "id": i, "result": "r" * 10_000})
    batch.end()
    assert transport.writes == 1 and writer.pending > 0  # the rest waits for the pipe
    transport.writelines = original  # type: ignore[method-assign]
    writer.resume_writing()
    assert [m["id"] for m in bodies(transport.data)] == list(range(100))
