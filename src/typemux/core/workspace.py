"""Workspace and disk events (sans-IO): watched files, workspace folders, configuration
broadcasts, files changed behind the client's back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.core.actions import Action, ToBackend, ToClient
from typemux.core.lifecycle import Lifecycle
from typemux.core.session import State
from typemux.documents import DocumentStore
from typemux.uris import path_to_uri, uri_to_path

WATCHER_REGISTRATION_ID = "typemux:watchers"
WATCHED_GLOBS = ("**/*.py", "**/*.pyi", "**/pyproject.toml", "**/pyrightconfig.json",
                 "**/ty.toml", "**/pyrefly.toml", "**/pyvenv.cfg", "**/*.pth")
LIVE = (State.WARMING, State.READY)


class Workspace:
    def __init__(self, documents: DocumentStore, lifecycle: Lifecycle,
                 log: Callable[..., None]) -> None:
        self.documents = documents
        self.lifecycle = lifecycle
        self.pool = lifecycle.pool
        self._log = log
        # The client's workspace folders: typemux's own view. Each backend keeps its project.
        self.folders: list[Any] = []

    # ----- client notifications ------------------------------------------------------------
    def set_folders(self, folders: Any) -> None:
        """The folders the client named in initialize."""
        self.folders = list(folders) if isinstance(folders, list) else []

    def folders_changed(self, params: dict[str, Any]) -> None:
        """Not forwarded: each backend's workspace is its own project, whatever folders the
        client has open. Routing goes by each document's venv."""
        event = params.get("event")
        event = event if isinstance(event, dict) else {}
        removed = {f.get("uri") for f in event.get("removed") or [] if isinstance(f, dict)}
        kept = [f for f in self.folders
                if not (isinstance(f, dict) and f.get("uri") in removed)]
        kept.extend(f for f in event.get("added") or [] if isinstance(f, dict))
        self.folders = kept
        self._log("workspace_folders_changed", folders=[f.get("uri") for f in kept])

    def broadcast(self, msg: jsonrpc.Message, raw: bytes | None) -> list[Action]:
        """A workspace-wide notification: to every live backend."""
        return [ToBackend(b.session, msg, raw) for b in self.pool if b.state in LIVE]

    def watched_files(self, params: dict[str, Any], now: float,
                      find_venv: Callable[[Path | None], Path | None]) -> list[Action]:
        """Each change goes to the live backend of its file's venv (`find_venv`) only."""
        by_backend: dict[int, list[Any]] = {}
        for change in params.get("changes") or []:
            uri = change.get("uri") if isinstance(change, dict) else None
            path = uri_to_path(uri) if isinstance(uri, str) else None
            venv = find_venv(path)
            backend = self.pool.get(venv) if venv is not None else None
            if backend is not None and backend.state in LIVE:
                by_backend.setdefault(backend.session, []).append(change)
        out: list[Action] = []
        for session, changes in by_backend.items():
            backend = self.pool.by_session(session)
            if backend is not None:
                self.pool.touch(backend, now)  # news for it: not idle
            out.append(ToBackend(session, jsonrpc.notification(
                "workspace/didChangeWatchedFiles", {"changes": changes})))
        return out

    @staticmethod
    def register_watchers() -> Action:
        """Ask a client that watches files to tell typemux about every change that matters."""
        watchers = [{"globPattern": glob} for glob in WATCHED_GLOBS]
        return ToClient(jsonrpc.request(WATCHER_REGISTRATION_ID, "client/registerCapability", {
            "registrations": [{"id": WATCHER_REGISTRATION_ID,
                               "method": "workspace/didChangeWatchedFiles",
                               "registerOptions": {"watchers": watchers}}]}))

    # ----- typemux's own watcher -------------------------------------------------------------
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
        roots = {b.venv.parent for b in self.pool if not b.is_stopping()}
        roots.update(doc.venv.parent for doc in self.documents if doc.venv is not None)
        return roots

    def disk_changes(self, changes: list[tuple[Path, int]], now: float,
                     find_venv: Callable[[Path | None], Path | None]) -> list[Action]:
        """Changes typemux's watcher saw (path, FileChangeType), as the client would report
        them."""
        return self.watched_files({"changes": [{"uri": path_to_uri(path), "type": kind}
                                               for path, kind in changes]}, now, find_venv)


def watched_paths(params: dict[str, Any]) -> list[Path]:
    """The files of a didChangeWatchedFiles' changes (those with a file: URI)."""
    paths = []
    for change in params.get("changes") or []:
        uri = change.get("uri") if isinstance(change, dict) else None
        path = uri_to_path(uri) if isinstance(uri, str) else None
        if path is not None:
            paths.append(path)
    return paths
