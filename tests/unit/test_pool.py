"""BackendPool decisions, specified through its repr (httpcore style) and return values."""

from __future__ import annotations

from pathlib import Path

import pytest

from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.core.actions import Stop, ToBackend, ToClient
from typemux.core.lifecycle import LifecycleSettings
from typemux.core.pool import PREEMPT_AFTER, BackendPool
from typemux.core.router import Router, RouterSettings
from typemux.core.session import BackendSession, InFlight, Queued, State
from typemux.venv import VenvIdentity, VenvResolver

MB = 2**20


def session(n: int, *, rss: int | None = None, busy: bool = False,
            state: State = State.READY, now: float = 0.0) -> BackendSession:
    s = BackendSession(n, Path(f"/p{n}/.venv"), None, ReadinessDetector(), now)
    s.state = state
    s.rss = rss
    if busy:
        s.in_flight[(False, n)] = InFlight("textDocument/hover", now)
    return s


def waiter(n: int, since: float) -> BackendSession:
    s = BackendSession(n, Path(f"/p{n}/.venv"), None, ReadinessDetector(), since)
    s.creating_queue.append(Queued({"jsonrpc": "2.0", "id": f"q{n}", "method": "textDocument/hover"}, None))
    return s


def pool_of(*sessions: BackendSession, max_backends: int = 8, ttl: float = 0,
            budget: int = 0) -> BackendPool:
    pool = BackendPool(max_backends, ttl)
    pool.memory_budget = budget
    for s in sessions:
        pool.add(s)
    return pool


def stops(pool: BackendPool, now: float = 0.0) -> list[BackendSession]:
    return [s for s, _ in pool.decide(now).stop]


def test_repr_counts_active_idle_and_states() -> None:
    assert repr(BackendPool(8, 0)) == "<BackendPool [0 active, 0 idle]>"
    pool = pool_of(session(1), session(2, busy=True), session(3, state=State.WARMING))
    assert repr(pool) == "<BackendPool [1 active, 2 idle | 2 ready, 1 warming]>"
    pool.add(waiter(4, 0.0))
    assert repr(pool) == "<BackendPool [1 active, 2 idle | 2 ready, 1 warming, 1 waiting]>"


def test_a_pool_with_room_starts_a_waiter_and_stops_nothing() -> None:
    a, w = session(1), waiter(2, 0.0)
    decision = pool_of(a, w, max_backends=2).decide(0.0)
    assert decision.stop == [] and decision.start == [w]


def test_a_full_pool_makes_room_with_the_least_recently_used_idle_backend() -> None:
    a, b, c, w = session(1, busy=True), session(2), session(3), waiter(4, 0.0)
    pool = pool_of(a, b, c, w, max_backends=3)
    decision = pool.decide(1.0)
    assert [(s, why.split(" (")[0]) for s, why in decision.stop] == [(b, "the pool is full")]
    assert decision.start == [w]


def test_a_full_pool_of_busy_backends_lets_the_waiter_wait() -> None:
    a, b, w = session(1, busy=True), session(2, busy=True), waiter(3, 5.0)
    pool = pool_of(a, b, w, max_backends=2)
    assert not pool.decide(5.0 + PREEMPT_AFTER - 0.1)
    assert repr(pool) == "<BackendPool [2 active, 0 idle | 2 ready, 1 waiting]>"
    assert pool.next_deadline() == 5.0 + PREEMPT_AFTER


def test_a_waiter_preempts_the_least_recently_used_busy_backend_after_the_bound() -> None:
    a, b, w = session(1, busy=True), session(2, busy=True), waiter(3, 5.0)
    pool = pool_of(a, b, w, max_backends=2)
    decision = pool.decide(5.0 + PREEMPT_AFTER)
    assert [s for s, _ in decision.stop] == [a] and decision.start == [w]
    assert decision.stop[0][1].startswith("preempted:")


def test_a_backend_started_less_than_the_bound_ago_is_not_preempted() -> None:
    young = session(1, busy=True, now=100.0)  # started at 100
    w = waiter(2, 0.0)  # waited long already
    pool = pool_of(young, w, max_backends=1)
    assert not pool.decide(100.0 + PREEMPT_AFTER - 0.1)
    assert pool.next_deadline() == 100.0 + PREEMPT_AFTER
    assert pool.decide(100.0 + PREEMPT_AFTER).start == [w]


def test_waiters_are_served_oldest_first_so_none_starves() -> None:
    a = session(1, busy=True)
    late, early = waiter(2, 3.0), waiter(3, 1.0)
    pool = pool_of(a, late, early, max_backends=1)
    decision = pool.decide(3.0 + PREEMPT_AFTER)
    assert decision.start == [early]  # one slot: the one that waited longest
    assert [s for s, _ in decision.stop] == [a]


def test_a_removed_or_replaced_venv_is_stopped_and_a_waiter_for_it_dropped() -> None:
    identity = VenvIdentity(1, 2, 3, 4)
    a, b, w = session(1), session(2), waiter(3, 0.0)
    for s in (a, b, w):
        s.identity_reported(identity)
    pool = pool_of(a, b, w)
    a.identity_reported(None)
    b.identity_reported(VenvIdentity(1, 9, 3, 4))
    w.identity_reported(None)
    decision = pool.decide(1.0)
    assert [(s, why) for s, why in decision.stop] == [
        (a, "its venv was removed"), (b, "its venv was replaced"), (w, "its venv was removed")]


def test_a_venv_never_seen_with_an_identity_is_not_taken_as_removed() -> None:
    a = session(1)
    a.identity_reported(None)  # no pyvenv.cfg from the start (as before: nothing to compare)
    assert stops(pool_of(a)) == []


def test_ttl_expires_idle_live_backends_only() -> None:
    idle, busy = session(1), session(2, busy=True)
    pool = pool_of(idle, busy, waiter(3, 0.0), ttl=60)
    assert stops(pool, 59.0) == []
    assert [why for _, why in pool.decide(60.0).stop] == ["idle for backend_ttl 60 s"]


def test_repr_follows_evictions() -> None:
    a, b = session(1), session(2)
    pool = pool_of(a, b, waiter(3, 0.0), max_backends=2)
    assert stops(pool) == [a]
    pool.remove(a)
    assert repr(pool) == "<BackendPool [0 active, 1 idle | 1 ready, 1 waiting]>"


def test_under_the_budget_nothing_is_selected() -> None:
    pool = pool_of(session(1, rss=40 * MB), session(2, rss=40 * MB), budget=100 * MB)
    assert pool.total_rss() == 80 * MB
    assert stops(pool) == []
    pool.memory_budget = 0  # 0 = no budget
    assert stops(pool) == []


def test_over_the_budget_the_least_recently_used_go_first_until_it_fits() -> None:
    a, b, c, d = (session(n, rss=50 * MB) for n in (1, 2, 3, 4))
    pool = pool_of(a, b, c, d, budget=120 * MB)
    pool.touch(a, 5.0)  # order now b, c, d, a
    assert stops(pool) == [b, c]


def test_idle_backends_go_before_busy_ones() -> None:
    a = session(1, rss=50 * MB, busy=True)
    b, c = session(2, rss=50 * MB), session(3, rss=50 * MB)
    assert stops(pool_of(a, b, c, budget=100 * MB)) == [b]
    assert stops(pool_of(a, b, c, budget=50 * MB)) == [b, a]


def test_the_most_recently_used_backend_is_always_kept() -> None:
    a, b = session(1, rss=300 * MB), session(2, rss=300 * MB)
    assert stops(pool_of(a, b, budget=100 * MB)) == [a]
    assert stops(pool_of(session(3, rss=500 * MB), budget=100 * MB)) == []


def test_backends_with_unknown_rss_are_not_chosen() -> None:
    a, b, c = session(1, rss=None), session(2, rss=90 * MB), session(3, rss=90 * MB)
    pool = pool_of(a, b, c, budget=100 * MB)
    assert pool.total_rss() == 180 * MB
    assert stops(pool) == [b]


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
    assert [a.session for a in actions if isinstance(a, Stop)] == []  # exit after the answer
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
    shutdown = [a for a in actions if isinstance(a, ToBackend) and a.msg.get("method") == "shutdown"]
    assert [a.session for a in shutdown] == [2, 1]
    answers = [a.msg for a in actions if isinstance(a, ToClient) and a.msg.get("id") == 7]
    assert len(answers) == 1 and answers[0]["error"]["code"] == -32800
    assert "max_memory_mb" in answers[0]["error"]["message"]
