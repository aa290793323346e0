"""Which backend serves a client request (sans-IO).

A request about a document goes to its venv's backend; a `*/resolve` to the backend that
produced the item; an executeCommand to a backend that declared the command; anything else
to the most recently used backend, else the fallback venv's.
"""

from __future__ import annotations

from typing import Any

from typemux import jsonrpc
from typemux.core.actions import Action, ToClient
from typemux.core.document_routing import NO_VENV_HELP, DocumentRouting
from typemux.core.lifecycle import Lifecycle
from typemux.core.session import BackendSession
from typemux.jsonrpc import text_document_uri

# A `*/resolve` goes to the backend that answered the request that produced the item.
RESOLVE_PRODUCERS = {
    "completionItem/resolve": "textDocument/completion",
    "codeLens/resolve": "textDocument/codeLens",
    "inlayHint/resolve": "textDocument/inlayHint",
    "documentLink/resolve": "textDocument/documentLink",
    "codeAction/resolve": "textDocument/codeAction",
}


class RequestTargets:
    def __init__(self, docs: DocumentRouting, lifecycle: Lifecycle) -> None:
        self.docs = docs
        self.lifecycle = lifecycle
        self.pool = lifecycle.pool
        # method -> the session that last answered it (for its items' resolve)
        self._producer: dict[str, int] = {}

    def produced(self, method: str, session: int) -> None:
        """`session` answered a `method` request (its items are resolved there)."""
        self._producer[method] = session

    def route(self, msg: jsonrpc.Message, raw: bytes | None, now: float) -> list[Action]:
        """Deliver a client request to its backend, or answer why none can serve it."""
        target, out = self.target(msg["method"], msg.get("params"), now)
        if isinstance(target, str):
            out.append(ToClient(jsonrpc.proxy_error(msg["id"], target)))
            return out
        return out + self.lifecycle.deliver(target, msg, raw, now)

    def to_producer(self, session: int, msg: jsonrpc.Message, now: float) -> list[Action]:
        """A resolve of an item tagged with the session that produced it."""
        backend = self.pool.by_session(session)
        if backend is None or backend.is_stopping():
            return [ToClient(jsonrpc.cancelled(
                msg["id"], "the backend that produced this item has stopped; request it again"))]
        return self.lifecycle.deliver(backend, msg, None, now)

    def target(self, method: str, params: Any, now: float) -> tuple[BackendSession | str, list[Action]]:
        """The backend for a request (started if needed) or why none can serve it, with the
        actions of getting there."""
        params = params if isinstance(params, dict) else {}
        uri = request_uri(method, params)
        if uri is not None:
            return self.docs.target_for_uri(uri, now)
        producer = RESOLVE_PRODUCERS.get(method)
        if producer is not None and producer in self._producer:
            backend = self.pool.by_session(self._producer[producer])
            if backend is not None:
                return backend, []
        if method == "workspace/executeCommand":
            command = params.get("command")
            for backend in reversed(list(self.pool)):
                provider = backend.capabilities.get("executeCommandProvider") or {}
                if command in (provider.get("commands") or []):
                    return backend, []
        backend = self.pool.most_recent()
        if backend is not None:
            return backend, []
        fallback = self.docs.fallback_venv
        if fallback is not None:
            return self.lifecycle.ensure(fallback, now, self.docs.fallback_project)
        return (f"no backend is running and no .venv was found for this workspace; "
                f"{NO_VENV_HELP}"), []


def request_uri(method: str, params: dict[str, Any]) -> str | None:
    """The document a request is about, if any."""
    item = params.get("item")
    item_uri = item.get("uri") if isinstance(item, dict) else None
    uri: Any = text_document_uri(params) or (item_uri if isinstance(item_uri, str) else None)
    if uri is None and method == "workspaceSymbol/resolve":
        location = params.get("location")
        uri = location.get("uri") if isinstance(location, dict) else None
    if uri is None and isinstance(params.get("files"), list) and params["files"]:
        first = params["files"][0]
        if isinstance(first, dict):
            uri = first.get("oldUri") or first.get("uri")
    return uri if isinstance(uri, str) else None

