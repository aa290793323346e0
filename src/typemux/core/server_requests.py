"""Requests from backends to the client.

Each backend numbers its requests from 0 or 1, so the client sees proxy-unique ids and the
answer goes back under the backend's own id. What the client did not declare support for,
typemux answers itself, because real backends stall without an answer (workspace/
configuration blocks pyright and ty; an unanswered progress create blocks references).
Sans-IO: every method returns the actions it decides, in order. A configuration answer that
depends on the project's own config files (ty, pyrefly) waits for them: it is parked under a
ticket, the runtime is asked to read them (`ReadProjectConfig`), and `project_config_read`
answers from the data it hands back. They are read for every answer, as the files may change.
A kind that asks only once (ty: `BackendKind.config_asked_once`) is not told of a change:
when one of those files changes, they are read again, and if the answer they give differs
from the one the backend got, the router restarts it (`ConfigStale`), and it asks anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.backends.base import NO_PROJECT_CONFIG, BackendKind, ProjectConfig
from typemux.backends.settings import apply_user_settings
from typemux.core import tokens
from typemux.core.actions import Action, ConfigStale, ReadProjectConfig, ToBackend, ToClient
from typemux.core.client_caps import ClientCaps
from typemux.core.registrations import ForwardedRegistrations
from typemux.core.session import BackendSession
from typemux.uris import path_to_uri

# How long the client may take over a question a backend blocks on before typemux answers.
CLIENT_ANSWER_TIMEOUT = 5.0

_ANSWER_SELF_ON_ERROR = frozenset({"workspace/configuration", "window/workDoneProgress/create"})


@dataclass(slots=True)
class Outstanding:
    session: BackendSession
    original_id: Any
    method: str
    params: Any
    deadline: float | None


@dataclass(slots=True)
class Configuring:
    """A configuration answer waiting for the project's config files to be read."""

    session: BackendSession
    request_id: Any
    params: Any
    client_result: list[Any] | None


class ServerRequests:
    def __init__(self, kind: BackendKind, user_settings: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.caps = ClientCaps({})
        self._next_id = 0
        self._outstanding: dict[tuple[bool, object], Outstanding] = {}
        self._configuring: dict[int, Configuring] = {}  # ticket -> the answer it waits for
        self._next_ticket = 0
        # what each backend's last configuration answer was made from (config_asked_once
        # kinds), and the re-reads after a change of those files: ticket -> backend
        self._answered_from: dict[int, ProjectConfig] = {}
        self._rechecks: dict[int, BackendSession] = {}
        self.forwarded = ForwardedRegistrations()
        # The user's backend_settings for this kind (merged into configuration answers).
        self.user_settings: dict[str, Any] = dict(user_settings or {})

    def __len__(self) -> int:
        return len(self._outstanding)

    def from_backend(self, backend: BackendSession, msg: jsonrpc.Message, now: float) -> list[Action]:
        method: str = msg["method"]
        params = msg.get("params")
        if method == "workspace/configuration":
            if self.caps.configuration:
                return [self._forward(backend, msg, now, CLIENT_ANSWER_TIMEOUT)]
            return [self._configure(backend, msg["id"], params, None)]
        if method == "window/workDoneProgress/create":
            params = params if isinstance(params, dict) else {}
            token = params.get("token")
            backend.progress_tokens.add(token)
            if backend.is_warming() and backend.warm_token is None:
                backend.warm_token = token
            if self.caps.work_done_progress:
                fwd = dict(msg)
                fwd["params"] = {**params, "token": tokens.encode(backend.session, token)}
                return [self._forward(backend, fwd, now, CLIENT_ANSWER_TIMEOUT)]
            return [self._answer(backend, msg["id"], None)]
        if method in ("client/registerCapability", "client/unregisterCapability"):
            actions: list[Action] = [self._answer(backend, msg["id"], None)]
            if method == "client/registerCapability":
                forwarded = self.forwarded.forward(params, self.caps)
                if forwarded is not None:
                    actions.append(ToClient(forwarded))
            return actions
        if method.endswith("/refresh"):
            if self.caps.supports_refresh(method):
                return [self._forward(backend, msg, now, None)]
            return [self._answer(backend, msg["id"], None)]
        if method == "workspace/workspaceFolders":
            project = backend.project
            folder = {"uri": path_to_uri(project), "name": project.name or "workspace"}
            return [self._answer(backend, msg["id"], [folder])]
        if method == "workspace/applyEdit" and not self.caps.apply_edit:
            return [self._answer(
                backend,
                msg["id"],
                {"applied": False, "failureReason": "the client does not support applyEdit"},
            )]
        if method == "window/showDocument" and not self.caps.show_document:
            return [self._answer(backend, msg["id"], {"success": False})]
        return [self._forward(backend, msg, now, None)]

    def progress(self, backend: BackendSession, msg: jsonrpc.Message) -> list[Action] | None:
        """A `$/progress` of a token `backend` created (window/workDoneProgress/create, above):
        to the client under its proxy-unique token, or nothing when the client takes no
        progress; None for a token it did not create (the caller forwards it as it is)."""
        params = msg.get("params")
        if not isinstance(params, dict) or params.get("token") not in backend.progress_tokens:
            return None
        if not self.caps.work_done_progress:
            return []
        token = tokens.encode(backend.session, params["token"])
        return [ToClient({**msg, "params": {**params, "token": token}})]

    def from_client(self, response: jsonrpc.Message, now: float) -> list[Action] | None:
        """Route the client's answer back: what to send; None when it answers nothing of ours."""
        entry = self._outstanding.pop(jsonrpc.id_key(response.get("id")), None)
        if entry is None:
            return None
        backend = entry.session
        backend.server_requests -= 1
        if backend.is_stopping():
            return []
        if "error" in response and entry.method in _ANSWER_SELF_ON_ERROR:
            return [self._answer_self(entry)]
        if entry.method == "workspace/configuration" and "result" in response:
            value = response["result"]
            client_result = value if isinstance(value, list) else None
            return [self._configure(backend, entry.original_id, entry.params, client_result)]
        answer = {k: v for k, v in response.items() if k != "id"}
        answer["id"] = entry.original_id
        return [ToBackend(backend.session, answer)]

    def next_deadline(self) -> float | None:
        return min(
            (e.deadline for e in self._outstanding.values() if e.deadline is not None),
            default=None,
        )

    def expire(self, now: float) -> list[Action]:
        """Answer, on the client's behalf, the questions it left unanswered too long."""
        late = [k for k, e in self._outstanding.items() if e.deadline is not None and e.deadline <= now]
        actions: list[Action] = []
        for key in late:
            entry = self._outstanding.pop(key)
            entry.session.server_requests -= 1
            actions.append(self._answer_self(entry))
        return actions

    def forget(self, session: int) -> None:
        """Backend `session` is gone: the client's later answers to it are dropped."""
        for key in [k for k, e in self._outstanding.items() if e.session.session == session]:
            self._outstanding.pop(key).session.server_requests = 0
        for ticket in [t for t, c in self._configuring.items() if c.session.session == session]:
            del self._configuring[ticket]
        for ticket in [t for t, b in self._rechecks.items() if b.session == session]:
            del self._rechecks[ticket]
        self._answered_from.pop(session, None)

    def config_files_changed(self, paths: list[Path], backends: list[BackendSession]) -> list[Action]:
        """Files changed on disk: for each live backend of a kind that asks for its
        configuration only once, whose project holds one of its config files among `paths`,
        the files are read again (its answer is then compared in `project_config_read`)."""
        names = self.kind.config_asked_once
        if not names:
            return []
        folders = {path.parent for path in paths if path.name in names}
        out: list[Action] = []
        for backend in backends:
            if (backend.session in self._answered_from and backend.project in folders
                    and not backend.is_stopping()):
                self._next_ticket += 1
                self._rechecks[self._next_ticket] = backend
                out.append(ReadProjectConfig(self._next_ticket, backend.project))
        return out

    def project_config_read(self, ticket: int, config: ProjectConfig) -> list[Action]:
        """The runtime read the project's config files for `ticket`: answer from them."""
        recheck = self._rechecks.pop(ticket, None)
        if recheck is not None:
            answered = self._answered_from.get(recheck.session)
            if answered is None or answered == config or recheck.is_stopping():
                return []
            return [ConfigStale(recheck.session)]
        entry = self._configuring.pop(ticket, None)
        if entry is None or entry.session.is_stopping():
            return []
        if self.kind.config_asked_once:
            self._answered_from[entry.session.session] = config
        value = self._configuration(entry.session, entry.params, entry.client_result, config)
        return [self._answer(entry.session, entry.request_id, value)]

    def _forward(
        self, backend: BackendSession, msg: jsonrpc.Message, now: float, timeout: float | None
    ) -> Action:
        self._next_id += 1
        proxy_id = self._next_id
        self._outstanding[jsonrpc.id_key(proxy_id)] = Outstanding(
            backend, msg["id"], msg["method"], msg.get("params"),
            None if timeout is None else now + timeout,
        )
        backend.server_requests += 1
        fwd = dict(msg)
        fwd["id"] = proxy_id
        return ToClient(fwd)

    def _answer_self(self, entry: Outstanding) -> Action:
        if entry.method == "workspace/configuration":
            return self._configure(entry.session, entry.original_id, entry.params, None)
        return self._answer(entry.session, entry.original_id, None)

    def _configure(self, backend: BackendSession, request_id: Any, params: Any,
                   client_result: list[Any] | None) -> Action:
        """The configuration answer: at once when the kind's answer does not depend on the
        project's files, else once the runtime has read them (see the module docstring)."""
        if not self.kind.reads_project_config:
            value = self._configuration(backend, params, client_result, NO_PROJECT_CONFIG)
            return self._answer(backend, request_id, value)
        self._next_ticket += 1
        self._configuring[self._next_ticket] = Configuring(backend, request_id, params,
                                                           client_result)
        return ReadProjectConfig(self._next_ticket, backend.project)

    @staticmethod
    def _answer(backend: BackendSession, request_id: Any, value: Any) -> Action:
        return ToBackend(backend.session, jsonrpc.result(request_id, value))

    def _configuration(self, backend: BackendSession, params: Any,
                       client_result: list[Any] | None, config: ProjectConfig) -> list[Any]:
        items = params.get("items") if isinstance(params, dict) else None
        if not isinstance(items, list):
            items = []
        if client_result is not None and len(client_result) != len(items):
            client_result = None
        answers = self.kind.configuration(items, backend.venv, client_result, config)
        return apply_user_settings(items, answers, self.user_settings, client_result is not None)
