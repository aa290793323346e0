"""Envelope-only reading of backend answers (wire.messages.LazyMessage): what is forwarded
undecoded, what the structural checks send to a full decode, and that the router's reads
(resolve tags) still see the whole message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_router import Harness, hover, repo, to_client  # noqa: F401 - repo is a fixture

from typemux import jsonrpc
from typemux.core.actions import ToClient
from typemux.wire import codec
from typemux.wire.endpoint import Endpoint
from typemux.wire.framing import encode_frame
from typemux.wire.messages import LAZY_MIN, Incoming, LazyMessage, parse_body


def references(request_id: Any, count: int = 1000) -> bytes:
    locations = [{"uri": f"file:///p/m{i % 40}.py",
                  "range": {"start": {"line": i, "character": 4}, "end": {"line": i, "character": 9}}}
                 for i in range(count)]
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": locations}).encode()


def lazy(body: bytes) -> Any:
    item = parse_body(body, lazy=True)
    assert isinstance(item, Incoming)
    return item.msg


def test_a_large_answer_is_read_envelope_only_and_forwarded_as_its_bytes() -> None:
    body = references(7)
    msg = lazy(body)
    assert isinstance(msg, LazyMessage) and not msg.decoded
    # What the router and the writer ask of every answer needs no decoding.
    assert msg.get("id") == 7 and msg["id"] == 7 and "id" in msg
    assert "method" not in msg and msg.get("method") is None
    assert "result" in msg
    assert not msg.decoded
    assert codec.dumps(msg) is body
    # Anything else decodes it, and then it is the whole message.
    assert msg["result"][999]["range"]["start"]["line"] == 999
    assert msg.decoded
    assert msg == json.loads(body) and {**msg} == json.loads(body) and dict(msg) == json.loads(body)


def test_iteration_and_unpacking_see_every_member_of_an_undecoded_answer() -> None:
    body = references("abc", 300)
    assert {**lazy(body)} == json.loads(body)
    assert sorted(lazy(body)) == ["id", "jsonrpc", "result"]
    assert len(lazy(body)) == 3
    assert lazy(body) == json.loads(body)


def test_an_error_answer_is_read_envelope_only_too() -> None:
    body = json.dumps({"id": 3, "jsonrpc": "2.0", "error": {
        "code": -32603, "message": "x" * LAZY_MIN}}).encode()
    msg = lazy(body)
    assert isinstance(msg, LazyMessage) and "error" in msg and not msg.decoded
    assert msg["error"]["code"] == -32603


def padded(prefix: bytes, suffix: bytes = b"") -> bytes:
    return prefix + b'{"pad":"' + b"p" * LAZY_MIN + b'"}' + suffix


@pytest.mark.parametrize("body", [
    # A string holding a bracket: the bracket counts differ, so it is decoded in full.
    padded(b'{"jsonrpc":"2.0","id":1,"result":{"label":"a[","x":', b"}}"),
    # Not the envelope the writers of LSP servers use: the result first.
    padded(b'{"result":', b',"id":1,"jsonrpc":"2.0"}'),
    # An id that needs unescaping, and one too long for the envelope's digits.
    padded(b'{"jsonrpc":"2.0","id":"a\\"b","result":', b"}"),
    padded(b'{"jsonrpc":"2.0","id":1234567890123456789012,"result":', b"}"),
    # Invalid UTF-8: the full decode repairs it.
    padded(b'{"jsonrpc":"2.0","id":1,"result":{"t":"caf\xe9","x":', b"}}"),
    # A request or notification from the backend: the router reads those.
    padded(b'{"jsonrpc":"2.0","id":1,"method":"workspace/configuration","params":', b"}"),
], ids=["bracket_in_string", "result_first", "escaped_id", "long_id", "invalid_utf8",
        "server_request"])
def test_answers_that_fail_a_structural_check_are_decoded_in_full(body: bytes) -> None:
    item = parse_body(body, lazy=True)
    assert isinstance(item, Incoming)
    assert type(item.msg) is dict
    assert item.msg == codec.decode(body)[0]


def test_blanks_after_the_closing_brace_pass_the_checks() -> None:
    body = padded(b'{"jsonrpc":"2.0","id":1,"result":', b"} \r\n")
    msg = lazy(body)
    assert isinstance(msg, LazyMessage) and msg == json.loads(body)


def test_encoding_an_undecoded_answer_gives_one_line_of_json() -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 4, "result": ["x" * LAZY_MIN]}, indent=1).encode()
    msg = lazy(body)
    assert isinstance(msg, LazyMessage) and b"\n" in body
    line = codec.dumps(msg)  # what the trace writes
    assert b"\n" not in line and json.loads(line) == json.loads(body)


def test_a_small_answer_is_decoded_at_once_as_before() -> None:
    item = parse_body(b'{"jsonrpc":"2.0","id":1,"result":null}', lazy=True)
    assert isinstance(item, Incoming) and type(item.msg) is dict


def test_an_undecoded_answer_that_is_not_json_becomes_an_error_when_read() -> None:
    body = padded(b'{"jsonrpc":"2.0","id":9,"result":[1,,2,', b"]}")
    msg = lazy(body)
    assert isinstance(msg, LazyMessage)
    assert msg["error"]["code"] == jsonrpc.INTERNAL_ERROR
    assert msg["id"] == 9 and "result" not in msg


def test_the_backend_endpoint_reads_envelopes_and_the_client_endpoint_does_not() -> None:
    body = references(5)
    for lazy_reading, expected in ((True, LazyMessage), (False, dict)):
        endpoint = Endpoint(1 << 24, lazy=lazy_reading)
        endpoint.receive_data(encode_frame(body))
        item = endpoint.next_event()
        assert isinstance(item, Incoming) and type(item.msg) is expected and item.raw == body


# ----- through the router -------------------------------------------------------------------


def test_the_router_forwards_a_large_references_answer_without_decoding_it(repo: Path) -> None:  # noqa: F811
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    session = h.start_backend(main)
    rid, _ = h.request("textDocument/references", hover(main))
    body = references(rid)
    msg = lazy(body)
    h.router.backend_message(session, msg, body, h.now)
    (action,) = [a for a in h.router.take_actions() if isinstance(a, ToClient)]
    assert action.msg is msg and action.raw is body
    assert not msg.decoded


def test_the_router_still_tags_a_large_completion_answer_it_must_rewrite(repo: Path) -> None:  # noqa: F811
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    session = h.start_backend(main)
    rid, _ = h.request("textDocument/completion", hover(main))
    items = [{"label": f"item{i}", "data": {"n": i}} for i in range(200)]
    body = json.dumps({"jsonrpc": "2.0", "id": rid, "result": items}).encode()
    assert len(body) >= LAZY_MIN
    h.router.backend_message(session, lazy(body), body, h.now)
    (answer,) = to_client(h.router.take_actions())
    assert answer["result"][0]["label"] == "item0"
    assert answer["result"][0]["data"] != {"n": 0}  # wrapped with the producing session
    _, actions = h.request("completionItem/resolve", answer["result"][5])
    assert [a.msg["params"] for a in actions if hasattr(a, "session")] == [items[5]]
