"""One LSP stream, sans-IO: bytes in → messages out, a message out → frame bytes.

The same `Endpoint` reads the client's stdin, every backend's stdout and the backend doctor
talks to; `frame()` is the one place a frame is encoded. What the bytes travel over (pipes,
flow control, the client outbox) is `wire.writer` and `wire.streams`.

Every input ends up as exactly one of: a usable message (`Incoming`) or something to answer
with an error (`Malformed`, whose `stage` says whether the framing, the JSON or the JSON-RPC
shape was wrong). A body that is not JSON makes the frame decoder look again for the real
frame boundary (see framing), so a wrong Content-Length costs one error, not the rest of
the stream. A body over `max_size` is skipped unread, and its error carries the request's
id when the first bytes of the body show it (`messages.scan_request_id`).
"""

from __future__ import annotations

import logging
from typing import Any

from typemux import jsonrpc
from typemux.wire import codec
from typemux.wire.framing import (
    EOF,
    NEED_DATA,
    Eof,
    Frame,
    FrameDecoder,
    FrameError,
    NeedData,
    frame_header,
)
from typemux.wire.messages import (
    Incoming,
    Malformed,
    parse_body,
    scan_request_id,
    whole_body_request_id,
)

log = logging.getLogger("typemux.wire")

__all__ = ["EOF", "NEED_DATA", "Endpoint", "Incoming", "Malformed"]


class Endpoint:
    """Bytes in, `Incoming` / `Malformed` out (never raises on input); messages out as
    (header, body) pairs.

    `lazy`: responses are read envelope first (see `messages.LazyMessage`); the backends'
    streams use it, the client's does not (the router reads every client message).
    """

    def __init__(self, max_size: int, *, lazy: bool = False) -> None:
        self._frames = FrameDecoder(max_size)
        self._lazy = lazy

    @property
    def max_size(self) -> int:
        return self._frames.max_size

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the stream; `b""` means it ended."""
        self._frames.receive_data(data)

    def next_event(self) -> Incoming | Malformed | NeedData | Eof:
        body = self._frames.next_body()  # the common case: no Frame object
        if body is not None:
            item = parse_body(body, lazy=self._lazy)
            return item if type(item) is Incoming else self._body_item(item, body, False)
        event = self._frames.next_other()
        if type(event) is not Frame:
            if isinstance(event, FrameError):
                request_id = scan_request_id(event.head) if event.head else None
                return Malformed(jsonrpc.INVALID_REQUEST, event.reason, request_id, "frame",
                                 event.size, event.head)
            assert event is NEED_DATA or event is EOF
            return event
        item = parse_body(event.body, lazy=self._lazy)
        if type(item) is Incoming and not event.salvaged:
            return item
        return self._body_item(item, event.body, event.salvaged)

    def _body_item(self, item: Incoming | Malformed, body: bytes,
                   salvaged: bool) -> Incoming | Malformed:
        """What a body that is not a plain message (or came salvaged) gives."""
        if isinstance(item, Malformed) and item.stage == "json":
            # A request that cannot be decoded (nested too deeply, say) is answered under
            # its own id when its body looks whole: then it is not resynchronised either.
            item.request_id = whole_body_request_id(body)
            if item.request_id is None and not salvaged:
                # Not JSON: maybe the length was wrong. The message may come back salvaged.
                self._frames.reject()
        elif salvaged and isinstance(item, Incoming):
            log.warning("recovered a message sent with a wrong Content-Length (method %s, id %s)",
                        item.msg.get("method"), item.msg.get("id"))
        return item

    @staticmethod
    def frame(msg: Any, raw: bytes | None = None) -> tuple[bytes, bytes]:
        """The header and body of `msg`; `raw` is its body already encoded (sent as is).
        Raises TypeError/ValueError for a message that cannot be encoded."""
        body = raw if raw is not None else codec.dumps(msg)
        return frame_header(body), body
