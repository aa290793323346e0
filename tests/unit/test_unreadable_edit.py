"""An edit typemux cannot read is reported once and leaves the document out of sync, also
when it is an edit of the text the client had before a disk sync (Claude Code edits a file
on disk, then sends incremental edits of its own older text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.uris import path_to_uri
from unit.test_document_sync import SyncHarness
from unit.test_router import make_project, to_client

EMOJI = "\U0001F600"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_project(tmp_path, "proj-a")
    return tmp_path


def insert(h: SyncHarness, path: Path, version: int, character: int, text: str,
           end: int | None = None) -> list[Any]:
    start = {"line": 0, "character": character}
    stop = {"line": 0, "character": character if end is None else end}
    return h.notify("textDocument/didChange", {
        "textDocument": {"uri": path_to_uri(path), "version": version},
        "contentChanges": [{"range": {"start": start, "end": stop}, "text": text}]})


def warnings(actions: list[Any]) -> list[str]:
    return [m["params"]["message"] for m in to_client(actions)
            if m.get("method") == "window/showMessage"]


@pytest.mark.parametrize(("start", "end"), [(2, 2), (1, 2), (2, 3), (0, 2)])
def test_an_edit_inside_a_surrogate_pair_is_reported(repo: Path, start: int, end: int) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    h.start_backend(main)
    h.open(main, f"a{EMOJI}b\n")
    (warning,) = warnings(insert(h, main, 2, start, "X", end))
    assert "could not be applied" in warning
    assert h.router.documents.get(path_to_uri(main)).desynced  # type: ignore[union-attr]
    assert warnings(insert(h, main, 3, 2, "Y")) == []  # once


def test_an_unreadable_edit_of_the_text_before_a_disk_sync_is_reported(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    h.start_backend(main)
    h.open(main, f"a{EMOJI}b\n")
    h.disk(main, "xyz\n")  # clean: the document follows the disk
    # the client still has its own text and edits inside its emoji
    (warning,) = warnings(insert(h, main, 3, 2, "X"))
    assert "could not be applied" in warning
    doc = h.router.documents.get(path_to_uri(main))
    assert doc is not None and doc.desynced and doc.text != "xyXz\n"


def test_a_readable_edit_of_the_text_before_a_disk_sync_still_applies(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    h.start_backend(main)
    h.open(main, f"a{EMOJI}b\n")
    h.disk(main, "xyz\n")
    assert warnings(insert(h, main, 3, 3, "X")) == []
    doc = h.router.documents.get(path_to_uri(main))
    assert doc is not None and doc.text == f"a{EMOJI}Xb\n" and not doc.desynced
