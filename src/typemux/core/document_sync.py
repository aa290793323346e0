"""Keeping backends' documents true to the disk and to the client, for clients that never
close documents nor watch files (Claude Code). Sans-IO; the router calls these hooks, and
each returns the actions it decides, in order.

- Disk truth: `files_changed` gets the new disk texts of open documents (read by the
  runtime) and gives each clean document's backend the new text (see disk_sync).
- Idle close: documents with no message for `document_idle_close` seconds are closed in
  their backend and re-opened before the next message that needs them (see idle_close).
- Files asked about but never opened: some backends (pyrefly) answer nothing for a file
  that is not open, so typemux opens it itself from its disk text (read by a reader the
  runtime provides) before the request; the client's own didOpen later takes it over.
- No false "clean": diagnostics of a document the client still has open stand when its
  backend goes away (`Lifecycle.standing`); they are cleared only when the client closes
  the document or its file is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.core import idle_policy, sync_kind
from typemux.core.actions import Action, ToClient
from typemux.core.disk_sync import DiskSync
from typemux.core.idle_close import IdleClose
from typemux.core.lifecycle import Lifecycle
from typemux.core.ports import SourceReader
from typemux.core.session import BackendSession, State
from typemux.documents import DocumentStore, TextDocument
from typemux.uris import uri_to_path

LIVE = (State.WARMING, State.READY)
MAX_OWN_DOCUMENTS = 64


class DocumentSync:
    def __init__(self, documents: DocumentStore, lifecycle: Lifecycle,
                 idle_close: float, log: Callable[..., None]) -> None:
        self.documents = documents
        self.lifecycle = lifecycle
        self.pool = lifecycle.pool
        self.disk = DiskSync()
        self.idle = IdleClose(idle_close)
        self._log = log
        # path -> its text, or None when unreadable or too big (set by the runtime)
        self.reader: SourceReader | None = None
        # Documents typemux opened, the client never did, oldest first.
        self.own: dict[str, None] = {}
        # Whether idle close applies to the client's documents too (core.idle_policy).
        self.idle_mode = "auto"
        self.idle_clients = True

    # ----- client → typemux -------------------------------------------------------------
    def before_notification(self, method: str, msg: jsonrpc.Message, params: dict[str, Any],
                            now: float) -> tuple[jsonrpc.Message | None, list[Action]]:
        """Book-keeping before the router handles a client notification: the message to use
        instead of `msg` (a didChange with its version shifted) or None to keep it, and the
        actions that go before it."""
        uri = _uri(params)
        if uri is None:
            return None, []
        if method == "textDocument/didOpen":
            out = self._take_over(uri, now) if uri in self.own else []
            self.disk.opened(uri)
            self.idle.reopened(uri)
            self.idle.touch(uri, now)
            return None, out
        if method == "textDocument/didClose":
            self.idle_clients = idle_policy.after_client_close(self.idle_mode, self.idle_clients)
            self.disk.closed(uri)
            out = self._ensure_open(uri, now)  # a backend that closed it itself sees the client's close
            self.idle.forget(uri)
            if uri in self.lifecycle.standing:
                self.lifecycle.standing.discard(uri)
                out.append(ToClient(_empty_diagnostics(uri)))
            return None, out
        out = self._ensure_open(uri, now)
        self.idle.touch(uri, now)
        if method == "textDocument/didChange":
            self.disk.changed(uri)
            return self.disk.client_change(msg, params), out
        if method == "textDocument/didSave":
            self.disk.saved(uri)
        return None, out

    def before_request(self, method: str, params: Any, now: float,
                       find_venv: Callable[[Path], Path | None]) -> list[Action]:
        """Before a client request: a document typemux closed is re-opened, and a project
        file never opened is opened by typemux (only a file whose venv `find_venv` finds: a
        library file is left to the backend that pointed to it)."""
        # On every request's path: the common case (an open document, nothing idle-closed,
        # idle close off) costs two dict look-ups.
        uri = _uri(params) if isinstance(params, dict) else None
        if uri is None:
            return []
        out: list[Action] = []
        known = self.documents.get(uri) is not None
        if not known and method.startswith("textDocument/"):
            out = self._open_own(uri, find_venv, now)
            known = self.documents.get(uri) is not None
        if known and self.idle.enabled:
            out += self._ensure_open(uri, now)
            self.idle.touch(uri, now)
        return out

    def touch_open(self, uri: str, now: float) -> bool:
        """`before_request` for a document the client has open, when it has nothing to do
        but note the use: False when typemux closed the document in its backend (the
        request must go the long way, which re-opens it first)."""
        idle = self.idle
        if idle.enabled:
            if idle.closed_in(uri) is not None:
                return False
            idle.touch(uri, now)
        return True

    def _open_own(self, uri: str, find_venv: Callable[[Path], Path | None],
                  now: float) -> list[Action]:
        """Open a Python file the client asks about without having opened it. It gets no
        venv here: routing the request moves it to its venv, which sends the didOpen."""
        path = uri_to_path(uri)
        if self.reader is None or path is None or path.suffix not in (".py", ".pyi"):
            return []
        if find_venv(path) is None:
            return []
        text = self.reader(path)
        if text is None:
            return []
        out: list[Action] = []
        if len(self.own) >= MAX_OWN_DOCUMENTS:  # bounded even with idle close off
            oldest = next(iter(self.own))
            old_doc = self.documents.get(oldest)
            if old_doc is not None:
                out = self._close_own(oldest, old_doc, now)
            self.own.pop(oldest, None)
        self.documents.open(uri, "python", 0, text)
        self.disk.opened(uri)
        self.own[uri] = None
        self._log("document_opened_for_client", uri=uri)
        return out

    def _take_over(self, uri: str, now: float) -> list[Action]:
        """The client opens a document typemux had opened: close typemux's copy in its
        backend, so that the backend sees one open (the client's) and not two."""
        self.own.pop(uri, None)
        doc = self.documents.get(uri)
        backend = self.pool.get(doc.venv) if doc is not None and doc.venv is not None else None
        closed_by_idle = self.idle.closed_in(uri)
        # A backend still starting (or waiting for a slot) has typemux's copy in its line
        # (its replay or its queue): the close queues behind it, and is dropped on delivery
        # if the backend turns out to take no didClose.
        if backend is not None and not backend.is_stopping() and closed_by_idle != backend.session:
            return self._send(backend, _did_close(uri), now)
        return []

    def _ensure_open(self, uri: str, now: float) -> list[Action]:
        """Re-open a document typemux closed in its live backend, before it is needed."""
        session = self.idle.closed_in(uri)
        if session is None:
            return []
        self.idle.reopened(uri)
        doc = self.documents.get(uri)
        backend = self.pool.get(doc.venv) if doc is not None and doc.venv is not None else None
        if doc is None or backend is None or backend.session != session or not _opens(backend):
            return []  # a newer backend got it in its replay
        return self._send(backend, _did_open(doc), now)

    # ----- backend → typemux --------------------------------------------------------------
    def on_publish(self, backend: BackendSession, msg: jsonrpc.Message,
                   params: dict[str, Any]) -> tuple[bool, jsonrpc.Message | None]:
        """(forward?, replacement message or None) for a backend's publishDiagnostics."""
        uri = params.get("uri")
        if not isinstance(uri, str):
            return True, None
        self.lifecycle.standing.discard(uri)
        if (not params.get("diagnostics") and uri in self.documents
                and self.idle.closed_in(uri) == backend.session):
            return False, None  # the answer to typemux's own idle close
        return True, self.disk.client_diagnostics(msg, params)

    # ----- disk ----------------------------------------------------------------------------
    def files_changed(self, texts: dict[str, str | None], now: float) -> list[Action]:
        """New disk texts of open documents (None: the file was deleted)."""
        out: list[Action] = []
        for uri, text in texts.items():
            doc = self.documents.get(uri)
            if doc is None:
                continue
            if text is None:
                if uri in self.lifecycle.standing:
                    self.lifecycle.standing.discard(uri)
                    out.append(ToClient(_empty_diagnostics(uri)))
                continue
            if not self.disk.disk_changed(uri, text, doc.text):
                if text != doc.text:
                    self._log("disk_change_kept_dirty_buffer", uri=uri)
                continue
            self.documents.replace(doc, text)
            doc.version += 1
            doc.desynced = False
            self._log("disk_sync", uri=uri, version=doc.version)
            self.idle.touch(uri, now)
            if doc.venv is not None:
                out += self._send_disk_text(doc, doc.venv, now)
        return out

    def _send_disk_text(self, doc: TextDocument, venv: Path, now: float) -> list[Action]:
        # The next message about a document restarts its backend: this is one.
        target, out = self.lifecycle.ensure(venv, now, doc.project)
        if not isinstance(target, BackendSession) or target.is_creating():
            return out  # its replay carries the new text
        if self.idle.closed_in(doc.uri) == target.session:
            self.idle.reopened(doc.uri)
            return out + self._send(target, _did_open(doc), now)
        if sync_kind.change_kind(target.capabilities) == sync_kind.NONE:
            return out  # it takes no didChange (textDocumentSync None); it hears of the file
        return out + self.lifecycle.deliver(target, jsonrpc.notification("textDocument/didChange", {
            "textDocument": {"uri": doc.uri, "version": doc.version},
            "contentChanges": [{"text": doc.text}],
        }), None, now)

    # ----- time ----------------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        return self.idle.next_deadline()

    def timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        for uri in self.idle.due(now):
            doc = self.documents.get(uri)
            if doc is None:
                self.idle.forget(uri)
                continue
            if uri in self.own:
                out += self._close_own(uri, doc, now)
                continue
            if not self.idle_clients:
                self.idle.forget(uri)  # the client's own to close (an editor's open tab)
                continue
            backend = self.pool.get(doc.venv) if doc.venv is not None else None
            if backend is None or backend.state not in LIVE:
                continue  # nothing holds it open; a new backend's replay opens it afresh
            if not sync_kind.open_close(backend.capabilities):
                self.idle.forget(uri)  # it never had it open (it takes no didOpen/didClose)
                continue
            if self.idle.closed_in(uri) == backend.session:
                continue
            if not self.disk.is_clean(uri, doc.text):
                # A dirty buffer stays open: closed, the backend would read the disk instead.
                self.idle.touch(uri, now)
                continue
            self.idle.mark_closed(uri, backend.session)
            out += self._send(backend, _did_close(uri), now)
        if self.idle.closed_count():
            self._log("documents_idle_closed", count=self.idle.closed_count())
        return out


    def _close_own(self, uri: str, doc: TextDocument, now: float) -> list[Action]:
        """A document only typemux had open, idle: closed for good (the client never had
        it open, so the backend's empty diagnostics for it go through)."""
        self.own.pop(uri, None)
        self.idle.forget(uri)
        self.disk.closed(uri)
        self.documents.close(uri)
        backend = self.pool.get(doc.venv) if doc.venv is not None else None
        if backend is not None and _opens(backend):
            return self._send(backend, _did_close(uri), now)
        return []

    def _send(self, backend: BackendSession, msg: jsonrpc.Message, now: float) -> list[Action]:
        """typemux's own didOpen/didClose, in the document's line like the client's messages
        (a warming backend holds it behind a request about the document; a starting one
        queues it); it is not the backend's use (the LRU and TTL do not move)."""
        return self.lifecycle.deliver(backend, msg, None, now, touch=False)


def _opens(backend: BackendSession) -> bool:
    """A live backend that takes didOpen/didClose (not sync None, nor openClose false)."""
    return backend.state in LIVE and sync_kind.open_close(backend.capabilities)


def _uri(params: dict[str, Any]) -> str | None:
    item = params.get("textDocument")
    if item is None:
        item = params.get("item")
    uri = item.get("uri") if isinstance(item, dict) else None
    return uri if isinstance(uri, str) else None


def _did_open(doc: TextDocument) -> jsonrpc.Message:
    return jsonrpc.notification("textDocument/didOpen", {"textDocument": {
        "uri": doc.uri, "languageId": doc.language_id, "version": doc.version, "text": doc.text}})


def _did_close(uri: str) -> jsonrpc.Message:
    return jsonrpc.notification("textDocument/didClose", {"textDocument": {"uri": uri}})


def _empty_diagnostics(uri: str) -> jsonrpc.Message:
    return jsonrpc.notification("textDocument/publishDiagnostics", {"uri": uri, "diagnostics": []})
