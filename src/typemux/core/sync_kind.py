"""Each backend gets document sync the way its own `textDocumentSync` asks (sans-IO).

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

didSave goes to a backend only when it asks for it (`save`): with the options object, when
its `save` is true or a SaveOptions object (LSP: omitted means "should not be sent"); with
the number form, which has no save option, unless it is None (0), as the reference client
(vscode-languageclient) reads a bare number; and, as ever, to a backend that declared
nothing or something unreadable. A backend whose SaveOptions say `includeText: true` gets
the document's text in it: the client's if the client sent it, else typemux's own copy
(left out only when typemux could not follow the document's edits). Any other backend gets
the client's didSave as it came (raw bytes). typemux's own note of the save (the buffer
equals the disk: core/disk_sync.py) is taken whatever the backends want.

A backend that is still starting has not said yet what it wants: its held didChange
and didSave messages are rewritten when its `initialize` answer arrives (`adapt_held`), by
replaying the held edits onto the texts it is about to be given (or would be: with no
didOpen taken, the replayed texts still tell what each whole-text didChange or didSave
must say); its held didOpen/didClose are dropped as they are delivered, its capabilities
known by then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from typemux.core.session import BackendSession, Queued
from typemux.documents import EditError, apply_change
from typemux.jsonrpc import Message

NONE, FULL, INCREMENTAL = 0, 1, 2
DID_CHANGE = "textDocument/didChange"
DID_OPEN, DID_CLOSE = "textDocument/didOpen", "textDocument/didClose"
OPEN_CLOSE = frozenset((DID_OPEN, DID_CLOSE))
DID_SAVE = "textDocument/didSave"
# What a backend takes of didSave (`save`): none, the client's as it came, or with the text.
NO_SAVE, SAVE, SAVE_TEXT = "none", "save", "text"


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


def save(capabilities: Mapping[str, Any]) -> str:
    """How a backend takes didSave: NO_SAVE (not at all: sync None (0), or an options object
    whose `save` is omitted or false), SAVE_TEXT (SaveOptions with `includeText: true`), or
    SAVE (as the client sent it: any other declaration, or none; see the module's docstring)."""
    sync = capabilities.get("textDocumentSync")
    if isinstance(sync, bool):
        return SAVE
    if isinstance(sync, int):
        return NO_SAVE if sync == NONE else SAVE
    if isinstance(sync, Mapping):
        declared = sync.get("save")
        if declared is None or declared is False:
            return NO_SAVE
        if isinstance(declared, Mapping) and declared.get("includeText") is True:
            return SAVE_TEXT
    return SAVE


def takes(backend: BackendSession, msg: Message) -> bool:
    """Whether `backend` is to get the client-side notification `msg` (False only for a
    didOpen, didClose or didSave it declared it does not take). A starting backend has
    declared nothing yet: it holds it, and it is looked at again as it is delivered."""
    method = msg.get("method")
    if method in OPEN_CLOSE:
        return open_close(backend.capabilities)
    if method == DID_SAVE:
        return save(backend.capabilities) != NO_SAVE
    return True


def save_for_backend(backend: BackendSession, msg: Message, raw: bytes | None,
                     text_of: Callable[[str], str | None]) -> tuple[Message, bytes | None]:
    """A client's didSave as `backend`, which takes didSave, must get it: with the text of
    the document (`text_of(uri)`, None when typemux does not know it) when it asked for
    the text and the client sent none; else as it came. A starting backend has declared
    nothing yet: it gets it as it came, and `adapt_held` rewrites it."""
    if save(backend.capabilities) != SAVE_TEXT:
        return msg, raw
    params = msg.get("params")
    doc = params.get("textDocument") if isinstance(params, dict) else None
    uri = doc.get("uri") if isinstance(doc, dict) else None
    return with_text(msg, raw, text_of(uri) if isinstance(uri, str) else None)


def with_text(msg: Message, raw: bytes | None, text: str | None) -> tuple[Message, bytes | None]:
    """A didSave that carries the document's text: the client's own if it has one, else
    `text` (None: unknown, the message goes as it came)."""
    params = msg.get("params")
    if text is None or not isinstance(params, dict) or isinstance(params.get("text"), str):
        return msg, raw
    return {**msg, "params": {**params, "text": text}}, None


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
               held: list[Queued], save_kind: str = SAVE) -> list[Queued]:
    """`held` (client messages a starting backend holds, in order) rewritten for sync
    `kind` and `save_kind`, now that the backend has said them. `opened` are the documents
    it is given first (uri and text); the text after each held didChange is found by
    applying its edits, and is the text a held didSave carries for SAVE_TEXT.
    (A held didOpen/didClose it takes none of is dropped as it is delivered.)"""
    if save_kind == NO_SAVE:
        held = [queued for queued in held if queued.msg.get("method") != DID_SAVE]
    if (kind is None or kind == INCREMENTAL) and save_kind != SAVE_TEXT:
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
        if not isinstance(uri, str) or method not in (DID_OPEN, DID_CHANGE, DID_SAVE):
            out.append(queued)
            continue
        assert isinstance(params, dict) and isinstance(doc, dict)
        if method == DID_SAVE:
            if save_kind == SAVE_TEXT:
                msg, raw = with_text(msg, queued.raw, texts.get(uri))
                queued = queued if msg is queued.msg else Queued(msg, raw, queued.fanout, queued.mark)
            out.append(queued)
            continue
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
