"""A started backend's way to READY: spawn, the initialize handshake, warm-up (sans-IO).

A backend the pool lets in is spawned (CREATING); once the client has initialized, it is
asked `initialize` (the client's parameters, rooted at its project). Its answer says what
it is (its capabilities); typemux then sends `initialized`, the last configuration, the
replay of its venv's documents, and the client messages it held while it started, adapted
to what it declared (core/sync_kind.py).
It is READY at once (no warm-up, or a kind ready at once) or WARMING until its kind's
detector, the end of the first progress it started, or `warmup_timeout` says it is ready;
becoming ready releases what it held (core/delivery.py).

It is apart from the lifecycle (core/lifecycle.py), which decides when a backend is
started and stopped and turns a failed or late handshake into a failed start, because it
is the one part that reads what a backend says about itself, and it has its own state
(CREATING, WARMING) and deadlines. Each method returns its actions, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typemux import jsonrpc
from typemux.backends.base import BackendKind
from typemux.core import delivery, sync_kind
from typemux.core.actions import Action, PoolChanged, Spawn, ToBackend
from typemux.core.client_caps import backend_initialize_params
from typemux.core.pool import BackendPool
from typemux.core.session import BackendSession, State

INIT_ID = "typemux:initialize"


class Startup:
    def __init__(self, kind: BackendKind, pool: BackendPool, log: Callable[..., None], *,
                 argv: list[str], pid: int, handshake_timeout: float,
                 warmup_timeout: float) -> None:
        self.kind = kind
        self.pool = pool
        self._log = log
        self.argv = argv
        self.pid = pid
        self.handshake_timeout = handshake_timeout
        self.warmup_timeout = warmup_timeout

    def spawn(self, backend: BackendSession, client_params: dict[str, Any] | None,
              now: float) -> list[Action]:
        """Start the process of `backend`, which the pool lets in; it is asked initialize
        now if the client has initialized (`client_params`), else when it does."""
        backend.move(State.CREATING)
        backend.started_at = now
        out: list[Action] = [Spawn(backend.session, backend.venv, list(self.argv),
                                   self.kind.environment(backend.venv), backend.project)]
        self._log("backend_spawn", session=backend.session, venv=str(backend.venv),
                  project=str(backend.project), waited=round(now - backend.waiting_since, 3))
        if client_params is not None:
            out.extend(self.initialize(backend, client_params, now))
        out.append(PoolChanged())
        return out

    def initialize(self, backend: BackendSession, client_params: dict[str, Any],
                   now: float) -> list[Action]:
        """Ask `backend` initialize; unanswered by the handshake deadline, it failed."""
        params = backend_initialize_params(client_params, backend.project, self.pid)
        backend.initialize_sent = True
        backend.handshake_deadline = now + self.handshake_timeout
        return [ToBackend(backend.session, jsonrpc.request(INIT_ID, "initialize", params))]

    def answered(self, backend: BackendSession, response: jsonrpc.Message, configuration: Any,
                 now: float) -> list[Action]:
        """`backend` answered initialize without an error: it takes what it waited for."""
        out: list[Action] = []
        result = response.get("result")
        if isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
            backend.capabilities = result["capabilities"]
        caps = backend.capabilities
        backend.handshake_deadline = None
        out.append(ToBackend(backend.session, jsonrpc.notification("initialized", {})))
        if configuration is not None:
            out.append(ToBackend(backend.session, jsonrpc.notification(
                "workspace/didChangeConfiguration", configuration)))
        replay, backend.replay = backend.replay, []
        opens = sync_kind.open_close(caps)  # not for sync None / openClose false
        for opened in replay if opens else ():
            out.append(ToBackend(backend.session, jsonrpc.notification(
                "textDocument/didOpen", {"textDocument": opened})))
        if self.warmup_timeout <= 0 or self.kind.ready_at_once:
            backend.move(State.READY)
            backend.ready_at = now
            backend.ready_reason = "ready at once" if self.kind.ready_at_once else "no warmup"
        else:
            backend.move(State.WARMING)
            backend.warmup_deadline = now + self.warmup_timeout
        self._log("backend_started", session=backend.session, venv=str(backend.venv),
                  state=backend.state.value, seconds=round(now - backend.started_at, 3))
        queued = sync_kind.adapt_held(sync_kind.change_kind(caps), replay,
                                      list(backend.creating_queue), sync_kind.save(caps))
        backend.creating_queue.clear()
        for item in queued:  # adapted already: a didSave has the text of its own moment
            if sync_kind.takes(backend, item.msg):
                out.extend(delivery.deliver(self.pool, backend, item.msg, item.raw, now,
                                            fanout=item.fanout, mark=item.mark))
        out.append(PoolChanged())
        return out

    def observe(self, backend: BackendSession, msg: jsonrpc.Message, now: float) -> list[Action]:
        """A notification from `backend`: while it warms up, its kind's detector may say it
        is ready, or the end of the first progress it started (the generic rule, unless the
        kind's start-up progress means nothing: `progress_readiness`)."""
        if not backend.is_warming():
            return []
        reason = backend.readiness.observe(msg)
        if reason is None and self.kind.progress_readiness and _ends_warm_progress(backend, msg):
            reason = "progress end"
        return [] if reason is None else self.mark_ready(backend, reason, now)

    def mark_ready(self, backend: BackendSession, reason: str, now: float) -> list[Action]:
        """A warming backend is ready (`reason`): what it held goes."""
        if not backend.is_warming():
            return []
        backend.move(State.READY)
        backend.ready_at = now
        backend.ready_reason = reason
        backend.warmup_deadline = None
        self._log("backend_ready", session=backend.session, venv=str(backend.venv), reason=reason,
                  seconds=round(now - backend.started_at, 3), released=len(backend.warmup_queue))
        backend.awaiting.clear()
        out = delivery.release_held(self.pool, backend, now)
        out.append(PoolChanged())
        return out

    def warmup_expired(self, backend: BackendSession, now: float) -> list[Action]:
        """A backend still warming at its warmup_timeout is taken as ready."""
        if backend.warmup_deadline is None or backend.warmup_deadline > now:
            return []
        return self.mark_ready(backend, f"warmup_timeout {self.warmup_timeout:g} s", now)


def _ends_warm_progress(backend: BackendSession, msg: jsonrpc.Message) -> bool:
    params = msg.get("params")
    if msg.get("method") != "$/progress" or not isinstance(params, dict):
        return False
    token, value = params.get("token"), params.get("value")
    return (token in backend.progress_tokens and token == backend.warm_token
            and isinstance(value, dict) and value.get("kind") == "end")
