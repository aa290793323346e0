"""The bounded pool of backend sessions, one per venv, and its one decision method.

Modelled on httpcore's connection pool: sessions expose predicates (`is_idle`,
`has_expired`, `venv_replaced`, ...); the pool keeps them in least-recently-used order and
`decide(now)` looks at everything that bears on the pool at once (LRU order, the TTL, the
memory samples and budget, the venv identities the runtime reported, the work waiting for
a slot) and returns what to stop, with why, and which waiting sessions to start. The caller
(Lifecycle) executes the decision; the pool never does I/O.

A full pool of busy backends does not evict one for a new venv: the new venv's session
waits (state WAITING, no process, holding its queue) until a backend is idle, and only a
waiter that has waited `preempt_after` seconds preempts a busy backend, itself started at
least `preempt_after` seconds before. Waiters are served oldest first, so none starves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from typemux.core.session import LIVE_STATES, BackendSession, State

# How long a new venv's work waits for a busy backend to go idle before it preempts one
# (whose pending requests are then answered -32800), and how long a backend runs before it
# may be preempted. Long enough that a slow check answers; short enough for an editor.
PREEMPT_AFTER = 10.0


@dataclass(slots=True)
class Decision:
    """What the pool wants now: sessions to stop (with why), in order, then to start."""

    stop: list[tuple[BackendSession, str]] = field(default_factory=list)
    start: list[BackendSession] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.stop or self.start)


class BackendPool:
    def __init__(self, max_backends: int, ttl: float, *,
                 preempt_after: float = PREEMPT_AFTER) -> None:
        if max_backends < 1:
            raise ValueError("max_backends must be >= 1")
        self.max_backends = max_backends
        self.ttl = ttl
        self.preempt_after = preempt_after
        self.memory_budget = 0  # bytes; 0 = no budget (Settings.max_memory_mb)
        # Least recently used first. A handful of entries: lists beat anything cleverer.
        self._sessions: list[BackendSession] = []
        # The same sessions by venv and by id: every message looks its backend up.
        self._by_venv: dict[Path, BackendSession] = {}
        self._by_id: dict[int, BackendSession] = {}
        self.generation = 0  # counts adds and removes: a watcher of the pool sees it changed

    def __repr__(self) -> str:
        live = [s for s in self._sessions if not s.is_waiting()]
        active = sum(1 for s in live if not s.is_idle())
        idle = len(live) - active
        states: dict[str, int] = {}
        for s in self._sessions:
            states[s.state.value] = states.get(s.state.value, 0) + 1
        detail = ", ".join(f"{n} {name}" for name, n in states.items())
        return f"<BackendPool [{active} active, {idle} idle{' | ' + detail if detail else ''}]>"

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[BackendSession]:
        return iter(list(self._sessions))

    def sessions(self) -> tuple[BackendSession, ...]:
        """A snapshot, cheaper than `iter` (which copies into a list) for a read-only walk."""
        return tuple(self._sessions)

    def get(self, venv: Path) -> BackendSession | None:
        return self._by_venv.get(venv)

    def by_session(self, session: int) -> BackendSession | None:
        return self._by_id.get(session)

    def add(self, session: BackendSession) -> None:
        if self.get(session.venv) is not None:
            raise ValueError(f"a backend for {session.venv} is already pooled")
        self._sessions.append(session)
        self._by_venv[session.venv] = session
        self._by_id[session.session] = session
        self.generation += 1

    def remove(self, session: BackendSession) -> None:
        if self._by_id.get(session.session) is session:
            self._sessions.remove(session)
            del self._by_venv[session.venv]
            del self._by_id[session.session]
            self.generation += 1

    def touch(self, session: BackendSession, now: float) -> None:
        """Mark as most recently used."""
        session.last_used = now
        if (self._sessions and self._sessions[-1] is not session
                and self._by_id.get(session.session) is session):
            self._sessions.remove(session)
            self._sessions.append(session)

    def most_recent(self) -> BackendSession | None:
        return self._sessions[-1] if self._sessions else None

    def has_waiting(self) -> bool:
        return any(s.is_waiting() for s in self._sessions)

    def total_rss(self) -> int:
        """Summed RSS of the sessions whose RSS is known, in bytes."""
        return sum(s.rss for s in self._sessions if s.rss is not None)

    # ----- the decision ----------------------------------------------------------------
    def decide(self, now: float) -> Decision:
        """Everything to stop now, with why, and the waiting sessions to start:
        1. a session whose venv was removed or replaced (a waiting one is dropped);
        2. a live session idle for the TTL;
        3. over the memory budget: least recently used live ones, idle before busy, never
           the most recently used one, until the known total fits;
        4. a free slot (live sessions < max_backends) starts the oldest waiter; with no free
           slot an idle backend makes room (least recently used first); with none idle, a
           waiter that waited `preempt_after` preempts the least recently used backend that
           has run for `preempt_after`. A waiter that cannot get a slot holds those behind it."""
        decision = Decision()
        leaving: set[int] = set()

        def stop(s: BackendSession, why: str) -> None:
            if s.session not in leaving:
                leaving.add(s.session)
                decision.stop.append((s, why))

        for s in self._sessions:
            if s.venv_removed():
                stop(s, "its venv was removed")
            elif s.venv_replaced():
                stop(s, "its venv was replaced")
        for s in self._sessions:
            if s.has_expired(now, self.ttl):
                stop(s, f"idle for backend_ttl {self.ttl:g} s")
        self._decide_memory(stop, leaving)

        live = [s for s in self._sessions if s.is_live() and s.session not in leaving]
        free = self.max_backends - len(live)
        waiting = sorted((s for s in self._sessions if s.is_waiting() and s.session not in leaving),
                         key=lambda s: s.waiting_since)
        for waiter in waiting:
            if free > 0:
                free -= 1
            else:
                room = self._room_for(waiter, live, now)
                if room is None:
                    break  # first come, first served: the rest waits behind it
                victim, why = room
                stop(victim, why)
                live.remove(victim)
            decision.start.append(waiter)
        return decision

    def _decide_memory(self, stop: Callable[[BackendSession, str], None], leaving: set[int]) -> None:
        budget = self.memory_budget
        live = [s for s in self._sessions if s.is_live() and s.session not in leaving]
        total = sum(s.rss for s in live if s.rss is not None)
        if budget <= 0 or total <= budget or len(live) < 2:
            return
        why = (f"total backend RSS {total / 2**20:.0f} MB is over max_memory_mb "
               f"{budget / 2**20:.0f} MB")
        # The most recently used one serves what the user works on now: closing it would
        # only restart it at the next request.
        candidates = live[:-1]
        for s in [s for s in candidates if s.is_idle()] + [s for s in candidates if not s.is_idle()]:
            if total <= budget:
                break
            if s.rss is None:
                continue
            stop(s, why)
            total -= s.rss

    def _room_for(self, waiter: BackendSession, live: list[BackendSession],
                  now: float) -> tuple[BackendSession, str] | None:
        for s in live:
            if s.is_idle():
                return s, f"the pool is full (max_backends {self.max_backends}) and {waiter.venv} waits"
        if now - waiter.waiting_since < self.preempt_after:
            return None
        for s in live:
            if now - s.started_at >= self.preempt_after:
                return s, (f"preempted: {waiter.venv} waited {now - waiter.waiting_since:.0f} s "
                           f"for a slot (max_backends {self.max_backends}, every backend busy)")
        return None

    def next_deadline(self) -> float | None:
        """When `decide` may next want something with nothing else happening: a TTL expiry,
        or the oldest waiter's preemption becoming possible."""
        # One pass, no lists: the proxy asks after every chunk it reads.
        ttl = self.ttl
        best: float | None = None
        oldest_waiter: float | None = None
        oldest_start: float | None = None
        live = 0
        for s in self._sessions:
            state = s.state
            if state is State.WAITING:
                if oldest_waiter is None or s.waiting_since < oldest_waiter:
                    oldest_waiter = s.waiting_since
            elif state in LIVE_STATES:
                live += 1
                if oldest_start is None or s.started_at < oldest_start:
                    oldest_start = s.started_at
                if ttl > 0 and s.is_idle():
                    expiry = s.last_used + ttl
                    if best is None or expiry < best:
                        best = expiry
        if oldest_waiter is not None and oldest_start is not None and live >= self.max_backends:
            preempt = max(oldest_waiter, oldest_start) + self.preempt_after
            if best is None or preempt < best:
                best = preempt
        return best
