"""The Claude Code plugin (plugins/typemux/) and the marketplace (.claude-plugin/).

The structure is checked here in Python; Claude Code's own CLI then validates both and
installs the plugin from the marketplace into a throw-away HOME, proving that what lands in
Claude Code's plugin cache is the small plugin folder, not the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from typemux import __version__

REPO = Path(__file__).resolve().parents[1]
MARKETPLACE = REPO / ".claude-plugin" / "marketplace.json"
PLUGIN_DIR = REPO / "plugins" / "typemux"
MAX_PLUGIN_BYTES = 64 * 1024
# scripts/setup.sh installs the CLI here when npm is available.
LOCAL_CLAUDE = REPO / ".venv" / "claude-code" / "node_modules" / ".bin" / "claude"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_plugin_declares_typemux_as_the_python_lsp_server() -> None:
    plugin = json.loads((PLUGIN_DIR / ".claude-plugin" / "plugin.json").read_text("utf-8"))
    assert plugin["name"] == "typemux" and plugin["version"] == __version__
    server = plugin["lspServers"]["typemux"]
    assert server["command"] == "typemux"
    assert server["extensionToLanguage"] == {".py": "python", ".pyi": "python"}
    # Claude Code rejects the whole server entry when these appear.
    assert "restartOnCrash" not in server and "maxRestarts" not in server


def test_marketplace_points_at_the_small_plugin_folder_not_the_repository() -> None:
    market = json.loads(MARKETPLACE.read_text(encoding="utf-8"))
    plugin = json.loads((PLUGIN_DIR / ".claude-plugin" / "plugin.json").read_text("utf-8"))
    assert market["name"] and market["owner"]["name"]
    entry = {p["name"]: p for p in market["plugins"]}["typemux"]
    source = (REPO / entry["source"]).resolve()
    assert source == PLUGIN_DIR and source != REPO
    assert entry["version"] == plugin["version"]
    assert not (REPO / ".claude-plugin" / "plugin.json").exists()  # the root is no plugin
    assert folder_bytes(PLUGIN_DIR) < MAX_PLUGIN_BYTES


def claude_cli() -> str:
    found = shutil.which("claude") or (str(LOCAL_CLAUDE) if LOCAL_CLAUDE.exists() else None)
    if found is None:
        message = ("Claude Code's CLI is missing: scripts/setup.sh installs it with npm "
                   "(npm install --prefix .venv/claude-code @anthropic-ai/claude-code)")
        if os.environ.get("CI"):
            pytest.fail(message)  # setup installs it: missing in CI is a broken setup
        pytest.skip(message)
    return found


def run_claude(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "DISABLE_AUTOUPDATER": "1",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    env.pop("XDG_CONFIG_HOME", None)
    return subprocess.run([claude_cli(), *args], env=env, cwd=home, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.parametrize("target", [REPO, PLUGIN_DIR], ids=["marketplace", "plugin"])
def test_claude_code_cli_validates_it_strictly(target: Path, tmp_path: Path) -> None:
    proc = run_claude(["plugin", "validate", "--strict", str(target)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation passed" in proc.stdout


def test_claude_code_installs_only_the_plugin_folder(tmp_path: Path) -> None:
    added = run_claude(["plugin", "marketplace", "add", str(REPO)], tmp_path)
    assert added.returncode == 0, added.stdout + added.stderr
    installed = run_claude(["plugin", "install", "typemux@typemux"], tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    cache = tmp_path / ".claude" / "plugins" / "cache"
    manifests = list(cache.rglob(".claude-plugin/plugin.json"))
    assert len(manifests) == 1, manifests
    assert json.loads(manifests[0].read_text("utf-8"))["lspServers"]["typemux"]["command"] == "typemux"
    assert folder_bytes(cache) < MAX_PLUGIN_BYTES
    assert not list(cache.rglob("pyproject.toml"))
