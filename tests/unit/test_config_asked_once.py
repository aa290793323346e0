"""ty asks for its configuration once (not again on didChangeConfiguration): when its
project's ty.toml or pyproject.toml changes so that typemux's answer would differ, its
backend is restarted and the new one asks anew (black-box pass 3, F1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typemux.backends import get_kind
from typemux.backends.base import ProjectConfig
from typemux.core.actions import ConfigStale, ReadProjectConfig, Spawn
from typemux.core.lifecycle import INIT_ID
from typemux.uris import path_to_uri
from unit.test_router import Harness, to_backend

TY = get_kind("ty")


def configured(h: Harness, session: int, own: bool) -> list[Any]:
    """The backend asks for its configuration; the runtime reads the project's files."""
    h.router.backend_message(session, {"jsonrpc": "2.0", "id": 7, "method": "workspace/configuration",
                                       "params": {"items": [{"section": "ty"}]}}, None, h.now)
    (read,) = [a for a in h.router.take_actions() if isinstance(a, ReadProjectConfig)]
    h.router.project_config_read(read.ticket, ProjectConfig(own=own), h.now)
    return h.router.take_actions()


def changed(h: Harness, *paths: Path) -> list[Any]:
    return h.client({"jsonrpc": "2.0", "method": "workspace/didChangeWatchedFiles", "params": {
        "changes": [{"uri": path_to_uri(p), "type": 1} for p in paths]}})


def started(h: Harness, repo: Path) -> int:
    h.initialize()
    actions = h.open(repo / "proj-a/pkg/main.py")
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    return spawn.session


def test_a_ty_config_that_changes_the_answer_restarts_the_backend(tmp_path: Path) -> None:
    h = Harness(tmp_path, kind=TY)
    s = started(h, tmp_path)
    (answer,) = to_backend(configured(h, s, own=False), s)
    assert answer["result"][0]["configuration"]["environment"]["python"]  # typemux's venv
    project = tmp_path.resolve() / "proj-a"
    (read,) = [a for a in changed(h, project / "ty.toml") if isinstance(a, ReadProjectConfig)]
    assert read.project == project
    h.router.project_config_read(read.ticket, ProjectConfig(own=True), h.now)
    actions = h.router.take_actions()
    assert [m.get("method") for m in to_backend(actions, s)] == ["shutdown"]
    assert not [a for a in actions if isinstance(a, ConfigStale)]  # core-internal
    # the next message starts a backend, which asks and is answered from the new files
    _, actions = h.request("textDocument/hover", {"textDocument": {
        "uri": path_to_uri(tmp_path / "proj-a/pkg/main.py")}, "position": {"line": 0, "character": 0}})
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    (answer,) = to_backend(configured(h, spawn.session, own=True), spawn.session)
    assert answer["result"] == [None]  # the project's own config decides


def test_a_change_that_leaves_the_answer_alone_keeps_the_backend(tmp_path: Path) -> None:
    h = Harness(tmp_path, kind=TY)
    s = started(h, tmp_path)
    configured(h, s, own=False)
    (read,) = [a for a in changed(h, tmp_path.resolve() / "proj-a/pyproject.toml")
               if isinstance(a, ReadProjectConfig)]
    h.router.project_config_read(read.ticket, ProjectConfig(own=False), h.now)
    assert to_backend(h.router.take_actions(), s) == []


def test_only_config_files_of_the_backends_own_project_are_read_again(tmp_path: Path) -> None:
    h = Harness(tmp_path, kind=TY)
    s = started(h, tmp_path)
    configured(h, s, own=False)
    root = tmp_path.resolve()
    actions = changed(h, root / "proj-b/ty.toml", root / "proj-a/pkg/other.py",
                      root / "proj-a/setup.cfg")
    assert not [a for a in actions if isinstance(a, ReadProjectConfig)]


def test_a_kind_that_asks_again_is_never_restarted_for_its_files(tmp_path: Path) -> None:
    h = Harness(tmp_path, kind=get_kind("pyrefly"))
    s = started(h, tmp_path)
    configured(h, s, own=False)
    actions = changed(h, tmp_path.resolve() / "proj-a/pyrefly.toml")
    assert not [a for a in actions if isinstance(a, ReadProjectConfig)]
