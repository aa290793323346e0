"""Idle close is for clients that never close documents (Claude Code), not for editors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.core.idle_policy import closes_client_documents
from typemux.core.lifecycle import LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.uris import path_to_uri
from typemux.venv import VenvResolver
from unit.test_document_sync import SyncHarness, sent
from unit.test_router import KIND, make_project

VSCODE = {"name": "Visual Studio Code", "version": "1.99.0"}


class PolicyHarness(SyncHarness):
    def __init__(self, root: Path, mode: str | None = None) -> None:
        super().__init__(root, idle=30.0)
        lifecycle = LifecycleSettings(argv=["/usr/bin/fake-lsp"], warmup_timeout=0.0, pid=4242)
        extra: dict[str, Any] = {} if mode is None else {"document_idle_close_clients": mode}
        self.router = Router(RouterSettings(lifecycle, document_idle_close=30.0, **extra), KIND,
                             VenvResolver(cache_seconds=0))

    def init(self, client_info: dict[str, Any] | None) -> None:
        params: dict[str, Any] = {"processId": 1, "rootUri": None, "capabilities": {}}
        if client_info is not None:
            params["clientInfo"] = client_info
        self.client({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})

    def idle_closes(self, session: int) -> list[dict[str, Any]]:
        self.now += 31
        self.router.timer(self.now)
        return sent(self.router.take_actions(), session, "textDocument/didClose")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_project(tmp_path, "proj-a")
    return tmp_path


@pytest.mark.parametrize(("info", "closes"), [
    (None, True),  # Claude Code 2.1 sends no clientInfo
    ({"name": "claude-code", "version": "2.2.0"}, True),
    ({"name": "Claude Code"}, True),
    ({"name": ""}, True),
    (VSCODE, False),
    ({"name": "Neovim"}, False),
    ("nonsense", True),
])
def test_auto_closes_for_clients_that_never_close(info: Any, closes: bool) -> None:
    assert closes_client_documents("auto", info) is closes
    assert closes_client_documents("all", info) is True


def test_an_editors_idle_document_stays_open_in_its_backend(repo: Path) -> None:
    h = PolicyHarness(repo)
    h.init(VSCODE)
    s = h.start_backend(repo / "proj-a/pkg/main.py")
    assert h.idle_closes(s) == []


def test_claude_codes_idle_document_is_closed_in_its_backend(repo: Path) -> None:
    h = PolicyHarness(repo)
    h.init(None)
    main = repo / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    (close,) = h.idle_closes(s)
    assert close["params"]["textDocument"]["uri"] == path_to_uri(main)


def test_a_client_seen_closing_documents_keeps_its_other_documents_open(repo: Path) -> None:
    h = PolicyHarness(repo)
    h.init(None)
    main, other = repo / "proj-a/pkg/main.py", repo / "proj-a/pkg/other.py"
    s = h.start_backend(main)
    h.open(other)
    h.notify("textDocument/didClose", {"textDocument": {"uri": path_to_uri(other)}})
    assert h.idle_closes(s) == []


def test_all_closes_an_editors_idle_documents_too(repo: Path) -> None:
    h = PolicyHarness(repo, "all")
    h.init(VSCODE)
    s = h.start_backend(repo / "proj-a/pkg/main.py")
    assert len(h.idle_closes(s)) == 1


def test_the_setting_loads_from_the_environment_and_refuses_other_values(tmp_path: Path) -> None:
    from typemux.config import ConfigError, load_settings
    from typemux.fast_config import load_serve_settings

    home = {"HOME": str(tmp_path)}
    assert load_settings(env=home).settings.document_idle_close_clients == "auto"
    env = {**home, "TYPEMUX_DOCUMENT_IDLE_CLOSE_CLIENTS": "all"}
    assert load_settings(env=env).settings.document_idle_close_clients == "all"
    assert load_serve_settings(env=env).document_idle_close_clients == "all"
    with pytest.raises(ConfigError, match="document_idle_close_clients"):
        load_settings(env={**home, "TYPEMUX_DOCUMENT_IDLE_CLOSE_CLIENTS": "editors"})
