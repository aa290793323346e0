"""Messages about a document whose environment a tool is still being asked for wait for
the answer (bounded) instead of failing with "no environment"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.venv_lookup import DictLookup
from typemux.core.actions import Spawn, ToClient
from typemux.core.env_wait import EnvWait
from typemux.core.lifecycle import INIT_ID, LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.documents import DocumentStore
from typemux.envs import Venv
from typemux.uris import path_to_uri
from typemux.venv import VenvResolver
from unit.test_router import KIND, Harness, hover, make_project, to_backend, to_client

ASK_TIMEOUT = 15.0  # ToolAsker's default


class AskingResolver(VenvResolver):
    """A resolver whose answer for the projects in `waiting` is a tool's, not given yet."""

    def __init__(self) -> None:
        super().__init__(cache_seconds=0)
        self.waiting: set[Path] = set()

    def _asking(self, file: Path) -> bool:
        return any(file.is_relative_to(p) for p in self.waiting)

    def find(self, file: Path) -> Venv | None:
        return None if self._asking(file) else super().find(file)

    def pending(self, file: Path) -> bool:
        return self._asking(file)


class WaitHarness(Harness):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.resolver = AskingResolver()
        self.router = Router(RouterSettings(LifecycleSettings(argv=["/usr/bin/fake-lsp"],
                                                              warmup_timeout=0.0, pid=4242)),
                             KIND, self.resolver)

    def answered(self) -> list[Any]:
        self.resolver.waiting.clear()
        self.router.environments_answered(self.now)
        return self.router.take_actions()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_project(tmp_path, "proj-a")
    make_project(tmp_path, "proj-b")
    return tmp_path


def errors(actions: list[Any]) -> list[dict[str, Any]]:
    return [m for m in to_client(actions) if "error" in m]


def test_the_first_request_waits_for_the_tools_answer(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    h.resolver.waiting.add(repo / "proj-a")
    main = repo / "proj-a/pkg/main.py"
    assert h.open(main) == []
    request_id, actions = h.request("textDocument/hover", hover(main))
    assert actions == []  # no "no environment" error: it waits
    assert h.router.next_deadline() == pytest.approx(h.now + ASK_TIMEOUT + 1)
    actions = h.answered()
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    assert spawn.venv == (repo / "proj-a/.venv").resolve() and errors(actions) == []
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                "result": {"capabilities": {}}}))
    assert [(m.get("method"), m.get("id")) for m in sent[1:]] == [
        ("textDocument/didOpen", None), ("textDocument/hover", request_id)]
    assert h.router.next_deadline() is None or h.router.next_deadline() > h.now + 100


def test_later_messages_about_the_document_keep_their_order_and_others_go_on(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    h.resolver.waiting.add(repo / "proj-a")
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-b/pkg/main.py"
    h.open(main)
    h.client({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": path_to_uri(main), "version": 2},
        "contentChanges": [{"text": "y = 2\n"}]}})
    assert [a for a in h.open(other) if isinstance(a, Spawn)]  # proj-b is not held up
    h.answered()
    assert h.router.documents.get(path_to_uri(main)).text == "y = 2\n"  # type: ignore[union-attr]


def test_without_an_answer_the_messages_go_on_at_the_deadline(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    h.resolver.waiting.add(repo / "proj-a")
    main = repo / "proj-a/pkg/main.py"
    request_id, _ = h.request("textDocument/hover", hover(main))
    h.now += ASK_TIMEOUT + 1
    h.router.timer(h.now)
    (error,) = errors(h.router.take_actions())
    assert error["id"] == request_id and "no .venv found" in error["error"]["message"]
    # given up for this document: the next request is answered at once
    next_id, actions = h.request("textDocument/hover", hover(main))
    assert [e["id"] for e in errors(actions)] == [next_id]


def test_shutdown_answers_what_waits_first(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    h.resolver.waiting.add(repo / "proj-a")
    request_id, _ = h.request("textDocument/hover", hover(repo / "proj-a/pkg/main.py"))
    shutdown_id, actions = h.request("shutdown", None)
    answers = [m["id"] for m in to_client(actions) if "id" in m]
    assert answers == [request_id, shutdown_id]


def test_an_answer_without_environment_gives_the_error_then(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    bare = repo / "proj-c"
    make_project(repo, "proj-c", venv=False)
    h.resolver.waiting.add(bare)
    request_id, actions = h.request("textDocument/hover", hover(bare / "pkg/main.py"))
    assert actions == []
    (error,) = errors(h.answered())
    assert error["id"] == request_id


def test_the_answer_event_is_harmless_when_nothing_waits(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    assert h.answered() == []
    assert not [a for a in h.answered() if isinstance(a, ToClient)]


def test_a_held_message_whose_handling_fails_is_answered_and_the_rest_go_on(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = WaitHarness(repo)
    h.initialize()
    h.resolver.waiting.add(repo / "proj-a")
    main = repo / "proj-a/pkg/main.py"
    broken_id, _ = h.request("textDocument/hover", hover(main))
    h.open(main)
    original = h.router._client_request

    def failing(method: str, msg: dict[str, Any], raw: bytes | None, now: float) -> None:
        if msg["id"] == broken_id:
            raise RuntimeError("a bug")
        original(method, msg, raw, now)

    monkeypatch.setattr(h.router, "_client_request", failing)
    actions = h.answered()
    (error,) = errors(actions)
    assert error["id"] == broken_id and "internal error" in error["error"]["message"]
    assert [a for a in actions if isinstance(a, Spawn)]  # the didOpen behind it went on


def test_a_lookup_that_never_asks_a_tool_never_makes_anything_wait(repo: Path) -> None:
    lookup = DictLookup()  # pending_wait 0: a lookup that never asks a tool
    lookup.asking.add(repo / "proj-a")
    wait = EnvWait(DocumentStore(), lookup)
    msg = {"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover",
           "params": hover(repo / "proj-a/pkg/main.py")}
    assert wait.hold(msg, None, 0.0) == (False, [])
    assert VenvResolver(ask_tools=False).pending_wait == 0.0
    assert VenvResolver().pending_wait == ASK_TIMEOUT + 1


def _note(path: Path, n: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": path_to_uri(path), "version": n},
                       "contentChanges": [{"text": f"x = {n}\n"}]}}


def test_env_wait_returns_what_it_releases_in_order_and_calls_nothing(repo: Path) -> None:
    lookup = DictLookup()
    lookup.pending_wait = 10.0
    lookup.add(repo / "proj-a")
    lookup.asking.add(repo / "proj-a")
    wait = EnvWait(DocumentStore(), lookup)
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-b/pkg/main.py"
    first, second = _note(main, 1), _note(main, 2)
    assert wait.hold(first, b"1", 0.0) == (True, [])
    assert wait.hold(second, b"2", 0.5) == (True, [])
    assert wait.hold(_note(other, 1), None, 0.5) == (False, [])  # not pending: goes on
    assert wait.next_deadline() == 10.0
    assert wait.release(1.0) == []  # still asking
    lookup.asking.clear()
    assert wait.release(1.0) == [(first, b"1"), (second, b"2")]
    assert wait.release(1.0) == [] and wait.next_deadline() is None


def test_env_wait_gives_everything_back_before_shutdown_and_at_the_deadline(repo: Path) -> None:
    lookup = DictLookup()
    lookup.pending_wait = 10.0
    lookup.asking.update({repo / "proj-a", repo / "proj-b"})
    wait = EnvWait(DocumentStore(), lookup)
    a, b = _note(repo / "proj-a/pkg/main.py", 1), _note(repo / "proj-b/pkg/main.py", 1)
    assert wait.hold(a, None, 0.0)[0] and wait.hold(b, None, 5.0)[0]
    assert wait.release(10.0) == [(a, None)]  # a's deadline passed, b's not yet
    shutdown = {"jsonrpc": "2.0", "id": 9, "method": "shutdown"}
    assert wait.hold(shutdown, None, 11.0) == (False, [(b, None)])


def test_a_request_cancelled_while_it_waits_is_answered_cancelled_at_once(repo: Path) -> None:
    h = WaitHarness(repo)
    h.initialize()
    h.resolver.waiting.add(repo / "proj-a")
    main = repo / "proj-a/pkg/main.py"
    h.open(main)
    request_id, _ = h.request("textDocument/hover", hover(main))
    actions = h.client({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request_id}})
    (answer,) = to_client(actions)
    assert answer["id"] == request_id and answer["error"]["code"] == -32800
    actions = h.answered()
    (spawn,) = [a for a in actions if isinstance(a, Spawn)]
    assert to_client(actions) == []  # answered once: it does not go on when the tool answers
    sent = to_backend(h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                "result": {"capabilities": {}}}))
    assert [m["method"] for m in sent] == ["initialized", "textDocument/didOpen"]
