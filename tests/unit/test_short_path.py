"""The router's short path: a request about an open document whose ready backend still
serves its venv is handed on in one step, and only when the long way would do exactly that.
Each case is also run on a router with the short path off; both must decide the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_router import KIND, Harness, hover, to_backend, to_client

from typemux.core.actions import Spawn, ToBackend
from typemux.core.lifecycle import INIT_ID
from typemux.core.router import Router, RouterSettings
from typemux.uris import path_to_uri


def harness(root: Path, *, short: bool = True, idle: float = 0.0) -> Harness:
    h = Harness(root)
    if idle:
        h.router = Router(RouterSettings(h.router.settings.lifecycle, document_idle_close=idle,
                                         document_idle_close_clients="all"), KIND, h.lookup)
    h.router.short_path = short
    return h


def long_way_forbidden(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> Any:
        raise AssertionError("the request went the long way")
    monkeypatch.setattr(h.router.targets, "route", fail)
    monkeypatch.setattr(h.router.env_wait, "hold", fail)


def ready(h: Harness, path: Path) -> int:
    h.initialize()
    session = h.start_backend(path)
    h.router.take_actions()
    return session


def test_a_request_about_an_open_document_in_a_ready_backend_takes_the_short_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness(tmp_path)
    main = tmp_path / "proj-a/pkg/main.py"
    session = ready(h, main)
    long_way_forbidden(h, monkeypatch)
    raw = b'{"jsonrpc":"2.0","id":1,"method":"textDocument/hover","params":{}}'
    h.router.client_message({"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover",
                             "params": hover(main)}, raw, h.now)
    (sent,) = h.router.take_actions()
    assert isinstance(sent, ToBackend) and sent.session == session and sent.raw == raw
    # what the long way records happens too: the answer is the client's, the backend is busy
    assert repr(h.router.pool) == "<BackendPool [1 active, 0 idle | 1 ready]>"
    (answer,) = to_client(h.backend(session, {"jsonrpc": "2.0", "id": 1, "result": None}))
    assert answer["id"] == 1
    assert repr(h.router.pool) == "<BackendPool [0 active, 1 idle | 1 ready]>"


def test_a_second_request_under_a_pending_id_is_refused_on_the_short_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness(tmp_path)
    main = tmp_path / "proj-a/pkg/main.py"
    session = ready(h, main)
    long_way_forbidden(h, monkeypatch)
    first = h.client({"jsonrpc": "2.0", "id": 5, "method": "textDocument/hover", "params": hover(main)})
    second = h.client({"jsonrpc": "2.0", "id": 5, "method": "textDocument/hover", "params": hover(main)})
    assert [m["id"] for m in to_backend(first, session)] == [5]
    assert to_backend(second) == []
    assert "already used" in to_client(second)[0]["error"]["message"]


def test_a_document_whose_venv_changed_moves_before_its_request(tmp_path: Path) -> None:
    h = harness(tmp_path)
    main = tmp_path / "proj-a/pkg/main.py"
    old = ready(h, main)
    h.lookup.add(tmp_path / "proj-a/pkg")  # a venv closer to the file appears
    _, actions = h.request("textDocument/hover", hover(main))
    assert [m["method"] for m in to_backend(actions, old)] == ["textDocument/didClose"]
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    assert spawn.venv == tmp_path / "proj-a/pkg/.venv"
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                "result": {"capabilities": {}}}), spawn.session)
    assert [m["method"] for m in sent] == ["initialized", "textDocument/didOpen", "textDocument/hover"]


def test_a_document_typemux_closed_while_idle_is_reopened_before_its_request(tmp_path: Path) -> None:
    h = harness(tmp_path, idle=10.0)
    main = tmp_path / "proj-a/pkg/main.py"
    session = ready(h, main)
    h.now += 11
    h.router.timer(h.now)
    closed = to_backend(h.router.take_actions(), session)
    assert [m["method"] for m in closed] == ["textDocument/didClose"]
    rid, actions = h.request("textDocument/hover", hover(main))
    sent = to_backend(actions, session)
    assert [m.get("method") for m in sent] == ["textDocument/didOpen", "textDocument/hover"]
    assert sent[1]["id"] == rid


def scenario(h: Harness, root: Path) -> list[list[Any]]:
    """Every step's actions, through short-path cases and the ones that must go the long way."""
    a, b = root / "proj-a/pkg/main.py", root / "proj-b/pkg/main.py"
    steps: list[list[Any]] = [h.initialize(), h.open(a), h.open(b)]
    spawns = [x for step in steps for x in step if isinstance(x, Spawn)]
    for spawn in spawns:
        steps.append(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                               "result": {"capabilities": {}}}))
    for path in (a, b, a, root / "proj-a/pkg/other.py", root / "proj-c/x.py"):
        steps.append(h.request("textDocument/hover", hover(path))[1])
    steps.append(h.client({"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": hover(b)}))
    h.now += 11
    h.router.timer(h.now)
    steps.append(h.router.take_actions())
    steps.append(h.request("textDocument/definition", hover(a))[1])
    h.lookup.add(root / "proj-a/pkg")
    steps.append(h.request("textDocument/references", hover(a))[1])
    h.lookup.remove(root / "proj-b")
    steps.append(h.request("textDocument/hover", hover(b))[1])
    steps.append(h.client({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": path_to_uri(a), "version": 2},
        "contentChanges": [{"text": "y = 2\n"}]}}))
    steps.append(h.request("textDocument/hover", hover(a))[1])
    steps.append(h.request("shutdown", None)[1])
    steps.append(h.request("textDocument/hover", hover(a))[1])
    return steps


def test_the_short_path_decides_what_the_long_way_does(tmp_path: Path) -> None:
    short = scenario(harness(tmp_path, idle=10.0), tmp_path)
    long = scenario(harness(tmp_path, idle=10.0, short=False), tmp_path)
    assert short == long
