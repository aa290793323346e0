"""The bounded pool of backend sessions, one per venv.

Modelled on httpcore's connection pool: sessions expose predicates (`is_idle`,
`has_expired`, ...), the pool keeps them in least-recently-used order and has one decision
method, `select_evictions`, that returns the sessions to close. The caller (the router)
closes them; the pool never does I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from typemux.core.session import BackendSession


class BackendPool:
    def __init__(self, max_backends: int, ttl: float) -> None:
        if max_backends < 1:
            raise ValueError("max_backends must be >= 1")
        self.max_backends = max_backends
        self.ttl = ttl
        # Least recently used first. A handful of entries: lists beat anything cleverer.
        self._sessions: list[BackendSession] = []

    def __repr__(self) -> str:
        active = sum(1 for s in self._sessions if not s.is_idle())
        idle = len(self._sessions) - active
        states: dict[str, int] = {}
        for s in self._sessions:
            states[s.state.value] = states.get(s.state.value, 0) + 1
        detail = ", ".join(f"{n} {name}" for name, n in states.items())
        return f"<BackendPool [{active} active, {idle} idle{' | ' + detail if detail else ''}]>"

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[BackendSession]:
        return iter(list(self._sessions))

    def get(self, venv: Path) -> BackendSession | None:
        for s in self._sessions:
            if s.venv == venv:
                return s
        return None

    def by_session(self, session: int) -> BackendSession | None:
        for s in self._sessions:
            if s.session == session:
                return s
        return None

    def add(self, session: BackendSession) -> None:
        if self.get(session.venv) is not None:
            raise ValueError(f"a backend for {session.venv} is already pooled")
        self._sessions.append(session)

    def remove(self, session: BackendSession) -> None:
        if session in self._sessions:
            self._sessions.remove(session)

    def touch(self, session: BackendSession, now: float) -> None:
        """Mark as most recently used."""
        session.last_used = now
        if self._sessions and self._sessions[-1] is not session and session in self._sessions:
            self._sessions.remove(session)
            self._sessions.append(session)

    def most_recent(self) -> BackendSession | None:
        return self._sessions[-1] if self._sessions else None

    def select_evictions(self, now: float, *, reserve: int = 0) -> list[BackendSession]:
        """The sessions to close now: every expired one (idle past the TTL), then as many
        least recently used ones as it takes to leave room for `reserve` new sessions,
        preferring sessions with nothing pending."""
        closing = [s for s in self._sessions if s.has_expired(now, self.ttl)]
        remaining = [s for s in self._sessions if s not in closing]
        excess = len(remaining) + reserve - self.max_backends
        if excess > 0:
            idle_first = [s for s in remaining if s.is_idle()] + [
                s for s in remaining if not s.is_idle()
            ]
            closing.extend(idle_first[:excess])
        return closing

    def total_rss(self) -> int:
        """Summed RSS of the sessions whose RSS is known, in bytes."""
        return sum(s.rss for s in self._sessions if s.rss is not None)

    def select_for_memory(self, budget_bytes: int) -> list[BackendSession]:
        """The sessions to close so that the known total RSS fits `budget_bytes`: least
        recently used first, idle ones before busy ones. The most recently used session is
        never chosen: it serves what the user works on now, and closing it would only
        restart it at the next request."""
        total = self.total_rss()
        if budget_bytes <= 0 or total <= budget_bytes or len(self._sessions) < 2:
            return []
        candidates = self._sessions[:-1]
        ordered = [s for s in candidates if s.is_idle()] + [
            s for s in candidates if not s.is_idle()
        ]
        closing: list[BackendSession] = []
        for s in ordered:
            if total <= budget_bytes:
                break
            if s.rss is None:
                continue
            closing.append(s)
            total -= s.rss
        return closing

    def next_expiry(self) -> float | None:
        deadlines = [d for s in self._sessions if (d := s.expiry(self.ttl)) is not None]
        return min(deadlines, default=None)
