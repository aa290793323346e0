"""parse_body's quick check of the common shapes agrees with jsonrpc.validate on every
message shape: the same messages are accepted, the same refused."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from typemux import jsonrpc
from typemux.wire.messages import Incoming, Malformed, parse_body

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False),
                   st.sampled_from(["", "2.0", "1.0", "textDocument/hover"]),
                   st.just([]), st.just({}), st.just([1]), st.just({"a": 1}))


# Each key absent, or one of the values that matter for it, or any value.
KEYS = {
    "jsonrpc": st.sampled_from(["2.0", "2.0", "1.0", 2]),
    "id": st.one_of(st.integers(-3, 3), st.sampled_from(["a", ""]), st.none(), st.booleans()),
    "method": st.sampled_from(["textDocument/hover", "", None, 3]),
    "params": st.sampled_from([{}, [], None, "x", 1]),
    "result": st.sampled_from([None, 1, {}]),
    "error": st.sampled_from([None, {"code": 1, "message": "m"}]),
}


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    msg: dict[str, Any] = {}
    for key, typical in KEYS.items():
        if draw(st.booleans()):
            msg[key] = draw(typical) if draw(st.integers(0, 3)) else draw(VALUES)
    return msg


@settings(max_examples=2000)
@given(messages())
def test_parse_body_accepts_exactly_what_validate_accepts(msg: dict[str, Any]) -> None:
    item = parse_body(json.dumps(msg).encode())
    if jsonrpc.validate(msg) is None:
        assert isinstance(item, Incoming)
        expected = dict(msg, jsonrpc="2.0") if "method" in msg else msg
        assert item.msg == expected
    else:
        assert isinstance(item, Malformed)
