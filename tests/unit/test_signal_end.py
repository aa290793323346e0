"""When typemux ends (a signal, EOF, exit): every request it has read is answered at once,
exactly once, and so is every request read afterwards (sans-IO: the router alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux import jsonrpc
from typemux.core.actions import Exit, Spawn
from typemux.core.lifecycle import INIT_ID
from typemux.core.owed import OwedAnswers
from unit.test_env_wait import WaitHarness
from unit.test_router import Harness, hover, make_project, to_client


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_project(tmp_path, "proj-a")
    make_project(tmp_path, "proj-b")
    return tmp_path


def answers(actions: list[Any]) -> list[dict[str, Any]]:
    return [m for m in to_client(actions) if "method" not in m]


def test_a_request_held_for_its_environment_is_answered_at_a_signal(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    h.resolver.waiting.add(repo / "proj-a")  # a tool (poetry) is being asked
    request_id, actions = h.request("textDocument/hover", hover(repo / "proj-a/pkg/main.py"))
    assert actions == []
    h.router.terminate(h.now, "SIGHUP")
    actions = h.router.take_actions()
    (answer,) = answers(actions)
    assert answer["id"] == request_id
    assert answer["error"]["code"] == jsonrpc.REQUEST_CANCELLED
    assert "terminating" in answer["error"]["message"] and "SIGHUP" in answer["error"]["message"]
    assert not [a for a in actions if isinstance(a, Spawn)]
    assert isinstance(actions[-1], Exit)


def test_requests_queued_for_a_starting_backend_are_answered_at_a_signal(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    h.open(repo / "proj-a/pkg/main.py")  # its backend is spawned, not yet handshaken
    ids = [h.request("textDocument/hover", hover(repo / "proj-a/pkg/main.py"))[0]
           for _ in range(3)]
    h.router.terminate(h.now, "SIGINT")
    got = answers(h.router.take_actions())
    assert sorted(m["id"] for m in got) == ids
    assert all("SIGINT" in m["error"]["message"] for m in got)


def test_a_request_read_after_the_end_is_answered_at_once(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    h.start_backend(repo / "proj-a/pkg/main.py")
    h.router.terminate(h.now, "SIGTERM")
    h.router.take_actions()
    request_id, actions = h.request("textDocument/hover", hover(repo / "proj-b/pkg/main.py"))
    (answer,) = answers(actions)
    assert answer["id"] == request_id and answer["error"]["code"] == jsonrpc.REQUEST_CANCELLED
    assert "the server is terminating (typemux received SIGTERM)" in answer["error"]["message"]
    assert not [a for a in actions if isinstance(a, Spawn)]


def test_a_fan_out_is_answered_once_at_the_end_whatever_comes_later(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    h.start_backend(repo / "proj-b/pkg/main.py")
    request_id, _ = h.request("workspace/symbol", {"query": "x"})
    h.backend(a, {"jsonrpc": "2.0", "id": request_id, "result": []})  # one of two shares
    h.router.client_eof(h.now)
    first = answers(h.router.take_actions())
    assert [m["id"] for m in first] == [request_id]
    # the fan-out's deadline, a late answer: nothing more for that id
    h.now += 60
    h.router.timer(h.now)
    assert answers(h.router.take_actions()) == []
    assert answers(h.backend(a, {"jsonrpc": "2.0", "id": INIT_ID, "result": None})) == []


def test_owed_answers_after_the_end_keep_exactly_one_per_request() -> None:
    from typemux.core.actions import ToClient
    owed = OwedAnswers()
    owed.owe(1)
    owed.owe("1")
    assert sorted(owed.unanswered([ToClient(jsonrpc.result(1, None))]), key=str) == ["1"]
    kept = owed.settle_owed([ToClient(jsonrpc.result(1, None)), ToClient(jsonrpc.result(1, None)),
                             ToClient(jsonrpc.result("1", None)),
                             ToClient(jsonrpc.notification("window/logMessage"))])
    assert [a.msg.get("id") for a in kept] == [1, "1", None]
    assert owed.unanswered([]) == []
