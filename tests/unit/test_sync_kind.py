"""A backend's own textDocumentSync decides the form of the didChange it gets."""

from __future__ import annotations

from typing import Any

import pytest

from typemux.core import sync_kind
from typemux.core.session import Queued


@pytest.mark.parametrize(("declared", "kind"), [
    (1, 1), (2, 2), (0, 0), ({"change": 1}, 1), ({"openClose": True, "change": 2}, 2),
    ({"openClose": True}, 0),  # LSP: an omitted `change` means None
    (None, None), (True, None), (7, None), ({"change": "full"}, None),
])
def test_change_kind_reads_the_number_or_the_options(declared: Any, kind: int | None) -> None:
    caps = {} if declared is None else {"textDocumentSync": declared}
    assert sync_kind.change_kind(caps) == kind


def change(version: int, *changes: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": "file:///a.py", "version": version}, "contentChanges": list(changes)}}


def insert(character: int, text: str) -> dict[str, Any]:
    point = {"line": 0, "character": character}
    return {"range": {"start": point, "end": point}, "text": text}


def test_full_sync_gets_the_whole_text_and_other_kinds_the_raw_message() -> None:
    msg, raw = change(2, insert(0, "x")), b"raw"
    full = sync_kind.adapt(1, msg, raw, "xa\n")
    assert full == ({**msg, "params": {**msg["params"], "contentChanges": [{"text": "xa\n"}]}}, None)
    assert sync_kind.adapt(2, msg, raw, "xa\n") == (msg, raw)
    assert sync_kind.adapt(None, msg, raw, "xa\n") == (msg, raw)
    assert sync_kind.adapt(0, msg, raw, "xa\n") is None
    assert sync_kind.adapt(1, msg, raw, None) == (msg, raw)  # text unknown: as it came
    whole = change(3, {"text": "xa\n"})
    assert sync_kind.adapt(1, whole, raw, "xa\n") == (whole, raw)  # already whole: raw bytes


def test_held_edits_are_replayed_onto_the_opened_text() -> None:
    hover = {"jsonrpc": "2.0", "id": 4, "method": "textDocument/hover", "params": {}}
    held = [Queued(change(2, insert(0, "x")), b"1"), Queued(hover, b"h"),
            Queued(change(3, insert(0, "y"), insert(2, "z")), b"2")]
    opened = [{"uri": "file:///a.py", "text": "a\n"}]
    out = sync_kind.adapt_held(1, opened, held)
    assert [q.msg["params"].get("contentChanges") for q in out] == [
        [{"text": "xa\n"}], None, [{"text": "yxza\n"}]]
    assert out[1] is held[1]
    assert [q.raw for q in out] == [None, b"h", None]
    assert [q.msg.get("id") for q in sync_kind.adapt_held(0, opened, held)] == [4]
    assert sync_kind.adapt_held(2, opened, held) == held


def test_a_held_edit_typemux_could_not_follow_goes_as_it_came_until_a_whole_text() -> None:
    held = [Queued(change(2, {"text": "x"}), b"1"), Queued(change(3, insert(0, "y")), b"2")]
    out = sync_kind.adapt_held(1, [], held)  # a document it is not given: unknown text
    assert out[0].msg["params"]["contentChanges"] == [{"text": "x"}]
    assert out[1].msg["params"]["contentChanges"] == [{"text": "yx"}]
    unknown = [Queued(change(2, insert(0, "y")), b"1")]
    assert sync_kind.adapt_held(1, [], unknown) == unknown


def test_a_backend_without_document_sync_gets_no_did_change_from_a_disk_sync(tmp_path: Any) -> None:
    from typemux.core.actions import Spawn
    from typemux.core.lifecycle import INIT_ID
    from unit.test_document_sync import SyncHarness, sent
    from unit.test_router import make_project

    make_project(tmp_path, "proj-a")
    h = SyncHarness(tmp_path)
    h.initialize()
    main = tmp_path / "proj-a/pkg/main.py"
    (spawn,) = [a for a in h.open(main) if isinstance(a, Spawn)]
    h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                              "result": {"capabilities": {"textDocumentSync": 0}}})
    actions = h.disk(main, "y = 2\n")
    assert sent(actions, spawn.session, "textDocument/didChange") == []
    assert sent(actions, spawn.session, "workspace/didChangeWatchedFiles")  # it hears of it
