"""The router as a sans-IO state machine: plain dicts in, actions out, time passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.venv_lookup import DictLookup
from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.core.actions import BackendReleased, Exit, Spawn, Stop, ToBackend, ToClient
from typemux.core.lifecycle import INIT_ID, SHUTDOWN_ID, LifecycleSettings
from typemux.core.pool import PREEMPT_AFTER
from typemux.core.ports import VenvIdentity
from typemux.core.router import Router, RouterSettings
from typemux.uris import path_to_uri


class LogReady(ReadinessDetector):
    def observe(self, msg: Any) -> str | None:
        if msg.get("method") == "window/logMessage" and "ready" in msg["params"]["message"]:
            return "log ready"
        return None


KIND = BackendKind(
    name="fake",
    command=("fake-lsp",),
    version_command=None,
    capabilities={"hoverProvider": True, "referencesProvider": True},
    readiness=LogReady,
)


def make_project(root: Path, name: str, venv: bool = True) -> Path:
    """A project on disk, for tests of what reads it (the router itself never does)."""
    project = root / name
    (project / "pkg").mkdir(parents=True)
    if venv:
        (project / ".venv" / "bin").mkdir(parents=True)
        (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (project / "pkg" / "main.py").write_text("x = 1\n")
    return project


class Harness:
    """The router with an in-memory venv lookup: proj-a and proj-b have a .venv, proj-c none."""

    def __init__(self, root: Path, **overrides: Any) -> None:
        self.lookup = DictLookup(cached=overrides.pop("cached", False))
        self.lookup.add(root / "proj-a")
        self.lookup.add(root / "proj-b")
        lifecycle = LifecycleSettings(
            argv=["/usr/bin/fake-lsp"],
            max_backends=overrides.pop("max_backends", 8),
            backend_ttl=overrides.pop("backend_ttl", 1800.0),
            warmup_timeout=overrides.pop("warmup_timeout", 0.0),
            handshake_timeout=10.0,
            pid=4242,
        )
        self.router = Router(
            RouterSettings(lifecycle, fanout_timeout=overrides.pop("fanout_timeout", 5.0),
                           fallback_venv=overrides.pop("fallback_venv", None)),
            overrides.pop("kind", KIND),
            self.lookup,
        )
        self.now = 100.0
        self.next_id = 0

    def client(self, msg: dict[str, Any]) -> list[Any]:
        self.router.client_message(msg, None, self.now)
        return self.router.take_actions()

    def backend(self, session: int, msg: dict[str, Any]) -> list[Any]:
        self.router.backend_message(session, msg, None, self.now)
        return self.router.take_actions()

    def request(self, method: str, params: Any) -> tuple[int, list[Any]]:
        self.next_id += 1
        return self.next_id, self.client({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})

    def initialize(self, capabilities: dict[str, Any] | None = None) -> list[Any]:
        return self.client({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                            "params": {"processId": 1, "rootUri": None, "capabilities": capabilities or {}}})

    def open(self, path: Path, text: str = "x = 1\n") -> list[Any]:
        return self.client({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": path_to_uri(path), "languageId": "python", "version": 1, "text": text}}})

    def start_backend(self, path: Path) -> int:
        """didOpen `path` and complete the handshake of the backend it starts."""
        actions = self.open(path)
        spawn = next(a for a in actions if isinstance(a, Spawn))
        self.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
        return spawn.session


def to_client(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.msg for a in actions if isinstance(a, ToClient)]


def to_backend(actions: list[Any], session: int | None = None) -> list[dict[str, Any]]:
    return [a.msg for a in actions if isinstance(a, ToBackend) and (session is None or a.session == session)]


def hover(path: Path) -> dict[str, Any]:
    return {"textDocument": {"uri": path_to_uri(path)}, "position": {"line": 0, "character": 0}}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path


def test_initialize_is_answered_with_the_clients_id_and_kind_capabilities(repo: Path) -> None:
    h = Harness(repo)
    actions = h.client({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {"capabilities": {}}})
    (answer,) = to_client(actions)
    assert answer["id"] == 7
    assert answer["result"]["capabilities"] == {
        "hoverProvider": True, "referencesProvider": True,
        # typemux's own document sync, added to the kind's capabilities
        "textDocumentSync": {"openClose": True, "change": 2, "save": {"includeText": False}}}
    assert not [a for a in actions if isinstance(a, Spawn)]


def test_requests_before_initialize_are_refused(repo: Path) -> None:
    h = Harness(repo)
    _, actions = h.request("textDocument/hover", hover(repo / "proj-a/pkg/main.py"))
    assert to_client(actions)[0]["error"]["code"] == -32002


def test_did_open_spawns_a_backend_rooted_at_its_project_and_replays_the_document(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    actions = h.open(main, "print('hi')\n")
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    assert spawn.venv == repo / "proj-a/.venv"
    assert spawn.cwd == repo / "proj-a"
    assert spawn.env["VIRTUAL_ENV"] == str(spawn.venv)
    assert spawn.env["PATH"].startswith(str(spawn.venv / "bin"))
    (init,) = to_backend(actions, spawn.session)
    assert init["method"] == "initialize"
    assert init["params"]["rootUri"] == path_to_uri(repo.resolve() / "proj-a")
    assert init["params"]["processId"] == 4242
    assert init["params"]["capabilities"]["general"]["positionEncodings"] == ["utf-16"]
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    assert [m["method"] for m in sent] == ["initialized", "textDocument/didOpen"]
    assert sent[1]["params"]["textDocument"]["text"] == "print('hi')\n"


def test_requests_go_to_their_own_venvs_backend_and_answers_come_back_raw(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    assert a != b
    rid, actions = h.request("textDocument/hover", hover(repo / "proj-b/pkg/main.py"))
    assert [m["id"] for m in to_backend(actions, b)] == [rid]
    assert to_backend(actions, a) == []
    raw = b'{"jsonrpc":"2.0","id":%d,"result":null}' % rid
    h.router.backend_message(b, {"jsonrpc": "2.0", "id": rid, "result": None}, raw, h.now)
    (forward,) = h.router.take_actions()
    assert isinstance(forward, ToClient) and forward.raw == raw
    assert forward.msg == {"jsonrpc": "2.0", "id": rid, "result": None}


def test_an_environments_mapping_to_a_missing_folder_is_named_in_the_error(repo: Path) -> None:
    # proj-a has a .venv, but the explicit mapping (final) names a folder that is missing.
    h = Harness(repo)
    missed = f"`environments` setting maps 'proj-a' to {repo}/proj-a/.venv-missing (missing)"
    h.lookup.misses[repo / "proj-a"] = missed
    h.initialize()
    path = repo / "proj-a/pkg/main.py"
    h.open(path)
    _, actions = h.request("textDocument/hover", hover(path))
    (err,) = to_client(actions)
    message = err["error"]["message"]
    assert "no .venv found" not in message
    assert "`environments` setting maps 'proj-a'" in message
    assert f"{repo}/proj-a/.venv-missing (missing)" in message


def test_a_document_without_venv_gets_an_error_that_says_how_to_fix_it(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    path = repo / "proj-c/pkg/main.py"
    assert not [a for a in h.open(path) if isinstance(a, Spawn)]
    _, actions = h.request("textDocument/hover", hover(path))
    (err,) = to_client(actions)
    assert err["error"]["code"] == -32603
    assert err["error"]["message"].startswith("typemux: no .venv found")
    assert "python -m venv .venv" in err["error"]["message"]
    # A venv created later is used without restart.
    h.lookup.add(repo / "proj-c-venv")  # noise: unrelated project
    h.lookup.add(repo / "proj-c")
    _, actions = h.request("textDocument/hover", hover(path))
    assert [a for a in actions if isinstance(a, Spawn)]


def test_a_cached_no_venv_answer_is_looked_up_again_on_the_next_request(repo: Path) -> None:
    h = Harness(repo, cached=True)
    h.initialize()
    path = repo / "proj-c/pkg/main.py"
    h.open(path)
    _, actions = h.request("textDocument/hover", hover(path))
    assert to_client(actions)[0]["error"]["code"] == -32603
    h.lookup.add(repo / "proj-c")  # its cached "no venv" still stands in the lookup
    _, actions = h.request("textDocument/hover", hover(path))
    assert [a for a in actions if isinstance(a, Spawn)]


def test_index_dependent_requests_wait_for_readiness_and_others_pass(repo: Path) -> None:
    h = Harness(repo, warmup_timeout=2.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    ref_id, actions = h.request("textDocument/references", hover(main))
    assert to_backend(actions) == []
    # Another document's hover passes; the held document's own hover waits behind it.
    hover_id, actions = h.request("textDocument/hover", hover(repo / "proj-a/pkg/other.py"))
    assert [m["id"] for m in to_backend(actions)] == [hover_id]
    same_id, actions = h.request("textDocument/hover", hover(main))
    assert to_backend(actions) == []
    actions = h.backend(s, {"jsonrpc": "2.0", "method": "window/logMessage", "params": {"type": 3, "message": "ready now"}})
    assert [m.get("id") for m in to_backend(actions, s)] == [ref_id, same_id]
    assert h.router.pool.get(repo / "proj-a/.venv").ready_reason == "log ready"


def test_a_silent_backend_is_released_at_the_warmup_timeout(repo: Path) -> None:
    h = Harness(repo, warmup_timeout=2.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    ref_id, _ = h.request("textDocument/references", hover(main))
    assert h.router.next_deadline() == pytest.approx(h.now + 2.0)
    h.now += 2.0
    h.router.timer(h.now)
    assert [m["id"] for m in to_backend(h.router.take_actions(), s)] == [ref_id]


def test_progress_end_releases_only_for_the_progress_started_while_warming(repo: Path) -> None:
    h = Harness(repo, warmup_timeout=5.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    ref_id, _ = h.request("textDocument/references", hover(main))
    actions = h.backend(s, {"jsonrpc": "2.0", "id": 0, "method": "window/workDoneProgress/create", "params": {"token": "idx"}})
    assert to_backend(actions, s) == [{"jsonrpc": "2.0", "id": 0, "result": None}]  # client lacks support
    h.backend(s, {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "other", "value": {"kind": "end"}}})
    assert h.router.pool.get(repo / "proj-a/.venv").is_warming()
    actions = h.backend(s, {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "idx", "value": {"kind": "end"}}})
    assert [m.get("id") for m in to_backend(actions, s)] == [ref_id]


def test_cancelling_a_held_request_answers_it_exactly_once(repo: Path) -> None:
    h = Harness(repo, warmup_timeout=2.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    ref_id, _ = h.request("textDocument/references", hover(main))
    actions = h.client({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": ref_id}})
    (answer,) = to_client(actions)
    assert answer["id"] == ref_id and answer["error"]["code"] == -32800
    h.now += 2.0
    h.router.timer(h.now)
    actions = h.router.take_actions()
    assert to_backend(actions, s) == [] and to_client(actions) == []


def test_cancelling_a_forwarded_request_goes_to_its_backend(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.start_backend(repo / "proj-b/pkg/main.py")
    rid, _ = h.request("textDocument/hover", hover(main))
    actions = h.client({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": rid}})
    assert [(a.session, a.msg["method"]) for a in actions if isinstance(a, ToBackend)] == [(s, "$/cancelRequest")]


def test_a_full_pool_evicts_the_least_recently_used_and_answers_its_requests(repo: Path) -> None:
    h = Harness(repo, max_backends=1)
    h.initialize()
    a_main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(a_main)
    h.backend(a, {"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                  "params": {"uri": path_to_uri(a_main), "diagnostics": [{"message": "x"}]}})
    rid, _ = h.request("textDocument/hover", hover(a_main))
    assert repr(h.router.pool) == "<BackendPool [1 active, 0 idle | 1 ready]>"
    # a is busy: b's backend waits for a slot, until it has waited PREEMPT_AFTER.
    assert to_client(h.open(repo / "proj-b/pkg/main.py")) == []
    assert repr(h.router.pool) == "<BackendPool [1 active, 0 idle | 1 ready, 1 waiting]>"
    h.now += PREEMPT_AFTER
    h.router.timer(h.now)
    actions = h.router.take_actions()
    msgs = to_client(actions)
    assert {"jsonrpc": "2.0", "id": rid, "error": {"code": -32800, "message": msgs[0]["error"]["message"]}} == msgs[0]
    assert "was stopped" in msgs[0]["error"]["message"]
    # No false "clean": the client still has a_main open, its diagnostics stand.
    assert [m for m in msgs if m.get("method") == "textDocument/publishDiagnostics"] == []
    assert [m["method"] for m in to_backend(actions, a)] == ["shutdown"]
    assert repr(h.router.pool) == "<BackendPool [0 active, 1 idle | 1 creating]>"
    # A message from the evicted session is stale and dropped.
    assert h.backend(a, {"jsonrpc": "2.0", "id": rid, "result": "late"}) == []
    # Its shutdown answer sends exit, then the runtime stops it.
    actions = h.backend(a, {"jsonrpc": "2.0", "id": SHUTDOWN_ID, "result": None})
    assert [m["method"] for m in to_backend(actions, a)] == ["exit"]
    assert any(isinstance(x, Stop) and x.session == a and x.graceful for x in actions)


def test_ttl_evicts_an_idle_backend_at_its_deadline_but_not_a_busy_one(repo: Path) -> None:
    h = Harness(repo, backend_ttl=60.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    rid, _ = h.request("textDocument/hover", hover(main))
    h.now += 61
    h.router.timer(h.now)
    assert not [a for a in h.router.take_actions() if isinstance(a, Stop)]
    h.backend(s, {"jsonrpc": "2.0", "id": rid, "result": None})
    deadline = h.router.next_deadline()
    assert deadline == pytest.approx(h.now - 61 + 60)  # last used when the request was sent
    h.router.timer(h.now)
    assert [m["method"] for m in to_backend(h.router.take_actions(), s)] == ["shutdown"]
    assert repr(h.router.pool) == "<BackendPool [0 active, 0 idle]>"


def test_a_crash_answers_pending_requests_and_the_next_request_restarts_with_replay(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.client({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": path_to_uri(main), "version": 2},
        "contentChanges": [{"range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 5}}, "text": "2"}]}})
    rid, _ = h.request("textDocument/hover", hover(main))
    h.now += 60
    h.router.backend_exited(s, "exited with code 3", h.now)
    (answer,) = to_client(h.router.take_actions())
    assert answer["id"] == rid and answer["error"]["code"] == -32800
    _, actions = h.request("textDocument/hover", hover(main))
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    replay = [m for m in sent if m.get("method") == "textDocument/didOpen"]
    assert replay[0]["params"]["textDocument"]["text"] == "x = 2\n"
    assert replay[0]["params"]["textDocument"]["version"] == 2
    assert [m["method"] for m in sent][-1] == "textDocument/hover"


def test_a_crash_loop_backs_off_and_tells_the_user_once(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s1 = h.start_backend(main)
    h.router.backend_exited(s1, "exited with code 3", h.now)
    h.router.take_actions()
    _, actions = h.request("textDocument/hover", hover(main))
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    h.router.backend_exited(spawn.session, "exited with code 3", h.now + 1)
    notices = [m for m in to_client(h.router.take_actions()) if m.get("method") == "window/showMessage"]
    assert len(notices) == 1 and "keeps crashing" in notices[0]["params"]["message"]
    _, actions = h.request("textDocument/hover", hover(main))
    assert not [a for a in actions if isinstance(a, Spawn)]
    assert "next attempt" in to_client(actions)[0]["error"]["message"]
    h.now += 5
    _, actions = h.request("textDocument/hover", hover(main))
    assert [a for a in actions if isinstance(a, Spawn)]


def test_spawn_failure_answers_waiting_requests_naming_command_and_venv(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    actions = h.open(main)
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    rid, _ = h.request("textDocument/hover", hover(main))
    h.router.backend_spawn_failed(spawn.session, "No such file or directory", h.now)
    msgs = to_client(h.router.take_actions())
    assert msgs[0]["id"] == rid and "/usr/bin/fake-lsp" in msgs[0]["error"]["message"]
    assert str(repo / "proj-a/.venv") in msgs[0]["error"]["message"]
    assert [m["method"] for m in msgs[1:]] == ["window/showMessage"]


def test_configuration_is_answered_by_typemux_when_the_client_cannot(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    s = h.start_backend(repo / "proj-a/pkg/main.py")
    actions = h.backend(s, {"jsonrpc": "2.0", "id": 0, "method": "workspace/configuration",
                            "params": {"items": [{"section": "python"}, {"section": "pyright"}]}})
    assert to_client(actions) == []
    assert to_backend(actions, s) == [{"jsonrpc": "2.0", "id": 0, "result": [None, None]}]


def test_server_requests_get_proxy_ids_and_answers_go_back_under_the_original_id(repo: Path) -> None:
    h = Harness(repo)
    h.initialize({"workspace": {"configuration": True}, "window": {"workDoneProgress": True}})
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    ask = {"jsonrpc": "2.0", "id": 0, "method": "workspace/configuration", "params": {"items": [{"section": "x"}]}}
    (to_a,) = to_client(h.backend(a, ask))
    (to_b,) = to_client(h.backend(b, ask))
    assert to_a["id"] != to_b["id"]
    actions = h.client({"jsonrpc": "2.0", "id": to_b["id"], "result": [{"b": 1}]})
    assert [(x.session, x.msg) for x in actions if isinstance(x, ToBackend)] == [
        (b, {"jsonrpc": "2.0", "id": 0, "result": [{"b": 1}]})]
    # The client errs on a's question: typemux answers instead.
    actions = h.client({"jsonrpc": "2.0", "id": to_a["id"], "error": {"code": -32601, "message": "no"}})
    assert to_backend(actions, a) == [{"jsonrpc": "2.0", "id": 0, "result": [None]}]


def test_a_backend_gone_takes_its_server_requests_along_and_the_late_answer_is_dropped(
        repo: Path) -> None:
    h = Harness(repo)
    h.initialize({"workspace": {"configuration": True}})
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    ask = {"jsonrpc": "2.0", "id": 0, "method": "workspace/configuration",
           "params": {"items": [{"section": "x"}]}}
    (to_a,) = to_client(h.backend(a, ask))
    backend = h.router.pool.by_session(a)
    assert backend is not None and backend.server_requests == 1
    h.router.backend_exited(a, "exited with code 3", h.now)
    actions = h.router.take_actions()
    assert not [x for x in actions if isinstance(x, BackendReleased)]  # core-internal
    assert backend.server_requests == 0 and h.router.server_requests.next_deadline() is None
    assert h.client({"jsonrpc": "2.0", "id": to_a["id"], "result": [{"a": 1}]}) == []


def test_progress_tokens_are_namespaced_per_session(repo: Path) -> None:
    h = Harness(repo)
    h.initialize({"window": {"workDoneProgress": True}})
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    create = {"jsonrpc": "2.0", "id": 1, "method": "window/workDoneProgress/create", "params": {"token": 1}}
    (ca,) = to_client(h.backend(a, create))
    (cb,) = to_client(h.backend(b, create))
    assert ca["params"]["token"] != cb["params"]["token"]
    (pa,) = to_client(h.backend(a, {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": 1, "value": {"kind": "begin", "title": "t"}}}))
    assert pa["params"]["token"] == ca["params"]["token"]
    actions = h.client({"jsonrpc": "2.0", "method": "window/workDoneProgress/cancel", "params": {"token": cb["params"]["token"]}})
    assert [(x.session, x.msg["params"]["token"]) for x in actions if isinstance(x, ToBackend)] == [(b, 1)]


def test_workspace_symbol_fans_out_merges_and_dedupes(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    rid, actions = h.request("workspace/symbol", {"query": ""})
    assert {x.session for x in actions if isinstance(x, ToBackend)} == {a, b}
    sym = {"name": "f", "kind": 12, "location": {"uri": "file:///x.py", "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 1}}}}
    assert h.backend(a, {"jsonrpc": "2.0", "id": rid, "result": [sym]}) == []
    other = {**sym, "name": "g"}
    (answer,) = to_client(h.backend(b, {"jsonrpc": "2.0", "id": rid, "result": [sym, other]}))
    assert answer == {"jsonrpc": "2.0", "id": rid, "result": [sym, other]}


def test_fanout_returns_partial_results_after_the_timeout(repo: Path) -> None:
    h = Harness(repo, fanout_timeout=5.0)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    rid, _ = h.request("workspace/symbol", {"query": ""})
    h.backend(a, {"jsonrpc": "2.0", "id": rid, "result": [{"name": "only-a"}]})
    h.now += 5
    h.router.timer(h.now)
    actions = h.router.take_actions()
    assert [(x.session, x.msg["method"]) for x in actions if isinstance(x, ToBackend)] == [(b, "$/cancelRequest")]
    msgs = to_client(actions)
    assert msgs[0]["method"] == "window/showMessage"
    assert msgs[1] == {"jsonrpc": "2.0", "id": rid, "result": [{"name": "only-a"}]}
    # b is idle again: a late answer is dropped and nothing stays pending.
    assert h.backend(b, {"jsonrpc": "2.0", "id": rid, "result": []}) == []
    assert h.router.pool.by_session(b).is_idle()


def test_call_hierarchy_items_route_by_item_uri(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    h.start_backend(repo / "proj-a/pkg/main.py")
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    h.request("textDocument/hover", hover(repo / "proj-a/pkg/main.py"))  # a is most recent now
    item = {"name": "f", "kind": 12, "uri": path_to_uri(repo / "proj-b/pkg/main.py")}
    rid, actions = h.request("callHierarchy/incomingCalls", {"item": item})
    assert [(x.session, x.msg["id"]) for x in actions if isinstance(x, ToBackend)] == [(b, rid)]


def test_resolve_goes_to_the_backend_that_produced_the_item(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    b_main = repo / "proj-b/pkg/main.py"
    b = h.start_backend(b_main)
    rid, _ = h.request("textDocument/completion", hover(b_main))
    h.backend(b, {"jsonrpc": "2.0", "id": rid, "result": {"items": [{"label": "x"}]}})
    h.request("textDocument/hover", hover(repo / "proj-a/pkg/main.py"))  # a most recent
    rid, actions = h.request("completionItem/resolve", {"label": "x"})
    assert [x.session for x in actions if isinstance(x, ToBackend)] == [b]
    assert a != b


def test_document_messages_sent_while_a_backend_starts_reach_it_in_the_clients_order(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    other = repo / "proj-a/pkg/other.py"
    actions = h.open(main, "a\n")
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    h.open(other, "b\n")
    h.client({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": path_to_uri(main), "version": 2}, "contentChanges": [{"text": "A\n"}]}})
    h.client({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": {"uri": path_to_uri(other)}}})
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    assert [(m["method"], m["params"]["textDocument"]["uri"]) for m in sent[1:]] == [
        ("textDocument/didOpen", path_to_uri(main)), ("textDocument/didOpen", path_to_uri(other)),
        ("textDocument/didChange", path_to_uri(main)), ("textDocument/didClose", path_to_uri(other))]
    assert sent[1]["params"]["textDocument"]["text"] == "a\n"


def test_did_change_configuration_is_remembered_for_later_backends(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    h.client({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": {"k": 1}}})
    actions = h.open(repo / "proj-a/pkg/main.py")
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    assert sent[1] == {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": {"k": 1}}}


def test_did_save_goes_to_the_owning_backend_only(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a_main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(a_main)
    h.start_backend(repo / "proj-b/pkg/main.py")
    actions = h.client({"jsonrpc": "2.0", "method": "textDocument/didSave", "params": {"textDocument": {"uri": path_to_uri(a_main)}}})
    assert [x.session for x in actions if isinstance(x, ToBackend)] == [a]


def test_diagnostics_from_the_wrong_venvs_backend_are_dropped(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    h.start_backend(repo / "proj-b/pkg/main.py")
    b_uri = path_to_uri(repo / "proj-b/pkg/main.py")
    assert h.backend(a, {"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                         "params": {"uri": b_uri, "diagnostics": [{"message": "wrong"}]}}) == []


def test_venv_replacement_starts_a_fresh_backend(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.router.venv_checked(repo / "proj-a/.venv", VenvIdentity(1, 2, 3, 4), h.now)
    assert h.router.take_actions() == []  # the runtime saw the venv as it started (first check)
    h.now += 2
    # pyvenv.cfg rewritten: another inode, mtime and size
    h.router.venv_checked(repo / "proj-a/.venv", VenvIdentity(1, 5, 6, 7), h.now)
    actions = h.router.take_actions()
    assert [m["method"] for m in to_backend(actions, s)] == ["shutdown"]
    _, actions = h.request("textDocument/hover", hover(main))
    assert [x for x in actions if isinstance(x, Spawn)]


def test_shutdown_stops_every_backend_and_answers_null_then_exit_is_zero(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    rid, actions = h.request("shutdown", None)
    assert to_client(actions) == [{"jsonrpc": "2.0", "id": rid, "result": None}]
    assert to_backend(actions, a)[0] == {"jsonrpc": "2.0", "id": SHUTDOWN_ID, "method": "shutdown"}
    actions = h.client({"jsonrpc": "2.0", "method": "exit"})
    assert [x.code for x in actions if isinstance(x, Exit)] == [0]


def test_exit_without_shutdown_is_one(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    actions = h.client({"jsonrpc": "2.0", "method": "exit"})
    assert [x.code for x in actions if isinstance(x, Exit)] == [1]


def test_a_kind_without_progress_readiness_ignores_progress_end(repo: Path) -> None:
    """pyrefly's 'Rechecking 0/0' progress ends at start-up, long before its index is built."""
    kind = BackendKind(name="no-progress", command=("x",), version_command=None,
                       capabilities={}, readiness=LogReady, progress_readiness=False)
    h = Harness(repo, warmup_timeout=5.0, kind=kind)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    h.request("textDocument/references", hover(main))
    h.backend(s, {"jsonrpc": "2.0", "id": 0, "method": "window/workDoneProgress/create", "params": {"token": "t"}})
    actions = h.backend(s, {"jsonrpc": "2.0", "method": "$/progress", "params": {"token": "t", "value": {"kind": "end"}}})
    assert to_backend(actions, s) == []
    assert h.router.pool.by_session(s).is_warming()


def test_backend_file_watchers_do_not_multiply_at_the_client(repo: Path) -> None:
    h = Harness(repo)
    h.initialize({"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}}})
    (own,) = to_client(h.client({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    assert own["method"] == "client/registerCapability"
    assert own["params"]["registrations"][0]["method"] == "workspace/didChangeWatchedFiles"
    register = {"jsonrpc": "2.0", "id": 1, "method": "client/registerCapability", "params": {"registrations": [
        {"id": "FILEWATCHER", "method": "workspace/didChangeWatchedFiles",
         "registerOptions": {"watchers": [{"globPattern": "**"}]}}]}}
    for project in ("proj-a", "proj-b"):
        s = h.start_backend(repo / project / "pkg/main.py")
        actions = h.backend(s, register)
        assert to_client(actions) == []  # acknowledged by typemux
        assert to_backend(actions, s) == [{"jsonrpc": "2.0", "id": 1, "result": None}]
    # The client's events are split by venv.
    changes = [{"uri": path_to_uri(repo / p / "pkg/main.py"), "type": 2} for p in ("proj-a", "proj-b")]
    actions = h.client({"jsonrpc": "2.0", "method": "workspace/didChangeWatchedFiles", "params": {"changes": changes}})
    sent = [(a.session, a.msg["params"]["changes"]) for a in actions if isinstance(a, ToBackend)]
    assert [len(c) for _, c in sent] == [1, 1] and sent[0][0] != sent[1][0]


def test_null_params_are_accepted_as_editors_send_them(repo: Path) -> None:
    from typemux.jsonrpc import validate

    msg = {"jsonrpc": "2.0", "id": 9, "method": "shutdown", "params": None}
    assert validate(msg) is None
    assert validate({"jsonrpc": "2.0", "id": 9, "method": "x", "params": 3}) is not None
    h = Harness(repo)
    h.initialize()
    assert to_client(h.client(msg)) == [{"jsonrpc": "2.0", "id": 9, "result": None}]
    h2 = Harness(repo)
    h2.initialize()
    _, actions = h2.request("workspace/symbol", None)
    assert to_client(actions)[0]["error"]["message"].startswith("typemux: no backend is running")


# ----- hardening: ordering, untitled and library documents, edits, cancel, folders, resolve --


def change(path: Path, version: int, line: int, text: str) -> dict[str, Any]:
    at = {"line": line, "character": 0}
    return {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": path_to_uri(path), "version": version},
        "contentChanges": [{"range": {"start": at, "end": at}, "text": text}]}}


def sent_methods(actions: list[Any], session: int) -> list[tuple[str, Any]]:
    return [(m.get("method", "<response>"), m.get("id")) for m in to_backend(actions, session)]


def test_an_edit_after_a_held_request_waits_behind_it_while_warming(repo: Path) -> None:
    h = Harness(repo, warmup_timeout=2.0)
    h.initialize()
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/other.py"
    s = h.start_backend(main)
    h.open(other)
    ref_id, _ = h.request("textDocument/definition", hover(main))
    assert to_backend(h.client(change(main, 2, 0, "import os\n")), s) == []
    # Other documents keep flowing.
    assert [m["method"] for m in to_backend(h.client(change(other, 2, 0, "#\n")), s)] == ["textDocument/didChange"]
    hover_id, actions = h.request("textDocument/hover", hover(main))
    assert to_backend(actions, s) == []
    h.now += 2.0
    h.router.timer(h.now)
    assert sent_methods(h.router.take_actions(), s) == [
        ("textDocument/definition", ref_id), ("textDocument/didChange", None), ("textDocument/hover", hover_id)]


def test_a_request_waiting_for_a_starting_backend_sees_the_text_it_was_sent_about(repo: Path) -> None:
    """The black-box finding: hover at (1,0) sent before a line is inserted at the top."""
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    actions = h.open(main, "import os\nvalue = os.sep\n")
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    rid, _ = h.request("textDocument/hover", {"textDocument": {"uri": path_to_uri(main)},
                                              "position": {"line": 1, "character": 0}})
    h.client(change(main, 2, 0, "import sys\n"))
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    assert [(m.get("method"), m.get("id")) for m in sent] == [
        ("initialized", None), ("textDocument/didOpen", None), ("textDocument/hover", rid),
        ("textDocument/didChange", None)]
    assert sent[1]["params"]["textDocument"]["text"] == "import os\nvalue = os.sep\n"


def test_a_held_workspace_wide_request_holds_every_document_behind_it(repo: Path) -> None:
    h = Harness(repo, warmup_timeout=2.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    rid, actions = h.request("workspace/symbol", {"query": ""})
    assert to_backend(actions, s) == []
    assert to_backend(h.client(change(main, 2, 0, "#\n")), s) == []
    h.now += 2.0
    h.router.timer(h.now)
    assert sent_methods(h.router.take_actions(), s) == [("workspace/symbol", rid), ("textDocument/didChange", None)]


def test_cancelling_a_held_request_lets_what_waited_behind_it_go(repo: Path) -> None:
    h = Harness(repo, warmup_timeout=2.0)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    ref_id, _ = h.request("textDocument/references", hover(main))
    h.client(change(main, 2, 0, "#\n"))
    actions = h.client({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": ref_id}})
    assert [m["id"] for m in to_client(actions)] == [ref_id]
    assert sent_methods(actions, s) == [("textDocument/didChange", None)]


def test_untitled_documents_go_to_the_most_recently_used_backend(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    h.start_backend(repo / "proj-a/pkg/main.py")
    b = h.start_backend(repo / "proj-b/pkg/main.py")
    actions = h.client({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "untitled:Untitled-1", "languageId": "python", "version": 1, "text": "x = 1\n"}}})
    assert [(a.session, a.msg["method"]) for a in actions if isinstance(a, ToBackend)] == [(b, "textDocument/didOpen")]
    rid, actions = h.request("textDocument/hover", {"textDocument": {"uri": "untitled:Untitled-1"},
                                                    "position": {"line": 0, "character": 0}})
    assert [(a.session, a.msg["id"]) for a in actions if isinstance(a, ToBackend)] == [(b, rid)]
    assert to_client(actions) == []


def test_untitled_documents_start_the_fallback_venvs_backend_when_none_runs(repo: Path) -> None:
    fallback = repo / "proj-a/.venv"
    h = Harness(repo, fallback_venv=fallback)
    h.initialize()
    h.router.take_actions()
    for session in [b.session for b in h.router.pool]:
        h.backend(session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    h.router.lifecycle.evict(h.router.pool.get(fallback), "test", h.now)  # nothing runs now
    h.router.take_actions()
    _, actions = h.request("textDocument/hover", {"textDocument": {"uri": "untitled:Untitled-2"},
                                                  "position": {"line": 0, "character": 0}})
    assert [a.venv for a in actions if isinstance(a, Spawn)] == [fallback]
    assert to_client(actions) == []


def test_a_fallback_found_after_initialize_serves_untitled_documents(repo: Path) -> None:
    """The runtime finds the startup venv only after answering initialize."""
    h = Harness(repo)
    h.initialize()
    fallback, project = repo / "elsewhere/.venv", repo / "elsewhere"
    h.router.set_fallback(fallback, project)
    h.router.prewarm(fallback, h.now, project)
    (spawn,) = [a for a in h.router.take_actions() if isinstance(a, Spawn)]
    assert (spawn.venv, spawn.cwd) == (fallback, project)
    h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    h.router.lifecycle.evict(h.router.pool.get(fallback), "test", h.now)  # nothing runs now
    h.router.take_actions()
    uri = "untitled:Untitled-3"
    _, actions = h.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": {"line": 0, "character": 0}})
    assert [a.venv for a in actions if isinstance(a, Spawn)] == [fallback]
    assert to_client(actions) == []


@pytest.mark.parametrize("library", ["node_modules/pyright/dist/typeshed-fallback/stdlib/builtins.pyi",
                                     "usr/lib/python3.11/os.py"])
def test_a_library_file_is_served_alike_opened_or_not(repo: Path, library: str) -> None:
    path = repo / "tools" / library
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    rid, actions = h.request("textDocument/hover", hover(path))  # before didOpen
    assert [(x.session, x.msg["id"]) for x in actions if isinstance(x, ToBackend)] == [(a, rid)]
    actions = h.open(path, "def f(): ...\n")  # go-to-definition opened it
    assert [(x.session, x.msg["method"]) for x in actions if isinstance(x, ToBackend)] == [(a, "textDocument/didOpen")]
    rid, actions = h.request("textDocument/hover", hover(path))
    assert [(x.session, x.msg["id"]) for x in actions if isinstance(x, ToBackend)] == [(a, rid)]
    assert to_client(actions) == []


def test_an_edit_past_the_end_is_kept_and_replayed_after_a_crash(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"  # "x = 1\n" on disk
    actions = h.open(main, "unsaved = True\n")
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    h.client(change(main, 2, 99, "tail = 1\n"))
    h.now += 60
    h.router.backend_exited(spawn.session, "exited with code 3", h.now)
    h.router.take_actions()
    _, actions = h.request("textDocument/hover", hover(main))
    (again,) = [a for a in actions if isinstance(a, Spawn)]
    sent = to_backend(h.backend(again.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    replay = [m for m in sent if m.get("method") == "textDocument/didOpen"]
    assert replay[0]["params"]["textDocument"]["text"] == "unsaved = True\ntail = 1\n"


def test_an_unreadable_edit_is_reported_once_and_never_replaced_by_disk_text(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    bad = {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": path_to_uri(main), "version": 2}, "contentChanges": [{"range": None}]}}
    actions = h.client(bad)
    notices = [m for m in to_client(actions) if m.get("method") == "window/showMessage"]
    assert len(notices) == 1 and path_to_uri(main) in notices[0]["params"]["message"]
    assert [m["method"] for m in to_backend(actions, s)] == ["textDocument/didChange"]  # routing goes on
    assert to_client(h.client({**bad, "params": {**bad["params"], "textDocument": {
        "uri": path_to_uri(main), "version": 3}}})) == []  # once
    h.router.sync.reader = lambda path: "changed on disk\n"  # the router never reads it
    h.router.backend_exited(s, "exited with code 3", h.now + 60)
    h.router.take_actions()
    h.now += 60
    _, actions = h.request("textDocument/hover", hover(main))
    (again,) = [a for a in actions if isinstance(a, Spawn)]
    sent = to_backend(h.backend(again.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    replay = [m for m in sent if m.get("method") == "textDocument/didOpen"]
    assert replay[0]["params"]["textDocument"]["text"] == "x = 1\n"  # the editor's, not the disk's


def test_a_cancelled_request_is_answered_even_when_the_backend_ignores_the_cancel(repo: Path) -> None:
    from typemux.core.router import CANCEL_GRACE

    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    rid, _ = h.request("textDocument/hover", hover(main))
    actions = h.client({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": rid}})
    assert sent_methods(actions, s) == [("$/cancelRequest", None)]
    assert to_client(actions) == []
    deadline = h.router.next_deadline()
    assert deadline is not None and deadline <= h.now + 1.0
    assert CANCEL_GRACE <= 1.0
    h.now = deadline
    h.router.timer(h.now)
    (answer,) = to_client(h.router.take_actions())
    assert answer["id"] == rid and answer["error"]["code"] == -32800
    assert h.backend(s, {"jsonrpc": "2.0", "id": rid, "result": "late"}) == []  # dropped
    assert h.router.pool.by_session(s).is_idle()


def test_a_cancel_the_backend_honours_is_answered_once_by_the_backend(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    rid, _ = h.request("textDocument/hover", hover(main))
    h.client({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": rid}})
    (answer,) = to_client(h.backend(s, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32800, "message": "x"}}))
    assert answer["error"]["message"] == "x"
    h.now += 5
    h.router.timer(h.now)
    assert to_client(h.router.take_actions()) == []
    assert h.router.next_deadline() == h.router.pool.next_deadline()  # no cancel deadline left


def test_workspace_folder_changes_are_not_forwarded(repo: Path) -> None:
    h = Harness(repo)
    h.client({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "capabilities": {}, "workspaceFolders": [{"uri": path_to_uri(repo), "name": "repo"}]}})
    h.start_backend(repo / "proj-a/pkg/main.py")
    h.start_backend(repo / "proj-b/pkg/main.py")
    added = {"uri": path_to_uri(repo / "proj-c"), "name": "c"}
    actions = h.client({"jsonrpc": "2.0", "method": "workspace/didChangeWorkspaceFolders", "params": {
        "event": {"added": [added], "removed": [{"uri": path_to_uri(repo), "name": "repo"}]}}})
    assert [a for a in actions if isinstance(a, ToBackend)] == []
    assert h.router.workspace_folders == [added]


def test_interleaved_completions_are_resolved_by_the_backend_that_produced_each_item(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a_main, b_main = repo / "proj-a/pkg/main.py", repo / "proj-b/pkg/main.py"
    a = h.start_backend(a_main)
    b = h.start_backend(b_main)
    a_id, _ = h.request("textDocument/completion", hover(a_main))
    b_id, _ = h.request("textDocument/completion", hover(b_main))
    b_items = [{"label": "from_b", "data": {"k": [1, None]}, "x-extra": None},
               {"label": "null_data", "data": None}, {"label": "no_data"}]
    (from_b,) = to_client(h.backend(b, {"jsonrpc": "2.0", "id": b_id, "result": {"isIncomplete": False, "items": b_items}}))
    (from_a,) = to_client(h.backend(a, {"jsonrpc": "2.0", "id": a_id, "result": [{"label": "from_a", "data": 7}]}))
    for item, original in zip(from_b["result"]["items"], b_items, strict=True):
        rid, actions = h.request("completionItem/resolve", item)
        assert [(x.session, x.msg["params"]) for x in actions if isinstance(x, ToBackend)] == [(b, original)]
        (resolved,) = to_client(h.backend(b, {"jsonrpc": "2.0", "id": rid, "result": {**original, "detail": "b"}}))
        # The resolved item is tagged again: resolving it once more still reaches b.
        assert resolve_session(h, resolved["result"]) == b
    rid, actions = h.request("completionItem/resolve", from_a["result"][0])
    assert [(x.session, x.msg["params"]) for x in actions if isinstance(x, ToBackend)] == [(a, {"label": "from_a", "data": 7})]


def resolve_session(h: Harness, item: dict[str, Any]) -> int:
    _, actions = h.request("completionItem/resolve", item)
    (sent,) = [x for x in actions if isinstance(x, ToBackend)]
    return sent.session


def test_a_resolve_for_a_stopped_backend_is_cancelled(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a_main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(a_main)
    rid, _ = h.request("textDocument/codeLens", hover(a_main))
    (lenses,) = to_client(h.backend(a, {"jsonrpc": "2.0", "id": rid, "result": [{"range": {}, "data": 1}]}))
    h.router.backend_exited(a, "exited with code 3", h.now)
    h.router.take_actions()
    rid, actions = h.request("codeLens/resolve", lenses["result"][0])
    (answer,) = to_client(actions)
    assert answer["id"] == rid and answer["error"]["code"] == -32800


def test_while_warming_an_edit_waits_for_the_answer_to_an_earlier_request(repo: Path) -> None:
    """pyright defers requests until its settings arrive and would answer about the edit."""
    h = Harness(repo, warmup_timeout=2.0)
    h.initialize()
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/other.py"
    s = h.start_backend(main)
    h.open(other)
    rid, actions = h.request("textDocument/hover", hover(main))
    assert sent_methods(actions, s) == [("textDocument/hover", rid)]  # not held itself
    assert to_backend(h.client(change(main, 2, 0, "#\n")), s) == []
    assert to_backend(h.client(change(other, 2, 0, "#\n")), s) != []  # other documents flow
    assert sent_methods(h.backend(s, {"jsonrpc": "2.0", "id": rid, "result": None}), s) == [
        ("textDocument/didChange", None)]
    # Unanswered, the wait ends when the backend is ready (here: warmup_timeout).
    rid, _ = h.request("textDocument/hover", hover(main))
    assert to_backend(h.client(change(main, 3, 0, "#\n")), s) == []
    h.now += 2.0
    h.router.timer(h.now)
    assert sent_methods(h.router.take_actions(), s) == [("textDocument/didChange", None)]
    # Ready: nothing waits for answers any more.
    h.request("textDocument/hover", hover(main))
    assert sent_methods(h.client(change(main, 4, 0, "#\n")), s) == [("textDocument/didChange", None)]


def test_after_shutdown_a_did_open_starts_no_backend(repo: Path) -> None:
    """Found by the model test: only exit counts after shutdown."""
    h = Harness(repo)
    h.initialize()
    h.request("shutdown", None)
    actions = h.open(repo / "proj-a/pkg/main.py")
    assert [a for a in actions if isinstance(a, Spawn | ToBackend)] == []
    assert [x.code for x in h.client({"jsonrpc": "2.0", "method": "exit"}) if isinstance(x, Exit)] == [0]


def test_a_second_request_under_a_pending_id_is_refused_and_the_first_still_answered(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    a = h.start_backend(repo / "proj-a/pkg/main.py")
    first = {"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover",
             "params": hover(repo / "proj-a/pkg/main.py")}
    assert [m["id"] for m in to_backend(h.client(first), a)] == [7]
    (refusal,) = to_client(h.client({**first, "method": "textDocument/definition"}))
    assert refusal["id"] == 7 and refusal["error"]["code"] == -32600
    assert "already used" in refusal["error"]["message"]
    (answer,) = to_client(h.backend(a, {"jsonrpc": "2.0", "id": 7, "result": {"contents": "x"}}))
    assert answer["result"] == {"contents": "x"}
    # Answered: the id may be used again.
    assert [m["id"] for m in to_backend(h.client(first), a)] == [7]


def test_a_document_moves_to_a_closer_venv_that_appears(repo: Path) -> None:
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(main)
    nested = h.lookup.add(repo / "proj-a/pkg")  # a nested project gets its own venv
    _, actions = h.request("textDocument/hover", hover(main))
    assert [m["method"] for m in to_backend(actions, a)] == ["textDocument/didClose"]
    assert not [x for x in actions if isinstance(x, Stop)]  # proj-a's backend serves on
    (spawn,) = [x for x in actions if isinstance(x, Spawn)]
    assert spawn.venv == nested
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}}))
    assert [m.get("method") for m in sent if m.get("method") != "initialized"] == [
        "textDocument/didOpen", "textDocument/hover"]
    assert h.router.documents.get(path_to_uri(main)).venv == nested


def test_a_vanished_venv_only_loses_its_documents_routing_never_checks_the_disk(repo: Path) -> None:
    """The move sends didClose; stopping the backend is the venv identity check's job."""
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    a = h.start_backend(main)
    h.lookup.remove(repo / "proj-a")
    rid, actions = h.request("textDocument/hover", hover(main))
    assert [m["method"] for m in to_backend(actions, a)] == ["textDocument/didClose"]
    assert not [x for x in actions if isinstance(x, Spawn | Stop)]
    (err,) = to_client(actions)
    assert err["id"] == rid and "no .venv found" in err["error"]["message"]
    assert h.router.documents.get(path_to_uri(main)).venv is None


def test_an_edit_after_its_venv_was_removed_starts_no_backend_for_it(repo: Path) -> None:
    """The runtime saw the venv's pyvenv.cfg gone and its backend was stopped; the next
    message is an edit: it must not start a backend for the venv that is gone (black-box
    pass 3, F3). The edit is kept, and the document follows its venv when one is found."""
    h = Harness(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    venv = repo / "proj-a/.venv"
    h.router.venv_checked(venv, VenvIdentity(1, 1, 0, 0), h.now)  # as first seen
    h.lookup.remove(repo / "proj-a")
    h.router.venv_checked(venv, None, h.now)
    assert [m["method"] for m in to_backend(h.router.take_actions(), s)] == ["shutdown"]
    actions = h.client({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": path_to_uri(main), "version": 2},
        "contentChanges": [{"text": "y = 2\n"}]}})
    assert not [a for a in actions if isinstance(a, Spawn)]
    assert h.router.documents.get(path_to_uri(main)).text == "y = 2\n"
    h.lookup.add(repo / "proj-a")  # recreated: the next request brings the edited text
    _, actions = h.request("textDocument/hover", hover(main))
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                "result": {"capabilities": {}}}))
    opened = [m for m in sent if m.get("method") == "textDocument/didOpen"]
    assert [m["params"]["textDocument"]["text"] for m in opened] == ["y = 2\n"]


def _served_from_a_root_venv(repo: Path, **overrides: Any) -> tuple[Harness, Path, int, Path]:
    """proj-a's main.py served by proj-a's backend, its venv seen once, and a venv at the
    root its files fall back to when proj-a's goes: (harness, file, session, venv)."""
    h = Harness(repo, **overrides)
    h.lookup.add(repo)
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    venv = repo / "proj-a/.venv"
    h.router.venv_checked(venv, VenvIdentity(1, 1, 0, 0), h.now)
    return h, main, s, venv


def test_a_request_with_a_backend_whose_venv_is_removed_is_routed_again(repo: Path) -> None:
    """The venv of a request's backend is removed while the request is in flight: the
    backend is stopped, and the request goes to the venv that serves its document now
    (black-box re-check, N1), instead of being answered -32800."""
    h = Harness(repo)
    h.lookup.add(repo)  # a venv at the root: proj-a's files fall back to it
    h.initialize()
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    venv = repo / "proj-a/.venv"
    h.router.venv_checked(venv, VenvIdentity(1, 1, 0, 0), h.now)
    rid, actions = h.request("textDocument/hover", hover(main))
    assert [m["id"] for m in to_backend(actions, s)] == [rid]
    h.lookup.remove(repo / "proj-a")
    h.router.venv_checked(venv, None, h.now)
    actions = h.router.take_actions()
    assert to_client(actions) == []  # not answered -32800
    assert [m.get("method") for m in to_backend(actions, s)] == ["shutdown"]
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    assert spawn.venv == repo / ".venv"
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                "result": {"capabilities": {}}}), spawn.session)
    assert [m.get("method") for m in sent] == ["initialized", "textDocument/didOpen",
                                               "textDocument/hover"]
    assert sent[2]["id"] == rid
    (answer,) = to_client(h.backend(spawn.session, {"jsonrpc": "2.0", "id": rid, "result": "int"}))
    assert answer == {"jsonrpc": "2.0", "id": rid, "result": "int"}
    # and the stopped backend's late answer to it is not a second one
    assert to_client(h.backend(s, {"jsonrpc": "2.0", "id": rid, "result": "old"})) == []


def test_a_request_routed_again_after_its_document_changed_is_answered_content_modified(
    repo: Path,
) -> None:
    """Its old backend would have answered it on the text it was asked about; the new one
    would see a later text (or none, once closed): the client gets -32801 and asks again
    (found by the model test)."""
    for then in ("change", "close"):
        h, main, s, venv = _served_from_a_root_venv(repo)
        rid, _ = h.request("textDocument/hover", hover(main))
        if then == "change":
            h.client({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": path_to_uri(main), "version": 2},
                "contentChanges": [{"text": "y = 2\n"}]}})
        else:
            h.client({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {
                "textDocument": {"uri": path_to_uri(main)}}})
        h.lookup.remove(repo / "proj-a")
        h.router.venv_checked(venv, None, h.now)
        actions = h.router.take_actions()
        (answer,) = [m for m in to_client(actions) if m.get("id") == rid]
        assert answer["error"]["code"] == -32801, then
        assert "changed since the request was sent" in answer["error"]["message"]
        assert not [m for a in actions if isinstance(a, ToBackend)
                    for m in [a.msg] if m.get("id") == rid], then
        assert [m.get("method") for m in to_backend(actions, s)] == ["shutdown"]


def test_a_request_routed_again_never_puts_a_stop_before_its_sessions_spawn(repo: Path) -> None:
    """With a pool of one, stopping the backend of a rebuilt venv lets a waiting venv in
    (a Spawn), and routing its request again can stop that new session at once: the
    runtime must see the Spawn first, or the process it then starts is never stopped
    (found by the model test)."""
    h = Harness(repo, max_backends=1)
    h.initialize()
    main_a, main_b = repo / "proj-a/pkg/main.py", repo / "proj-b/pkg/main.py"
    spawned: set[int] = set()

    def check(actions: list[Any]) -> list[Any]:
        for action in actions:
            if isinstance(action, Spawn):
                spawned.add(action.session)
            elif isinstance(action, Stop):
                assert action.session in spawned, f"Stop({action.session}) before its Spawn"
        return actions

    s = h.start_backend(main_a)
    spawned.add(s)
    venv = repo / "proj-a/.venv"
    h.router.venv_checked(venv, VenvIdentity(1, 1, 0, 0), h.now)
    check(h.router.take_actions())
    h.request("textDocument/hover", hover(main_a))
    check(h.open(main_b))  # waits for the pool's one slot
    h.router.venv_checked(venv, VenvIdentity(1, 2, 0, 0), h.now)  # rebuilt
    check(h.router.take_actions())


def test_a_request_about_a_file_never_opened_is_routed_again(repo: Path) -> None:
    """A request about a file the client never opened (a library file a definition pointed
    to) was about the file on disk: routed again, not answered ContentModified."""
    h, _, s, venv = _served_from_a_root_venv(repo)
    library = repo / "proj-a/.venv/lib/python3.11/site-packages/lib.pyi"
    rid, actions = h.request("textDocument/hover", hover(library))
    assert h.router.documents.get(path_to_uri(library)) is None
    h.lookup.remove(repo / "proj-a")
    h.router.venv_checked(venv, None, h.now)
    actions = h.router.take_actions()
    assert [m for m in to_client(actions) if m.get("id") == rid] == []
    assert [m.get("method") for m in to_backend(actions, s)] == ["shutdown"]


def test_a_resolve_whose_producer_went_with_its_venv_is_cancelled_not_sent_elsewhere(
    repo: Path,
) -> None:
    """Only the backend that produced a completion item can resolve it."""
    h, main, s, venv = _served_from_a_root_venv(repo)
    cid, actions = h.request("textDocument/completion", hover(main))
    (answer,) = to_client(h.backend(s, {"jsonrpc": "2.0", "id": cid, "result": {
        "isIncomplete": False, "items": [{"label": "x", "data": 1}]}}))
    item = answer["result"]["items"][0]
    rid, actions = h.request("completionItem/resolve", item)
    assert [m["id"] for m in to_backend(actions, s)] == [rid]
    h.lookup.remove(repo / "proj-a")
    h.router.venv_checked(venv, None, h.now)
    actions = h.router.take_actions()
    (err,) = [m for m in to_client(actions) if m.get("id") == rid]
    assert err["error"]["code"] == -32800
    assert not [a for a in actions if isinstance(a, ToBackend) and a.msg.get("id") == rid]


def test_requests_held_while_warming_are_routed_again_not_content_modified(repo: Path) -> None:
    """Requests a warming backend held (released to it when it got ready, or still held)
    keep their document's mark: when the venv is rebuilt they are routed again, since
    nothing was edited (black-box pass 5, F2: they were all answered -32801)."""
    for released in (True, False):
        h, main, s, venv = _served_from_a_root_venv(repo, warmup_timeout=30.0)
        rid, actions = h.request("textDocument/definition", hover(main))
        assert to_backend(actions, s) == []  # held: it needs the index
        if released:
            h.now += 31  # the warm-up deadline: ready, what was held goes out
            h.router.timer(h.now)
            assert [m.get("id") for m in to_backend(h.router.take_actions(), s)] == [rid]
        h.router.venv_checked(venv, VenvIdentity(1, 2, 0, 0), h.now)  # rebuilt
        actions = h.router.take_actions()
        assert [m for m in to_client(actions) if m.get("id") == rid] == [], released
        (spawn,) = [a for a in actions if isinstance(a, Spawn)]
        sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                    "result": {"capabilities": {}}}),
                          spawn.session)
        h.now += 31
        h.router.timer(h.now)
        sent += to_backend(h.router.take_actions(), spawn.session)
        assert [m.get("id") for m in sent if m.get("method") == "textDocument/definition"] == [rid]


def test_requests_waiting_for_a_pool_slot_are_routed_again_when_their_venv_is_rebuilt(
    repo: Path,
) -> None:
    """A session waiting for a slot is dropped when its venv is rebuilt; what it held is
    routed again, not answered -32800 (black-box pass 5, F1)."""
    h = Harness(repo, max_backends=1)
    h.initialize()
    main_a, main_b = repo / "proj-a/pkg/main.py", repo / "proj-b/pkg/main.py"
    b = h.start_backend(main_b)
    h.request("textDocument/hover", hover(main_b))  # b stays busy: no slot for a
    h.open(main_a)
    rid, actions = h.request("textDocument/hover", hover(main_a))
    assert not [a for a in actions if isinstance(a, Spawn)]
    (waiting,) = [s for s in h.router.pool if s.is_waiting()]
    venv = repo / "proj-a/.venv"
    h.router.venv_checked(venv, VenvIdentity(1, 1, 0, 0), h.now)
    h.router.take_actions()
    h.router.venv_checked(venv, VenvIdentity(1, 2, 0, 0), h.now)  # rebuilt
    actions = h.router.take_actions()
    assert [m for m in to_client(actions) if m.get("id") == rid] == []
    (again,) = [s for s in h.router.pool if s.is_waiting()]
    assert again.session != waiting.session and again.venv == venv
    assert [q.msg.get("id") for q in again.creating_queue if "id" in q.msg] == [rid]
    assert b in [s.session for s in h.router.pool]
