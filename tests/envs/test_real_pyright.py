"""With real pyright: in a monorepo of one project per environment tool, each project sees
the package only its own environment provides, and not the other projects' packages.

This is what "the right environment" means to a user: imports resolve against it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from typing import Any

import pytest

from envs.tool_monorepo import BIN, ToolMonorepo
from support.client import LspClient, Message

pytestmark = pytest.mark.real

DIAGNOSTICS_TIMEOUT = 120


def _module(name: str) -> str:
    return "only_" + name.replace("-", "_")


def _complete(doc: str, others: list[str]) -> Any:
    """The document's diagnostics once they report every other project's module."""
    def predicate(msg: Message) -> bool:
        text = " ".join(d.get("message", "") for d in msg["params"]["diagnostics"])
        return bool(msg["params"]["uri"] == doc and all(f'"{_module(o)}"' in text for o in others))
    return predicate


@pytest.mark.skipif(not (BIN / "pyright-langserver").exists(), reason="pyright not installed")
async def test_each_project_resolves_only_its_own_environments_import(
        tool_monorepo: ToolMonorepo) -> None:
    env = tool_monorepo.typemux_environ()
    env.update({"XDG_CONFIG_HOME": "/nonexistent-typemux-test-config",
                "XDG_RUNTIME_DIR": tempfile.mkdtemp(prefix="typemux-envs-runtime-"),
                "TYPEMUX_BACKEND": "pyright", "TYPEMUX_MAX_BACKENDS": "3",
                "TYPEMUX_LOG_LEVEL": "debug"})
    client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=tool_monorepo.root,
                                   env=env)
    names = list(tool_monorepo.projects)
    timings: dict[str, float] = {}
    try:
        assert "result" in await client.initialize(tool_monorepo.root, timeout=60)
        for name in names:
            project = tool_monorepo.projects[name]
            others = [o for o in names if o != name]
            since = len(client.notifications)
            started = time.monotonic()
            doc = await client.did_open(project.path / "main.py")
            msg = await client.wait_notification(
                "textDocument/publishDiagnostics",
                _complete(doc, others), DIAGNOSTICS_TIMEOUT, since=since)
            timings[name] = time.monotonic() - started
            messages = [d.get("message", "") for d in msg["params"]["diagnostics"]]
            assert not any(f'"{_module(name)}"' in m for m in messages), (name, messages)
            unresolved = {o for o in others if any(f'"{_module(o)}"' in m for m in messages)}
            assert unresolved == set(others), (name, messages)
    finally:
        await client.shutdown_and_exit(timeout=60)
    print("didOpen to diagnostics, per project (s):",  # report for -s runs
          {k: round(v, 2) for k, v in timings.items()})
