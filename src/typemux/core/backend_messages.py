"""Backend → client: answers, notifications and the backends' own requests (sans-IO).

An answer settles its request (and releases what waited behind it), goes into its fan-out,
or goes to the client with its items tagged for their resolve; the first handshake teaches
typemux the backend's capabilities. Notifications drive readiness; progress tokens are made
proxy-unique; diagnostics go through document sync (version shifts, idle closes) and only
from the backend of the document's venv.
"""

from __future__ import annotations

from collections.abc import Callable

from typemux import jsonrpc
from typemux.backends.base import BackendKind
from typemux.core import resolve_tags, tokens
from typemux.core.actions import Action, ToClient
from typemux.core.cancels import Cancels
from typemux.core.capabilities import Capabilities
from typemux.core.document_sync import DocumentSync
from typemux.core.lifecycle import INIT_ID, Lifecycle
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession
from typemux.core.targets import RequestTargets
from typemux.documents import DocumentStore


class BackendMessages:
    def __init__(self, kind: BackendKind, documents: DocumentStore, lifecycle: Lifecycle,
                 server_requests: ServerRequests, sync: DocumentSync, cancels: Cancels,
                 targets: RequestTargets, capabilities: Capabilities,
                 log: Callable[..., None]) -> None:
        self.kind = kind
        self.documents = documents
        self.lifecycle = lifecycle
        self.server_requests = server_requests
        self.sync = sync
        self.cancels = cancels
        self.targets = targets
        self.capabilities = capabilities
        self._log = log

    def message(self, backend: BackendSession, msg: jsonrpc.Message, raw: bytes | None,
                now: float) -> list[Action]:
        """A message from live `backend`."""
        if "method" in msg or jsonrpc.id_key(msg.get("id")) in backend.in_flight:
            backend.last_output_at = now  # life; an answer to no pending request is not
        method = msg.get("method")
        if method is None:
            return self._response(backend, msg, raw, now)
        if "id" in msg:
            return self.server_requests.from_backend(backend, msg, now)
        return self._notification(backend, method, msg, raw, now)

    def _response(self, backend: BackendSession, msg: jsonrpc.Message, raw: bytes | None,
                  now: float) -> list[Action]:
        key = jsonrpc.id_key(msg.get("id"))
        flight = backend.in_flight.pop(key, None)
        if flight is None:
            if key == jsonrpc.id_key(INIT_ID) and backend.is_creating():
                out = self.lifecycle.handshake_done(backend, msg, now)
                return out + self.capabilities.learn(backend, msg, self.server_requests.caps)
            self._log("unmatched_response_dropped", session=backend.session, id=msg.get("id"))
            return []
        self.cancels.answered(key)
        out = self.lifecycle.settled(backend, key, now)
        if flight.fanout:
            return out + self.cancels.collect(key, backend.session, msg)
        self.targets.produced(flight.method, backend.session)
        if flight.method in resolve_tags.PRODUCING_METHODS and "result" in msg:
            tagged = resolve_tags.tag_result(flight.method, msg["result"], backend.session)
            if tagged is not msg["result"]:
                msg, raw = {**msg, "result": tagged}, None
        out.append(ToClient(msg, raw))
        return out

    def _notification(self, backend: BackendSession, method: str, msg: jsonrpc.Message,
                      raw: bytes | None, now: float) -> list[Action]:
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        out: list[Action] = []
        if backend.is_warming():
            reason = backend.readiness.observe(msg)
            if reason is not None:
                out += self.lifecycle.mark_ready(backend, reason, now)
        if method == "$/progress":
            token = params.get("token")
            if token in backend.progress_tokens:
                value = params.get("value")
                if (self.kind.progress_readiness and backend.is_warming()
                        and token == backend.warm_token
                        and isinstance(value, dict) and value.get("kind") == "end"):
                    out += self.lifecycle.mark_ready(backend, "progress end", now)
                if self.server_requests.caps.work_done_progress:
                    fwd = {**msg, "params": {**params, "token": tokens.encode(backend.session, token)}}
                    out.append(ToClient(fwd))
                return out
        elif method == "textDocument/publishDiagnostics":
            uri = params.get("uri")
            doc = self.documents.get(uri) if isinstance(uri, str) else None
            if doc is not None and doc.venv is not None and doc.venv != backend.venv:
                return out  # another venv's backend owns this document
            forward, replaced = self.sync.on_publish(backend, msg, params)
            if not forward:
                return out
            if replaced is not None:
                msg, raw = replaced, None
            if isinstance(uri, str):
                if params.get("diagnostics"):
                    backend.published.add(uri)
                else:
                    backend.published.discard(uri)
        out.append(ToClient(msg, raw))
        return out
