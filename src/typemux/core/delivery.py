"""What a backend session takes now and what it holds (sans-IO).

A session with no process yet (waiting for a pool slot, or starting) holds every message in
its creating queue, up to CREATING_QUEUE_LIMIT requests or CREATING_QUEUE_BYTES of messages;
a warming one holds the requests that need its index, and whatever comes later about the same document, in its warmup queue.
Each function returns the actions to take, in order.
"""

from __future__ import annotations

from typing import Any

from typemux import jsonrpc
from typemux.core import ordering
from typemux.core.actions import Action, ShareLost, ToBackend, ToClient
from typemux.core.pool import BackendPool
from typemux.core.session import BackendSession, InFlight, Queued

# Requests whose answers depend on the backend's index: held while it warms up.
INDEX_DEPENDENT = frozenset(
    {
        "textDocument/references",
        "textDocument/implementation",
        "textDocument/definition",
        "textDocument/typeDefinition",
        "textDocument/declaration",
        "textDocument/rename",
        "textDocument/prepareRename",
        "textDocument/prepareCallHierarchy",
        "callHierarchy/incomingCalls",
        "callHierarchy/outgoingCalls",
        "textDocument/prepareTypeHierarchy",
        "typeHierarchy/supertypes",
        "typeHierarchy/subtypes",
        "workspace/symbol",
    }
)

# What one backend holds while it waits for a slot or starts. A client pipelines hundreds of
# requests right after opening a file (300 edit+hover pairs in a black-box run), so the bound
# is far above that; past either figure each further request is answered at once with an
# error saying so. Notifications are never refused (a lost edit would desynchronise the
# document), but their bytes count towards the budget, so large texts stop requests sooner.
CREATING_QUEUE_LIMIT = 1000  # requests
CREATING_QUEUE_BYTES = 16 * 1024 * 1024  # bytes of held messages (their raw frames)


def deliver(pool: BackendPool, backend: BackendSession, msg: jsonrpc.Message, raw: bytes | None,
            now: float, *, fanout: bool = False, touch: bool = True, mark: int = 0) -> list[Action]:
    """Hand a client message to a backend, holding it while the backend cannot take it,
    and holding what comes later about the same document behind it. `touch=False`: a
    message of typemux's own housekeeping (it does not count as the backend's use).
    `mark`: where a request's document stands (`DocumentStore.mark`; a request routed
    again checks it)."""
    is_request = "id" in msg
    if backend.is_waiting() or backend.is_creating():
        full = _queue_full(backend) if is_request else None
        if full is not None:
            why = ("waits for a slot in the pool (every one of the max_backends "
                   f"{pool.max_backends} backends is busy)" if backend.is_waiting()
                   else "is still starting")
            return [_reject(msg["id"], f"the backend for {backend.venv} {why} and "
                            f"{full} already wait for it; try again shortly", fanout, backend)]
        backend.creating_queue.append(Queued(msg, raw, fanout, mark))
        return []
    # Only a warming backend holds anything: becoming ready releases all of it.
    if backend.is_warming():
        scope = ordering.scope(msg)
        if scope is not None and _must_wait(backend, msg, scope):
            backend.warmup_queue.append(Queued(msg, raw, fanout, mark))
            backend.held_scopes.add(scope)
            return []
        if is_request and scope is not None:
            backend.awaiting[jsonrpc.id_key(msg["id"])] = scope
    if is_request:
        backend.in_flight[jsonrpc.id_key(msg["id"])] = InFlight(msg["method"], now, fanout, msg,
                                                                raw, mark)
    if touch:
        pool.touch(backend, now)
    return [ToBackend(backend.session, msg, raw)]


def release_held(pool: BackendPool, backend: BackendSession, now: float) -> list[Action]:
    """Deliver again, in order, what waits in the warmup queue: whatever no longer has to
    wait goes out now."""
    held = list(backend.warmup_queue)
    backend.warmup_queue.clear()
    backend.held_scopes.clear()
    out: list[Action] = []
    for item in held:
        out.extend(deliver(pool, backend, item.msg, item.raw, now, fanout=item.fanout,
                           mark=item.mark))
    return out


def cancel_queued(pool: BackendPool, request_id: Any,
                  now: float) -> tuple[BackendSession | None, list[Action]]:
    """Remove a held request: the session that held it (or None), and the actions of what
    it held back behind it, which goes on."""
    key = jsonrpc.id_key(request_id)
    for backend in pool:
        for queue in (backend.creating_queue, backend.warmup_queue):
            for item in queue:
                if "id" in item.msg and jsonrpc.id_key(item.msg["id"]) == key:
                    queue.remove(item)
                    if queue is backend.warmup_queue:
                        return backend, release_held(pool, backend, now)
                    return backend, []
    return None, []


def _queue_full(backend: BackendSession) -> str | None:
    """What makes `backend` refuse one more held request, or None when it can hold it."""
    requests = backend.creating_queue.requests + backend.warmup_queue.requests
    size = backend.creating_queue.size + backend.warmup_queue.size
    if requests >= CREATING_QUEUE_LIMIT:
        return f"{CREATING_QUEUE_LIMIT} requests"
    if size >= CREATING_QUEUE_BYTES:
        return f"{CREATING_QUEUE_BYTES // (1024 * 1024)} MB of messages"
    return None


def _reject(request_id: Any, why: str, fanout: bool, backend: BackendSession) -> Action:
    if fanout:
        return ShareLost(backend.session, request_id)
    return ToClient(jsonrpc.proxy_error(request_id, why))


def _must_wait(backend: BackendSession, msg: jsonrpc.Message, scope: str) -> bool:
    """Whether a message for a warming backend waits: a request that needs the index, or
    anything behind a held message or an unanswered request about the same document."""
    if "id" in msg and msg.get("method") in INDEX_DEPENDENT:
        return True
    return (_is_held_back(backend.held_scopes, scope)
            or _is_held_back(set(backend.awaiting.values()), scope))


def _is_held_back(held: set[str], scope: str) -> bool:
    """Whether a message of `scope` must wait behind the messages holding `held`."""
    if not held:
        return False
    return scope == ordering.ALL or ordering.ALL in held or scope in held
