"""Each backend gets didChange the way its own `textDocumentSync` asks (sans-IO).

typemux answers the client's `initialize` before any backend runs, so the client sends
incremental edits (typemux advertises sync kind 2) even to a backend that declared full sync
(1) or none (0). typemux applies every edit to its own copy of the text anyway, so:

- Full (1): the didChange carries the whole new text as one change without a range;
- None (0): the backend gets no didChange at all (LSP: "documents should not be synced");
- Incremental (2), or a backend that declared no `textDocumentSync` at all: the message goes
  on unchanged, as raw bytes. A change without a range is valid under every sync kind, and
  typemux has always forwarded edits to such backends; dropping them would be worse.

didOpen and didClose go to a backend only when it takes them (`open_close`): not to one that
declared None (0), nor to one whose options object says `openClose: false` (or omits it:
LSP's "if omitted open close notifications should not be sent"); its didChange is still
governed by `change`. That covers every didOpen/didClose typemux sends: the client's, the
documents typemux opens itself, a move between venvs, a new backend's replay, idle close.

A backend that is still starting has not said yet what it wants: its held didChange
messages are rewritten when its `initialize` answer arrives (`adapt_held`), by replaying
the held edits onto the texts it is about to be given (or would be: with no didOpen
taken, the replayed texts still tell what each whole-text didChange must say); its held
didOpen/didClose are dropped as they are delivered, its capabilities known by then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from typemux.core.session import BackendSession, Queued
from typemux.documents import EditError, apply_change
from typemux.jsonrpc import Message

NONE, FULL, INCREMENTAL = 0, 1, 2
DID_CHANGE = "textDocument/didChange"
DID_OPEN, DID_CLOSE = "textDocument/didOpen", "textDocument/didClose"
OPEN_CLOSE = frozenset((DID_OPEN, DID_CLOSE))


def change_kind(capabilities: Mapping[str, Any]) -> int | None:
    """The sync kind a backend declared for changes; None when it declared nothing."""
    sync = capabilities.get("textDocumentSync")
    if isinstance(sync, bool):
        return None
    if isinstance(sync, int):
        return sync if sync in (NONE, FULL, INCREMENTAL) else None
    if isinstance(sync, Mapping):
        change = sync.get("change", NONE)  # the spec's default for an omitted `change`
        if isinstance(change, bool) or not isinstance(change, int):
            return None
        return change if change in (NONE, FULL, INCREMENTAL) else None
    return None


def open_close(capabilities: Mapping[str, Any]) -> bool:
    """Whether a backend takes didOpen and didClose: not with sync None (0), nor with an
    options object whose `openClose` is not true. A backend that declared nothing (or
    something unreadable) gets them, as it always did (see the module's docstring)."""
    sync = capabilities.get("textDocumentSync")
    if isinstance(sync, bool):
        return True
    if isinstance(sync, int):
        return sync != NONE
    if isinstance(sync, Mapping):
        return sync.get("openClose") is True
    return True


def takes(backend: BackendSession, msg: Message) -> bool:
    """Whether `backend` is to get the client-side notification `msg` (False only for a
    didOpen or didClose it declared it does not take). A starting backend has declared
    nothing yet: it holds it, and it is looked at again as it is delivered."""
    return msg.get("method") not in OPEN_CLOSE or open_close(backend.capabilities)


def for_backend(backend: BackendSession, msg: Message, raw: bytes | None,
                text: str | None) -> tuple[Message, bytes | None] | None:
    """A client's didChange as `backend` must get it; `text` is the document's text after
    the change, None when typemux could not follow it (the message then goes as it came).
    A starting backend has not declared its sync kind: it gets the message as it came, and
    `adapt_held` rewrites it once the backend has answered `initialize`."""
    return adapt(change_kind(backend.capabilities), msg, raw, text)


def adapt(kind: int | None, msg: Message, raw: bytes | None,
          text: str | None) -> tuple[Message, bytes | None] | None:
    """A didChange (`msg`, its `raw` bytes) as a backend of sync `kind` must get it, given
    the document's `text` after the change; None when it must get nothing."""
    if kind == NONE:
        return None
    if kind != FULL or text is None:
        return msg, raw
    params = msg.get("params")
    params = params if isinstance(params, dict) else {}
    changes = params.get("contentChanges")
    if isinstance(changes, list) and len(changes) == 1 and isinstance(changes[0], dict) \
            and changes[0].get("range") is None:
        return msg, raw  # already the whole text (a client told sync kind 1): as it came
    return {**msg, "params": {**params, "contentChanges": [{"text": text}]}}, None


def adapt_held(kind: int | None, opened: Iterable[Mapping[str, Any]],
               held: list[Queued]) -> list[Queued]:
    """`held` (client messages a starting backend holds, in order) rewritten for sync
    `kind`, now that the backend has said it. `opened` are the documents it is given first
    (uri and text); the text after each held didChange is found by applying its edits.
    (A held didOpen/didClose it takes none of is dropped as it is delivered.)"""
    if kind is None or kind == INCREMENTAL:
        return held
    texts: dict[str, str | None] = {}
    for item in opened:
        uri, text = item.get("uri"), item.get("text")
        if isinstance(uri, str):
            texts[uri] = text if isinstance(text, str) else None
    out: list[Queued] = []
    for queued in held:
        msg = queued.msg
        method = msg.get("method")
        params = msg.get("params")
        doc = params.get("textDocument") if isinstance(params, dict) else None
        uri = doc.get("uri") if isinstance(doc, dict) else None
        if not isinstance(uri, str) or method not in (DID_OPEN, DID_CHANGE):
            out.append(queued)
            continue
        assert isinstance(params, dict) and isinstance(doc, dict)
        if method == DID_OPEN:
            text = doc.get("text")
            texts[uri] = text if isinstance(text, str) else None
            out.append(queued)
            continue
        texts[uri] = _after(texts.get(uri), params.get("contentChanges"))
        adapted = adapt(kind, msg, queued.raw, texts[uri])
        if adapted is not None:
            out.append(Queued(adapted[0], adapted[1], queued.fanout, queued.mark))
    return out


def _after(text: str | None, changes: Any) -> str | None:
    """The text after `changes`; None when it cannot be known (an unreadable edit, or an
    edit of a text that was not known, until a whole-text change)."""
    if not isinstance(changes, list):
        return text
    for change in changes:
        if isinstance(change, Mapping) and change.get("range") is None \
                and isinstance(change.get("text"), str):
            text = change["text"]
            continue
        if text is None:
            continue
        try:
            text = apply_change(text, change)
        except EditError:
            text = None
    return text
