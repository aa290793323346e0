"""Frame bodies to JSON-RPC messages (sans-IO): what an `Endpoint` yields.

A body is a usable message (`Incoming`) or something to answer with an error (`Malformed`).

Envelope-only reading (`LazyMessage`): a backend's response of LAZY_MIN bytes or more is not
decoded when it arrives. Its envelope (`jsonrpc`, `id`, and whether it carries `result` or
`error`) is read from its first bytes, and the rest is decoded only if something reads it:
the router does for the answers it rewrites (resolve tags, fan-out, the handshake); a
references answer of 1,000 locations is forwarded as the bytes that came. Before such a body
is forwarded undecoded it is checked structurally, and decoded in full when any check fails:
- it starts with `{"jsonrpc":"2.0","id":ID,"result":` or `"error":` (the two first members in
  either order, blanks allowed), ID an integer of at most 18 digits or a string without
  escapes: exactly what vscode-jsonrpc, tower-lsp and lsp-server write;
- its last non-blank byte is `}`;
- it is valid UTF-8 (invalid bytes are repaired by the full decode, as for every message);
- it holds as many `{` as `}` and as many `[` as `]` (counted in strings too, so a string
  holding a bracket makes the check fail safe: a full decode).
Not checked: what lies between (a body that passes and is still not JSON reaches the client
as the backend sent it, as a byte-forwarding proxy would forward it), and members after the
result (a second "id" there is not seen).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from typemux import jsonrpc
from typemux.wire import codec
from typemux.wire.framing import OVERSIZE_HEAD, _find_header

# Below this size a full decode costs about what the envelope and the checks cost (~2 µs).
LAZY_MIN = 4096
_ID = rb'(-?(?:0|[1-9][0-9]{0,17})|"[^"\\\x00-\x1f]*")'
_ENVELOPE = re.compile(
    rb'\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*' + _ID
    + rb'|"id"\s*:\s*' + _ID + rb'\s*,\s*"jsonrpc"\s*:\s*"2\.0")'
    + rb'\s*,\s*"(result|error)"\s*:'
)
_TRAILING = frozenset(b" \t\r\n")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"{}[]")))
_ENVELOPE_KEYS = frozenset({"jsonrpc", "id"})

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
    # A frame over max_size (stage "frame"): its Content-Length and first bytes. The stream
    # stayed in sync, so only this message is lost (a backend is kept: runtime/backend_process).
    size: int = 0
    head: bytes = b""


class LazyMessage(dict[str, Any]):
    """A response read envelope first (see the module doc): `id`, `jsonrpc` and the
    presence of `result`/`error` are known at once; any other read decodes the body and
    from then on it is a plain dict with every member. `{**msg}`, `dict(msg)`, iteration
    and comparison all see the decoded members."""

    __slots__ = ("_body", "_member")

    def __init__(self, request_id: int | str, member: str, body: bytes) -> None:
        dict.__init__(self, jsonrpc="2.0", id=request_id)
        self._body: bytes | None = body
        self._member = member

    @property
    def decoded(self) -> bool:
        return self._body is None

    @property
    def body(self) -> bytes | None:
        """The undecoded body (None once decoded)."""
        return self._body

    def decode(self) -> None:
        """Decode the body now (a no-op once done)."""
        self._load()

    def _load(self) -> None:
        body, self._body = self._body, None
        if body is None:
            return
        try:
            value = codec.decode(body)[0]
        except codec.DecodeError as exc:
            value = None
            reason = str(exc)
        else:
            reason = jsonrpc.validate(value) or ""
        if not reason and isinstance(value, dict):
            dict.clear(self)
            dict.update(self, value)
            return
        log.warning("a backend answer passed the structural checks but is not a response "
                    "(%s); answered with an error", reason)
        dict.update(self, jsonrpc.proxy_error(dict.__getitem__(self, "id"),
                                              "the backend's answer is not valid JSON-RPC"))

    def __getitem__(self, key: str) -> Any:
        if self._body is not None and key not in _ENVELOPE_KEYS:
            self._load()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if self._body is not None:
            if key == "method":
                return default
            if key not in _ENVELOPE_KEYS:
                self._load()
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        if self._body is not None:
            if key in _ENVELOPE_KEYS or key == self._member:
                return True
            if key == "method":
                return False
            self._load()
        return dict.__contains__(self, key)

    def __iter__(self) -> Any:
        self._load()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._load()
        return dict.keys(self)

    def values(self) -> Any:
        self._load()
        return dict.values(self)

    def items(self) -> Any:
        self._load()
        return dict.items(self)

    def copy(self) -> dict[str, Any]:
        self._load()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._load()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None

    def __setitem__(self, key: str, value: Any) -> None:
        self._load()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        self._load()
        dict.__delitem__(self, key)

    def pop(self, *args: Any) -> Any:
        self._load()
        return dict.pop(self, *args)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._load()
        return dict.setdefault(self, key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._load()
        dict.update(self, *args, **kwargs)

    def __repr__(self) -> str:
        self._load()
        return dict.__repr__(self)

    def __reduce__(self) -> Any:
        self._load()
        return (dict, (dict(dict.items(self)),))


def _envelope(body: bytes) -> LazyMessage | None:
    """`body` read envelope first, when it passes the structural checks (module doc)."""
    match = _ENVELOPE.match(body)
    if match is None:
        return None
    end = len(body) - 1
    while end > 0 and body[end] in _TRAILING:
        end -= 1
    if body[end] != 0x7D:  # "}"
        return None
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    brackets = body.translate(None, _NOT_BRACKETS)  # one pass; 4 counts would be 4
    if brackets.count(b"{") != brackets.count(b"}") or brackets.count(b"[") != brackets.count(b"]"):
        return None
    raw_id = match.group(1) or match.group(2)
    request_id: int | str = (raw_id[1:-1].decode("utf-8") if raw_id[0] == 0x22
                             else int(raw_id))
    return LazyMessage(request_id, match.group(3).decode("ascii"), body)


_PARAMS_TYPES = (dict, list, type(None))  # "params" absent reads as None: also fine


def parse_body(body: bytes, *, lazy: bool = False) -> Incoming | Malformed:
    if lazy and len(body) >= LAZY_MIN:
        envelope = _envelope(body)
        if envelope is not None:
            return Incoming(envelope, body)
    try:
        msg, raw = codec.decode(body)
    except codec.DecodeError as exc:
        return Malformed(jsonrpc.PARSE_ERROR, str(exc), None, "json")
    if type(msg) is dict and msg.get("jsonrpc") == "2.0":
        # The common shapes, checked as jsonrpc.validate does, without its calls: a request
        # or notification (string method, integer or string id, object/array params) and
        # a response (an integer or string id).
        method = msg.get("method")
        request_id = msg.get("id")
        id_ok = (type(request_id) is int or type(request_id) is str
                 or (request_id is None and "id" not in msg))
        if id_ok and ((type(method) is str and type(msg.get("params")) in _PARAMS_TYPES) or (
                method is None and "method" not in msg and "id" in msg
                and ("result" in msg or "error" in msg))):
            return Incoming(msg, raw)
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


def _scan_head(head: bytes) -> tuple[int | str | None, set[bytes]]:
    """The top-level "id" (an integer or a string) read from `head`, the first bytes of a
    JSON object, and the names of the top-level members that start in it (the one whose
    value runs past the end of `head` included)."""
    names: set[bytes] = set()
    start = _OPEN.match(head)
    if start is None:
        return None, names
    pos, request_id = start.end(), None
    while (key := _KEY.match(head, pos)) is not None:
        pos = key.end()
        name = key.group(1)
        names.add(name)
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
                names.discard(name)  # its value is not read: as if not seen
                break  # not JSON, or cut off where a number could go on (0x22: '"')
            pos, value = scalar.end(), scalar.group()
        if name == b"id" and value is not None:
            parsed = json.loads(value)
            request_id = parsed if isinstance(parsed, int | str) and not isinstance(parsed, bool) else None
        follow = _NEXT.match(head, pos)
        if follow is None or follow.group(1) == b"}":
            break
        pos = follow.end()
    return request_id, names


def scan_request_id(head: bytes) -> int | str | None:
    """The id of the request whose body starts with `head` (an oversize body is never
    buffered whole). Read only when the top-level members before `head` ends include both
    "method" and an "id" (an integer or a string): a response's id, or an id that cannot be
    read from the head, gives None, and the error then goes out with "id": null."""
    request_id, names = _scan_head(head)
    if b"method" not in names or b"result" in names or b"error" in names:
        return None
    return request_id


def scan_response_id(head: bytes) -> int | str | None:
    """The id of the response whose body starts with `head`: a top-level "id" read before
    `head` ends, a "result" or "error" member, and no "method"; else None."""
    request_id, names = _scan_head(head)
    if b"method" in names or not (b"result" in names or b"error" in names):
        return None
    return request_id


def is_notification_head(head: bytes) -> bool:
    """`head` starts a notification as far as it shows: a top-level "method" and no "id"
    before `head` ends (an "id" written after a long "params" is not seen)."""
    _, names = _scan_head(head)
    return b"method" in names and not names & {b"id", b"result", b"error"}


def whole_body_request_id(body: bytes) -> int | str | None:
    """The id of the request that `body`, which could not be decoded, was meant to be: read
    from its head (`scan_request_id`) only when the body looks whole (no header line inside,
    ends with "}", as many "{" as "}" and "[" as "]"), so that it was framed right and no
    resynchronisation will hand the same message on again as a salvaged frame (the request
    would then get two answers). A body nested too deeply to decode is the usual case."""
    end = len(body) - 1
    while end > 0 and body[end] in _TRAILING:
        end -= 1
    if end < 0 or body[end] != 0x7D:  # "}"
        return None
    brackets = body.translate(None, _NOT_BRACKETS)
    if brackets.count(b"{") != brackets.count(b"}") or brackets.count(b"[") != brackets.count(b"]"):
        return None
    if _find_header(body, 0) >= 0:
        return None
    return scan_request_id(body[:OVERSIZE_HEAD])
