"""Sans-IO decisions about backend processes (issue 9): hang detection, and nothing started
after shutdown, exit, EOF or SIGTERM. Plain dicts in, actions out, time passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.core.actions import Spawn, Stop, ToBackend, ToClient
from typemux.core.lifecycle import INIT_ID, LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.uris import path_to_uri
from typemux.venv import VenvResolver

KIND = BackendKind(name="fake", command=("fake-lsp",), version_command=None,
                   capabilities={"hoverProvider": True}, readiness=ReadinessDetector)


class Harness:
    def __init__(self, root: Path, hang_timeout: float = 30.0) -> None:
        (root / ".git").mkdir(exist_ok=True)
        self.logged: list[tuple[str, dict[str, Any]]] = []
        self.router = Router(
            RouterSettings(LifecycleSettings(argv=["/usr/bin/fake-lsp"], warmup_timeout=0.0, backend_ttl=0,
                                             hang_timeout=hang_timeout)),
            KIND, VenvResolver(cache_seconds=0),
            log=lambda event, **fields: self.logged.append((event, fields)))
        self.now = 100.0
        self.next_id = 0

    def client(self, msg: dict[str, Any]) -> list[Any]:
        self.router.client_message(msg, None, self.now)
        return self.router.take_actions()

    def backend(self, session: int, msg: dict[str, Any]) -> list[Any]:
        self.router.backend_message(session, msg, None, self.now)
        return self.router.take_actions()

    def timer(self) -> list[Any]:
        self.router.timer(self.now)
        return self.router.take_actions()

    def request(self, method: str, params: Any) -> tuple[int, list[Any]]:
        self.next_id += 1
        return self.next_id, self.client(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})

    def initialize(self) -> None:
        self.client({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                     "params": {"processId": 1, "rootUri": None, "capabilities": {}}})

    def open(self, path: Path) -> list[Any]:
        return self.client({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": path_to_uri(path), "languageId": "python", "version": 1,
                             "text": "x = 1\n"}}})

    def handshake(self, actions: list[Any]) -> int:
        spawn = next(a for a in actions if isinstance(a, Spawn))
        self.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
        return spawn.session


def project(root: Path, name: str) -> Path:
    (root / name / ".venv" / "bin").mkdir(parents=True)
    (root / name / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / name / "main.py").write_text("x = 1\n")
    return root / name / "main.py"


def hover(path: Path) -> dict[str, Any]:
    return {"textDocument": {"uri": path_to_uri(path)}, "position": {"line": 0, "character": 0}}


def spawns(actions: list[Any]) -> list[Spawn]:
    return [a for a in actions if isinstance(a, Spawn)]


def to_client(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.msg for a in actions if isinstance(a, ToClient)]


@pytest.fixture
def main(tmp_path: Path) -> Path:
    return project(tmp_path, "proj")


# ----- hang detection ----------------------------------------------------------------------


def test_a_backend_silent_with_requests_pending_is_restarted_with_its_documents(
    tmp_path: Path, main: Path
) -> None:
    h = Harness(tmp_path, hang_timeout=30)
    h.initialize()
    old = h.handshake(h.open(main))
    h.now += 100  # long idle silence is no hang
    assert h.router.next_deadline() is None
    rid, _ = h.request("textDocument/hover", hover(main))
    assert h.router.next_deadline() == pytest.approx(h.now + 30)
    h.now += 29.9
    assert h.timer() == []
    h.now += 0.1
    actions = h.timer()
    (error,) = [m for m in to_client(actions) if m.get("id") == rid]
    assert error["error"]["code"] == -32800
    message = error["error"]["message"]
    assert message.startswith("typemux:") and "hang_timeout 30 s" in message
    assert str(main.parent / ".venv") in message and f"session {old}" in message
    shows = [m for m in to_client(actions) if m.get("method") == "window/showMessage"]
    assert len(shows) == 1 and "hang_timeout" in shows[0]["params"]["message"]
    assert [(a.session, a.graceful) for a in actions if isinstance(a, Stop)] == [(old, False)]
    (spawn,) = spawns(actions)
    assert spawn.session != old and spawn.venv == (main.parent / ".venv").resolve()
    # The new backend gets the documents replayed after its handshake.
    after = h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    opened = [a.msg for a in after if isinstance(a, ToBackend) and a.msg.get("method") == "textDocument/didOpen"]
    assert [m["params"]["textDocument"]["uri"] for m in opened] == [path_to_uri(main)]
    assert any(event == "backend_hung" for event, _ in h.logged)
    # A late answer from the old session is stale: nothing reaches the client twice.
    assert to_client(h.backend(old, {"jsonrpc": "2.0", "id": rid, "result": None})) == []


def test_any_output_counts_as_life(tmp_path: Path, main: Path) -> None:
    h = Harness(tmp_path, hang_timeout=30)
    h.initialize()
    session = h.handshake(h.open(main))
    rid, _ = h.request("textDocument/hover", hover(main))
    for _ in range(5):  # a slow index that keeps reporting progress
        h.now += 20
        h.backend(session, {"jsonrpc": "2.0", "method": "window/logMessage",
                            "params": {"type": 4, "message": "indexing"}})
        assert h.router.next_deadline() == pytest.approx(h.now + 30)
        assert not [a for a in h.timer() if isinstance(a, Stop)]
    answer = h.backend(session, {"jsonrpc": "2.0", "id": rid, "result": {"contents": "x"}})
    assert to_client(answer)[0]["id"] == rid
    assert h.router.next_deadline() is None  # nothing pending any more


def test_the_clock_starts_at_the_oldest_pending_request_after_the_last_output(
    tmp_path: Path, main: Path
) -> None:
    h = Harness(tmp_path, hang_timeout=30)
    h.initialize()
    session = h.handshake(h.open(main))
    first, _ = h.request("textDocument/hover", hover(main))
    sent_first = h.now
    h.now += 10
    h.request("textDocument/hover", hover(main))
    assert h.router.next_deadline() == pytest.approx(sent_first + 30)
    h.now += 5
    h.backend(session, {"jsonrpc": "2.0", "id": first, "result": None})
    assert h.router.next_deadline() == pytest.approx(h.now + 30)


def test_a_backend_waiting_for_the_client_is_not_hung(tmp_path: Path, main: Path) -> None:
    h = Harness(tmp_path, hang_timeout=30)
    h.client({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "processId": 1, "rootUri": None,
        "capabilities": {"window": {"showMessage": {"messageActionItem": {}}}}}})
    session = h.handshake(h.open(main))
    h.request("textDocument/hover", hover(main))
    asked = h.backend(session, {"jsonrpc": "2.0", "id": "ask", "method": "window/showMessageRequest",
                                "params": {"type": 3, "message": "reload?", "actions": [{"title": "yes"}]}})
    assert [m.get("method") for m in to_client(asked)] == ["window/showMessageRequest"]
    assert h.router.next_deadline() is None
    h.now += 1000
    assert not [a for a in h.timer() if isinstance(a, Stop)]


def test_hang_detection_off_with_zero(tmp_path: Path, main: Path) -> None:
    h = Harness(tmp_path, hang_timeout=0)
    h.initialize()
    h.handshake(h.open(main))
    h.request("textDocument/hover", hover(main))
    assert h.router.next_deadline() is None
    h.now += 10_000
    assert not [a for a in h.timer() if isinstance(a, Stop)]


# ----- nothing is started after the end --------------------------------------------------


def test_after_shutdown_opens_spawn_nothing_requests_get_shutting_down(tmp_path: Path, main: Path) -> None:
    other = project(tmp_path, "other")
    h = Harness(tmp_path)
    h.initialize()
    h.handshake(h.open(main))
    _, actions = h.request("shutdown", None)
    assert [m["result"] for m in to_client(actions)] == [None]
    assert spawns(h.open(other)) == []
    assert ("notification_dropped", {"method": "textDocument/didOpen", "why": "after shutdown"}) in h.logged
    rid, actions = h.request("textDocument/hover", hover(other))
    (error,) = to_client(actions)
    assert error["id"] == rid and "shutting down" in error["error"]["message"]
    assert spawns(actions) == []
    h.router.prewarm(other.parent / ".venv", h.now)
    assert spawns(h.router.take_actions()) == []


@pytest.mark.parametrize("ending", ["exit", "eof", "sigterm"])
def test_after_the_end_nothing_is_spawned(tmp_path: Path, main: Path, ending: str) -> None:
    other = project(tmp_path, "other")
    h = Harness(tmp_path)
    h.initialize()
    h.handshake(h.open(main))
    if ending == "exit":
        h.client({"jsonrpc": "2.0", "method": "exit"})
    elif ending == "eof":
        h.router.client_eof(h.now)
    else:
        h.router.terminate(h.now)
    h.router.take_actions()
    assert spawns(h.open(other)) == []
    assert spawns(h.request("textDocument/hover", hover(other))[1]) == []
    h.router.prewarm(other.parent / ".venv", h.now)
    h.now += 1000
    h.router.timer(h.now)
    assert spawns(h.router.take_actions()) == []
