"""Disk truth, idle close and no false "clean", through the sans-IO router."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.core.actions import Spawn
from typemux.core.disk_sync import DiskSync
from typemux.core.idle_close import IdleClose
from typemux.core.lifecycle import INIT_ID, LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.uris import path_to_uri
from unit.test_router import KIND, Harness, hover, to_backend, to_client

PUBLISH = "textDocument/publishDiagnostics"


class SyncHarness(Harness):
    def __init__(self, root: Path, *, idle: float = 0.0, **overrides: Any) -> None:
        super().__init__(root, **overrides)
        lifecycle = LifecycleSettings(
            argv=["/usr/bin/fake-lsp"], max_backends=overrides.get("max_backends", 8),
            backend_ttl=overrides.get("backend_ttl", 1800.0),
            warmup_timeout=overrides.get("warmup_timeout", 0.0),
            handshake_timeout=10.0, pid=4242)
        self.router = Router(RouterSettings(lifecycle, document_idle_close=idle), KIND,
                             self.lookup)

    def notify(self, method: str, params: dict[str, Any]) -> list[Any]:
        return self.client({"jsonrpc": "2.0", "method": method, "params": params})

    def change(self, path: Path, version: int, text: str) -> list[Any]:
        return self.notify("textDocument/didChange", {
            "textDocument": {"uri": path_to_uri(path), "version": version},
            "contentChanges": [{"text": text}]})

    def disk(self, path: Path, text: str | None, kind: int = 2) -> list[Any]:
        self.router.files_changed([(path, kind)], {path_to_uri(path): text}, self.now)
        return self.router.take_actions()

    def publish(self, session: int, path: Path, diagnostics: list[Any]) -> list[Any]:
        return self.backend(session, {"jsonrpc": "2.0", "method": PUBLISH, "params": {
            "uri": path_to_uri(path), "diagnostics": diagnostics}})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path


def sent(actions: list[Any], session: int, method: str) -> list[dict[str, Any]]:
    return [m for m in to_backend(actions, session) if m.get("method") == method]


# ----- disk is the truth for clean documents ------------------------------------------------


def test_a_clean_document_follows_its_file_on_disk(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    actions = h.disk(main, "x: int = 'oops'\n")
    (change,) = sent(actions, s, "textDocument/didChange")
    assert change["params"]["contentChanges"] == [{"text": "x: int = 'oops'\n"}]
    assert change["params"]["textDocument"]["version"] == 2  # opened at 1
    assert h.router.documents.get(path_to_uri(main)).text == "x: int = 'oops'\n"  # type: ignore[union-attr]


def test_a_dirty_buffer_is_never_overridden_by_the_disk(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.change(main, 2, "unsaved = 1\n")
    actions = h.disk(main, "from_disk = 1\n")
    assert sent(actions, s, "textDocument/didChange") == []
    assert h.router.documents.get(path_to_uri(main)).text == "unsaved = 1\n"  # type: ignore[union-attr]


def test_a_saved_document_is_clean_again(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.change(main, 2, "edited = 1\n")
    h.notify("textDocument/didSave", {"textDocument": {"uri": path_to_uri(main)}})
    assert sent(h.disk(main, "formatted = 1\n"), s, "textDocument/didChange")


def test_a_buffer_equal_to_the_last_disk_text_is_clean(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.change(main, 2, "dirty = 1\n")
    h.disk(main, "disk = 1\n")  # kept: dirty
    h.change(main, 3, "disk = 1\n")  # the editor reloaded the file
    (change,) = sent(h.disk(main, "disk = 2\n"), s, "textDocument/didChange")
    assert change["params"]["contentChanges"] == [{"text": "disk = 2\n"}]


def test_client_versions_after_a_disk_sync_keep_increasing_for_the_backend(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.disk(main, "a = 1\n")  # backend at version 2
    (change,) = sent(h.change(main, 2, "a = 2\n"), s, "textDocument/didChange")
    assert change["params"]["textDocument"]["version"] == 3
    actions = h.backend(s, {"jsonrpc": "2.0", "method": PUBLISH, "params": {
        "uri": path_to_uri(main), "version": 3, "diagnostics": []}})
    (published,) = to_client(actions)
    assert published["params"]["version"] == 2  # the client's numbering


def test_a_changed_module_is_reported_to_its_backend_when_the_client_does_not_watch(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    main, util = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/util.py"
    s = h.start_backend(main)
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    actions = h.disk(util, None, 3)
    (event,) = sent(actions, s, "workspace/didChangeWatchedFiles")
    assert event["params"]["changes"] == [{"uri": path_to_uri(util), "type": 3}]
    assert sent(actions, b, "workspace/didChangeWatchedFiles") == []


def test_a_watching_client_gets_no_second_watcher_event(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}}})
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    assert sent(h.disk(repo / "proj-a/pkg/util.py", "y = 1\n"), s,
                "workspace/didChangeWatchedFiles") == []


def test_a_disk_change_restarts_an_evicted_backend(repo: Path) -> None:
    h = SyncHarness(repo, max_backends=1)
    h.initialize()
    a_main = repo / "proj-a/pkg/main.py"
    h.start_backend(a_main)
    h.start_backend(repo / "proj-b/pkg/main.py")  # evicts a
    actions = h.disk(a_main, "new = 1\n")
    assert any(type(x).__name__ == "Spawn" and x.venv.parent.name == "proj-a" for x in actions)


# ----- no false "clean" -------------------------------------------------------------------------


def test_eviction_leaves_diagnostics_of_open_documents_standing_until_the_client_closes(repo: Path) -> None:
    h = SyncHarness(repo, max_backends=1)
    h.initialize()
    a_main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(a_main)
    h.publish(a, a_main, [{"message": "x"}])
    h.publish(a, repo / "proj-a/pkg/closed.py", [{"message": "y"}])
    actions = h.open(repo / "proj-b/pkg/main.py")  # evicts a
    cleared = [m["params"]["uri"] for m in to_client(actions) if m.get("method") == PUBLISH]
    assert cleared == [path_to_uri(repo / "proj-a/pkg/closed.py")]  # not open: cleared
    actions = h.notify("textDocument/didClose", {"textDocument": {"uri": path_to_uri(a_main)}})
    (empty,) = [m for m in to_client(actions) if m.get("method") == PUBLISH]
    assert empty["params"] == {"uri": path_to_uri(a_main), "diagnostics": []}


def test_idle_ttl_eviction_publishes_no_empty_diagnostics_for_an_open_document(repo: Path) -> None:
    h = SyncHarness(repo, backend_ttl=60.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(main)
    h.publish(a, main, [{"message": "error"}])
    h.now += 61
    h.router.timer(h.now)
    actions = h.router.take_actions()
    assert [m["method"] for m in to_backend(actions, a)] == ["shutdown"]
    assert [m for m in to_client(actions) if m.get("method") == PUBLISH] == []
    # The next message about it restarts the backend (which republishes).
    _, actions = h.request("textDocument/hover", hover(main))
    assert any(type(x).__name__ == "Spawn" for x in actions)


def test_deleting_the_file_clears_standing_diagnostics(repo: Path) -> None:
    h = SyncHarness(repo, max_backends=1)
    h.initialize()
    a_main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(a_main)
    h.publish(a, a_main, [{"message": "x"}])
    h.open(repo / "proj-b/pkg/main.py")
    actions = h.disk(a_main, None, 3)
    assert {"uri": path_to_uri(a_main), "diagnostics": []} in [
        m["params"] for m in to_client(actions) if m.get("method") == PUBLISH]


# ----- idle close --------------------------------------------------------------------------------


def test_an_idle_document_is_closed_in_its_backend_and_reopened_before_the_next_request(repo: Path) -> None:
    h = SyncHarness(repo, idle=30.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.publish(s, main, [{"message": "error"}])
    assert h.router.next_deadline() == pytest.approx(h.now + 30)
    h.now += 31
    h.router.timer(h.now)
    (close,) = sent(h.router.take_actions(), s, "textDocument/didClose")
    assert close["params"]["textDocument"]["uri"] == path_to_uri(main)
    # The backend's empty answer to that close is not the client's business.
    assert h.publish(s, main, []) == []
    _, actions = h.request("textDocument/hover", hover(main))
    msgs = to_backend(actions, s)
    assert [m.get("method") for m in msgs] == ["textDocument/didOpen", "textDocument/hover"]
    assert msgs[0]["params"]["textDocument"]["text"] == "x = 1\n"


def test_an_idle_closed_document_changed_on_disk_is_reopened_with_the_new_text(repo: Path) -> None:
    h = SyncHarness(repo, idle=30.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.now += 31
    h.router.timer(h.now)
    h.router.take_actions()
    (reopen,) = sent(h.disk(main, "y = 2\n"), s, "textDocument/didOpen")
    assert reopen["params"]["textDocument"]["text"] == "y = 2\n"


def test_a_dirty_document_is_not_idle_closed(repo: Path) -> None:
    h = SyncHarness(repo, idle=30.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.change(main, 2, "unsaved = 1\n")
    h.now += 31
    h.router.timer(h.now)
    assert sent(h.router.take_actions(), s, "textDocument/didClose") == []


def test_the_clients_close_of_an_idle_closed_document_clears_its_diagnostics(repo: Path) -> None:
    h = SyncHarness(repo, idle=30.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.publish(s, main, [{"message": "error"}])
    h.now += 31
    h.router.timer(h.now)
    h.router.take_actions()
    actions = h.notify("textDocument/didClose", {"textDocument": {"uri": path_to_uri(main)}})
    assert [m["method"] for m in to_backend(actions, s)] == ["textDocument/didOpen", "textDocument/didClose"]
    # Now the client closed it: the backend's empty publish goes through.
    assert to_client(h.publish(s, main, []))[0]["params"]["diagnostics"] == []


def test_idle_close_off_schedules_nothing(repo: Path) -> None:
    h = SyncHarness(repo)
    h.initialize()
    h.start_backend(repo / "proj-a/pkg/main.py")
    assert h.router.sync.next_deadline() is None


# ----- the pieces alone ----------------------------------------------------------------------


def test_idle_close_rescans_only_at_its_deadline() -> None:
    idle = IdleClose(10.0)
    idle.touch("a", 0.0)
    idle.touch("b", 5.0)
    assert idle.due(9.0) == []
    assert idle.due(10.0) == ["a"]
    assert idle.next_deadline() == 15.0
    idle.mark_closed("a", 1)
    assert idle.due(15.0) == ["b"]


def test_disk_sync_counts_versions_only_for_real_syncs() -> None:
    sync = DiskSync()
    sync.opened("u")
    assert not sync.disk_changed("u", "same", "same")
    assert sync.disk_changed("u", "new", "old")
    assert sync.bump("u") == 1
    sync.changed("u")
    assert not sync.disk_changed("u", "newer", "mine")


# ----- files asked about but never opened ------------------------------------------------


def test_a_file_never_opened_is_opened_by_typemux_before_the_request(repo: Path) -> None:
    h = SyncHarness(repo, idle=30.0)
    h.router.sync.reader = lambda path: "def f() -> int: ...\n"
    h.initialize()
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/other.py"
    s = h.start_backend(main)
    _, actions = h.request("textDocument/definition", hover(other))
    msgs = to_backend(actions, s)
    assert [m["method"] for m in msgs] == ["textDocument/didOpen", "textDocument/definition"]
    assert msgs[0]["params"]["textDocument"]["text"] == "def f() -> int: ...\n"
    # The client opens it later: typemux's copy is closed first, then the client's opens.
    actions = h.open(other, "mine = 1\n")
    assert [m["method"] for m in to_backend(actions, s)] == ["textDocument/didClose", "textDocument/didOpen"]
    assert path_to_uri(other) not in h.router.sync.own


def test_a_file_only_typemux_opened_is_closed_for_good_when_idle(repo: Path) -> None:
    h = SyncHarness(repo, idle=30.0)
    h.router.sync.reader = lambda path: "x = 1\n"
    h.initialize()
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/other.py"
    s = h.start_backend(main)
    h.request("textDocument/hover", hover(other))
    h.now += 31
    h.router.timer(h.now)
    closes = sent(h.router.take_actions(), s, "textDocument/didClose")
    assert path_to_uri(other) in [c["params"]["textDocument"]["uri"] for c in closes]
    assert path_to_uri(other) not in h.router.documents
    # Its backend's empty diagnostics are forwarded: the client never had it open.
    assert to_client(h.publish(s, other, []))


def test_an_incremental_edit_of_the_clients_old_text_after_a_disk_sync_reaches_the_backend_whole(
    repo: Path,
) -> None:
    """An editor that reloads the file itself sends edits against the text it had; the
    backend already has the disk's, so it gets the client's result as a full text."""
    h = SyncHarness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)  # "x = 1\n"
    h.disk(main, "x = 22\n")
    reload_edit = {"range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 5}},
                   "text": "22"}
    actions = h.notify("textDocument/didChange", {
        "textDocument": {"uri": path_to_uri(main), "version": 2}, "contentChanges": [reload_edit]})
    (change,) = sent(actions, s, "textDocument/didChange")
    assert change["params"]["contentChanges"] == [{"text": "x = 22\n"}]
    assert change["params"]["textDocument"]["version"] == 3
    assert h.router.documents.get(path_to_uri(main)).text == "x = 22\n"  # type: ignore[union-attr]
    # Later edits are against the same text on both sides again: forwarded as they come.
    edit = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
            "text": "y"}
    actions = h.notify("textDocument/didChange", {
        "textDocument": {"uri": path_to_uri(main), "version": 3}, "contentChanges": [edit]})
    (change,) = sent(actions, s, "textDocument/didChange")
    assert change["params"]["contentChanges"] == [edit]
    assert h.router.documents.get(path_to_uri(main)).text == "y = 22\n"  # type: ignore[union-attr]


def test_files_only_typemux_opened_are_bounded_even_without_idle_close(repo: Path) -> None:
    from typemux.core.document_sync import MAX_OWN_DOCUMENTS

    h = SyncHarness(repo)
    h.router.sync.reader = lambda path: "x = 1\n"
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    closed: list[str] = []
    for n in range(MAX_OWN_DOCUMENTS + 3):
        _, actions = h.request("textDocument/hover", hover(repo / f"proj-a/pkg/m{n}.py"))
        closed += [c["params"]["textDocument"]["uri"] for c in sent(actions, s, "textDocument/didClose")]
    assert len(h.router.sync.own) == MAX_OWN_DOCUMENTS
    assert closed == [path_to_uri(repo / f"proj-a/pkg/m{n}.py") for n in range(3)]


def test_taking_over_a_typemux_opened_file_keeps_the_order_behind_a_warming_backends_held_requests(
    repo: Path,
) -> None:
    """A warming backend holds a document's later messages behind a request it was sent;
    the didClose of typemux's own copy, when the client opens the file, waits in that line
    too: no request is answered with the document closed (black-box pass 3, F2)."""
    h = SyncHarness(repo, warmup_timeout=10.0)
    h.router.sync.reader = lambda path: "x = 1\n"
    h.initialize()
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/other.py"
    s = h.start_backend(main)  # warming: its log has not said "ready"
    sent_order: list[Any] = []
    first, actions = h.request("textDocument/hover", hover(other))
    sent_order += to_backend(actions, s)
    second, actions = h.request("textDocument/hover", hover(other))
    sent_order += to_backend(actions, s)
    sent_order += to_backend(h.open(other, "mine = 1\n"), s)
    third, actions = h.request("textDocument/hover", hover(other))
    sent_order += to_backend(actions, s)
    for rid in (first, second, third):
        sent_order += to_backend(h.backend(s, {"jsonrpc": "2.0", "id": rid, "result": None}), s)
    order = [m.get("method") for m in sent_order]
    assert order == ["textDocument/didOpen", "textDocument/hover", "textDocument/hover",
                     "textDocument/didClose", "textDocument/didOpen", "textDocument/hover"]
    assert sent_order[4]["params"]["textDocument"]["text"] == "mine = 1\n"


def test_taking_over_a_typemux_opened_file_while_its_backend_starts_closes_it_once(repo: Path) -> None:
    """While the backend starts, typemux's own copy is in its replay: the client's didOpen
    must come after a didClose of it, not as a second open."""
    h = SyncHarness(repo)
    h.router.sync.reader = lambda path: "x = 1\n"
    h.initialize()
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/other.py"
    actions = h.open(main)
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    h.request("textDocument/hover", hover(other))  # typemux opens it; held: still starting
    h.open(other, "mine = 1\n")
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                "result": {"capabilities": {}}}), spawn.session)
    about_other = [m["method"] for m in sent
                   if m.get("params", {}).get("textDocument", {}).get("uri") == path_to_uri(other)]
    assert about_other == ["textDocument/didOpen", "textDocument/hover", "textDocument/didClose",
                           "textDocument/didOpen"]
