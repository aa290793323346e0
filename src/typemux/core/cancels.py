"""Cancels and fan-out bookkeeping (sans-IO).

A `$/cancelRequest` withdraws a held request at once, or goes to the backend working on it;
a backend that ignores it has its request answered by typemux after `CANCEL_GRACE`. A
fan-out request (workspace/symbol) has a share per backend; its one merged answer goes out
when every share is answered, lost with its backend, or past `fanout_timeout`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typemux import jsonrpc
from typemux.core.actions import Action, ToBackend, ToClient
from typemux.core.fanout import Fanout
from typemux.core.lifecycle import Lifecycle
from typemux.core.session import BackendSession

FANOUT_METHODS = frozenset({"workspace/symbol"})
# A cancelled request its backend does not answer is answered by typemux after this long.
CANCEL_GRACE = 0.5

Key = tuple[bool, object]


class Cancels:
    def __init__(self, lifecycle: Lifecycle, fanout_timeout: float,
                 log: Callable[..., None]) -> None:
        self.lifecycle = lifecycle
        self._log = log
        self.pool = lifecycle.pool
        self.fanout_timeout = fanout_timeout
        self.fanouts: dict[Key, Fanout] = {}
        # Requests cancelled at their backend: (session, when typemux answers them itself).
        self._deadlines: dict[Key, tuple[int, float]] = {}

    def next_deadline(self) -> float | None:
        deadlines = [f.deadline for f in self.fanouts.values() if f.deadline is not None]
        deadlines.extend(deadline for _, deadline in self._deadlines.values())
        return min(deadlines, default=None)

    # ----- the client cancels ------------------------------------------------------------
    def cancel(self, request_id: Any, msg: jsonrpc.Message, raw: bytes | None,
               now: float) -> list[Action]:
        if request_id is None:
            return []
        key = jsonrpc.id_key(request_id)
        fan = self.fanouts.pop(key, None)
        if fan is not None:
            out: list[Action] = []
            for session in list(fan.outstanding):
                out += self._withdraw_share(session, request_id, msg, now)
            out.append(ToClient(jsonrpc.cancelled(request_id, "request cancelled by the client")))
            return out
        held_by, out = self.lifecycle.cancel_queued(request_id, now)
        if held_by is not None:
            out.append(ToClient(jsonrpc.cancelled(request_id, "request cancelled by the client")))
            return out
        for backend in self.pool:
            if key in backend.in_flight:
                out.append(ToBackend(backend.session, msg, raw))
                # Answered by typemux if the backend ignores the cancel; a late answer is dropped.
                self._deadlines.setdefault(key, (backend.session, now + CANCEL_GRACE))
                break
        return out

    def _withdraw_share(self, session: int, request_id: Any, cancel: jsonrpc.Message | None,
                        now: float) -> list[Action]:
        backend = self.pool.by_session(session)
        if backend is None:
            return []
        key = jsonrpc.id_key(request_id)
        if backend.in_flight.pop(key, None) is not None:
            out: list[Action] = [ToBackend(session, cancel or jsonrpc.notification(
                "$/cancelRequest", {"id": request_id}))]
            return out + self.lifecycle.settled(backend, key, now)
        return self.lifecycle.cancel_queued(request_id, now)[1]

    def answered(self, key: Key) -> None:
        """The backend answered a request: no cancel deadline stands for it."""
        self._deadlines.pop(key, None)

    # ----- fan-out ---------------------------------------------------------------------------
    def fan_out(self, msg: jsonrpc.Message, raw: bytes | None, backends: list[BackendSession],
                now: float) -> list[Action]:
        """Send a share of request `msg` to each of `backends`."""
        timeout = self.fanout_timeout
        fan = Fanout(msg["id"], msg["method"], now + timeout if timeout > 0 else None)
        for backend in backends:
            fan.outstanding[backend.session] = backend.venv
        self.fanouts[jsonrpc.id_key(msg["id"])] = fan
        out: list[Action] = []
        for backend in backends:
            out += self.lifecycle.deliver(backend, msg, raw, now, fanout=True)
        return out

    def collect(self, key: Key, session: int, response: jsonrpc.Message) -> list[Action]:
        """A backend's answer to its share."""
        fan = self.fanouts.get(key)
        if fan is None:
            return []
        fan.collect(session, response)
        return self._finished(key, fan)

    def share_lost(self, session: int, request_id: Any) -> list[Action]:
        """A share that will never be answered (its backend stopped, or it was refused)."""
        key = jsonrpc.id_key(request_id)
        fan = self.fanouts.get(key)
        if fan is None:
            return []
        fan.fail(session, "its backend stopped")
        return self._finished(key, fan)

    def _finished(self, key: Key, fan: Fanout) -> list[Action]:
        if fan.done and self.fanouts.pop(key, None) is not None:
            return [ToClient(fan.answer())]
        return []

    # ----- time ----------------------------------------------------------------------------
    def expire_cancels(self, now: float) -> list[Action]:
        """Answer the cancelled requests whose backend ignored the cancel."""
        out: list[Action] = []
        for key, (session, deadline) in list(self._deadlines.items()):
            if deadline > now:
                continue
            del self._deadlines[key]
            backend = self.pool.by_session(session)
            if backend is not None and backend.in_flight.pop(key, None) is not None:
                out += self.lifecycle.settled(backend, key, now)
                self._log("cancel_unanswered", session=session, id=key[1])
                out.append(ToClient(jsonrpc.cancelled(
                    key[1], "request cancelled by the client (its backend did not answer the cancel)")))
        return out

    def expire_fanouts(self, now: float) -> list[Action]:
        """Answer the fan-outs past their deadline with what came in."""
        out: list[Action] = []
        for key, fan in list(self.fanouts.items()):
            if fan.deadline is None or fan.deadline > now:
                continue
            for session, venv in list(fan.outstanding.items()):
                fan.timed_out.append(venv)
                del fan.outstanding[session]
                out += self._withdraw_share(session, fan.request_id, None, now)
            late = ", ".join(str(v) for v in fan.timed_out)
            out.append(ToClient(jsonrpc.show_message(
                2, f"typemux: {fan.method} answered without {late} (no answer within "
                   f"fanout_timeout {self.fanout_timeout:g} s)")))
            out += self._finished(key, fan)
        return out
