"""BackendPool decisions, specified through its repr (httpcore style) and return values."""

from __future__ import annotations

from pathlib import Path

import pytest

from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.core.actions import Stop, ToBackend, ToClient
from typemux.core.lifecycle import LifecycleSettings
from typemux.core.pool import BackendPool
from typemux.core.router import Router, RouterSettings
from typemux.core.session import BackendSession, InFlight, State
from typemux.venv import VenvResolver

MB = 2**20


def session(n: int, *, rss: int | None = None, busy: bool = False,
            state: State = State.READY, now: float = 0.0) -> BackendSession:
    s = BackendSession(n, Path(f"/p{n}/.venv"), None, ReadinessDetector(), now)
    s.state = state
    s.rss = rss
    if busy:
        s.in_flight[(False, n)] = InFlight("textDocument/hover", now)
    return s


def pool_of(*sessions: BackendSession, max_backends: int = 8, ttl: float = 0) -> BackendPool:
    pool = BackendPool(max_backends, ttl)
    for s in sessions:
        pool.add(s)
    return pool


def test_repr_counts_active_idle_and_states() -> None:
    assert repr(BackendPool(8, 0)) == "<BackendPool [0 active, 0 idle]>"
    pool = pool_of(session(1), session(2, busy=True), session(3, state=State.WARMING))
    assert repr(pool) == "<BackendPool [1 active, 2 idle | 2 ready, 1 warming]>"


def test_repr_follows_evictions() -> None:
    a, b = session(1), session(2)
    pool = pool_of(a, b, max_backends=2)
    assert pool.select_evictions(0.0, reserve=1) == [a]
    pool.remove(a)
    assert repr(pool) == "<BackendPool [0 active, 1 idle | 1 ready]>"


def test_under_the_budget_nothing_is_selected() -> None:
    pool = pool_of(session(1, rss=40 * MB), session(2, rss=40 * MB))
    assert pool.total_rss() == 80 * MB
    assert pool.select_for_memory(100 * MB) == []
    assert pool.select_for_memory(0) == []  # 0 = no budget


def test_over_the_budget_the_least_recently_used_go_first_until_it_fits() -> None:
    a, b, c, d = (session(n, rss=50 * MB) for n in (1, 2, 3, 4))
    pool = pool_of(a, b, c, d)
    pool.touch(a, 5.0)  # order now b, c, d, a
    assert pool.select_for_memory(120 * MB) == [b, c]


def test_idle_backends_go_before_busy_ones() -> None:
    a = session(1, rss=50 * MB, busy=True)
    b, c = session(2, rss=50 * MB), session(3, rss=50 * MB)
    pool = pool_of(a, b, c)
    assert pool.select_for_memory(100 * MB) == [b]
    assert pool.select_for_memory(50 * MB) == [b, a]


def test_the_most_recently_used_backend_is_always_kept() -> None:
    a, b = session(1, rss=300 * MB), session(2, rss=300 * MB)
    pool = pool_of(a, b)
    assert pool.select_for_memory(100 * MB) == [a]
    assert pool_of(session(3, rss=500 * MB)).select_for_memory(100 * MB) == []


def test_backends_with_unknown_rss_are_not_chosen() -> None:
    a, b, c = session(1, rss=None), session(2, rss=90 * MB), session(3, rss=90 * MB)
    pool = pool_of(a, b, c)
    assert pool.total_rss() == 180 * MB
    assert pool.select_for_memory(100 * MB) == [b]


# ----- the router's entry point --------------------------------------------------------------
KIND = BackendKind(name="fake", command=("fake-lsp",), version_command=None, capabilities={})


@pytest.fixture
def router(tmp_path: Path) -> Router:
    (tmp_path / ".git").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / name / ".venv").mkdir(parents=True)
        (tmp_path / name / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (tmp_path / name / "main.py").write_text("x = 1\n")
    r = Router(RouterSettings(LifecycleSettings(argv=["/usr/bin/fake-lsp"], warmup_timeout=0)),
               KIND, VenvResolver(cache_seconds=0))
    r.client_message({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                      "params": {"capabilities": {}}}, None, 0.0)
    for n, name in enumerate(("a", "b", "c"), start=1):
        r.client_message({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": (tmp_path / name / "main.py").as_uri(), "languageId": "python",
                             "version": 1, "text": "x = 1\n"}}}, None, float(n))
        r.backend_message(n, {"jsonrpc": "2.0", "id": "typemux:initialize",
                              "result": {"capabilities": {}}}, None, float(n))
    r.take_actions()
    return r


def test_memory_sample_records_rss_and_evicts_gracefully_over_the_budget(router: Router) -> None:
    assert repr(router.pool) == "<BackendPool [0 active, 3 idle | 3 ready]>"
    router.memory_sample({1: 80 * MB, 2: 80 * MB, 3: 80 * MB}, 200 * MB, 10.0)
    actions = router.take_actions()
    assert [a.session for a in actions if isinstance(a, Stop)] == [1]
    shutdown = [a for a in actions if isinstance(a, ToBackend) and a.msg.get("method") == "shutdown"]
    assert [a.session for a in shutdown] == [1]
    assert repr(router.pool) == "<BackendPool [0 active, 2 idle | 2 ready]>"
    assert [b.rss for b in router.pool] == [80 * MB, 80 * MB]


def test_memory_sample_without_a_budget_only_records(router: Router) -> None:
    router.memory_sample({1: 900 * MB, 3: 900 * MB}, 0, 10.0)
    assert router.take_actions() == []
    assert [b.rss for b in router.pool] == [900 * MB, None, 900 * MB]


def test_memory_sample_evicts_a_busy_backend_only_after_idle_ones(router: Router) -> None:
    first = router.pool.by_session(1)
    assert first is not None
    first.in_flight[(False, 7)] = InFlight("textDocument/hover", 10.0)
    router.memory_sample({1: 80 * MB, 2: 80 * MB, 3: 80 * MB}, 100 * MB, 11.0)
    actions = router.take_actions()
    assert [a.session for a in actions if isinstance(a, Stop)] == [2, 1]
    answers = [a.msg for a in actions if isinstance(a, ToClient) and a.msg.get("id") == 7]
    assert len(answers) == 1 and answers[0]["error"]["code"] == -32800
    assert "max_memory_mb" in answers[0]["error"]["message"]
