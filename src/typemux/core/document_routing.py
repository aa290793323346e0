"""Open documents and the venv each one belongs to.

Keeps the client's view of every open document (didOpen/didChange/didClose are applied here
before anything is forwarded), finds the venv of a URI, and moves a document when its venv
changes (a closer one appears, or its own vanishes). Sans-IO: each event returns the
actions it decides, in order.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.core import sync_kind
from typemux.core.actions import Action, ToClient
from typemux.core.lifecycle import Lifecycle
from typemux.core.ports import FoundVenv, VenvLookup
from typemux.core.session import BackendSession
from typemux.documents import DocumentStore, TextDocument
from typemux.uris import uri_to_path

NO_VENV_HELP = ("create one in the project (python -m venv .venv, uv sync, poetry install, "
                "...) or map it in typemux's `environments` setting, then retry; no restart "
                "is needed; `typemux doctor` in the project shows what each rule saw")


class DocumentRouting:
    """Each venv goes to the lifecycle with its project as the lookup found it (`ensure(venv,
    now, project)`): the lifecycle roots a backend at its project. The project travels with
    the data: each document keeps its venv's project beside its venv (`doc.project`), so a
    backend restarted by a later edit is rooted there again."""

    def __init__(self, documents: DocumentStore, lookup: VenvLookup, lifecycle: Lifecycle,
                 log: Callable[..., None], fallback_venv: Path | None = None,
                 fallback_project: Path | None = None) -> None:
        self.documents = documents
        self.lookup = lookup
        self.lifecycle = lifecycle
        self.pool = lifecycle.pool
        self.fallback_venv = fallback_venv
        self.fallback_project = fallback_project  # None: the venv's parent
        self._log = log

    def did_open(self, params: dict[str, Any], msg: jsonrpc.Message, raw: bytes | None,
                 now: float) -> list[Action]:
        item = params.get("textDocument")
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
            self._log("bad_did_open", reason="no textDocument.uri")
            return []
        text = item.get("text")
        version = item.get("version")
        doc = self.documents.open(
            item["uri"], str(item.get("languageId") or "python"),
            version if isinstance(version, int) else 0, text if isinstance(text, str) else "")
        venv, project = self.locate(doc.uri, None)
        if venv is None:
            return []
        # Started before the document joins its venv: a backend created now must not both
        # replay it and get this didOpen.
        target, out = self.lifecycle.ensure(venv, now, project)
        doc.venv, doc.project = venv, project
        if isinstance(target, BackendSession):
            out += self.lifecycle.deliver(target, msg, raw, now)
        return out

    def did_change(self, params: dict[str, Any], msg: jsonrpc.Message, raw: bytes | None,
                   now: float) -> list[Action]:
        item = params.get("textDocument") or {}
        uri = item.get("uri") if isinstance(item, dict) else None
        doc = self.documents.get(uri) if isinstance(uri, str) else None
        if doc is None:
            self._log("did_change_unknown_document", uri=uri)
            return []
        # Routed as a request about it is (a document whose venv changed or vanished moves
        # first: an edit must not start a backend for a venv that is gone), and started
        # before the edit is applied: a backend created now replays the text before this
        # edit, then gets the edit itself.
        venv, project = self.locate(doc.uri, doc)
        out = self._move(doc, venv, project, now) if doc.venv != venv else []
        target, started = (self.lifecycle.ensure(venv, now, project) if venv is not None
                           else (None, []))
        out += started
        changes = params.get("contentChanges")
        version = item.get("version")
        was_desynced = doc.desynced
        if not self.documents.change(doc.uri, version if isinstance(version, int) else None,
                                     changes if isinstance(changes, list) else []):
            self._log("edit_not_applied", uri=doc.uri, version=version)
            if not was_desynced:
                out.append(ToClient(jsonrpc.show_message(2, (
                    f"typemux: an edit of {doc.uri} could not be applied, so typemux no longer "
                    "knows its text; a backend started later would see an older text. Close and "
                    "reopen the file (or replace its whole text) to fix this."))))
        if isinstance(target, BackendSession):
            # the edit as this backend's own textDocumentSync asks (whole text, or nothing)
            adapted = sync_kind.for_backend(target, msg, raw, None if doc.desynced else doc.text)
            if adapted is not None:
                out += self.lifecycle.deliver(target, adapted[0], adapted[1], now)
        return out

    def did_close(self, params: dict[str, Any], msg: jsonrpc.Message, raw: bytes | None,
                  now: float) -> list[Action]:
        item = params.get("textDocument") or {}
        uri = item.get("uri") if isinstance(item, dict) else None
        doc = self.documents.close(uri) if isinstance(uri, str) else None
        if doc is None or doc.venv is None:
            return []
        backend = self.pool.get(doc.venv)
        return self.lifecycle.deliver(backend, msg, raw, now) if backend is not None else []

    def find(self, path: Path) -> FoundVenv | None:
        """The environment of the file `path` and its project, as the lookup finds it."""
        found = self.lookup.find(path)
        if found is None:
            # A cached "no venv" must not hide a venv created since: look again, uncached.
            self.lookup.invalidate()
            found = self.lookup.find(path)
        return found

    def find_venv(self, path: Path | None) -> Path | None:
        found = self.find(path) if path is not None else None
        return found.path if found is not None else None

    def venv_of(self, uri: str, doc: TextDocument | None) -> Path | None:
        return self.locate(uri, doc)[0]

    def locate(self, uri: str, doc: TextDocument | None) -> tuple[Path | None, Path | None]:
        """The venv whose backend serves `uri`, and its project (None: the venv's
        parent). The nearest venv of a project file. A document that is
        no project's (untitled:, a library or typeshed file a backend pointed to) is served
        by the backend it was given, else by the most recently used one, else by the
        fallback venv's."""
        path = uri_to_path(uri)
        if path is not None:
            found = self.find(path)
            if found is not None:
                return found.path, found.project
            if not _outside_projects(path):
                return None, None
        if doc is not None and doc.venv is not None and self.pool.get(doc.venv) is not None:
            return doc.venv, doc.project
        recent = self.pool.most_recent()
        if recent is not None:
            return recent.venv, recent.project
        if doc is not None and doc.venv is not None:
            return doc.venv, None
        return self.fallback_venv, self.fallback_project

    def target_for_uri(self, uri: str, now: float) -> tuple[BackendSession | str, list[Action]]:
        """The backend serving `uri` (started if needed), or why none can; with the actions
        of getting there (a document whose venv changed moves first)."""
        doc = self.documents.get(uri)
        venv, project = self.locate(uri, doc)
        out = (self._move(doc, venv, project, now) if doc is not None and doc.venv != venv
               else [])
        if venv is None:
            return self._no_venv(uri), out
        target, actions = self.lifecycle.ensure(venv, now, project)
        return target, out + actions

    def settled(self, uri: str) -> BackendSession | None:
        """The ready backend of open document `uri` when routing it again would change
        nothing: the lookup still finds the venv the document is in (`target_for_uri` would
        neither move it nor start anything). None: route it the long way."""
        doc = self.documents.get(uri)
        if doc is None or doc.venv is None:
            return None
        path = uri_to_path(uri)
        found = self.lookup.find(path) if path is not None else None
        if found is None:
            return None
        if found.path is not doc.venv:
            if found.path != doc.venv:
                return None
            doc.venv = found.path  # the lookup's own object: the next check is `is`
        backend = self.pool.get(doc.venv)
        return backend if backend is not None and backend.is_ready() else None

    def _no_venv(self, uri: str) -> str:
        path = uri_to_path(uri)
        if path is None:
            return (f"cannot serve {uri}: no backend is running to serve a document that is "
                    f"not a file, and no .venv was found for the workspace; {NO_VENV_HELP}")
        missed = self.lookup.mapping_miss(path)
        if missed is not None:
            return (f"no environment for {path}: the {missed}, and an explicit mapping is "
                    "final (no other rule is tried); fix the mapping or create that "
                    "environment, then retry; `typemux doctor` in the project shows it")
        return (f"no .venv found for {path}, nor an environment by any other rule "
                f"(searched up to its git root: {', '.join(self.lookup.rule_names)}); {NO_VENV_HELP}")

    def _move(self, doc: TextDocument, new: Path | None, project: Path | None,
              now: float) -> list[Action]:
        """A document's venv changed (one appeared closer, or its venv vanished). The old
        backend only loses the document: if its venv is gone, the runtime's identity check
        of that venv stops it."""
        old = doc.venv
        doc.venv = doc.project = None
        out: list[Action] = []
        if old is not None:
            backend = self.pool.get(old)
            if backend is not None:
                out += self.lifecycle.deliver(backend, jsonrpc.notification(
                    "textDocument/didClose", {"textDocument": {"uri": doc.uri}}), None, now)
        if new is None:
            return out
        target, actions = self.lifecycle.ensure(new, now, project)
        out += actions
        doc.venv, doc.project = new, project
        if isinstance(target, BackendSession):
            item = {"uri": doc.uri, "languageId": doc.language_id, "version": doc.version,
                    "text": doc.text}
            out += self.lifecycle.deliver(target, jsonrpc.notification(
                "textDocument/didOpen", {"textDocument": item}), None, now)
        return out


_STDLIB_DIR = re.compile(r"python3(\.\d+)?t?$")


def _outside_projects(path: Path) -> bool:
    """A file of an installed library, a stub set or the standard library: no project's."""
    parts = path.parts
    if any(p in ("site-packages", "dist-packages", "typeshed", "typeshed-fallback")
           or p.startswith("pyrefly_bundled_typeshed") for p in parts):
        return True
    # <prefix>/lib/python3.X/...: the standard library of some interpreter
    return any(a in ("lib", "lib64") and _STDLIB_DIR.match(b) is not None
               for a, b in itertools.pairwise(parts))
