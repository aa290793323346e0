"""Pool thrash: a full pool of busy backends makes a new venv's work wait, never evicts.

The black-box defect: 10 venvs x 50 req/s with max_backends 3 answered 4 of 1,957
requests, because each new venv's request evicted a backend whose requests were still
pending (or queued while it started), so nearly everything was answered -32800.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.backends.base import BackendKind
from typemux.core.actions import Spawn, Stop, ToBackend, ToClient
from typemux.core.lifecycle import CREATING_QUEUE_LIMIT, INIT_ID, LifecycleSettings
from typemux.core.pool import PREEMPT_AFTER
from typemux.core.router import Router, RouterSettings
from typemux.venv import VenvResolver

KIND = BackendKind(name="fake", command=("fake-lsp",), version_command=None, capabilities={})
NAMES = ("a", "b", "c", "d")


class Pool:
    """A router with max_backends 3 over four venvs, time passed in."""

    def __init__(self, root: Path) -> None:
        (root / ".git").mkdir()
        self.uris: dict[str, str] = {}
        for name in NAMES:
            (root / name / ".venv").mkdir(parents=True)
            (root / name / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
            (root / name / "main.py").write_text("x = 1\n")
            self.uris[name] = (root / name / "main.py").as_uri()
        self.router = Router(RouterSettings(LifecycleSettings(
            argv=["fake-lsp"], max_backends=3, warmup_timeout=0, backend_ttl=0)),
            KIND, VenvResolver(cache_seconds=0))
        self.now = 0.0
        self.next_id = 0
        self.actions: list[Any] = []
        self.client({"jsonrpc": "2.0", "id": "init", "method": "initialize",
                     "params": {"capabilities": {}}})

    def client(self, msg: dict[str, Any]) -> list[Any]:
        self.router.client_message(msg, None, self.now)
        return self.take()

    def take(self) -> list[Any]:
        actions = self.router.take_actions()
        self.actions.extend(actions)
        return actions

    def hover(self, name: str) -> tuple[int, list[Any]]:
        self.next_id += 1
        return self.next_id, self.client({
            "jsonrpc": "2.0", "id": self.next_id, "method": "textDocument/hover",
            "params": {"textDocument": {"uri": self.uris[name]},
                       "position": {"line": 0, "character": 0}}})

    def answer_initialize(self, session: int) -> list[Any]:
        self.router.backend_message(session, {"jsonrpc": "2.0", "id": INIT_ID,
                                              "result": {"capabilities": {}}}, None, self.now)
        return self.take()

    def answer(self, session: int, request_id: int) -> list[Any]:
        self.router.backend_message(session, {"jsonrpc": "2.0", "id": request_id,
                                              "result": {"contents": "ok"}}, None, self.now)
        return self.take()

    def answers(self) -> dict[Any, list[dict[str, Any]]]:
        found: dict[Any, list[dict[str, Any]]] = {}
        for action in self.actions:
            if isinstance(action, ToClient) and "method" not in action.msg:
                found.setdefault(action.msg.get("id"), []).append(action.msg)
        return found


def spawned(actions: list[Any]) -> list[int]:
    return [a.session for a in actions if isinstance(a, Spawn)]


@pytest.fixture
def busy_pool(tmp_path: Path) -> Pool:
    """a, b, c each started with one hover in flight: a full pool, every backend busy."""
    pool = Pool(tmp_path)
    for session, name in enumerate(NAMES[:3], start=1):
        pool.now += 1
        _, actions = pool.hover(name)
        assert spawned(actions) == [session]
        pool.answer_initialize(session)
    assert repr(pool.router.pool) == "<BackendPool [3 active, 0 idle | 3 ready]>"
    return pool


def test_a_new_venv_waits_while_every_backend_is_busy(busy_pool: Pool) -> None:
    busy_pool.now += 1
    _, actions = busy_pool.hover("d")
    assert spawned(actions) == []
    assert [a for a in actions if isinstance(a, Stop)] == []
    assert busy_pool.answers().get(1) is None  # a's pending hover was not cancelled
    assert repr(busy_pool.router.pool) == "<BackendPool [3 active, 0 idle | 3 ready, 1 waiting]>"


def test_the_waiting_venv_starts_when_a_backend_goes_idle(busy_pool: Pool) -> None:
    busy_pool.now += 1
    request, _ = busy_pool.hover("d")
    busy_pool.now += 1
    actions = busy_pool.answer(2, 2)  # b answers: b is idle, so b makes room for d
    assert [a.msg["method"] for a in actions
            if isinstance(a, ToBackend) and a.session == 2 and "method" in a.msg] == ["shutdown"]
    assert spawned(actions) == [4]
    busy_pool.answer_initialize(4)
    delivered = [a.msg["id"] for a in busy_pool.actions
                 if isinstance(a, ToBackend) and a.session == 4 and a.msg.get("method") == "textDocument/hover"]
    assert delivered == [request]
    busy_pool.answer(4, request)
    assert [m.get("result") for m in busy_pool.answers()[request]] == [{"contents": "ok"}]
    assert busy_pool.answers()[2][0]["result"] == {"contents": "ok"}


def test_a_waiting_venv_holds_at_most_the_queue_limit_and_refuses_the_rest(busy_pool: Pool) -> None:
    busy_pool.now += 1
    ids = [busy_pool.hover("d")[0] for _ in range(CREATING_QUEUE_LIMIT + 2)]
    answers = busy_pool.answers()
    refused = [i for i in ids if i in answers]
    assert refused == ids[CREATING_QUEUE_LIMIT:]
    for i in refused:
        (error,) = answers[i]
        assert "waits for a slot in the pool" in error["error"]["message"]
        assert f"{CREATING_QUEUE_LIMIT} requests already wait" in error["error"]["message"]


def test_a_waiter_preempts_a_busy_backend_only_after_the_bound_and_answers_each_request_once(
        busy_pool: Pool) -> None:
    busy_pool.now += 1
    request, _ = busy_pool.hover("d")
    busy_pool.now += PREEMPT_AFTER - 0.5
    busy_pool.router.timer(busy_pool.now)
    assert spawned(busy_pool.take()) == []
    deadline = busy_pool.router.next_deadline()
    assert deadline is not None and deadline == pytest.approx(busy_pool.now + 0.5)
    busy_pool.now = deadline
    busy_pool.router.timer(busy_pool.now)
    actions = busy_pool.take()
    assert spawned(actions) == [4]
    (cancelled,) = busy_pool.answers()[1]  # a (least recently used) was preempted
    assert cancelled["error"]["code"] == -32800 and "preempted" in cancelled["error"]["message"]
    busy_pool.answer_initialize(4)
    busy_pool.answer(4, request)
    assert [m.get("result") for m in busy_pool.answers()[request]] == [{"contents": "ok"}]
    assert all(len(found) == 1 for found in busy_pool.answers().values())


def test_cancelling_the_only_queued_request_of_a_starting_backend_lets_a_waiter_in(
        tmp_path: Path) -> None:
    pool = Pool(tmp_path)
    for session, name in enumerate(NAMES[:2], start=1):
        pool.now += 1
        pool.hover(name)
        pool.answer_initialize(session)
    pool.now += 1
    queued, actions = pool.hover("c")  # c starts; its hover waits for the handshake
    assert spawned(actions) == [3]
    pool.now += 1
    pool.hover("d")
    assert repr(pool.router.pool) == "<BackendPool [3 active, 0 idle | 2 ready, 1 creating, 1 waiting]>"
    actions = pool.client({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": queued}})
    assert [a.session for a in actions if isinstance(a, Stop)] == [3]  # never handshaken: killed
    assert spawned(actions) == [4]
    assert [m["error"]["code"] for m in pool.answers()[queued]] == [-32800]
