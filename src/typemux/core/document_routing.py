"""Open documents and the venv each one belongs to.

Keeps the client's view of every open document (didOpen/didChange/didClose are applied here
before anything is forwarded), finds the venv of a URI, and moves a document when its venv
changes (a closer one appears, or its own vanishes).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.core.lifecycle import Lifecycle
from typemux.core.session import BackendSession, State
from typemux.documents import DocumentStore
from typemux.envs import RULE_NAMES
from typemux.uris import uri_to_path
from typemux.venv import VenvResolver, venv_identity

NO_VENV_HELP = ("create one in the project (python -m venv .venv, uv sync, poetry install, "
                "...) or map it in typemux's `environments` setting, then retry; no restart "
                "is needed; `typemux doctor` in the project shows what each rule saw")


class DocumentRouting:
    def __init__(self, documents: DocumentStore, resolver: VenvResolver, lifecycle: Lifecycle,
                 log: Callable[..., None]) -> None:
        self.documents = documents
        self.resolver = resolver
        self.lifecycle = lifecycle
        self.pool = lifecycle.pool
        self._log = log

    def did_open(self, params: dict[str, Any], msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        item = params.get("textDocument")
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
            self._log("bad_did_open", reason="no textDocument.uri")
            return
        text = item.get("text")
        version = item.get("version")
        doc = self.documents.open(
            item["uri"], str(item.get("languageId") or "python"),
            version if isinstance(version, int) else 0, text if isinstance(text, str) else "")
        path = uri_to_path(doc.uri)
        venv = self.find_venv(path)
        doc.venv = venv
        if venv is None:
            return
        self._deliver_to(venv, msg, raw, now)

    def did_change(self, params: dict[str, Any], msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        item = params.get("textDocument") or {}
        uri = item.get("uri") if isinstance(item, dict) else None
        doc = self.documents.get(uri) if isinstance(uri, str) else None
        if doc is None:
            self._log("did_change_unknown_document", uri=uri)
            return
        changes = params.get("contentChanges")
        version = item.get("version")
        if not self.documents.change(doc.uri, version if isinstance(version, int) else None,
                                     changes if isinstance(changes, list) else []):
            self._log("edit_not_applied", uri=doc.uri, version=version)
        if doc.venv is None:
            return
        self._deliver_to(doc.venv, msg, raw, now)

    def _deliver_to(self, venv: Path, msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        """Send a document notification to `venv`'s backend, starting it if needed. A backend
        still starting gets nothing: its replay sends the document's current text."""
        target = self.lifecycle.ensure(venv, now)
        if isinstance(target, BackendSession) and not target.is_creating():
            self.lifecycle.deliver(target, msg, raw, now)

    def did_close(self, params: dict[str, Any], msg: jsonrpc.Message, raw: bytes | None, now: float) -> None:
        item = params.get("textDocument") or {}
        uri = item.get("uri") if isinstance(item, dict) else None
        doc = self.documents.close(uri) if isinstance(uri, str) else None
        if doc is None or doc.venv is None:
            return
        backend = self.pool.get(doc.venv)
        # A creating backend never learns of the document: its replay no longer lists it.
        if backend is not None and backend.state in (State.WARMING, State.READY):
            self.lifecycle.deliver(backend, msg, raw, now)

    def find_venv(self, path: Path | None) -> Path | None:
        if path is None:
            return None
        venv = self.resolver.find(path)
        if venv is None:
            # A cached "no venv" must not hide a venv created since: look again, uncached.
            self.resolver.invalidate()
            venv = self.resolver.find(path)
        if venv is None:
            return None
        self.lifecycle.projects[venv.path] = venv.project
        return venv.path

    def target_for_uri(self, uri: str, now: float) -> BackendSession | str:
        path = uri_to_path(uri)
        if path is None:
            return f"cannot serve {uri}: only file: URIs belong to a venv"
        doc = self.documents.get(uri)
        venv = self.find_venv(path)
        if doc is not None and doc.venv != venv:
            self._move(doc.uri, doc.venv, venv, now)
        if venv is None:
            if doc is None and _outside_projects(path):
                # A file of a backend's own (its typeshed copy, site-packages) that it
                # pointed the client to: the backend that last answered knows it.
                backend = self.pool.most_recent()
                if backend is not None:
                    return backend
            return (f"no .venv found for {path}, nor an environment by any other rule "
                    f"(searched up to its git root: {', '.join(RULE_NAMES)}); {NO_VENV_HELP}")
        return self.lifecycle.ensure(venv, now)

    def _move(self, uri: str, old: Path | None, new: Path | None, now: float) -> None:
        """A document's venv changed (one appeared closer, or its venv vanished)."""
        doc = self.documents.get(uri)
        assert doc is not None
        doc.venv = new
        if old is not None:
            backend = self.pool.get(old)
            if backend is not None and venv_identity(old) is None:
                self.lifecycle.evict(backend, "its venv was removed", now)
            elif backend is not None and not backend.is_creating():
                self.lifecycle.deliver(backend, jsonrpc.notification(
                    "textDocument/didClose", {"textDocument": {"uri": uri}}), None, now)
        if new is not None:
            target = self.lifecycle.ensure(new, now)
            if isinstance(target, BackendSession) and not target.is_creating():
                item = {"uri": uri, "languageId": doc.language_id, "version": doc.version,
                        "text": self.documents.replay_text(doc)}
                self.lifecycle.deliver(target, jsonrpc.notification(
                    "textDocument/didOpen", {"textDocument": item}), None, now)


def _outside_projects(path: Path) -> bool:
    parts = path.parts
    return any(p in ("site-packages", "typeshed", "typeshed-fallback") or
               p.startswith("pyrefly_bundled_typeshed") for p in parts)
