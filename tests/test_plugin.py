"""The Claude Code plugin manifest and its marketplace file."""

from __future__ import annotations

import json
from pathlib import Path

from typemux import __version__

PLUGIN_DIR = Path(__file__).resolve().parents[1] / ".claude-plugin"


def test_plugin_declares_typemux_as_the_python_lsp_server() -> None:
    plugin = json.loads((PLUGIN_DIR / "plugin.json").read_text(encoding="utf-8"))
    assert plugin["name"] == "typemux" and plugin["version"] == __version__
    server = plugin["lspServers"]["typemux"]
    assert server["command"] == "typemux"
    assert server["extensionToLanguage"] == {".py": "python", ".pyi": "python"}
    # Claude Code rejects the whole server entry when these appear.
    assert "restartOnCrash" not in server and "maxRestarts" not in server


def test_marketplace_lists_the_plugin_from_this_repository() -> None:
    market = json.loads((PLUGIN_DIR / "marketplace.json").read_text(encoding="utf-8"))
    plugin = json.loads((PLUGIN_DIR / "plugin.json").read_text(encoding="utf-8"))
    assert market["name"] and market["owner"]["name"]
    entries = {p["name"]: p for p in market["plugins"]}
    assert entries["typemux"]["source"] == "./"
    assert entries["typemux"]["version"] == plugin["version"]
