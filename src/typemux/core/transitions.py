"""Backend session states and the one table of the moves allowed between them.

Every state change goes through `move`, which refuses a move the table does not list: a
session cannot, say, become ready without having been started, or come back from stopping.
"""

from __future__ import annotations

import enum
from typing import Protocol


class State(enum.Enum):
    WAITING = "waiting"  # no process yet: the pool is full of busy backends; holds its queue
    CREATING = "creating"  # spawned; initialize not answered yet
    WARMING = "warming"  # handshake done; index-dependent requests are held
    READY = "ready"
    STOPPING = "stopping"  # left the pool: being shut down, or its process is gone


ALLOWED: dict[State, frozenset[State]] = {
    State.WAITING: frozenset({State.CREATING, State.STOPPING}),
    State.CREATING: frozenset({State.WARMING, State.READY, State.STOPPING}),
    State.WARMING: frozenset({State.READY, State.STOPPING}),
    State.READY: frozenset({State.STOPPING}),
    State.STOPPING: frozenset(),
}


class TransitionRefused(ValueError):
    """A state change the table does not allow (a bug in the caller)."""


class HasState(Protocol):
    state: State


def move(session: HasState, to: State) -> None:
    """Move `session` to `to`, or raise TransitionRefused when the table forbids it."""
    if to not in ALLOWED[session.state]:
        raise TransitionRefused(f"{session!r}: {session.state.value} -> {to.value} is not allowed")
    session.state = to


__all__ = ["ALLOWED", "State", "TransitionRefused", "move"]
