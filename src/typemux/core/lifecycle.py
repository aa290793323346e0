"""Backend lifecycle: create, start, deliver, evict, crash, back off.

Everything here is sans-IO: every method that emits returns its actions, in order, and
never waits. A backend that takes 10 s to start only holds the messages of its own venv.
What to stop and start is the pool's one decision (`BackendPool.decide`); this module
executes it, after every event that can change it. State changes go through the
transition table (core/transitions.py). The venv identities are told by the runtime
(`venv_checked`): core stats nothing. A started backend's way to READY (spawn, handshake,
warm-up) is core/startup.py's; a failed or late handshake is a failed start here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.backends.base import BackendKind
from typemux.core import delivery, sync_kind
from typemux.core.actions import (
    Action,
    BackendReleased,
    PoolChanged,
    Resend,
    ShareLost,
    Stop,
    ToClient,
)
from typemux.core.delivery import CREATING_QUEUE_LIMIT
from typemux.core.failures import Failures
from typemux.core.pool import BackendPool
from typemux.core.ports import VenvIdentity
from typemux.core.session import BackendSession, State
from typemux.core.startup import INIT_ID, Startup
from typemux.core.stopping import SHUTDOWN_ID, Stopping
from typemux.documents import DocumentStore


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    argv: list[str]
    max_backends: int = 8
    backend_ttl: float = 1800.0
    warmup_timeout: float = 2.0
    handshake_timeout: float = 10.0
    pid: int = 0
    hang_timeout: float = 0.0  # off here; the runtime passes Settings.hang_timeout


class Lifecycle:
    def __init__(
        self,
        settings: LifecycleSettings,
        kind: BackendKind,
        documents: DocumentStore,
        log: Callable[..., None],
    ) -> None:
        self.settings = settings
        self.kind = kind
        self.documents = documents
        self.pool = BackendPool(settings.max_backends, settings.backend_ttl)
        self.client_params: dict[str, Any] | None = None
        self.configuration: Any = None  # last workspace/didChangeConfiguration params
        self.failures = Failures()
        # URIs the client has open whose diagnostics stand with no backend behind them
        # (cleared when the client closes them, their file is deleted, or a backend publishes).
        self.standing: set[str] = set()
        self._log = log
        self._next_session = 0
        self.stopping = Stopping()
        self.closed = False  # after shutdown, exit, EOF or SIGTERM: nothing is started again
        self.startup = Startup(kind, self.pool, log, argv=settings.argv, pid=settings.pid,
                               handshake_timeout=settings.handshake_timeout,
                               warmup_timeout=settings.warmup_timeout)

    # ----- the pool's decision ------------------------------------------------------------
    def _apply(self, now: float) -> list[Action]:
        """Execute the pool's decision: stop what it names, start the waiters it lets in."""
        decision = self.pool.decide(now)
        out: list[Action] = []
        for backend, why in decision.stop:
            if backend.is_waiting():
                out.extend(self._drop_waiting(backend, why))
            else:
                out.extend(self.evict(backend, why, now))
        for backend in decision.start:
            if backend.is_waiting() and not self.closed:
                out.extend(self.startup.spawn(backend, self.client_params, now))
        return out

    def venv_checked(self, venv: Path, identity: VenvIdentity | None, now: float) -> list[Action]:
        """The runtime looked at `venv` (pyvenv.cfg's stat, None when it is gone): a backend
        whose venv was removed or rebuilt is stopped before anything else goes to it."""
        backend = self.pool.get(venv)
        if backend is None:
            return []
        backend.identity_reported(identity)
        if not (backend.venv_removed() or backend.venv_replaced()):
            return []
        self._log("venv_changed", venv=str(venv), session=backend.session,
                  why="removed" if identity is None else "replaced")
        return self._apply(now)

    def memory_sample(self, rss_by_session: dict[int, int], budget_bytes: int,
                      now: float) -> list[Action]:
        """Record each backend's RSS (bytes) and, with a budget (> 0), let the pool evict
        until the known total fits."""
        for backend in self.pool:
            rss = rss_by_session.get(backend.session)
            if rss is not None:
                backend.rss = rss
        self.pool.memory_budget = budget_bytes
        if budget_bytes <= 0 or self.closed:
            return []
        return self._apply(now)

    # ----- creation -------------------------------------------------------------------
    def ensure(self, venv: Path, now: float,
               project: Path | None = None) -> tuple[BackendSession | str, list[Action]]:
        """The session for `venv` (started, or waiting for a slot), created if needed, or
        why none can serve now; and the actions that took. `project`: the folder the venv
        serves (None: the venv's parent, as for a `.venv`); callers pass what their data
        holds (a document's project, the session being restarted), so nothing is remembered
        here for a venv whose backend is gone."""
        if self.closed:
            return "typemux is shutting down; no backend is started any more", []
        backend = self.pool.get(venv)
        if backend is not None:
            return backend, []
        refusal = self.failures.refusal(venv, now)
        if refusal is not None:
            return refusal, []
        return self.create(venv, now, project)

    def create(self, venv: Path, now: float,
               project: Path | None = None) -> tuple[BackendSession, list[Action]]:
        """A new session for `venv` rooted at `project` (None: the venv's parent): it
        waits for a slot (WAITING, the project kept on the session) unless the pool's
        decision starts it at once."""
        self._next_session += 1
        backend = BackendSession(self._next_session, venv, None, self.kind.readiness(), now)
        if project is not None:
            backend.project = project
        # The replay is the text as of now; every later document message waits in its
        # creating_queue, so the backend sees each document's edits in the client's order.
        backend.replay = [
            {"uri": doc.uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text}
            for doc in self.documents.in_venv(venv)
        ]
        self.pool.add(backend)
        out = self._apply(now)
        if backend.is_waiting():
            self._log("backend_waiting", session=backend.session, venv=str(venv),
                      pool=repr(self.pool))
            out.append(PoolChanged())
        return backend, out

    # ----- handshake and warm-up: core/startup.py ----------------------------------------
    def send_initialize(self, backend: BackendSession, now: float) -> list[Action]:
        assert self.client_params is not None
        return self.startup.initialize(backend, self.client_params, now)

    def handshake_done(self, backend: BackendSession, response: jsonrpc.Message,
                       now: float) -> list[Action]:
        """`backend` answered initialize: an error is a failed start."""
        if "error" in response:
            err = response.get("error") or {}
            return self.spawn_failed(backend, f"initialize failed: {err.get('message', err)}", now)
        return self.startup.answered(backend, response, self.configuration, now)

    def observe(self, backend: BackendSession, msg: jsonrpc.Message, now: float) -> list[Action]:
        """A notification from `backend`: while it warms up, it may say it is ready."""
        return self.startup.observe(backend, msg, now)

    def mark_ready(self, backend: BackendSession, reason: str, now: float) -> list[Action]:
        return self.startup.mark_ready(backend, reason, now)

    # ----- delivery ------------------------------------------------------------------
    def deliver(self, backend: BackendSession, msg: jsonrpc.Message, raw: bytes | None,
                now: float, *, fanout: bool = False, touch: bool = True) -> list[Action]:
        """Hand a client message to a backend, or hold it (see core/delivery.py); a
        didOpen/didClose/didSave it declared it does not take is dropped, and a didSave
        gets the document's text if it asked for it (core/sync_kind.py)."""
        if not sync_kind.takes(backend, msg):
            return []
        if msg.get("method") == sync_kind.DID_SAVE:
            msg, raw = sync_kind.save_for_backend(backend, msg, raw, self._known_text)
        uri = jsonrpc.text_document_uri(msg.get("params")) if "id" in msg else None
        return delivery.deliver(self.pool, backend, msg, raw, now, fanout=fanout, touch=touch,
                                mark=self.documents.mark(uri) if uri is not None else 0)

    def _known_text(self, uri: str) -> str | None:
        """The text of open document `uri` as typemux follows it; None when it does not."""
        doc = self.documents.get(uri)
        return doc.text if doc is not None and not doc.desynced else None

    def cancel_queued(self, request_id: Any, now: float) -> tuple[BackendSession | None, list[Action]]:
        """Remove a held request: the session that held it (or None), and the actions of
        what it held back behind it, which goes on; a backend that had only that request
        queued lets a waiting venv in."""
        backend, out = delivery.cancel_queued(self.pool, request_id, now)
        if backend is not None and backend.is_idle() and self.pool.has_waiting():
            out.extend(self._apply(now))
        return backend, out

    def settled(self, backend: BackendSession, key: tuple[bool, object], now: float) -> list[Action]:
        """A request of `backend` is answered or given up: what waited for its answer goes;
        a backend gone idle lets a waiting venv in."""
        out: list[Action] = []
        if backend.awaiting.pop(key, None) is not None:
            out = delivery.release_held(self.pool, backend, now)
        if backend.is_idle() and self.pool.has_waiting():
            out.extend(self._apply(now))
        return out

    # ----- ending -----------------------------------------------------------------------
    def evict(self, backend: BackendSession, why: str, now: float, *,
              at_once: bool = False) -> list[Action]:
        """Stop a backend: shutdown now, exit after its answer (at once when typemux ends)."""
        if backend.is_waiting():
            return self._drop_waiting(backend, why)
        self._log("backend_evict", session=backend.session, venv=str(backend.venv), why=why)
        # A venv removed or rebuilt: what its backend was asked is asked again of the
        # backend that serves the document now (the router routes the Resend anew).
        out = self._release(backend, jsonrpc.REQUEST_CANCELLED,
                            f"request cancelled: the backend for {backend.venv} was stopped ({why})",
                            resend=backend.venv_removed() or backend.venv_replaced())
        graceful = not backend.is_creating() and backend.initialize_sent
        backend.move(State.STOPPING)
        if graceful:
            out.extend(self.stopping.begin(backend.session, now, at_once=at_once))
        else:
            out.append(Stop(backend.session, graceful=False))
        out.append(PoolChanged())
        return out

    def _drop_waiting(self, backend: BackendSession, why: str) -> list[Action]:
        """A waiting session never got a process: answer what it holds, forget it."""
        self._log("backend_dropped", session=backend.session, venv=str(backend.venv), why=why)
        # A venv removed or rebuilt: what waited for it goes where its document goes now.
        out = self._release(backend, jsonrpc.REQUEST_CANCELLED,
                            f"request cancelled: the backend for {backend.venv} was never "
                            f"started ({why})",
                            resend=backend.venv_removed() or backend.venv_replaced())
        backend.move(State.STOPPING)
        out.append(PoolChanged())
        return out

    def crashed(self, backend: BackendSession, why: str, now: float) -> list[Action]:
        self._log("backend_crash", session=backend.session, venv=str(backend.venv), why=why)
        out = self._release(backend, jsonrpc.REQUEST_CANCELLED,
                            f"request cancelled: the backend for {backend.venv} {why}; "
                            "it is restarted on the next request")
        backend.move(State.STOPPING)
        out.append(Stop(backend.session, graceful=False))
        out.extend(self.failures.record(backend.venv, backend.started_at, why, now))
        out.append(PoolChanged())
        out.extend(self._apply(now))
        return out

    def spawn_failed(self, backend: BackendSession, why: str, now: float) -> list[Action]:
        command = " ".join(self.settings.argv)
        text = f"could not start '{command}' for {backend.venv}: {why}"
        self._log("backend_spawn_failed", session=backend.session, venv=str(backend.venv), why=why)
        out = self._release(backend, jsonrpc.INTERNAL_ERROR, text)
        backend.move(State.STOPPING)
        out.append(Stop(backend.session, graceful=False))
        out.extend(self.failures.record(backend.venv, backend.started_at, why, now,
                                        force_notice=True, text=text))
        out.append(PoolChanged())
        out.extend(self._apply(now))
        return out

    def hung(self, backend: BackendSession, now: float) -> list[Action]:
        """Requests pending and no output for hang_timeout: stop it, start a new one (which
        gets the venv's documents replayed)."""
        why = (f"sent nothing for hang_timeout {self.settings.hang_timeout:g} s while "
               f"{len(backend.in_flight)} request(s) waited")
        self._log("backend_hung", session=backend.session, venv=str(backend.venv), why=why)
        out = self._release(backend, jsonrpc.REQUEST_CANCELLED,
                            f"request cancelled: the backend for {backend.venv} (session "
                            f"{backend.session}) {why}; it was restarted")
        backend.move(State.STOPPING)
        out.append(Stop(backend.session, graceful=False))
        out.append(ToClient(jsonrpc.show_message(2, (
            f"typemux: restarted the backend for {backend.venv}: it {why}"))))
        out.append(PoolChanged())
        out.extend(self.ensure(backend.venv, now, backend.project)[1])
        return out

    def stopped_message(self, session: int, msg: jsonrpc.Message) -> list[Action]:
        """A message from a backend that left the pool: its shutdown answer sends exit."""
        return self.stopping.message(session, msg)

    def exited(self, session: int) -> list[Action]:
        """The process of `session` is gone (after a stop, or on its own)."""
        return self.stopping.exited(session)

    def _release(self, backend: BackendSession, code: int, message: str, *,
                 resend: bool = False) -> list[Action]:
        """Answer everything of this backend's that the client still waits for; clear its
        diagnostics of documents the client does not have open (those of open documents
        stand until a backend republishes: no false "clean"); its server→client requests
        are forgotten by the router (BackendReleased)."""
        out: list[Action] = []
        self.pool.remove(backend)
        for key, flight in list(backend.in_flight.items()):
            if flight.fanout:
                out.append(ShareLost(backend.session, key[1]))
            elif resend and flight.msg is not None:
                out.append(Resend(flight.msg, flight.raw, message, flight.mark))
            else:
                out.append(ToClient(jsonrpc.error(key[1], code, "typemux: " + message)))
        backend.in_flight.clear()
        for queue in (backend.creating_queue, backend.warmup_queue):
            for item in queue:
                if "id" not in item.msg:
                    continue
                if item.fanout:
                    out.append(ShareLost(backend.session, item.msg["id"]))
                elif resend:
                    out.append(Resend(item.msg, item.raw, message, item.mark))
                else:
                    out.append(ToClient(jsonrpc.error(item.msg["id"], code, "typemux: " + message)))
            queue.clear()
        out.append(BackendReleased(backend.session))  # the router forgets its server requests
        for uri in sorted(backend.published):
            if uri in self.documents:
                self.standing.add(uri)
                continue
            out.append(ToClient(jsonrpc.notification(
                "textDocument/publishDiagnostics", {"uri": uri, "diagnostics": []})))
        backend.published.clear()
        return out

    # ----- time ---------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        best = _earliest(self.pool.next_deadline(), self.stopping.next_deadline())
        hang_timeout = self.settings.hang_timeout
        for backend in self.pool.sessions():
            best = _earliest(best, backend.handshake_deadline)
            best = _earliest(best, backend.warmup_deadline)
            if backend.in_flight:
                best = _earliest(best, backend.hang_deadline(hang_timeout))
        return best

    def expire(self, now: float) -> list[Action]:
        out = self.stopping.expire(now)
        for backend in self.pool:
            if backend.is_stopping():
                continue  # stopped by an earlier step of this loop
            if backend.handshake_deadline is not None and backend.handshake_deadline <= now:
                out.extend(self.spawn_failed(
                    backend, f"no initialize answer within {self.settings.handshake_timeout:g} s", now))
                continue
            out.extend(self.startup.warmup_expired(backend, now))
            hang = backend.hang_deadline(self.settings.hang_timeout)
            if hang is not None and hang <= now:
                out.extend(self.hung(backend, now))
        out.extend(self._apply(now))
        return out

    def stop_all(self, now: float, why: str, *, leaving: bool = True) -> list[Action]:
        """Stop every backend: typemux ends (`leaving`: exit goes at once, typemux cannot
        wait for answers), or the client asked for shutdown (exit after each answer)."""
        self.closed = True  # nothing is started again
        out: list[Action] = []
        for backend in self.pool:
            if not backend.is_stopping():
                out.extend(self.evict(backend, why, now, at_once=leaving))
        if leaving:
            out.extend(self.stopping.finish_all())
        return out


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None or a <= b:
        return a
    return b


__all__ = ["CREATING_QUEUE_LIMIT", "INIT_ID", "SHUTDOWN_ID", "Lifecycle", "LifecycleSettings"]
