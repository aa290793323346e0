"""A backend's publishDiagnostics on its way to the client (sans-IO).

Only the backend of a document's venv speaks for it (a document moved to another venv
still hears from its old backend until that one catches up). Document sync then decides
(versions shifted by disk syncs, the answer to typemux's own idle close dropped), and what
goes out is remembered per backend (`published`), so the lifecycle can clear it when the
backend leaves.
"""

from __future__ import annotations

from typemux import jsonrpc
from typemux.core.actions import Action, ToClient
from typemux.core.document_sync import DocumentSync
from typemux.core.session import BackendSession
from typemux.documents import DocumentStore


class Diagnostics:
    def __init__(self, documents: DocumentStore, sync: DocumentSync) -> None:
        self.documents = documents
        self.sync = sync

    def publish(self, backend: BackendSession, msg: jsonrpc.Message,
                raw: bytes | None) -> list[Action]:
        params = msg.get("params")
        params = params if isinstance(params, dict) else {}
        uri = params.get("uri")
        doc = self.documents.get(uri) if isinstance(uri, str) else None
        if doc is not None and doc.venv is not None and doc.venv != backend.venv:
            return []  # another venv's backend owns this document
        forward, replaced = self.sync.on_publish(backend, msg, params)
        if not forward:
            return []
        if replaced is not None:
            msg, raw = replaced, None
        if isinstance(uri, str):
            if params.get("diagnostics"):
                backend.published.add(uri)
            else:
                backend.published.discard(uri)
        return [ToClient(msg, raw)]
