"""End to end: a hostile or broken client on typemux's stdio (real pipes, real process).

Wrong Content-Length values, invalid UTF-8, batch arrays and non-object bodies, a client
that stops reading while its backend floods diagnostics, and failures inside typemux's own
loops. In every case typemux keeps serving (or, for its own failures, ends cleanly).
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import psutil
import pytest
from e2e_support import (
    Start,
    alive,
    fake,
    hover,
    hover_text,
    project,
    td,
    tm_fixture,  # noqa: F401
    wait_gone,
    wait_until,
)

from conftest import typemux_env
from support.client import CLAUDE_CODE_CAPABILITIES, LspClient, Message, encode
from support.workspace import fake_backend_command

MB = 1024 * 1024


def _frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


def _expect(client: LspClient, request_id: int | str) -> None:
    """Register interest in an answer to a message the test sends raw."""
    client._pending[request_id] = asyncio.get_running_loop().create_future()


def _body(msg: Message) -> bytes:
    return json.dumps(msg, ensure_ascii=False).encode()


async def _started(tm: Start, tmp_path: Path, **settings: Any) -> tuple[LspClient, str]:
    proj = project(tmp_path, "proj")
    client = await tm(proj, **settings)
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    return client, doc


async def _answered_or_reported(client: LspClient, request_id: int, errors_before: int) -> None:
    """The bad frame's request got its own answer, or the client got an id-null error:
    either way it was not dropped silently."""
    await wait_until(
        lambda: client._pending[request_id].done() or len(client.null_id_errors) > errors_before,
        timeout=15,
    )


# ----- 2: a bad frame must not desynchronise the stream ------------------------------------

CAFE = "café ☕"


def _bad_frames(doc: str, request_id: int = 900) -> dict[str, bytes]:
    hover_900 = _body({"jsonrpc": "2.0", "id": request_id, "method": "textDocument/hover",
                       "params": {**td(doc), "note": CAFE}})
    return {
        # The length counted in characters: the body is 3 bytes longer than announced.
        "length_in_characters": _frame(hover_900, len(hover_900.decode())),
        "missing_length": b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + hover_900,
        "length_abc": b"Content-Length: abc\r\n\r\n" + hover_900,
        "length_negative": b"Content-Length: -5\r\n\r\n" + hover_900,
        "length_two_bytes_too_long": _frame(hover_900, len(hover_900) + 2),
        # Swallows every following frame and leaves the decoder waiting for more.
        "length_far_too_long": _frame(hover_900, len(hover_900) + 5000),
        # Beyond max_message_size: the decoder skips, and must stop skipping at a header.
        "length_beyond_max_size": _frame(hover_900, 10**12),
    }


@pytest.mark.parametrize("case", list(_bad_frames("file:///x.py")))
async def test_bad_content_length_then_every_later_frame_is_handled(
    case: str, tmp_path: Path, tm: Start
) -> None:
    client, doc = await _started(tm, tmp_path)
    _expect(client, 900)
    _expect(client, 901)
    errors_before = len(client.null_id_errors)
    # The next frames arrive in the same write as the bad one (the hard case for resync).
    following = _body({"jsonrpc": "2.0", "id": 901, "method": "textDocument/hover",
                       "params": td(doc)})
    change = {"jsonrpc": "2.0", "method": "textDocument/didChange",
              "params": {"textDocument": {"uri": doc, "version": 2},
                         "contentChanges": [{"text": "X = 1\n"}]}}
    client.send_raw(_bad_frames(doc)[case] + _frame(following) + encode(change))

    response = await client.response(901, timeout=15)
    assert hover_text(response).startswith("proj ")
    await _answered_or_reported(client, 900, errors_before)
    if case != "length_beyond_max_size":
        # The bad frame's own message lay between two headers: it was recovered.
        assert hover_text(await client.response(900, timeout=15)).startswith("proj ")
        # One id-null error reports the bad framing (never silent).
        await wait_until(lambda: len(client.null_id_errors) == errors_before + 1, timeout=15)
    else:
        # Skipped unread, but its id was readable from its first bytes: answered under it.
        assert (await client.response(900, timeout=15))["error"]["code"] == -32600
        assert len(client.null_id_errors) == errors_before
    # A request sent later, on its own, is answered too, and sees the didChange.
    later = await hover(client, doc, timeout=15)
    assert "v2 len=6" in hover_text(later)
    assert await client.shutdown_and_exit(timeout=15) == 0


async def test_wrong_lengths_back_to_back_are_all_recovered(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path)
    cases = ("length_in_characters", "length_abc", "length_two_bytes_too_long", "missing_length")
    # Each recovered message has its own id: ids must be unique among pending requests.
    data = b"".join(_bad_frames(doc, 910 + i)[case] for i, case in enumerate(cases))
    for i in range(len(cases)):
        _expect(client, 910 + i)
    _expect(client, 902)
    client.send_raw(data + _frame(_body({"jsonrpc": "2.0", "id": 902,
                                          "method": "textDocument/hover", "params": td(doc)})))
    assert hover_text(await client.response(902, timeout=15)).startswith("proj ")
    for i in range(len(cases)):
        assert hover_text(await client.response(910 + i, timeout=15)).startswith("proj ")
    assert await client.shutdown_and_exit(timeout=15) == 0


# ----- 4: invalid UTF-8 is decoded with replacement, as the backends do ---------------------


async def test_latin1_did_open_is_delivered_with_replacement_characters(
    tmp_path: Path, tm: Start
) -> None:
    client, doc = await _started(tm, tmp_path)
    latin = doc.replace("main.py", "latin.py")  # not on disk: only didOpen can make it known
    text = "caf\xe9 = 1\n"
    opened = _body({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                    "params": {"textDocument": {"uri": latin, "languageId": "python",
                                                "version": 1, "text": "caf@ = 1\n"}}})
    client.send_raw(_frame(opened.replace(b"@", b"\xe9")))  # Latin-1, not UTF-8
    response = await hover(client, latin)
    assert response["result"] is not None, "the didOpen was dropped"
    assert f"v1 len={len(text)}" in hover_text(response)
    documents = await fake(client, "fake/documents", doc)
    assert documents[latin]["text"] == "caf\ufffd = 1\n"
    assert await client.shutdown_and_exit(timeout=15) == 0


async def test_request_with_invalid_utf8_is_answered(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path)
    _expect(client, 77)
    body = _body({"jsonrpc": "2.0", "id": 77, "method": "textDocument/hover",
                  "params": {**td(doc), "note": "@"}}).replace(b"@", b"\xff\xfe")
    client.send_raw(_frame(body))
    response = await client.response(77, timeout=15)
    assert hover_text(response).startswith("proj ")


# ----- 13: bodies that are not a usable message get a JSON-RPC error ------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"jsonrpc": "2.0", "id": 7, "method": ', -32700),
        (b"not json at all", -32700),
        (b'[{"jsonrpc":"2.0","id":8,"method":"shutdown"}]', -32600),
        (b"[]", -32600),
        (b"42", -32600),
        (b'"a string"', -32600),
        (b"null", -32600),
    ],
    ids=["truncated", "garbage", "batch", "empty_batch", "number", "string", "null"],
)
async def test_unusable_body_gets_an_error_with_null_id_and_serving_goes_on(
    body: bytes, code: int, tmp_path: Path, tm: Start
) -> None:
    client, doc = await _started(tm, tmp_path)
    client.send_raw(_frame(body))
    await wait_until(lambda: len(client.null_id_errors) == 1, timeout=15)
    error = client.null_id_errors[0]
    assert error["jsonrpc"] == "2.0" and error["id"] is None
    assert error["error"]["code"] == code
    assert hover_text(await hover(client, doc)).startswith("proj ")
    assert len(client.null_id_errors) == 1


async def test_a_request_nested_100k_deep_gets_a_parse_error_under_its_id_and_serving_goes_on(
    tmp_path: Path, tm: Start
) -> None:
    # Valid JSON nested past the interpreter's recursion limit once killed typemux; its id
    # is readable from its first bytes, so the error goes out under it, not "id": null.
    client, doc = await _started(tm, tmp_path)
    _expect(client, 5)
    client.send_raw(_frame(b'{"jsonrpc": "2.0", "id": 5, "method": "x", "params": '
                           + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    response = await client.response(5, timeout=15)
    assert response["error"]["code"] == -32700
    assert hover_text(await hover(client, doc)).startswith("proj ")
    assert not client.null_id_errors


async def test_invalid_object_with_readable_id_gets_the_error_under_that_id(
    tmp_path: Path, tm: Start
) -> None:
    client, doc = await _started(tm, tmp_path)
    _expect(client, "abc")
    client.send_raw(_frame(b'{"jsonrpc":"2.0","id":"abc","method":5}'))
    response = await client.response("abc")
    assert response["error"]["code"] == -32600
    assert hover_text(await hover(client, doc)).startswith("proj ")


async def test_an_oversize_request_is_answered_under_its_own_id(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path, max_message_size=4096)
    _expect(client, 77)
    _expect(client, "late")
    # The id is readable from the first bytes of the body: the error goes under it.
    early_id = {"jsonrpc": "2.0", "id": 77, "method": "textDocument/hover",
                "params": td(doc, pad="x" * 20_000)}
    # The id comes after the big value: not read, so the error has "id": null as before.
    late_id = {"jsonrpc": "2.0", "method": "textDocument/hover",
               "params": td(doc, pad="y" * 20_000), "id": "late"}
    # An oversize response of the client: its id is never taken for a request's.
    response = {"jsonrpc": "2.0", "id": 78, "result": {"pad": "z" * 20_000}}
    client.send_raw(_frame(_body(early_id)) + _frame(_body(late_id)) + _frame(_body(response)))

    answer = await client.response(77, timeout=15)
    assert answer["error"]["code"] == -32600
    assert "max_message_size" in answer["error"]["message"]
    await wait_until(lambda: len(client.null_id_errors) == 2, timeout=15)
    # The skipped bodies left the stream in sync: the next request is served.
    assert hover_text(await hover(client, doc)).startswith("proj ")
    assert not client._pending["late"].done()
    assert len(client.null_id_errors) == 2


# ----- 5: a client that stops reading -------------------------------------------------------


def _peak_rss(pid: int) -> int:
    """The process's high-water RSS in bytes (VmHWM), so no sample can miss the peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def test_stalled_client_during_a_diagnostics_flood_keeps_memory_bounded(
    tmp_path: Path, tm: Start
) -> None:
    client, doc = await _started(tm, tmp_path)
    uris = [doc.replace("main.py", f"m{i}.py") for i in range(4)]
    proc = psutil.Process(client.pid)
    start_rss = proc.memory_info().rss
    count, size = 30_000, 10_000  # ~300 MB of diagnostics for 4 files
    done = tmp_path / "flood-written"

    client.pause_reading()
    _expect(client, "flood")
    client._send({"jsonrpc": "2.0", "id": "flood", "method": "fake/flood",
                  "params": {"textDocument": {"uri": doc}, "uris": uris,
                             "count": count, "size": size, "done_file": str(done)}})
    samples: list[int] = []

    def flood_written() -> bool:
        samples.append(proc.memory_info().rss)
        return done.exists()

    await wait_until(flood_written, timeout=240, step=0.2)
    # Requests sent while the client is not reading still get exactly one answer each.
    hover_id = client.send_request("textDocument/hover", td(doc))
    samples.append(proc.memory_info().rss)
    client.resume_reading()

    flood = await client.response("flood", timeout=120)
    assert "result" in flood, flood
    last: dict[str, int] = flood["result"]
    assert hover_text(await client.response(hover_id, timeout=60)).startswith("proj ")
    peak = _peak_rss(client.pid)
    print(f"\nflood: rss start {start_rss / MB:.0f} MB, max sampled {max(samples) / MB:.0f} MB, "
          f"peak (VmHWM) {peak / MB:.0f} MB, after drain {proc.memory_info().rss / MB:.0f} MB")
    assert peak < 150 * MB, f"typemux peaked at {peak / MB:.0f} MB"

    # The latest diagnostics of every uri reach the client, superseded ones may not.
    def latest_seen() -> bool:
        seen: dict[str, int] = {}
        for msg in client.notifications:
            if msg["method"] == "textDocument/publishDiagnostics":
                seen[msg["params"]["uri"]] = msg["params"]["version"]
        return all(seen.get(u) == v for u, v in last.items())

    await wait_until(latest_seen, timeout=60)
    received = sum(1 for m in client.notifications
                   if m["method"] == "textDocument/publishDiagnostics")
    assert received < count  # coalesced, not delivered one by one from an unbounded queue
    await wait_until(lambda: "client_output_coalesced" in client.stderr_text(), timeout=15)
    assert await client.shutdown_and_exit(timeout=30) == 0


# ----- 12: a failure in one of typemux's own loops ends it cleanly --------------------------

# typemux with a fault armed by the client message "test/arm": the failure happens outside
# every per-message guard, in the loop named by TYPEMUX_TEST_FAULT.
FAULTY_TYPEMUX = textwrap.dedent(
    """
    import asyncio, os, sys
    import typemux.runtime.proxy as proxy
    from typemux.core.router import Router

    fault = os.environ["TYPEMUX_TEST_FAULT"]
    armed = False
    original_item = proxy.Proxy._client_item

    # Outside the per-message guard: what stdin's callback does with each message read.
    def client_item(self, item):
        global armed
        if getattr(item, "msg", {}).get("method") == "test/arm":
            armed = True
            if fault == "reader":
                raise RuntimeError("injected reader failure")
            return
        original_item(self, item)

    proxy.Proxy._client_item = client_item
    proxy.HEARTBEAT = 0.05

    def wrap(cls, name):
        original = getattr(cls, name)
        def faulty(*args, **kw):
            if armed:
                raise RuntimeError(f"injected {fault} failure")
            return original(*args, **kw)
        setattr(cls, name, faulty)

    if fault == "heartbeat":
        wrap(proxy.Proxy, "_schedule_state")
    elif fault == "timer":
        wrap(Router, "next_deadline")
    elif fault == "writer":
        from asyncio.unix_events import _UnixWritePipeTransport
        wrap(_UnixWritePipeTransport, "write")

    from typemux.cli import main
    sys.exit(main())
    """
)


@pytest.mark.parametrize("fault", ["reader", "heartbeat", "timer", "writer"])
async def test_failure_in_a_loop_ends_typemux_and_stops_backends(
    fault: str, tmp_path: Path
) -> None:
    proj = project(tmp_path, "proj")
    env = typemux_env(backend_command=fake_backend_command(), warmup_timeout=0,
                      log_level="debug")
    env["TYPEMUX_TEST_FAULT"] = fault
    client = await LspClient.start([sys.executable, "-c", FAULTY_TYPEMUX], cwd=proj, env=env)
    try:
        await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
        doc = await client.did_open(proj / "main.py")
        pid = (await fake(client, "fake/env", doc))["pid"]
        client.notify("test/arm", {})
        client.send_request("textDocument/hover", td(doc))  # work for the router
        client.send_raw(_frame(b"{"))  # answered by typemux itself: work for the writer
        code = await client.wait_exit(timeout=30)
        assert code != 0
        await wait_gone([pid], timeout=15)
        assert not alive(pid)
        assert f"injected {fault} failure" in client.stderr_text()
    finally:
        await client.aclose()
