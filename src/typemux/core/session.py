"""One backend instance as the router sees it: state, queues and what is in flight.

A session id is unique per process instance (a monotonic counter), so a message from an
instance that has since been evicted or replaced can always be recognised and dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typemux.backends.base import ReadinessDetector
from typemux.core import transitions
from typemux.core.ports import VenvIdentity
from typemux.core.transitions import State
from typemux.jsonrpc import Message


@dataclass(slots=True)
class Queued:
    """A client message held for a backend that cannot take it yet."""

    msg: Message
    raw: bytes | None
    fanout: bool = False  # this backend's share of a workspace/symbol fan-out
    mark: int = 0  # a request's: where its document stood when it came (`DocumentStore.mark`)


class HeldQueue(deque[Queued]):
    """Messages held for a backend, in order, with running counts of the requests among
    them and of their raw bytes: the queue's bound is checked on every held request, and a
    walk over up to 1,000 held messages each time made a burst quadratic. Only append,
    remove and clear change it (the others are refused, so the counts cannot drift)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.size = 0  # raw bytes; a message rebuilt by typemux has none (and is small)

    def append(self, item: Queued) -> None:
        super().append(item)
        self.requests += "id" in item.msg
        self.size += len(item.raw) if item.raw is not None else 0

    def remove(self, item: Queued) -> None:
        super().remove(item)
        self.requests -= "id" in item.msg
        self.size -= len(item.raw) if item.raw is not None else 0

    def clear(self) -> None:
        super().clear()
        self.requests = 0
        self.size = 0

    def _refused(self, *args: object) -> None:
        raise TypeError("a HeldQueue changes only by append, remove and clear")

    appendleft = extend = extendleft = insert = pop = popleft = rotate = _refused  # type: ignore[assignment]


@dataclass(slots=True)
class InFlight:
    """A client request forwarded to a backend (the backend sees the client's own id), and
    the request itself, to route it anew if its backend goes with its venv."""

    method: str
    sent_at: float
    fanout: bool = False
    msg: Any = None
    raw: bytes | None = None
    mark: int = 0  # where its document stood when it was sent (`DocumentStore.mark`)


# States that hold a pool slot, and those whose pending requests can hang (frozensets:
# these are tested for every session each time the proxy re-arms its timer).
LIVE_STATES = frozenset((State.CREATING, State.WARMING, State.READY))
HANG_STATES = frozenset((State.WARMING, State.READY))


class BackendSession:
    def __init__(
        self,
        session: int,
        venv: Path,
        identity: VenvIdentity | None,
        readiness: ReadinessDetector,
        now: float,
    ) -> None:
        self.session = session
        self.venv = venv
        # Where the project lies (the backend's root): not always the venv's parent, since
        # an environment can live in a tool's cache (see typemux.envs).
        self.project = venv.parent
        # Its venv's identity (pyvenv.cfg's stat) when it started, and as last reported by
        # the runtime (None before any report): they differ once the venv is rebuilt.
        self.identity = identity
        self.reported_identity = identity
        self.readiness = readiness
        self.state = State.WAITING
        self.created_at = now
        self.waiting_since = now
        self.started_at = now  # when it left WAITING: its process was asked for
        self.last_used = now
        self.last_output_at = now  # any message from it: proof of life for hang detection
        self.ready_at: float | None = None
        self.ready_reason: str | None = None
        self.handshake_deadline: float | None = None
        self.warmup_deadline: float | None = None
        self.pid: int | None = None
        self.initialize_sent = False
        self.capabilities: dict[str, Any] = {}
        self.in_flight: dict[tuple[bool, object], InFlight] = {}
        self.server_requests = 0  # backend→client requests awaiting the client's answer
        self.creating_queue = HeldQueue()
        self.warmup_queue = HeldQueue()
        # Scopes (document URIs, or "*" for all) a message in warmup_queue holds back.
        self.held_scopes: set[str] = set()
        # Requests sent while it warms up, by id, with their scopes: a backend still
        # initializing may answer a request about a later text (pyright defers requests
        # until its settings arrive), so what comes later about their documents waits for
        # their answers, until the backend is ready.
        self.awaiting: dict[tuple[bool, object], str] = {}
        # didOpen items of the venv's documents as they were when this session was created:
        # its replay. Later document messages wait in creating_queue, in the client's order.
        self.replay: list[dict[str, Any]] = []
        self.published: set[str] = set()  # URIs it published non-empty diagnostics for
        self.progress_tokens: set[object] = set()  # tokens it created
        self.warm_token: object = None  # first progress it started while Warming
        self.rss: int | None = None

    def move(self, to: State) -> None:
        """Change state, as the transition table allows (else TransitionRefused)."""
        transitions.move(self, to)

    def identity_reported(self, identity: VenvIdentity | None) -> None:
        """The runtime looked at the venv: the first identity seen is the one it started with."""
        if self.identity is None:
            self.identity = identity
        self.reported_identity = identity

    # Predicates, in the style of httpcore's connections: the pool decides with these only.
    def is_waiting(self) -> bool:
        return self.state is State.WAITING

    def is_live(self) -> bool:
        """It has (or is getting) a process: it takes one of the pool's slots."""
        return self.state in LIVE_STATES

    def is_stopping(self) -> bool:
        return self.state is State.STOPPING

    def venv_removed(self) -> bool:
        return self.identity is not None and self.reported_identity is None

    def venv_replaced(self) -> bool:
        return (self.identity is not None and self.reported_identity is not None
                and self.reported_identity != self.identity)

    def is_creating(self) -> bool:
        return self.state is State.CREATING

    def is_warming(self) -> bool:
        return self.state is State.WARMING

    def is_ready(self) -> bool:
        return self.state is State.READY

    def is_idle(self) -> bool:
        """Nothing pending in either direction and no request queued (queued document
        notifications wait on nobody: a new backend's replay covers them)."""
        return (
            not self.in_flight
            and self.server_requests == 0
            and (not (self.creating_queue or self.warmup_queue) or self.queued_requests() == 0)
        )

    def has_expired(self, now: float, ttl: float) -> bool:
        return ttl > 0 and self.is_live() and self.is_idle() and now - self.last_used >= ttl

    def expiry(self, ttl: float) -> float | None:
        if ttl <= 0 or not self.is_live() or not self.is_idle():
            return None
        return self.last_used + ttl

    def hang_deadline(self, hang_timeout: float) -> float | None:
        """When it counts as hung: requests pending and no output at all for `hang_timeout`
        since the later of its last output and the oldest pending request (in_flight keeps
        insertion order). None when nothing is pending, or detection is off (0), or while it
        waits for the client to answer one of its own requests (then the client is slow)."""
        if (hang_timeout <= 0 or not self.in_flight or self.server_requests
                or self.state not in HANG_STATES):
            return None
        oldest = next(iter(self.in_flight.values())).sent_at
        return max(self.last_output_at, oldest) + hang_timeout

    def queued_requests(self) -> int:
        return self.creating_queue.requests + self.warmup_queue.requests

    def __repr__(self) -> str:
        return (
            f"<BackendSession {self.session} {self.state.value} {self.venv} "
            f"in_flight={len(self.in_flight)}>"
        )


__all__ = ["HANG_STATES", "LIVE_STATES", "BackendSession", "InFlight", "Queued", "State"]
