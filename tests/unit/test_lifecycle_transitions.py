"""The transition table: every state change goes through `move`, which refuses the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from typemux.backends.base import ReadinessDetector
from typemux.core.session import BackendSession
from typemux.core.transitions import ALLOWED, State, TransitionRefused, move


def fresh() -> BackendSession:
    return BackendSession(1, Path("/p/.venv"), None, ReadinessDetector(), 0.0)


def test_a_session_is_born_waiting_and_follows_the_table_to_stopping() -> None:
    s = fresh()
    assert s.state is State.WAITING
    for to in (State.CREATING, State.WARMING, State.READY, State.STOPPING):
        s.move(to)
        assert s.state is to


@pytest.mark.parametrize(("start", "to"), [
    (State.WAITING, State.READY),  # never started
    (State.WAITING, State.WARMING),
    (State.READY, State.WARMING),  # no way back
    (State.STOPPING, State.READY),  # a stopped session never comes back
    (State.STOPPING, State.STOPPING),  # stopped twice
    (State.CREATING, State.WAITING),
])
def test_a_move_the_table_does_not_allow_is_refused_and_changes_nothing(start: State, to: State) -> None:
    s = fresh()
    s.state = start
    with pytest.raises(TransitionRefused):
        s.move(to)
    assert s.state is start


def test_the_table_names_every_state_and_stopping_is_final() -> None:
    assert set(ALLOWED) == set(State)
    assert ALLOWED[State.STOPPING] == frozenset()
    for targets in ALLOWED.values():
        assert State.WAITING not in targets  # nothing goes back to waiting


def test_move_works_on_anything_with_a_state() -> None:
    class Thing:
        state = State.CREATING

    thing = Thing()
    move(thing, State.READY)
    assert thing.state is State.READY
