"""Backend lifecycle decisions: create, hand-shake, warm up, deliver, evict, crash, back off.

Everything here is sans-IO: it appends actions to the shared outbox and never waits. A
backend that takes 10 s to start only holds the messages of its own venv.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.backends.base import BackendKind
from typemux.core import ordering, sync_kind
from typemux.core.actions import Action, PoolChanged, Spawn, Stop, ToBackend, ToClient
from typemux.core.client_caps import backend_initialize_params
from typemux.core.pool import BackendPool
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession, InFlight, Queued, State
from typemux.documents import DocumentStore
from typemux.uris import path_to_uri
from typemux.venv import venv_identity

INIT_ID = "typemux:initialize"
SHUTDOWN_ID = "typemux:shutdown"

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

CREATING_QUEUE_LIMIT = 64
CRASH_WINDOW = 30.0  # a backend that dies sooner than this after starting is crash-looping
MAX_BACKOFF = 60.0
IDENTITY_CHECK_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    argv: list[str]
    max_backends: int = 8
    backend_ttl: float = 1800.0
    warmup_timeout: float = 2.0
    handshake_timeout: float = 10.0
    pid: int = 0
    hang_timeout: float = 0.0  # off here; the runtime passes Settings.hang_timeout


@dataclass(slots=True)
class Failure:
    count: int
    retry_at: float
    reason: str


class Lifecycle:
    def __init__(
        self,
        settings: LifecycleSettings,
        kind: BackendKind,
        documents: DocumentStore,
        server_requests: ServerRequests,
        out: list[Action],
        log: Callable[..., None],
    ) -> None:
        self.settings = settings
        self.kind = kind
        self.documents = documents
        self.server_requests = server_requests
        self.pool = BackendPool(settings.max_backends, settings.backend_ttl)
        self.client_params: dict[str, Any] | None = None
        self.configuration: Any = None  # last workspace/didChangeConfiguration params
        self.failures: dict[Path, Failure] = {}
        # venv -> its project folder, told by document routing (the resolver knows it);
        # a venv not in here is taken to sit in its project, as `.venv` does.
        self.projects: dict[Path, Path] = {}
        # URIs the client has open whose diagnostics stand with no backend behind them
        # (cleared when the client closes them, their file is deleted, or a backend publishes).
        self.standing: set[str] = set()
        # Set by the router: a fan-out share that will never be answered (backend, request id).
        self.on_lost: Callable[[BackendSession, Any], None] = lambda backend, request_id: None
        self._out = out
        self._log = log
        self._next_session = 0
        self._stopping: dict[int, BackendSession] = {}
        self.closed = False  # after shutdown, exit, EOF or SIGTERM: nothing is started again

    # ----- creation -------------------------------------------------------------------
    def ensure(self, venv: Path, now: float) -> BackendSession | str:
        """The live session for `venv`, started if needed; or why none can serve now."""
        if self.closed:
            return "typemux is shutting down; no backend is started any more"
        backend = self.pool.get(venv)
        if backend is not None and now - backend.identity_checked_at >= IDENTITY_CHECK_INTERVAL:
            backend.identity_checked_at = now
            identity = venv_identity(venv)
            if identity != backend.identity:
                why = "its venv was removed" if identity is None else "its venv was replaced"
                self._log("venv_changed", venv=str(venv), session=backend.session, why=why)
                self.evict(backend, why, now)
                if identity is None:
                    return f"the venv {venv} no longer exists (no pyvenv.cfg)"
                backend = None
        if backend is not None:
            return backend
        failure = self.failures.get(venv)
        if failure is not None and now < failure.retry_at:
            return (
                f"the backend for {venv} failed {failure.count} times ({failure.reason}); "
                f"next attempt in {failure.retry_at - now:.1f} s"
            )
        return self.create(venv, now)

    def create(self, venv: Path, now: float) -> BackendSession:
        for old in self.pool.select_evictions(now, reserve=1):
            self.evict(old, "the pool is full (max_backends)", now)
        self._next_session += 1
        backend = BackendSession(
            self._next_session, venv, venv_identity(venv), self.kind.readiness(), now
        )
        backend.project = self.projects.get(venv, venv.parent)
        # The replay is the text as of now; every later document message waits in its
        # creating_queue, so the backend sees each document's edits in the client's order.
        backend.replay = [
            {"uri": doc.uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text}
            for doc in self.documents.in_venv(venv)
        ]
        self.pool.add(backend)
        self._out.append(
            Spawn(
                backend.session,
                venv,
                list(self.settings.argv),
                self.kind.environment(venv),
                backend.project,
            )
        )
        self._log("backend_spawn", session=backend.session, venv=str(venv),
                  project=str(backend.project))
        if self.client_params is not None:
            self.send_initialize(backend, now)
        self._out.append(PoolChanged())
        return backend

    def send_initialize(self, backend: BackendSession, now: float) -> None:
        assert self.client_params is not None
        params = backend_initialize_params(self.client_params, backend.project, self.settings.pid)
        backend.initialize_sent = True
        backend.handshake_deadline = now + self.settings.handshake_timeout
        self._out.append(
            ToBackend(backend.session, jsonrpc.request(INIT_ID, "initialize", params))
        )

    def handshake_done(self, backend: BackendSession, response: jsonrpc.Message, now: float) -> None:
        if "error" in response:
            err = response.get("error") or {}
            self.spawn_failed(backend, f"initialize failed: {err.get('message', err)}", now)
            return
        result = response.get("result")
        if isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
            backend.capabilities = result["capabilities"]
        backend.handshake_deadline = None
        self._out.append(ToBackend(backend.session, jsonrpc.notification("initialized", {})))
        if self.configuration is not None:
            self._out.append(
                ToBackend(
                    backend.session,
                    jsonrpc.notification("workspace/didChangeConfiguration", self.configuration),
                )
            )
        replay, backend.replay = backend.replay, []
        for opened in replay:
            self._out.append(
                ToBackend(backend.session, jsonrpc.notification("textDocument/didOpen", {"textDocument": opened}))
            )
        if self.settings.warmup_timeout <= 0 or self.kind.ready_at_once:
            backend.state = State.READY
            backend.ready_at = now
            backend.ready_reason = "ready at once" if self.kind.ready_at_once else "no warmup"
        else:
            backend.state = State.WARMING
            backend.warmup_deadline = now + self.settings.warmup_timeout
        self._log("backend_started", session=backend.session, venv=str(backend.venv),
                  state=backend.state.value, seconds=round(now - backend.created_at, 3))
        queued = sync_kind.adapt_held(sync_kind.change_kind(backend.capabilities), replay,
                                      list(backend.creating_queue))
        backend.creating_queue.clear()
        for item in queued:
            self.deliver(backend, item.msg, item.raw, now, fanout=item.fanout)
        self._out.append(PoolChanged())

    # ----- delivery and warmup --------------------------------------------------------
    def deliver(
        self,
        backend: BackendSession,
        msg: jsonrpc.Message,
        raw: bytes | None,
        now: float,
        *,
        fanout: bool = False,
    ) -> None:
        """Hand a client message to a backend, holding it while the backend cannot take it,
        and holding what comes later about the same document behind it."""
        is_request = "id" in msg
        if backend.is_creating():
            if is_request and backend.queued_requests() >= CREATING_QUEUE_LIMIT:
                self._reject(msg["id"], f"the backend for {backend.venv} is still starting and "
                             f"{CREATING_QUEUE_LIMIT} requests already wait for it; try again shortly",
                             fanout, backend)
                return
            backend.creating_queue.append(Queued(msg, raw, fanout))
            return
        # Only a warming backend holds anything: becoming ready releases all of it.
        if backend.is_warming():
            scope = ordering.scope(msg)
            if scope is not None and _must_wait(backend, msg, scope):
                backend.warmup_queue.append(Queued(msg, raw, fanout))
                backend.held_scopes.add(scope)
                return
            if is_request and scope is not None:
                backend.awaiting[jsonrpc.id_key(msg["id"])] = scope
        if is_request:
            backend.in_flight[jsonrpc.id_key(msg["id"])] = InFlight(msg["method"], now, fanout)
        self.pool.touch(backend, now)
        self._out.append(ToBackend(backend.session, msg, raw))

    def _reject(self, request_id: Any, why: str, fanout: bool, backend: BackendSession) -> None:
        if fanout:
            self.on_lost(backend, request_id)
        else:
            self._out.append(ToClient(jsonrpc.proxy_error(request_id, why)))

    def mark_ready(self, backend: BackendSession, reason: str, now: float) -> None:
        if not backend.is_warming():
            return
        backend.state = State.READY
        backend.ready_at = now
        backend.ready_reason = reason
        backend.warmup_deadline = None
        self._log("backend_ready", session=backend.session, venv=str(backend.venv), reason=reason,
                  seconds=round(now - backend.created_at, 3), released=len(backend.warmup_queue))
        backend.awaiting.clear()
        self._release_held(backend, now)
        self._out.append(PoolChanged())

    def settled(self, backend: BackendSession, key: tuple[bool, object], now: float) -> None:
        """A request of `backend` is answered or given up: what waited for its answer goes."""
        if backend.awaiting.pop(key, None) is not None:
            self._release_held(backend, now)

    def _release_held(self, backend: BackendSession, now: float) -> None:
        """Deliver again, in order, what waits in the warmup queue: whatever no longer has to
        wait goes out now."""
        held = list(backend.warmup_queue)
        backend.warmup_queue.clear()
        backend.held_scopes.clear()
        for item in held:
            self.deliver(backend, item.msg, item.raw, now, fanout=item.fanout)

    def cancel_queued(self, request_id: Any, now: float) -> BackendSession | None:
        """Remove a held request; the session that held it, or None. What it held back
        behind it goes on."""
        key = jsonrpc.id_key(request_id)
        for backend in self.pool:
            for queue in (backend.creating_queue, backend.warmup_queue):
                for item in queue:
                    if "id" in item.msg and jsonrpc.id_key(item.msg["id"]) == key:
                        queue.remove(item)
                        if queue is backend.warmup_queue:
                            self._release_held(backend, now)
                        return backend
        return None

    # ----- ending -----------------------------------------------------------------------
    def evict(self, backend: BackendSession, why: str, now: float) -> None:
        self._log("backend_evict", session=backend.session, venv=str(backend.venv), why=why)
        self._release(backend, jsonrpc.REQUEST_CANCELLED,
                      f"request cancelled: the backend for {backend.venv} was stopped ({why})")
        graceful = backend.state is not State.CREATING and backend.initialize_sent
        backend.state = State.STOPPING
        if graceful:
            self._out.append(ToBackend(backend.session, jsonrpc.request(SHUTDOWN_ID, "shutdown")))
            self._out.append(ToBackend(backend.session, jsonrpc.notification("exit")))
        self._stopping[backend.session] = backend
        self._out.append(Stop(backend.session, graceful))
        self._out.append(PoolChanged())

    def crashed(self, backend: BackendSession, why: str, now: float) -> None:
        self._log("backend_crash", session=backend.session, venv=str(backend.venv), why=why)
        self._release(backend, jsonrpc.REQUEST_CANCELLED,
                      f"request cancelled: the backend for {backend.venv} {why}; "
                      "it is restarted on the next request")
        backend.state = State.STOPPING
        self._out.append(Stop(backend.session, graceful=False))
        self._record_failure(backend, why, now)
        self._out.append(PoolChanged())

    def spawn_failed(self, backend: BackendSession, why: str, now: float) -> None:
        command = " ".join(self.settings.argv)
        text = f"could not start '{command}' for {backend.venv}: {why}"
        self._log("backend_spawn_failed", session=backend.session, venv=str(backend.venv), why=why)
        self._release(backend, jsonrpc.INTERNAL_ERROR, text)
        backend.state = State.STOPPING
        self._out.append(Stop(backend.session, graceful=False))
        self._record_failure(backend, why, now, force_notice=True, text=text)
        self._out.append(PoolChanged())

    def hung(self, backend: BackendSession, now: float) -> None:
        """Requests pending and no output for hang_timeout: stop it, start a new one (which
        gets the venv's documents replayed)."""
        why = (f"sent nothing for hang_timeout {self.settings.hang_timeout:g} s while "
               f"{len(backend.in_flight)} request(s) waited")
        self._log("backend_hung", session=backend.session, venv=str(backend.venv), why=why)
        self._release(backend, jsonrpc.REQUEST_CANCELLED,
                      f"request cancelled: the backend for {backend.venv} (session "
                      f"{backend.session}) {why}; it was restarted")
        backend.state = State.STOPPING
        self._stopping[backend.session] = backend
        self._out.append(Stop(backend.session, graceful=False))
        self._out.append(ToClient(jsonrpc.show_message(2, (
            f"typemux: restarted the backend for {backend.venv}: it {why}"))))
        self._out.append(PoolChanged())
        self.ensure(backend.venv, now)

    def exited(self, session: int) -> None:
        """The process of `session` is gone (after a stop)."""
        self._stopping.pop(session, None)

    def _record_failure(self, backend: BackendSession, why: str, now: float, *,
                        force_notice: bool = False, text: str | None = None) -> None:
        previous = self.failures.get(backend.venv)
        recent = previous is not None and now - backend.created_at < CRASH_WINDOW
        count = previous.count + 1 if (recent and previous is not None) else 1
        # The first crash restarts at once; a crash loop backs off exponentially.
        delay = 0.0 if count == 1 and not force_notice else min(MAX_BACKOFF, 2.0 ** (count - 1))
        self.failures[backend.venv] = Failure(count, now + delay, why)
        if force_notice or count == 2:
            message = text or (f"the backend for {backend.venv} keeps crashing ({why}); "
                               f"retrying in {delay:.0f} s")
            self._out.append(ToClient(jsonrpc.show_message(1, "typemux: " + message)))

    def _release(self, backend: BackendSession, code: int, message: str) -> None:
        """Answer everything of this backend's that the client still waits for; clear its
        diagnostics of documents the client does not have open (those of open documents
        stand until a backend republishes: no false "clean"); forget its server→client
        requests."""
        self.pool.remove(backend)
        for key, flight in list(backend.in_flight.items()):
            if flight.fanout:
                self.on_lost(backend, key[1])
            else:
                self._out.append(ToClient(jsonrpc.error(key[1], code, "typemux: " + message)))
        backend.in_flight.clear()
        for queue in (backend.creating_queue, backend.warmup_queue):
            for item in queue:
                if "id" not in item.msg:
                    continue
                if item.fanout:
                    self.on_lost(backend, item.msg["id"])
                else:
                    self._out.append(ToClient(jsonrpc.error(item.msg["id"], code, "typemux: " + message)))
            queue.clear()
        self.server_requests.forget(backend)
        for uri in sorted(backend.published):
            if uri in self.documents:
                self.standing.add(uri)
                continue
            self._out.append(ToClient(jsonrpc.notification(
                "textDocument/publishDiagnostics", {"uri": uri, "diagnostics": []})))
        backend.published.clear()

    # ----- time ---------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        deadlines = [self.pool.next_expiry()]
        for backend in self.pool:
            deadlines.append(backend.handshake_deadline)
            deadlines.append(backend.warmup_deadline)
            deadlines.append(backend.hang_deadline(self.settings.hang_timeout))
        return min((d for d in deadlines if d is not None), default=None)

    def expire(self, now: float) -> None:
        for backend in self.pool:
            if backend.handshake_deadline is not None and backend.handshake_deadline <= now:
                self.spawn_failed(
                    backend, f"no initialize answer within {self.settings.handshake_timeout:g} s", now)
            elif backend.warmup_deadline is not None and backend.warmup_deadline <= now:
                self.mark_ready(backend, f"warmup_timeout {self.settings.warmup_timeout:g} s", now)
            hang = backend.hang_deadline(self.settings.hang_timeout)
            if hang is not None and hang <= now:
                self.hung(backend, now)
        for backend in self.pool.select_evictions(now):
            self.evict(backend, f"idle for backend_ttl {self.pool.ttl:g} s", now)

    def stop_all(self, now: float, why: str) -> None:
        self.closed = True  # only ever called when typemux ends (shutdown, exit, EOF, signal)
        for backend in self.pool:
            self.evict(backend, why, now)

    def project_uri(self, backend: BackendSession) -> str:
        return path_to_uri(backend.project)


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
