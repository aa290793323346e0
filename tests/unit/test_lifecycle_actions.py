"""Lifecycle as a sans-IO component: each method returns its actions, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.backends.base import BackendKind
from typemux.core.actions import BackendReleased, PoolChanged, ShareLost, Spawn, ToBackend, ToClient
from typemux.core.lifecycle import CREATING_QUEUE_LIMIT, INIT_ID, Lifecycle, LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.core.session import BackendSession
from typemux.documents import DocumentStore
from typemux.venv import VenvResolver

KIND = BackendKind(name="fake", command=("fake-lsp",), version_command=None, capabilities={})


def _log(event: str, **fields: Any) -> None:
    return None


def make_venv(root: Path, name: str) -> Path:
    venv = root / name / ".venv"
    venv.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return venv


def lifecycle(max_backends: int = 8) -> Lifecycle:
    settings = LifecycleSettings(argv=["fake-lsp"], max_backends=max_backends, warmup_timeout=0)
    lc = Lifecycle(settings, KIND, DocumentStore(), _log)
    lc.client_params = {"capabilities": {}}
    return lc


def test_ensure_returns_the_session_and_its_start_actions_in_order(tmp_path: Path) -> None:
    lc = lifecycle()
    target, actions = lc.ensure(make_venv(tmp_path, "a"), 1.0)
    assert isinstance(target, BackendSession)
    assert [type(a) for a in actions] == [Spawn, ToBackend, PoolChanged]
    assert isinstance(actions[1], ToBackend) and actions[1].msg["method"] == "initialize"


def test_a_fanout_share_that_cannot_queue_is_a_share_lost_action(tmp_path: Path) -> None:
    lc = lifecycle()
    target, _ = lc.ensure(make_venv(tmp_path, "a"), 1.0)
    assert isinstance(target, BackendSession)
    for n in range(CREATING_QUEUE_LIMIT):
        assert lc.deliver(target, {"jsonrpc": "2.0", "id": n, "method": "textDocument/hover"},
                          None, 1.0) == []
    share = {"jsonrpc": "2.0", "id": "ws", "method": "workspace/symbol", "params": {"query": ""}}
    assert lc.deliver(target, share, None, 1.0, fanout=True) == [ShareLost(target.session, "ws")]


def test_evicting_a_backend_with_a_fanout_share_in_flight_yields_share_lost(tmp_path: Path) -> None:
    lc = lifecycle()
    target, _ = lc.ensure(make_venv(tmp_path, "a"), 1.0)
    assert isinstance(target, BackendSession)
    lc.handshake_done(target, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}, 1.0)
    share = {"jsonrpc": "2.0", "id": "ws", "method": "workspace/symbol", "params": {"query": ""}}
    lc.deliver(target, share, None, 1.0, fanout=True)
    actions = lc.evict(target, "test", 2.0)
    assert actions[0] == ShareLost(target.session, "ws")
    assert not [a for a in actions if isinstance(a, ToClient)]  # the router answers a fan-out
    assert [a.msg["method"] for a in actions if isinstance(a, ToBackend)] == ["shutdown"]


@pytest.fixture
def two_venv_router(tmp_path: Path) -> tuple[Router, list[str]]:
    (tmp_path / ".git").mkdir()
    uris = []
    for name in ("a", "b"):
        make_venv(tmp_path, name)
        (tmp_path / name / "main.py").write_text("x = 1\n")
        uris.append((tmp_path / name / "main.py").as_uri())
    r = Router(RouterSettings(LifecycleSettings(argv=["fake-lsp"], warmup_timeout=0)),
               KIND, VenvResolver(cache_seconds=0))
    r.client_message({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                      "params": {"capabilities": {}}}, None, 0.0)
    for n, uri in enumerate(uris, start=1):
        r.client_message({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": uri, "languageId": "python", "version": 1,
                             "text": "x = 1\n"}}}, None, 1.0)
        r.backend_message(n, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}},
                          None, 1.0)
    r.take_actions()
    return r, uris


def test_the_router_consumes_share_lost_and_answers_the_fanout_once(
        two_venv_router: tuple[Router, list[str]]) -> None:
    router, _ = two_venv_router
    router.client_message({"jsonrpc": "2.0", "id": 9, "method": "workspace/symbol",
                           "params": {"query": "x"}}, None, 2.0)
    router.take_actions()
    router.backend_message(1, {"jsonrpc": "2.0", "id": 9, "result": [{"name": "x"}]}, None, 2.0)
    router.backend_exited(2, "it crashed", 3.0)  # its share is lost
    actions = router.take_actions()
    assert not [a for a in actions if isinstance(a, ShareLost)]
    answers = [a.msg for a in actions if isinstance(a, ToClient) and a.msg.get("id") == 9]
    assert len(answers) == 1 and answers[0]["result"] == [{"name": "x"}]


def test_ensure_roots_the_backend_at_the_project_it_is_given(tmp_path: Path) -> None:
    lc = lifecycle()
    venv, project = make_venv(tmp_path, "envs"), tmp_path / "proj"
    target, actions = lc.ensure(venv, 1.0, project)
    assert isinstance(target, BackendSession) and target.project == project
    assert [a.cwd for a in actions if isinstance(a, Spawn)] == [project]
    lc.evict(target, "test", 2.0)
    # restarted: the caller passes the project its data holds (test_project_travels.py)
    _, actions = lc.ensure(venv, 3.0, project)
    assert [a.cwd for a in actions if isinstance(a, Spawn)] == [project]
    _, actions = lc.ensure(make_venv(tmp_path, "other"), 3.0)  # never told: its parent
    assert [a.cwd for a in actions if isinstance(a, Spawn)] == [tmp_path / "other"]


def test_a_released_backend_is_reported_as_an_action_not_a_call(tmp_path: Path) -> None:
    lc = lifecycle()
    assert not hasattr(lc, "server_requests")  # the lifecycle calls into no other component
    target, _ = lc.ensure(make_venv(tmp_path, "a"), 1.0)
    assert isinstance(target, BackendSession)
    actions = lc.crashed(target, "exited with code 3", 2.0)
    assert BackendReleased(target.session) in actions
