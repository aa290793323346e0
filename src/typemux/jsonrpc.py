"""JSON-RPC 2.0 message shapes, as plain dicts.

Messages are never rebuilt from a typed model: the proxy must keep `"result": null` and
unknown members intact, so everything here reads or builds plain dicts.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]
RequestId = int | str

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800
CONTENT_MODIFIED = -32801
# LSP 3.17: the request was valid but failed; the message says why (shown to the user).
REQUEST_FAILED = -32803

ERROR_PREFIX = "typemux: "


def id_key(request_id: object) -> tuple[bool, object]:
    """A dict key that keeps 1 and "1" apart (they are different JSON-RPC ids). Written
    out inline on the short path (`(type(request_id) is str, request_id)`): keep the two
    the same."""
    return (type(request_id) is str, request_id)


def request(request_id: RequestId, method: str, params: Any = None) -> Message:
    msg: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: Any = None) -> Message:
    msg: Message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def result(request_id: Any, value: Any) -> Message:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(request_id: Any, code: int, message: str, data: Any = None) -> Message:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": err}


def proxy_error(request_id: Any, message: str) -> Message:
    """An error made by typemux itself (not forwarded from a backend)."""
    return error(request_id, INTERNAL_ERROR, ERROR_PREFIX + message)


def too_large(request_id: Any, what: str, size: int, limit: int) -> Message:
    """The error in place of a message of `size` bytes that was over max_message_size.

    RequestFailed (-32803), not InternalError (-32603): nothing is broken (the message was
    skipped unread, the stream and the backend are fine), this one request failed for a
    reason the user can act on (raise max_message_size), which is what LSP says -32803 is
    for; and not RequestCancelled (-32800), which clients take as "drop it silently"."""
    return error(request_id, REQUEST_FAILED,
                 f"{ERROR_PREFIX}{what} is {size} bytes, over max_message_size {limit} bytes; "
                 "it was skipped (raise max_message_size to receive it)")


def cancelled(request_id: Any, why: str) -> Message:
    return error(request_id, REQUEST_CANCELLED, ERROR_PREFIX + why)


def show_message(kind: int, text: str) -> Message:
    """window/showMessage; kind 1 = Error, 2 = Warning, 3 = Info."""
    return notification("window/showMessage", {"type": kind, "message": text})


def validate(msg: object) -> str | None:
    """Why `msg` is not a JSON-RPC 2.0 message we can handle, or None when it is fine."""
    if not isinstance(msg, dict):
        return "message is not a JSON object"
    if "method" in msg:
        if not isinstance(msg["method"], str):
            return "'method' is not a string"
        if "id" in msg and not _valid_id(msg["id"]):
            return "'id' is not a string or an integer"
        # null is outside JSON-RPC 2.0, but editors send it (e.g. for shutdown): accept it.
        if "params" in msg and not isinstance(msg["params"], dict | list | None):
            return "'params' is not an object or an array"
        return None
    if "id" in msg and ("result" in msg or "error" in msg):
        return None
    return "neither a request, a notification nor a response"


def _valid_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def text_document_uri(params: Any) -> str | None:
    """params.textDocument.uri, when it is a string."""
    if isinstance(params, dict):
        doc = params.get("textDocument")
        uri = doc.get("uri") if isinstance(doc, dict) else None
        if isinstance(uri, str):
            return uri
    return None
