"""The router's components alone: each returns the actions it decides, with no shared
outbox and no callback into another component."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.venv_lookup import DictLookup
from typemux.core.actions import Spawn, ToBackend, ToClient
from typemux.core.cancels import Cancels
from typemux.core.document_routing import DocumentRouting
from typemux.core.document_sync import DocumentSync
from typemux.core.lifecycle import INIT_ID, Lifecycle, LifecycleSettings
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession
from typemux.core.targets import RequestTargets
from typemux.documents import DocumentStore
from typemux.uris import path_to_uri
from unit.test_router import KIND

ROOT = Path("/work-tree")


def _log(event: str, **fields: Any) -> None:
    return None


def parts() -> tuple[DocumentStore, Lifecycle, DocumentRouting, DictLookup]:
    documents = DocumentStore()
    lifecycle = Lifecycle(LifecycleSettings(argv=["fake-lsp"], warmup_timeout=0.0), KIND,
                          documents, _log)
    lifecycle.client_params = {"capabilities": {}}
    lookup = DictLookup()
    lookup.add(ROOT / "a")
    return documents, lifecycle, DocumentRouting(documents, lookup, lifecycle, _log), lookup


def did_open(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {"textDocument": {"uri": path_to_uri(path), "languageId": "python", "version": 1,
                               "text": "x = 1\n"}}
    return params, {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": params}


def test_no_component_keeps_an_outbox() -> None:
    documents, lifecycle, docs, _ = parts()
    components = [docs, DocumentSync(documents, lifecycle, 0.0, _log), ServerRequests(KIND),
                  Cancels(lifecycle, 5.0, _log), RequestTargets(docs, lifecycle)]
    for component in components:
        assert not [name for name, value in vars(component).items() if isinstance(value, list)
                    and name in ("_out", "out", "outbox")], type(component).__name__


def test_document_routing_returns_the_actions_of_a_did_open() -> None:
    _, _, docs, _ = parts()
    params, msg = did_open(ROOT / "a/pkg/main.py")
    actions = docs.did_open(params, msg, None, 1.0)
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    assert (spawn.venv, spawn.cwd) == (ROOT / "a/.venv", ROOT / "a")
    assert [a.msg["method"] for a in actions if isinstance(a, ToBackend)] == ["initialize"]
    # a close of a document never opened decides nothing
    assert docs.did_close({"textDocument": {"uri": path_to_uri(ROOT / "b/x.py")}}, {}, None, 1.0) == []


def test_document_routing_names_the_lookups_miss_and_rules() -> None:
    _, _, docs, lookup = parts()
    target, actions = docs.target_for_uri(path_to_uri(ROOT / "c/main.py"), 1.0)
    assert actions == [] and isinstance(target, str)
    assert "config, .venv" in target  # the lookup's rule names
    lookup.misses[ROOT / "c"] = "`environments` setting maps 'c' to /nowhere (missing)"
    target, _ = docs.target_for_uri(path_to_uri(ROOT / "c/main.py"), 1.0)
    assert isinstance(target, str) and "maps 'c' to /nowhere" in target


def test_server_requests_answer_what_the_client_cannot() -> None:
    requests = ServerRequests(KIND, {"python": {"x": 1}})
    backend = BackendSession(1, ROOT / "a/.venv", None, KIND.readiness(), 0.0)
    actions = requests.from_backend(backend, {"jsonrpc": "2.0", "id": 7, "method": "window/showDocument",
                                              "params": {"uri": "file:///x"}}, 0.0)
    assert actions == [ToBackend(1, {"jsonrpc": "2.0", "id": 7, "result": {"success": False}})]
    assert requests.from_client({"jsonrpc": "2.0", "id": 99, "result": None}, 0.0) is None


def test_document_sync_opens_a_file_asked_about_only_when_find_venv_finds_its_venv() -> None:
    documents, lifecycle, docs, _ = parts()
    sync = DocumentSync(documents, lifecycle, 0.0, _log)
    sync.reader = lambda path: "def f(): ...\n"
    library = path_to_uri(ROOT / "lib/site-packages/m.py")
    params = {"textDocument": {"uri": library}, "position": {"line": 0, "character": 0}}
    assert sync.before_request("textDocument/hover", params, 1.0, docs.find_venv) == []
    assert documents.get(library) is None
    project = path_to_uri(ROOT / "a/m.py")
    params = {"textDocument": {"uri": project}, "position": {"line": 0, "character": 0}}
    assert sync.before_request("textDocument/hover", params, 1.0, docs.find_venv) == []
    assert documents.get(project) is not None and project in sync.own


def test_cancels_answer_a_fanout_whose_every_share_is_lost() -> None:
    _, lifecycle, docs, _ = parts()
    cancels = Cancels(lifecycle, 5.0, _log)
    params, msg = did_open(ROOT / "a/pkg/main.py")
    docs.did_open(params, msg, None, 1.0)
    (backend,) = list(lifecycle.pool)
    lifecycle.handshake_done(backend, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}, 1.0)
    request = {"jsonrpc": "2.0", "id": 5, "method": "workspace/symbol", "params": {"query": "x"}}
    assert [type(a) for a in cancels.fan_out(request, None, [backend], 1.0)] == [ToBackend]
    (answer,) = cancels.share_lost(backend.session, 5)
    assert isinstance(answer, ToClient) and answer.msg["id"] == 5 and "error" in answer.msg
    assert cancels.fanouts == {}


def test_document_routing_gives_the_lifecycle_each_venvs_project_as_data() -> None:
    _, lifecycle, docs, lookup = parts()
    lookup.add(ROOT / "b", ROOT / "envs/b")  # a venv outside its project (poetry, conda)
    found = docs.find(ROOT / "b/m.py")
    assert found is not None and (found.path, found.project) == (ROOT / "envs/b", ROOT / "b")
    assert len(lifecycle.pool) == 0  # looking a venv up changes nothing in the lifecycle
    params, msg = did_open(ROOT / "b/m.py")
    (spawn,) = [a for a in docs.did_open(params, msg, None, 1.0) if isinstance(a, Spawn)]
    assert (spawn.venv, spawn.cwd) == (ROOT / "envs/b", ROOT / "b")
