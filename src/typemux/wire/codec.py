"""JSON bodies ⇄ plain Python values.

orjson does the work; the stdlib is the fallback for the valid JSON orjson refuses or would
change, so a legal message is never rejected or altered. Values stay plain dicts and lists:
explicit nulls and unknown members survive a round trip. Invalid UTF-8 is decoded with
U+FFFD replacement characters, as the backends (vscode-jsonrpc, tower-lsp) decode it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class DecodeError(ValueError):
    """A message body that is not JSON."""


# orjson silently turns integers beyond 64 bits into floats (a request id 2**70 would come
# back as 1.18e21). Such a literal has at least 19 digits in a row; finding a run of "0"s in
# a digits-to-"0" translation is ~1 us/KB, where a regex like [0-9]{19} is ~10x slower.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def loads(body: bytes) -> Any:
    return decode(body)[0]


def decode(body: bytes) -> tuple[Any, bytes]:
    """The JSON value of `body`, and `body` itself as valid UTF-8 (a repaired copy when it
    held invalid sequences, so that what is forwarded is what was understood)."""
    if body.translate(_DIGITS_TO_ZERO).find(_LONG_NUMBER) < 0:
        try:
            return orjson.loads(body), body
        except orjson.JSONDecodeError:
            pass
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", "replace")
        body = text.encode("utf-8")
    try:
        return json.loads(text), body
    except json.JSONDecodeError as exc:
        raise DecodeError(
            f"invalid JSON at pos {exc.pos} (line {exc.lineno} column {exc.colno}): {exc.msg}"
        ) from None
    except ValueError as exc:  # e.g. an integer longer than sys.get_int_max_str_digits()
        raise DecodeError(f"unsupported JSON: {exc}") from None
    except RecursionError:
        # orjson stops at 1,024 levels; the stdlib recurses until the interpreter's limit.
        raise DecodeError("JSON nested too deeply to decode") from None


def dumps(obj: Any) -> bytes:
    body = getattr(obj, "body", None)  # a LazyMessage not decoded: its bytes are its encoding
    if isinstance(body, bytes):
        if b"\n" not in body and b"\r" not in body:
            return body
        obj.decode()  # one line of JSON is wanted (the trace): encode the decoded members
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        pass
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (decoded from a "\\ud800" escape) has no UTF-8 form; ASCII
        # escapes carry it through unchanged.
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
