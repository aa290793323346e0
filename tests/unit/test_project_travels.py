"""The project of a venv travels with the data, not in a side dict of the lifecycle.

A document keeps its venv's project beside its venv (`doc.project`), a session keeps its
own (`backend.project`), and a waiting session is a session: whoever restarts a venv's
backend passes the project its data holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typemux.core.actions import Action, Spawn
from typemux.core.document_sync import DocumentSync
from typemux.core.lifecycle import INIT_ID, Lifecycle
from typemux.core.session import BackendSession
from typemux.uris import path_to_uri
from unit.test_router_components import ROOT, _log, did_open, parts

PROJECT, VENV = ROOT / "b", ROOT / "envs/b"  # a venv outside its project (poetry, conda)


def spawn_dirs(actions: list[Action]) -> list[Path]:
    return [a.cwd for a in actions if isinstance(a, Spawn)]


def only_backend(lifecycle: Lifecycle) -> BackendSession:
    (backend,) = list(lifecycle.pool)
    return backend


def opened() -> tuple[Any, Lifecycle, Any, str]:
    documents, lifecycle, docs, lookup = parts()
    lookup.add(PROJECT, VENV)
    params, msg = did_open(PROJECT / "m.py")
    assert spawn_dirs(docs.did_open(params, msg, None, 1.0)) == [PROJECT]
    return documents, lifecycle, docs, params["textDocument"]["uri"]


def test_the_lifecycle_keeps_no_side_dict_of_projects() -> None:
    _, lifecycle, _, _ = opened()
    assert not hasattr(lifecycle, "projects")
    backend = only_backend(lifecycle)
    assert backend.project == PROJECT
    lifecycle.evict(backend, "test", 2.0)
    # Nothing remembers the project of a venv whose backend is gone: a caller that passes
    # none gets the venv's parent.
    _, actions = lifecycle.ensure(VENV, 3.0)
    assert spawn_dirs(actions) == [VENV.parent]


def test_a_backend_restarted_by_an_edit_is_rooted_at_the_documents_project() -> None:
    documents, lifecycle, docs, uri = opened()
    assert documents.get(uri).project == PROJECT
    lifecycle.evict(only_backend(lifecycle), "test", 2.0)
    params = {"textDocument": {"uri": uri, "version": 2},
              "contentChanges": [{"text": "x = 2\n"}]}
    actions = docs.did_change(params, {"jsonrpc": "2.0", "method": "textDocument/didChange",
                                       "params": params}, None, 3.0)
    assert spawn_dirs(actions) == [PROJECT]


def test_a_backend_restarted_by_a_disk_change_is_rooted_at_the_documents_project() -> None:
    documents, lifecycle, _, uri = opened()
    sync = DocumentSync(documents, lifecycle, 0.0, _log)
    lifecycle.evict(only_backend(lifecycle), "test", 2.0)
    assert spawn_dirs(sync.files_changed({uri: "x = 3\n"}, 3.0)) == [PROJECT]


def test_a_hung_backend_is_restarted_at_its_own_project() -> None:
    _, lifecycle, _, _ = opened()
    backend = only_backend(lifecycle)
    lifecycle.handshake_done(backend, {"jsonrpc": "2.0", "id": INIT_ID,
                                       "result": {"capabilities": {}}}, 1.0)
    assert spawn_dirs(lifecycle.hung(backend, 5.0)) == [PROJECT]


def test_a_waiting_session_carries_its_project_until_it_starts() -> None:
    documents, lifecycle, docs, lookup = parts()
    lifecycle.pool.max_backends = 1
    lookup.add(PROJECT, VENV)
    params, msg = did_open(ROOT / "a/main.py")
    docs.did_open(params, msg, None, 1.0)
    first = lifecycle.pool.get(ROOT / "a/.venv")
    assert first is not None
    hover = {"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params": {}}
    lifecycle.deliver(first, hover, None, 1.0)  # busy: not preempted for the next venv
    params, msg = did_open(PROJECT / "m.py")
    assert spawn_dirs(docs.did_open(params, msg, None, 1.0)) == []  # the pool is full
    waiting = lifecycle.pool.get(VENV)
    assert waiting is not None and waiting.is_waiting() and waiting.project == PROJECT
    assert spawn_dirs(lifecycle.evict(first, "test", 2.0) + lifecycle.expire(2.0)) == [PROJECT]
    assert path_to_uri(PROJECT / "m.py") in documents
