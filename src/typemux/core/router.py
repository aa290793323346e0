"""The router: a sans-IO state machine between one client and many backend sessions.

Feed it what happened (`client_message`, `backend_message`, `backend_exited`, `timer`, ...)
with the current time; collect what to do with `take_actions()`. It never touches a pipe, a
process or a clock, so unit tests drive it with plain dicts.

The router only dispatches: each event goes to the component that owns it, and every
component returns the actions it decides, which the router queues in order.

- lifecycle (lifecycle.py, pool.py): backends' creation, hand-shake, delivery, ending
- document_routing.py: open documents and the venv of each (through the `VenvLookup` port)
- document_sync.py: disk truth, idle close, documents typemux opens itself
- targets.py: which backend serves a client request
- short_path.py: the common request (open document, ready backend) in one step
- cancels.py: cancels and fan-out bookkeeping
- rerouting.py: the requests of a backend whose venv went, routed again
- backend_messages.py, capabilities.py, server_requests.py: backend → client
- workspace.py: watched files, workspace folders, disk and memory events
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.backends.base import BackendKind, ProjectConfig
from typemux.core import idle_policy, resolve_tags, tokens
from typemux.core.actions import (
    Action,
    BackendReleased,
    ConfigStale,
    Exit,
    Resend,
    ShareLost,
    ToBackend,
    ToClient,
)
from typemux.core.backend_messages import BackendMessages
from typemux.core.cancels import CANCEL_GRACE, FANOUT_METHODS, Cancels
from typemux.core.capabilities import Capabilities
from typemux.core.client_caps import ClientCaps
from typemux.core.diagnostics import Diagnostics
from typemux.core.document_routing import DocumentRouting
from typemux.core.document_sync import DocumentSync
from typemux.core.env_wait import EnvWait, Held
from typemux.core.fanout import Fanout
from typemux.core.lifecycle import Lifecycle, LifecycleSettings
from typemux.core.owed import OwedAnswers, duplicate_refusal
from typemux.core.ports import VenvIdentity, VenvLookup
from typemux.core.rerouting import Rerouting
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession
from typemux.core.short_path import ShortPath
from typemux.core.targets import RequestTargets
from typemux.core.workspace import Workspace, watched_paths
from typemux.documents import DocumentStore
from typemux.jsonrpc import text_document_uri

__all__ = ["CANCEL_GRACE", "Router", "RouterSettings"]


@dataclass(frozen=True, slots=True)
class RouterSettings:
    lifecycle: LifecycleSettings
    fanout_timeout: float = 5.0
    fallback_venv: Path | None = None
    fallback_project: Path | None = None
    document_idle_close: float = 0.0  # 0 = never close documents the client keeps open
    document_idle_close_clients: str = "auto"  # which clients' documents (core.idle_policy)
    backend_settings: dict[str, Any] | None = None  # the user's settings tree for this kind


def _noop_log(event: str, **fields: Any) -> None:
    return None


class Router:
    # False: every message goes the long way (the model test runs a twin router so, and
    # checks that both ways decide the same actions).
    short_path = True

    def __init__(
        self,
        settings: RouterSettings,
        kind: BackendKind,
        lookup: VenvLookup,
        *,
        log: Callable[..., None] = _noop_log,
    ) -> None:
        self.settings = settings
        self.kind = kind
        self._log = log
        self._out: list[Action] = []
        self.documents = DocumentStore()
        self.server_requests = ServerRequests(kind, settings.backend_settings)
        self.lifecycle = Lifecycle(settings.lifecycle, kind, self.documents, log)
        self.pool = self.lifecycle.pool
        self.docs = DocumentRouting(self.documents, lookup, self.lifecycle, log)
        self.sync = DocumentSync(self.documents, self.lifecycle, settings.document_idle_close, log)
        self.sync.idle_mode = settings.document_idle_close_clients
        self.env_wait = EnvWait(self.documents, lookup)
        self.targets = RequestTargets(self.docs, self.lifecycle)
        self.cancels = Cancels(self.lifecycle, settings.fanout_timeout, log)
        self.capabilities = Capabilities(kind, log)
        self.from_backends = BackendMessages(
            self.lifecycle, self.server_requests, self.cancels, self.targets, self.capabilities,
            Diagnostics(self.documents, self.sync), log)
        self.workspace = Workspace(self.documents, self.lifecycle, log)
        self.set_fallback(settings.fallback_venv, settings.fallback_project)
        self.shutdown_requested = False
        self.exited = False
        self._ended = ""  # why requests are answered once typemux ends (see _finish)
        self.owed = OwedAnswers()
        self.short = ShortPath(self.docs, self.sync, self.env_wait, self.owed)
        self.rerouting = Rerouting(self.lifecycle, self.docs, self.sync, self.targets, log)

    def set_fallback(self, venv: Path | None, project: Path | None = None) -> None:
        """The startup venv (found by the runtime): it serves what no project claims."""
        self.docs.fallback_venv = venv
        self.docs.fallback_project = project

    @property
    def fanouts(self) -> dict[tuple[bool, object], Fanout]:
        return self.cancels.fanouts

    @property
    def workspace_folders(self) -> list[Any]:
        return self.workspace.folders

    # ----- outputs ---------------------------------------------------------------------
    def take_actions(self) -> list[Action]:
        actions, self._out = self._out, []
        if self.exited:  # every request was answered at the end: a later answer is a second one
            return self.owed.settle_owed(actions)
        self.owed.settle(actions)
        return actions

    def _emit(self, actions: list[Action]) -> None:
        """Queue actions in order; the core-internal ShareLost becomes, where it stands,
        its fan-out's bookkeeping, and BackendReleased drops the backend's server→client
        requests (neither is given to the runtime)."""
        out = self._out
        for action in actions:
            if isinstance(action, ShareLost):
                out.extend(self.cancels.share_lost(action.session, action.request_id))
            elif isinstance(action, BackendReleased):
                self.server_requests.forget(action.session)
            elif isinstance(action, Resend):  # routed anew only where venv_checked is
                out.append(ToClient(jsonrpc.cancelled(action.msg["id"], action.error)))
            else:
                out.append(action)

    def next_deadline(self) -> float | None:
        best = self.lifecycle.next_deadline()
        for deadline in (self.server_requests.next_deadline(), self.sync.next_deadline(),
                         self.cancels.next_deadline(), self.env_wait.next_deadline()):
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    # ----- client → typemux --------------------------------------------------------------
    def client_message(self, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        method = msg.get("method")
        if method is None:
            answer = self.server_requests.from_client(msg, now)
            if answer is None:
                self._log("client_response_dropped", id=msg.get("id"))
            else:
                self._emit(answer)
            return
        if ("id" in msg and self.short_path and not (self.shutdown_requested or self.exited)
                and self.lifecycle.client_params is not None):
            action = self.short.request(method, msg, raw, now)
            if action is not None:
                self._out.append(action)
                return
        held, released = (False, []) if self.exited else self.env_wait.hold(msg, raw, now)
        self._feed(released, now)
        if held:
            return  # its document's environment is being asked (poetry): see core.env_wait
        if "id" in msg:
            self._client_request(method, msg, raw, now)
        else:
            self._client_notification(method, msg, raw, now)

    def client_malformed(self, code: int, reason: str, request_id: Any) -> None:
        self._log("client_malformed", reason=reason, id=request_id)
        self.owed.owe(request_id)
        # With no readable id, JSON-RPC 2.0 answers with "id": null: never drop silently.
        self._out.append(ToClient(jsonrpc.error(request_id, code, "typemux: " + reason)))

    def client_eof(self, now: float) -> None:
        self._finish(now, 0 if self.shutdown_requested else 1, "the client closed stdin")

    def terminate(self, now: float, signal_name: str = "SIGTERM") -> None:
        self._finish(now, 0, f"typemux received {signal_name}")

    def _finish(self, now: float, code: int, why: str) -> None:
        """typemux ends: every request read so far is answered now (the backends' own with
        -32800 as they stop; those queued, held or fanned out, here), and so is every one
        read later, at once (see _client_request)."""
        if self.exited:
            return
        self.exited = True
        self._ended = f"request cancelled: the server is terminating ({why})"
        self._feed(self.env_wait.release(now, everything=True), now)
        self._emit(self.lifecycle.stop_all(now, why))
        for request_id in self.owed.unanswered(self._out):
            self._out.append(ToClient(jsonrpc.cancelled(request_id, self._ended)))
        self._out.append(Exit(code))

    def environments_answered(self, now: float) -> None:
        """A tool asked about a project's environment has answered (see core.env_wait)."""
        self.env_wait.answered()
        self._feed(self.env_wait.release(now), now)

    def _feed(self, released: list[Held], now: float) -> None:
        """Messages core.env_wait held go on, in order, as if the client sent them now; one
        whose handling raises is answered as the runtime does for a message it read."""
        for msg, raw in released:
            try:
                self.client_message(msg, raw, now)
            except Exception as exc:
                self._log("client_message_failed", error=repr(exc), method=msg.get("method"))
                if "id" in msg:
                    self.internal_failure(msg["id"])

    def prewarm(self, venv: Path, now: float, project: Path | None = None) -> None:
        """Start `venv`'s backend before anyone asks (its handshake waits for initialize).
        The runtime calls this only for a venv it found on disk."""
        self._emit(self.lifecycle.ensure(venv, now, project)[1])

    def internal_failure(self, request_id: Any) -> None:
        """Handling a client request raised: answer it (the proxy logged the failure)."""
        self._out.append(ToClient(jsonrpc.proxy_error(
            request_id, "internal error; see the typemux log")))

    def _client_request(self, method: str, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        request_id = msg["id"]
        if not self.owed.owe(request_id):
            self._out.append(duplicate_refusal(request_id))
            return
        if method == "initialize":
            self._initialize(msg, now)
            return
        if self.lifecycle.client_params is None:
            self._out.append(ToClient(jsonrpc.error(
                request_id, jsonrpc.SERVER_NOT_INITIALIZED, "typemux: initialize must come first")))
            return
        if self.shutdown_requested:
            self._out.append(ToClient(jsonrpc.error(
                request_id, jsonrpc.INVALID_REQUEST, "typemux: the server is shutting down")))
            return
        if self.exited:
            self._out.append(ToClient(jsonrpc.cancelled(request_id, self._ended)))
            return
        if method == "shutdown":
            self.shutdown_requested = True
            self._emit(self.lifecycle.stop_all(now, "the client asked for shutdown", leaving=False))
            self._out.append(ToClient(jsonrpc.result(request_id, None)))
            return
        if method in FANOUT_METHODS:
            self._fanout(msg, raw, now)
            return
        if method in resolve_tags.RESOLVE_METHODS:
            session, item = resolve_tags.untag(msg.get("params"))
            if session is not None:
                self._emit(self.targets.to_producer(session, {**msg, "params": item}, now))
                return
        self._emit(self.sync.before_request(method, msg.get("params"), now, self.docs.find_venv))
        self._emit(self.targets.route(msg, raw, now))

    def _fanout(self, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        live = [b for b in self.pool if not b.is_stopping()]
        if not live:
            target, actions = self.targets.target(msg["method"], None, now)
            self._emit(actions)
            if isinstance(target, str):
                self._out.append(ToClient(jsonrpc.proxy_error(msg["id"], target)))
                return
            live = [target]
        self._emit(self.cancels.fan_out(msg, raw, live, now))

    def _initialize(self, msg: jsonrpc.Message, now: float) -> None:
        if self.lifecycle.client_params is not None:
            self._out.append(ToClient(jsonrpc.error(
                msg["id"], jsonrpc.INVALID_REQUEST, "typemux: initialize was already received")))
            return
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        self.lifecycle.client_params = params
        self.server_requests.caps = ClientCaps(params.get("capabilities"))
        self.sync.idle_clients = idle_policy.closes_client_documents(self.sync.idle_mode,
                                                                     params.get("clientInfo"))
        self.workspace.set_folders(params.get("workspaceFolders"))
        self._out.append(self.capabilities.initialize_answer(msg["id"]))
        for backend in self.pool:
            if backend.is_creating() and not backend.initialize_sent:
                self._emit(self.lifecycle.send_initialize(backend, now))
        if self.docs.fallback_venv is not None:
            self.prewarm(self.docs.fallback_venv, now, self.docs.fallback_project)

    def _client_notification(self, method: str, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        if (self.shutdown_requested or self.exited) and method != "exit":
            self._log("notification_dropped", method=method, why="after shutdown")
            return
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        if self.lifecycle.client_params is not None:
            replaced, actions = self.sync.before_notification(method, msg, params, now)
            self._emit(actions)
            if replaced is not None:
                msg, raw, params = replaced, None, replaced["params"]
        if method == "exit":
            self._finish(now, 0 if self.shutdown_requested else 1, "the client sent exit")
        elif self.shutdown_requested:
            # After shutdown only exit counts: a didOpen must not start a backend again.
            self._log("notification_dropped", method=method, why="after shutdown")
        elif method == "initialized":
            if self.server_requests.caps.watch_files:
                self._out.append(self.workspace.register_watchers())
        elif method == "$/cancelRequest":
            request_id = params.get("id")
            if request_id is not None and self.env_wait.withdraw(request_id):
                self._out.append(ToClient(jsonrpc.cancelled(request_id,
                                                            "request cancelled by the client")))
            else:
                self._emit(self.cancels.cancel(request_id, msg, raw, now))
        elif method == "textDocument/didOpen":
            self._emit(self.docs.did_open(params, msg, raw, now))
        elif method == "textDocument/didChange":
            self._emit(self.docs.did_change(params, msg, raw, now))
        elif method == "textDocument/didClose":
            self._emit(self.docs.did_close(params, msg, raw, now))
        elif method == "workspace/didChangeConfiguration":
            self.lifecycle.configuration = msg.get("params")
            self._emit(self.workspace.broadcast(msg, raw))
        elif method == "workspace/didChangeWatchedFiles":
            self._emit(self.workspace.watched_files(params, now, self.docs.find_venv))
            self._emit(self.server_requests.config_files_changed(
                watched_paths(params), list(self.pool)))
        elif method == "workspace/didChangeWorkspaceFolders":
            self.workspace.folders_changed(params)
        elif method == "window/workDoneProgress/cancel":
            decoded = tokens.decode(params.get("token"))
            backend = self.pool.by_session(decoded[0]) if decoded else None
            if decoded and backend is not None:
                fwd = {**msg, "params": {**params, "token": decoded[1]}}
                self._out.append(ToBackend(backend.session, fwd))
        elif self.lifecycle.client_params is None:
            self._log("notification_dropped", method=method)
        else:
            uri = text_document_uri(params)
            if uri is None:
                self._emit(self.workspace.broadcast(msg, raw))
            else:
                target, actions = self.docs.target_for_uri(uri, now)
                self._emit(actions)
                if isinstance(target, BackendSession):
                    self._emit(self.lifecycle.deliver(target, msg, raw, now))

    # ----- backend → typemux ------------------------------------------------------------
    def _live(self, session: int) -> BackendSession | None:
        backend = self.pool.by_session(session)
        if backend is None or backend.is_stopping():
            return None
        return backend

    def backend_spawned(self, session: int, pid: int) -> None:
        backend = self.pool.by_session(session)
        if backend is not None:
            backend.pid = pid

    def backend_spawn_failed(self, session: int, reason: str, now: float) -> None:
        backend = self._live(session)
        if backend is not None:
            self._emit(self.lifecycle.spawn_failed(backend, reason, now))

    def backend_exited(self, session: int, reason: str, now: float) -> None:
        """The process ended, or its stdout closed, or it broke the framing."""
        self._emit(self.lifecycle.exited(session))
        backend = self._live(session)
        if backend is None:
            return
        if backend.is_creating():
            self._emit(self.lifecycle.spawn_failed(backend, reason, now))
        else:
            self._emit(self.lifecycle.crashed(backend, reason, now))

    def backend_message(self, session: int, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        backend = self._live(session)
        if backend is None:
            self._emit(self.lifecycle.stopped_message(session, msg))
            self._log("stale_message_dropped", session=session, method=msg.get("method"))
            return
        self._emit(self.from_backends.message(backend, msg, raw, now))

    def backend_oversize(self, session: int, request_id: Any, size: int, limit: int, now: float) -> None:
        """A backend's answer to `request_id` was `size` bytes, over max_message_size
        (`limit`): it was skipped unread and the stream stayed in sync, so the backend is
        kept and the request gets an error in place of the answer, by the way every answer
        goes (fan-out, the handshake, cancel deadlines)."""
        self._log("backend_oversize", session=session, id=request_id, size=size)
        error = jsonrpc.too_large(request_id, "the backend's answer", size, limit)
        self.backend_message(session, error, None, now)

    # ----- disk and memory ---------------------------------------------------------------
    def open_paths(self) -> dict[Path, str]:
        """The file of every open document -> its URI (the runtime reads these on change)."""
        return self.workspace.open_paths()

    def watched_roots(self) -> set[Path]:
        """Project directories typemux's own watcher watches for a client that cannot."""
        return self.workspace.watched_roots()

    def files_changed(self, changes: list[tuple[Path, int]], texts: dict[str, str | None],
                      now: float) -> None:
        """Files changed on disk behind the client's back (typemux's own watcher): the new
        texts of open documents (None when deleted) and every change as a FileChangeType."""
        if self.exited or self.lifecycle.client_params is None:
            return
        self._emit(self.sync.files_changed(texts, now))
        if changes and not self.server_requests.caps.watch_files:
            self._emit(self.workspace.disk_changes(changes, now, self.docs.find_venv))
            self._emit(self.server_requests.config_files_changed(
                [path for path, _ in changes], list(self.pool)))

    def memory_sample(self, rss_by_session: dict[int, int], budget_bytes: int, now: float) -> None:
        """Record each backend's RSS (bytes, its whole process tree) and, with a budget
        (> 0), evict as the pool decides until the total fits."""
        self._emit(self.lifecycle.memory_sample(rss_by_session, budget_bytes, now))

    def venv_checked(self, venv: Path, identity: VenvIdentity | None, now: float) -> None:
        """The runtime looked at a pooled venv (None: its pyvenv.cfg is gone). A backend
        whose venv was removed or rebuilt is stopped; what it was asked is routed again
        (core/rerouting.py)."""
        self._emit(self.rerouting.venv_checked(venv, identity, now,
                                               self.exited or self.shutdown_requested))

    def project_config_read(self, ticket: int, config: ProjectConfig, now: float) -> None:
        """The runtime read a project's config files, as `ReadProjectConfig(ticket)` asked."""
        for action in self.server_requests.project_config_read(ticket, config):
            if not isinstance(action, ConfigStale):
                self._emit([action])
                continue
            # Core-internal: the backend was told what the files no longer say, and does
            # not ask again; a new one asks (its documents go to it in its replay).
            backend = self._live(action.session)
            if backend is not None:
                self._emit(self.lifecycle.evict(
                    backend, "its project's config files now call for another configuration",
                    now))

    # ----- time ----------------------------------------------------------------------------
    def timer(self, now: float) -> None:
        self._feed(self.env_wait.release(now), now)
        self._emit(self.sync.timer(now))
        self._emit(self.cancels.expire_cancels(now))
        self._emit(self.lifecycle.expire(now))
        self._emit(self.server_requests.expire(now))
        self._emit(self.cancels.expire_fanouts(now))
