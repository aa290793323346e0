"""A backend that declares textDocumentSync None (0), or an options object whose openClose
is false (or omitted, as LSP says), gets no didOpen nor didClose from any path: the
client's, a starting backend's queue, a restart's replay, a move between venvs, documents
typemux opens itself, idle close. Its didChange follows `change` (core/sync_kind.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.core import sync_kind
from typemux.core.actions import Spawn
from typemux.core.lifecycle import INIT_ID
from typemux.uris import path_to_uri
from unit.test_document_sync import SyncHarness
from unit.test_router import hover, to_backend

NO_OPEN_CLOSE = [0, {"openClose": False, "change": 2}, {"change": 2}]
OPEN_CLOSE_METHODS = ("textDocument/didOpen", "textDocument/didClose")


def methods(actions: list[Any], session: int | None = None) -> list[str]:
    return [m["method"] for m in to_backend(actions, session) if "method" in m]


def open_close(actions: list[Any]) -> list[str]:
    return [m for m in methods(actions) if m in OPEN_CLOSE_METHODS]


def handshake(h: SyncHarness, actions: list[Any], declared: Any) -> tuple[int, list[Any]]:
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    caps = {"textDocumentSync": declared}
    return spawn.session, h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                    "result": {"capabilities": caps}})


@pytest.mark.parametrize(("declared", "expected"), [
    (0, False), (1, True), (2, True), ({"openClose": True, "change": 0}, True),
    ({"openClose": False, "change": 2}, False), ({"change": 2}, False), (None, True),
    (True, True), ("2", True)])
def test_open_close_reads_the_declaration_as_lsp_says(declared: Any, expected: bool) -> None:
    caps = {} if declared is None else {"textDocumentSync": declared}
    assert sync_kind.open_close(caps) is expected


@pytest.mark.parametrize("declared", NO_OPEN_CLOSE)
def test_the_clients_open_and_close_never_reach_it_held_or_live(tmp_path: Path, declared: Any) -> None:
    h = SyncHarness(tmp_path)
    h.initialize()
    main = tmp_path / "proj-a/pkg/main.py"
    opened = h.open(main)  # held while its backend starts
    _, held = h.request("textDocument/hover", hover(main))
    assert open_close(held) == []
    session, started = handshake(h, opened, declared)
    assert open_close(started) == [] and "textDocument/hover" in methods(started, session)
    h.change(main, 2, "y = 2\n")
    closed = h.notify("textDocument/didClose", {"textDocument": {"uri": path_to_uri(main)}})
    assert open_close(closed) == []
    again = h.open(main, "z = 3\n")
    assert open_close(again) == []


@pytest.mark.parametrize("declared", NO_OPEN_CLOSE)
def test_a_restarted_backend_replays_no_document(tmp_path: Path, declared: Any) -> None:
    h = SyncHarness(tmp_path)
    h.initialize()
    main = tmp_path / "proj-a/pkg/main.py"
    first, _ = handshake(h, h.open(main), declared)
    h.router.backend_exited(first, "exited with code 1", h.now)
    h.router.take_actions()
    h.now += 60  # past any crash back-off
    _, actions = h.request("textDocument/hover", hover(main))
    assert h.router.lifecycle.pool.get(h.router.documents.get(path_to_uri(main)).venv) is not None  # type: ignore[union-attr]
    second, started = handshake(h, actions, declared)
    assert second != first
    assert open_close(started) == [] and "textDocument/hover" in methods(started, second)


@pytest.mark.parametrize("declared", NO_OPEN_CLOSE)
def test_a_move_between_venvs_sends_neither_close_nor_open(tmp_path: Path, declared: Any) -> None:
    h = SyncHarness(tmp_path)
    h.initialize()
    main = tmp_path / "proj-a/pkg/main.py"
    handshake(h, h.open(main), declared)
    h.lookup.add(tmp_path / "proj-a/pkg")  # a closer venv appears
    _, actions = h.request("textDocument/hover", hover(main))
    assert open_close(actions) == []
    _, started = handshake(h, actions, declared)
    assert open_close(started) == [] and "textDocument/hover" in methods(started)


@pytest.mark.parametrize("declared", NO_OPEN_CLOSE)
def test_documents_typemux_opens_itself_and_idle_close_send_nothing(
    tmp_path: Path, declared: Any
) -> None:
    h = SyncHarness(tmp_path, idle=30.0)
    h.router.sync.reader = lambda path: "def f() -> int: ...\n"
    h.initialize()
    main, other = tmp_path / "proj-a/pkg/main.py", tmp_path / "proj-a/pkg/other.py"
    session, _ = handshake(h, h.open(main), declared)
    _, asked = h.request("textDocument/definition", hover(other))  # never opened by the client
    assert methods(asked, session) == ["textDocument/definition"]
    assert open_close(h.open(other, "mine = 1\n")) == []  # the client takes it over
    h.now += 31
    h.router.timer(h.now)
    assert open_close(h.router.take_actions()) == []  # idle: nothing to close in it
    _, later = h.request("textDocument/hover", hover(main))
    assert methods(later, session) == ["textDocument/hover"]


def test_a_backend_that_takes_them_still_gets_open_and_close(tmp_path: Path) -> None:
    """The control: the same paths with openClose true."""
    h = SyncHarness(tmp_path)
    h.initialize()
    main = tmp_path / "proj-a/pkg/main.py"
    _, started = handshake(h, h.open(main), {"openClose": True, "change": 2})
    assert open_close(started) == ["textDocument/didOpen"]
    closed = h.notify("textDocument/didClose", {"textDocument": {"uri": path_to_uri(main)}})
    assert open_close(closed) == ["textDocument/didClose"]
