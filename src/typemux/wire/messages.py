"""Frame bodies to JSON-RPC messages (sans-IO): what an `Endpoint` yields.

A body is a usable message (`Incoming`) or something to answer with an error (`Malformed`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from typemux import jsonrpc
from typemux.wire import codec

log = logging.getLogger("typemux.wire")


@dataclass(slots=True)
class Incoming:
    """A valid JSON-RPC message and the exact body bytes it came in (valid UTF-8)."""

    msg: dict[str, Any]
    raw: bytes


@dataclass(slots=True)
class Malformed:
    """Input that is not a usable message; `request_id` lets the caller answer it."""

    code: int
    reason: str
    request_id: int | str | None
    # Where it went wrong: the framing, the JSON, or the JSON-RPC shape of a JSON object.
    stage: Literal["frame", "json", "message"] = "message"


def parse_body(body: bytes, *, lazy: bool = False) -> Incoming | Malformed:
    try:
        msg, raw = codec.decode(body)
    except codec.DecodeError as exc:
        return Malformed(jsonrpc.PARSE_ERROR, str(exc), None, "json")
    problem = jsonrpc.validate(msg)
    if problem is not None:
        return Malformed(jsonrpc.INVALID_REQUEST, problem, _readable_id(msg))
    if "method" in msg and msg.get("jsonrpc") != "2.0":
        # Lenient peers leave the version out; strict backends (pygls) would drop such a
        # message unanswered, so it is forwarded with the version it must carry.
        msg["jsonrpc"] = "2.0"
        raw = codec.dumps(msg)
    return Incoming(msg, raw)


def _readable_id(msg: object) -> int | str | None:
    if not isinstance(msg, dict):
        return None
    value = msg.get("id")
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


# A top-level key and the start of its value; a scalar value; the tokens that nest.
_KEY = re.compile(rb'\s*"((?:[^"\\]|\\.)*)"\s*:\s*')
_SCALAR = re.compile(rb'"(?:[^"\\]|\\.)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null')
_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_NEXT = re.compile(rb"\s*([,}])")
_OPEN = re.compile(rb"\s*\{")


def scan_request_id(head: bytes) -> int | str | None:
    """The id of the request whose body starts with `head` (an oversize body is never
    buffered whole). Read only when the top-level members before `head` ends include both
    "method" and an "id" (an integer or a string): a response's id, or an id that cannot be
    read from the head, gives None, and the error then goes out with "id": null."""
    start = _OPEN.match(head)
    if start is None:
        return None
    pos, request_id, is_request = start.end(), None, False
    while (key := _KEY.match(head, pos)) is not None:
        pos = key.end()
        value: bytes | None = None
        if head[pos : pos + 1] in (b"[", b"{"):
            depth = 0
            for token in _NESTING.finditer(head, pos):
                depth += {b"[": 1, b"{": 1, b"]": -1, b"}": -1}.get(token.group(), 0)
                if depth == 0:
                    pos = token.end()
                    break
            else:
                break  # the value goes on past the head
        else:
            scalar = _SCALAR.match(head, pos)
            if scalar is None or (scalar.end() == len(head) and head[pos] != 0x22):
                break  # not JSON, or cut off where a number could go on (0x22: '"')
            pos, value = scalar.end(), scalar.group()
        name = key.group(1)
        if name == b"id" and value is not None:
            parsed = json.loads(value)
            request_id = parsed if isinstance(parsed, int | str) and not isinstance(parsed, bool) else None
        elif name == b"method":
            is_request = True
        elif name in (b"result", b"error"):
            return None
        follow = _NEXT.match(head, pos)
        if follow is None or follow.group(1) == b"}":
            break
        pos = follow.end()
    return request_id if is_request else None
