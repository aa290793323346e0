"""Backends being shut down: `exit` goes after the `shutdown` answer, as LSP requires.

An evicted backend is sent `shutdown`; once it answers (or after SHUTDOWN_ANSWER_GRACE
with no answer) it is sent `exit` and the runtime is told to stop it (Stop: it waits the
Stop's grace for the process to leave, then kills its group). Only when typemux itself
ends does `exit` follow at once: typemux cannot wait for answers then.
"""

from __future__ import annotations

from typemux import jsonrpc
from typemux.core.actions import Action, Stop, ToBackend

SHUTDOWN_ID = "typemux:shutdown"
SHUTDOWN_ANSWER_GRACE = 1.0  # seconds a backend has to answer shutdown before exit is sent


class Stopping:
    def __init__(self) -> None:
        self._answer_due: dict[int, float] = {}  # session -> when exit goes without an answer

    def __contains__(self, session: int) -> bool:
        return session in self._answer_due

    def __len__(self) -> int:
        return len(self._answer_due)

    def begin(self, session: int, now: float, *, at_once: bool = False) -> list[Action]:
        """Ask `session` to shut down; with `at_once` (typemux ends) exit and stop follow."""
        shutdown = ToBackend(session, jsonrpc.request(SHUTDOWN_ID, "shutdown"))
        if at_once:
            return [shutdown, *_exit(session)]
        self._answer_due[session] = now + SHUTDOWN_ANSWER_GRACE
        return [shutdown]

    def message(self, session: int, msg: jsonrpc.Message) -> list[Action]:
        """A message from a session that left the pool: its shutdown answer sends exit."""
        if ("method" not in msg and jsonrpc.id_key(msg.get("id")) == jsonrpc.id_key(SHUTDOWN_ID)
                and self._answer_due.pop(session, None) is not None):
            return _exit(session)
        return []

    def exited(self, session: int) -> list[Action]:
        """Its process is gone before it answered: the runtime still has to reap it."""
        if self._answer_due.pop(session, None) is not None:
            return [Stop(session, graceful=False)]
        return []

    def next_deadline(self) -> float | None:
        return min(self._answer_due.values(), default=None)

    def expire(self, now: float) -> list[Action]:
        out: list[Action] = []
        for session, due in list(self._answer_due.items()):
            if due <= now:
                del self._answer_due[session]
                out.extend(_exit(session))
        return out

    def finish_all(self) -> list[Action]:
        """typemux ends: exit now for every backend still owing its shutdown answer."""
        out: list[Action] = []
        for session in list(self._answer_due):
            del self._answer_due[session]
            out.extend(_exit(session))
        return out


def _exit(session: int) -> list[Action]:
    return [ToBackend(session, jsonrpc.notification("exit")), Stop(session, graceful=True)]
