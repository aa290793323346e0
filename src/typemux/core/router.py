"""The router: a sans-IO state machine between one client and many backend sessions.

Feed it what happened (`client_message`, `backend_message`, `backend_exited`, `timer`, ...)
with the current time; collect what to do with `take_actions()`. It never touches a pipe, a
process or a clock, so unit tests drive it with plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typemux import __version__, jsonrpc
from typemux.backends import client_capabilities, own_text_document_sync
from typemux.backends.base import BackendKind
from typemux.core import idle_policy, resolve_tags, tokens
from typemux.core.actions import Action, CapabilitiesLearned, Exit, ShareLost, ToBackend, ToClient
from typemux.core.client_caps import ClientCaps
from typemux.core.document_routing import NO_VENV_HELP, DocumentRouting
from typemux.core.document_sync import DocumentSync
from typemux.core.env_wait import EnvWait
from typemux.core.fanout import Fanout
from typemux.core.lifecycle import INIT_ID, Lifecycle, LifecycleSettings
from typemux.core.registrations import missing_providers, register_request, registrations_for
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession, State
from typemux.documents import DocumentStore
from typemux.uris import path_to_uri, uri_to_path
from typemux.venv import VenvIdentity, VenvResolver, venv_identity

FANOUT_METHODS = frozenset({"workspace/symbol"})
# A `*/resolve` goes to the backend that answered the request that produced the item.
RESOLVE_PRODUCERS = {
    "completionItem/resolve": "textDocument/completion",
    "codeLens/resolve": "textDocument/codeLens",
    "inlayHint/resolve": "textDocument/inlayHint",
    "documentLink/resolve": "textDocument/documentLink",
    "codeAction/resolve": "textDocument/codeAction",
}
# A cancelled request its backend does not answer is answered by typemux after this long.
CANCEL_GRACE = 0.5
WATCHER_REGISTRATION_ID = "typemux:watchers"
WATCHED_GLOBS = ("**/*.py", "**/*.pyi", "**/pyproject.toml", "**/pyrightconfig.json",
                 "**/ty.toml", "**/pyrefly.toml", "**/pyvenv.cfg", "**/*.pth")


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
    def __init__(
        self,
        settings: RouterSettings,
        kind: BackendKind,
        resolver: VenvResolver,
        *,
        log: Callable[..., None] = _noop_log,
    ) -> None:
        self.settings = settings
        self.kind = kind
        self.resolver = resolver
        self.documents = DocumentStore()
        self._out: list[Action] = []
        self._log = log
        self.server_requests = ServerRequests(kind, self._out)
        self.server_requests.user_settings = dict(settings.backend_settings or {})
        self.lifecycle = Lifecycle(settings.lifecycle, kind, self.documents,
                                   self.server_requests, log)
        self.pool = self.lifecycle.pool
        self.docs = DocumentRouting(self.documents, resolver, self.lifecycle, log, self._out,
                                    settings.fallback_venv)
        if settings.fallback_venv is not None and settings.fallback_project is not None:
            self.lifecycle.projects[settings.fallback_venv] = settings.fallback_project
        self.sync = DocumentSync(self.documents, self.lifecycle, self._out,
                                 settings.document_idle_close, log)
        self.sync.find_venv = self.docs.find_venv
        self.env_wait = EnvWait(self.documents, resolver, log=log, fail=self.internal_failure)
        self.sync.idle_mode = settings.document_idle_close_clients
        self.fanouts: dict[tuple[bool, object], Fanout] = {}
        self.initialized = False
        self.shutdown_requested = False
        self.exited = False
        # Answers still owed to the client, per request id (a count: a duplicate id is
        # refused, and its refusal is one of the answers).
        self._pending_ids: dict[tuple[bool, object], int] = {}
        self._producer: dict[str, int] = {}
        self._answered: dict[str, Any] = {}  # the capabilities the client was told
        self._learned = False
        # Requests cancelled at their backend: (session, when typemux answers them itself).
        self._cancel_deadlines: dict[tuple[bool, object], tuple[int, float]] = {}
        # The client's workspace folders: typemux's own view. Each backend keeps its project.
        self.workspace_folders: list[Any] = []

    # ----- outputs ---------------------------------------------------------------------
    def take_actions(self) -> list[Action]:
        actions = self._out[:]
        self._out.clear()
        if any(isinstance(action, ShareLost) for action in actions):
            actions = self._consume_lost(actions)
        pending = self._pending_ids
        if pending:
            for action in actions:
                if isinstance(action, ToClient) and "method" not in action.msg:
                    key = jsonrpc.id_key(action.msg.get("id"))
                    left = pending.get(key, 0) - 1
                    if left > 0:
                        pending[key] = left
                    else:
                        pending.pop(key, None)
        return actions

    def next_deadline(self) -> float | None:
        deadlines = [self.lifecycle.next_deadline(), self.server_requests.next_deadline(),
                     self.sync.next_deadline(), self.env_wait.next_deadline()]
        deadlines.extend(f.deadline for f in self.fanouts.values())
        deadlines.extend(deadline for _, deadline in self._cancel_deadlines.values())
        return min((d for d in deadlines if d is not None), default=None)

    # ----- client → typemux --------------------------------------------------------------
    def client_message(self, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        method = msg.get("method")
        if method is None:
            if not self.server_requests.from_client(msg, now):
                self._log("client_response_dropped", id=msg.get("id"))
            return
        if self.env_wait.hold(msg, raw, now, self.client_message):
            return  # its document's environment is being asked (poetry): see core.env_wait
        if "id" in msg:
            self._client_request(method, msg, raw, now)
        else:
            self._client_notification(method, msg, raw, now)

    def client_malformed(self, code: int, reason: str, request_id: Any) -> None:
        self._log("client_malformed", reason=reason, id=request_id)
        self._owe(request_id)
        # With no readable id, JSON-RPC 2.0 answers with "id": null: never drop silently.
        self._out.append(ToClient(jsonrpc.error(request_id, code, "typemux: " + reason)))

    def client_eof(self, now: float) -> None:
        self._finish(now, 0 if self.shutdown_requested else 1, "the client closed stdin")

    def terminate(self, now: float) -> None:
        self._finish(now, 0, "typemux received SIGTERM")

    def _finish(self, now: float, code: int, why: str) -> None:
        if self.exited:
            return
        self.exited = True
        self._emit(self.lifecycle.stop_all(now, why))
        self._out.append(Exit(code))

    def environments_answered(self, now: float) -> None:
        """A tool asked about a project's environment has answered (see core.env_wait)."""
        self.env_wait.answered()
        self.env_wait.release(now, self.client_message)

    def prewarm(self, venv: Path, now: float, project: Path | None = None) -> None:
        """Start `venv`'s backend before anyone asks (its handshake waits for initialize)."""
        if project is not None:
            self.lifecycle.projects[venv] = project
        if self.pool.get(venv) is None and venv_identity(venv) is not None:
            self._emit(self.lifecycle.ensure(venv, now)[1])

    def internal_failure(self, request_id: Any) -> None:
        """Handling a client request raised: answer it (the proxy logged the failure)."""
        self._out.append(ToClient(jsonrpc.proxy_error(
            request_id, "internal error; see the typemux log")))

    def _owe(self, request_id: Any) -> bool:
        """Count an answer owed to the client under `request_id`; False when another
        request with that id is still unanswered (take_actions counts the answers)."""
        key = jsonrpc.id_key(request_id)
        owed = self._pending_ids.get(key, 0)
        self._pending_ids[key] = owed + 1
        return owed == 0

    def _client_request(self, method: str, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        request_id = msg["id"]
        if not self._owe(request_id):
            # Ids are keyed per backend, so a second request under an id still in flight
            # would take the first one's answer: refuse it instead of losing one.
            self._out.append(ToClient(jsonrpc.error(
                request_id, jsonrpc.INVALID_REQUEST,
                f"typemux: request id {request_id!r} is already used by a request that is "
                "still pending; ids must be unique among pending requests")))
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
                self._resolve(session, {**msg, "params": item}, now)
                return
        self.sync.before_request(method, msg.get("params"), now)
        target = self._target(method, msg.get("params"), now)
        if isinstance(target, str):
            self._out.append(ToClient(jsonrpc.proxy_error(request_id, target)))
        else:
            self._emit(self.lifecycle.deliver(target, msg, raw, now))

    def _resolve(self, session: int, msg: jsonrpc.Message, now: float) -> None:
        backend = self._live(session)
        if backend is None:
            self._out.append(ToClient(jsonrpc.cancelled(
                msg["id"], "the backend that produced this item has stopped; request it again")))
        else:
            self._emit(self.lifecycle.deliver(backend, msg, None, now))

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
        folders = params.get("workspaceFolders")
        self.workspace_folders = list(folders) if isinstance(folders, list) else []
        capabilities = dict(self.kind.capabilities)
        capabilities["textDocumentSync"] = own_text_document_sync(
            capabilities.get("textDocumentSync"))
        self._answered = dict(capabilities)
        self._out.append(ToClient(jsonrpc.result(msg["id"], {
            "capabilities": capabilities,
            "serverInfo": {"name": f"typemux ({self.kind.name})", "version": __version__},
        })))
        for backend in self.pool:
            if backend.is_creating() and not backend.initialize_sent:
                self._emit(self.lifecycle.send_initialize(backend, now))
        if self.settings.fallback_venv is not None:
            self.prewarm(self.settings.fallback_venv, now)

    def _client_notification(self, method: str, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        if (self.shutdown_requested or self.exited) and method != "exit":
            self._log("notification_dropped", method=method, why="after shutdown")
            return
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        if self.lifecycle.client_params is not None:
            replaced = self.sync.before_notification(method, msg, params, now)
            if replaced is not None:
                msg, raw, params = replaced, None, replaced["params"]
        if method == "exit":
            self._finish(now, 0 if self.shutdown_requested else 1, "the client sent exit")
        elif self.shutdown_requested:
            # After shutdown only exit counts: a didOpen must not start a backend again.
            self._log("notification_dropped", method=method, why="after shutdown")
        elif method == "initialized":
            self.initialized = True
            if self.server_requests.caps.watch_files:
                self._register_watchers()
        elif method == "$/cancelRequest":
            self._cancel(params.get("id"), raw, msg, now)
        elif method == "textDocument/didOpen":
            self.docs.did_open(params, msg, raw, now)
        elif method == "textDocument/didChange":
            self.docs.did_change(params, msg, raw, now)
        elif method == "textDocument/didClose":
            self.docs.did_close(params, msg, raw, now)
        elif method == "workspace/didChangeConfiguration":
            self.lifecycle.configuration = msg.get("params")
            self._broadcast(msg, raw, now)
        elif method == "workspace/didChangeWatchedFiles":
            self._watched_files(params, now)
        elif method == "workspace/didChangeWorkspaceFolders":
            self._workspace_folders(params)
        elif method == "window/workDoneProgress/cancel":
            decoded = tokens.decode(params.get("token"))
            backend = self.pool.by_session(decoded[0]) if decoded else None
            if decoded and backend is not None:
                fwd = {**msg, "params": {**params, "token": decoded[1]}}
                self._out.append(ToBackend(backend.session, fwd))
        elif self.lifecycle.client_params is None or self.shutdown_requested:
            self._log("notification_dropped", method=method)
        else:
            uri = _text_document_uri(params)
            if uri is None:
                self._broadcast(msg, raw, now)
            else:
                target = self.docs.target_for_uri(uri, now)
                if isinstance(target, BackendSession):
                    self._emit(self.lifecycle.deliver(target, msg, raw, now))

    # ----- routing -----------------------------------------------------------------------
    def _target(self, method: str, params: Any, now: float) -> BackendSession | str:
        params = params if isinstance(params, dict) else {}
        uri = _text_document_uri(params) or _item_uri(params)
        if uri is None and method == "workspaceSymbol/resolve":
            location = params.get("location")
            uri = location.get("uri") if isinstance(location, dict) else None
        if uri is None and isinstance(params.get("files"), list) and params["files"]:
            first = params["files"][0]
            if isinstance(first, dict):
                uri = first.get("oldUri") or first.get("uri")
        if isinstance(uri, str):
            return self.docs.target_for_uri(uri, now)
        producer = RESOLVE_PRODUCERS.get(method)
        if producer is not None and producer in self._producer:
            backend = self.pool.by_session(self._producer[producer])
            if backend is not None:
                return backend
        if method == "workspace/executeCommand":
            command = params.get("command")
            for backend in reversed(list(self.pool)):
                provider = backend.capabilities.get("executeCommandProvider") or {}
                if command in (provider.get("commands") or []):
                    return backend
        backend = self.pool.most_recent()
        if backend is not None:
            return backend
        if self.settings.fallback_venv is not None:
            target, actions = self.lifecycle.ensure(self.settings.fallback_venv, now)
            self._emit(actions)
            return target
        return f"no backend is running and no .venv was found for this workspace; {NO_VENV_HELP}"

    def _broadcast(self, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        for backend in self.pool:
            if backend.state in (State.WARMING, State.READY):
                self._out.append(ToBackend(backend.session, msg, raw))

    def _watched_files(self, params: dict[str, Any], now: float) -> None:
        by_backend: dict[int, list[Any]] = {}
        for change in params.get("changes") or []:
            uri = change.get("uri") if isinstance(change, dict) else None
            path = uri_to_path(uri) if isinstance(uri, str) else None
            venv = self.docs.find_venv(path)
            backend = self.pool.get(venv) if venv is not None else None
            if backend is not None and backend.state in (State.WARMING, State.READY):
                by_backend.setdefault(backend.session, []).append(change)
        for session, changes in by_backend.items():
            backend = self.pool.by_session(session)
            if backend is not None:
                self.pool.touch(backend, now)  # news for it: not idle
            self._out.append(ToBackend(session, jsonrpc.notification(
                "workspace/didChangeWatchedFiles", {"changes": changes})))

    def _workspace_folders(self, params: dict[str, Any]) -> None:
        """Not forwarded: each backend's workspace is its own project, whatever folders the
        client has open. Routing goes by each document's venv."""
        event = params.get("event")
        event = event if isinstance(event, dict) else {}
        removed = {f.get("uri") for f in event.get("removed") or [] if isinstance(f, dict)}
        kept = [f for f in self.workspace_folders
                if not (isinstance(f, dict) and f.get("uri") in removed)]
        kept.extend(f for f in event.get("added") or [] if isinstance(f, dict))
        self.workspace_folders = kept
        self._log("workspace_folders_changed", folders=[f.get("uri") for f in kept])

    def _register_watchers(self) -> None:
        watchers = [{"globPattern": glob} for glob in WATCHED_GLOBS]
        self._out.append(ToClient(jsonrpc.request(WATCHER_REGISTRATION_ID, "client/registerCapability", {
            "registrations": [{"id": WATCHER_REGISTRATION_ID,
                               "method": "workspace/didChangeWatchedFiles",
                               "registerOptions": {"watchers": watchers}}]})))

    # ----- cancel and fan-out ----------------------------------------------------------
    def _cancel(self, request_id: Any, raw: bytes | None, msg: jsonrpc.Message, now: float) -> None:
        if request_id is None:
            return
        key = jsonrpc.id_key(request_id)
        fan = self.fanouts.pop(key, None)
        if fan is not None:
            for session in list(fan.outstanding):
                self._withdraw_share(session, request_id, msg, now)
            self._out.append(ToClient(jsonrpc.cancelled(request_id, "request cancelled by the client")))
            return
        held_by, actions = self.lifecycle.cancel_queued(request_id, now)
        self._emit(actions)
        if held_by is not None:
            self._out.append(ToClient(jsonrpc.cancelled(request_id, "request cancelled by the client")))
            return
        for backend in self.pool:
            if key in backend.in_flight:
                self._out.append(ToBackend(backend.session, msg, raw))
                # Answered by typemux if the backend ignores the cancel; a late answer is dropped.
                self._cancel_deadlines.setdefault(key, (backend.session, now + CANCEL_GRACE))
                return

    def _withdraw_share(self, session: int, request_id: Any, cancel: jsonrpc.Message | None,
                        now: float) -> None:
        backend = self.pool.by_session(session)
        if backend is None:
            return
        if backend.in_flight.pop(jsonrpc.id_key(request_id), None) is not None:
            self._out.append(ToBackend(session, cancel or jsonrpc.notification(
                "$/cancelRequest", {"id": request_id})))
            self._emit(self.lifecycle.settled(backend, jsonrpc.id_key(request_id), now))
        else:
            self._emit(self.lifecycle.cancel_queued(request_id, now)[1])

    def _fanout(self, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        live = [b for b in self.pool if b.state is not State.STOPPING]
        if not live:
            target = self._target(msg["method"], None, now)
            if isinstance(target, str):
                self._out.append(ToClient(jsonrpc.proxy_error(msg["id"], target)))
                return
            live = [target]
        timeout = self.settings.fanout_timeout
        fan = Fanout(msg["id"], msg["method"], now + timeout if timeout > 0 else None)
        for backend in live:
            fan.outstanding[backend.session] = backend.venv
        self.fanouts[jsonrpc.id_key(msg["id"])] = fan
        for backend in live:
            self._emit(self.lifecycle.deliver(backend, msg, raw, now, fanout=True))

    def _emit(self, actions: list[Action]) -> None:
        """Queue lifecycle actions in order, consuming the core-internal ShareLost at once."""
        for action in actions:
            if isinstance(action, ShareLost):
                self._out.extend(self._fanout_share_lost(action.session, action.request_id))
            else:
                self._out.append(action)

    def _consume_lost(self, actions: list[Action]) -> list[Action]:
        """ShareLost queued by the document modules (which extend the outbox directly):
        each becomes its fan-out bookkeeping where it stands, so it never reaches the runtime."""
        kept: list[Action] = []
        for action in actions:
            if isinstance(action, ShareLost):
                kept.extend(self._fanout_share_lost(action.session, action.request_id))
            else:
                kept.append(action)
        return kept

    def _fanout_share_lost(self, session: int, request_id: Any) -> list[Action]:
        key = jsonrpc.id_key(request_id)
        fan = self.fanouts.get(key)
        if fan is not None:
            fan.fail(session, "its backend stopped")
            return self._finished_fanout(key, fan)
        return []

    def _finish_fanout(self, key: tuple[bool, object], fan: Fanout) -> None:
        self._out.extend(self._finished_fanout(key, fan))

    def _finished_fanout(self, key: tuple[bool, object], fan: Fanout) -> list[Action]:
        if fan.done and self.fanouts.pop(key, None) is not None:
            return [ToClient(fan.answer())]
        return []

    # ----- backend → typemux ------------------------------------------------------------
    def _live(self, session: int) -> BackendSession | None:
        backend = self.pool.by_session(session)
        if backend is None or backend.state is State.STOPPING:
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
        if "method" in msg or jsonrpc.id_key(msg.get("id")) in backend.in_flight:
            backend.last_output_at = now  # life; an answer to no pending request is not
        method = msg.get("method")
        if method is None:
            self._backend_response(backend, msg, raw, now)
        elif "id" in msg:
            self.server_requests.from_backend(backend, msg, now)
        else:
            self._backend_notification(backend, method, msg, raw, now)

    def _backend_response(self, backend: BackendSession, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        key = jsonrpc.id_key(msg.get("id"))
        flight = backend.in_flight.pop(key, None)
        if flight is not None:
            self._cancel_deadlines.pop(key, None)
            self._emit(self.lifecycle.settled(backend, key, now))
        if flight is None:
            if key == jsonrpc.id_key(INIT_ID) and backend.is_creating():
                self._emit(self.lifecycle.handshake_done(backend, msg, now))
                self._learn_capabilities(backend, msg)
            else:
                self._log("unmatched_response_dropped", session=backend.session, id=msg.get("id"))
            return
        if flight.fanout:
            fan = self.fanouts.get(key)
            if fan is not None:
                fan.collect(backend.session, msg)
                self._finish_fanout(key, fan)
            return
        self._producer[flight.method] = backend.session
        if flight.method in resolve_tags.PRODUCING_METHODS and "result" in msg:
            tagged = resolve_tags.tag_result(flight.method, msg["result"], backend.session)
            if tagged is not msg["result"]:
                msg, raw = {**msg, "result": tagged}, None
        self._out.append(ToClient(msg, raw))

    def _learn_capabilities(self, backend: BackendSession, msg: jsonrpc.Message) -> None:
        """After the first handshake: have the runtime cache what this backend version
        really offers, and register with the client what the initialize answer lacked."""
        if self._learned or backend.state is State.STOPPING or not backend.capabilities:
            return
        self._learned = True
        result = msg.get("result")
        info = result.get("serverInfo") if isinstance(result, dict) else None
        self._out.append(CapabilitiesLearned(backend.capabilities,
                                             info if isinstance(info, dict) else None))
        missing = missing_providers(self._answered, client_capabilities(backend.capabilities))
        if not missing:
            return
        self._log("capabilities_missing_from_answer", providers=sorted(missing))
        regs = registrations_for(missing, self.server_requests.caps)
        if regs:
            self._answered.update(missing)
            self._out.append(ToClient(register_request("typemux:capabilities", regs)))

    def _backend_notification(self, backend: BackendSession, method: str, msg: jsonrpc.Message,
                              raw: bytes | None, now: float) -> None:
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        if backend.is_warming():
            reason = backend.readiness.observe(msg)
            if reason is not None:
                self._emit(self.lifecycle.mark_ready(backend, reason, now))
        if method == "$/progress":
            token = params.get("token")
            if token in backend.progress_tokens:
                value = params.get("value")
                if (self.kind.progress_readiness and backend.is_warming()
                        and token == backend.warm_token
                        and isinstance(value, dict) and value.get("kind") == "end"):
                    self._emit(self.lifecycle.mark_ready(backend, "progress end", now))
                if self.server_requests.caps.work_done_progress:
                    fwd = {**msg, "params": {**params, "token": tokens.encode(backend.session, token)}}
                    self._out.append(ToClient(fwd))
                return
        elif method == "textDocument/publishDiagnostics":
            uri = params.get("uri")
            doc = self.documents.get(uri) if isinstance(uri, str) else None
            if doc is not None and doc.venv is not None and doc.venv != backend.venv:
                return  # another venv's backend owns this document
            forward, replaced = self.sync.on_publish(backend, msg, params)
            if not forward:
                return
            if replaced is not None:
                msg, raw = replaced, None
            if isinstance(uri, str):
                if params.get("diagnostics"):
                    backend.published.add(uri)
                else:
                    backend.published.discard(uri)
        self._out.append(ToClient(msg, raw))

    # ----- disk ------------------------------------------------------------------------------
    def open_paths(self) -> dict[Path, str]:
        """The file of every open document -> its URI (the runtime reads these on change)."""
        paths: dict[Path, str] = {}
        for doc in self.documents:
            path = uri_to_path(doc.uri)
            if path is not None:
                paths[path] = doc.uri
        return paths

    def watched_roots(self) -> set[Path]:
        """Project directories to watch for a client that cannot: those of live backends
        and of open documents' venvs (a backend evicted meanwhile still needs the news)."""
        roots = {b.venv.parent for b in self.pool if b.state is not State.STOPPING}
        roots.update(doc.venv.parent for doc in self.documents if doc.venv is not None)
        return roots

    def files_changed(self, changes: list[tuple[Path, int]], texts: dict[str, str | None],
                      now: float) -> None:
        """Files changed on disk behind the client's back (typemux's own watcher): the new
        texts of open documents (None when deleted) and every change as a FileChangeType."""
        if self.exited or self.lifecycle.client_params is None:
            return
        self.sync.files_changed(texts, now)
        if changes and not self.server_requests.caps.watch_files:
            self._watched_files({"changes": [{"uri": path_to_uri(path), "type": kind}
                                             for path, kind in changes]}, now)

    # ----- memory ----------------------------------------------------------------------------
    def memory_sample(self, rss_by_session: dict[int, int], budget_bytes: int, now: float) -> None:
        """Record each backend's RSS (bytes, its whole process tree) and, with a budget
        (> 0), evict as the pool decides until the total fits."""
        self._emit(self.lifecycle.memory_sample(rss_by_session, budget_bytes, now))

    def venv_checked(self, venv: Path, identity: VenvIdentity | None, now: float) -> None:
        """The runtime looked at a pooled venv (None: its pyvenv.cfg is gone)."""
        self._emit(self.lifecycle.venv_checked(venv, identity, now))

    # ----- time ----------------------------------------------------------------------------
    def timer(self, now: float) -> None:
        self.env_wait.release(now, self.client_message)
        self.sync.timer(now)
        self._expire_cancels(now)
        self._emit(self.lifecycle.expire(now))
        self.server_requests.expire(now)
        for key, fan in list(self.fanouts.items()):
            if fan.deadline is not None and fan.deadline <= now:
                for session, venv in list(fan.outstanding.items()):
                    fan.timed_out.append(venv)
                    del fan.outstanding[session]
                    self._withdraw_share(session, fan.request_id, None, now)
                late = ", ".join(str(v) for v in fan.timed_out)
                self._out.append(ToClient(jsonrpc.show_message(
                    2, f"typemux: {fan.method} answered without {late} (no answer within "
                       f"fanout_timeout {self.settings.fanout_timeout:g} s)")))
                self._finish_fanout(key, fan)


    def _expire_cancels(self, now: float) -> None:
        for key, (session, deadline) in list(self._cancel_deadlines.items()):
            if deadline > now:
                continue
            del self._cancel_deadlines[key]
            backend = self.pool.by_session(session)
            if backend is not None and backend.in_flight.pop(key, None) is not None:
                self._emit(self.lifecycle.settled(backend, key, now))
                self._log("cancel_unanswered", session=session, id=key[1])
                self._out.append(ToClient(jsonrpc.cancelled(
                    key[1], "request cancelled by the client (its backend did not answer the cancel)")))


def _text_document_uri(params: Any) -> str | None:
    if isinstance(params, dict):
        doc = params.get("textDocument")
        uri = doc.get("uri") if isinstance(doc, dict) else None
        if isinstance(uri, str):
            return uri
    return None


def _item_uri(params: dict[str, Any]) -> str | None:
    item = params.get("item")
    uri = item.get("uri") if isinstance(item, dict) else None
    if isinstance(uri, str):
        return uri
    return None

