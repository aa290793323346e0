"""Frames to JSON-RPC messages (sans-IO): what the client reader yields.

Every input ends up as exactly one of: a usable message (`Incoming`) or something to answer
with an error (`Malformed`). A body that is not JSON makes the frame decoder look again for
the real frame boundary (see framing), so a wrong Content-Length costs one error, not the
rest of the stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from typemux import jsonrpc
from typemux.wire import codec
from typemux.wire.framing import EOF, NEED_DATA, Eof, Frame, FrameDecoder, FrameError, NeedData

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


def parse_body(body: bytes) -> Incoming | Malformed:
    try:
        msg, raw = codec.decode(body)
    except codec.DecodeError as exc:
        return Malformed(jsonrpc.PARSE_ERROR, str(exc), None)
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


class MessageDecoder:
    """Bytes in, `Incoming` / `Malformed` out; never raises on input."""

    def __init__(self, max_size: int) -> None:
        self._frames = FrameDecoder(max_size)

    @property
    def buffered(self) -> int:
        return self._frames.buffered

    def receive_data(self, data: bytes) -> None:
        self._frames.receive_data(data)

    def next_event(self) -> Incoming | Malformed | NeedData | Eof:
        event = self._frames.next_event()
        if event is NEED_DATA or event is EOF:
            return event
        if isinstance(event, FrameError):
            return Malformed(jsonrpc.INVALID_REQUEST, event.reason, None)
        assert isinstance(event, Frame)
        item = parse_body(event.body)
        if isinstance(item, Malformed) and item.code == jsonrpc.PARSE_ERROR and not event.salvaged:
            # Not JSON: maybe the length was wrong. The message may come back salvaged.
            self._frames.reject()
        elif event.salvaged and isinstance(item, Incoming):
            log.warning("recovered a message sent with a wrong Content-Length (method %s, id %s)",
                        item.msg.get("method"), item.msg.get("id"))
        return item
