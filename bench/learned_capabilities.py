"""The capabilities typemux answers, first from its recorded table, then learned from the
installed backend (a version newer than the table's, e.g. pyrefly 1.5.0).

    python -m venv /tmp/pyrefly15 && /tmp/pyrefly15/bin/pip install pyrefly==1.5.0
    .venv/bin/python bench/learned_capabilities.py --kind pyrefly --bin /tmp/pyrefly15/bin

Two sessions share a fresh capabilities cache: the first (an editor that registers semantic
tokens dynamically) gets the table's answer and, after the first handshake, a
client/registerCapability for what the live backend offers beyond it; the second (Claude
Code's profile) gets the learned capabilities in its initialize answer at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from real.test_claude_code import make_project
from support.client import CLAUDE_CODE_CAPABILITIES, EDITOR_CAPABILITIES, LspClient

SEMANTIC_TOKENS = {"dynamicRegistration": True, "requests": {"full": True}, "tokenTypes": [],
                   "tokenModifiers": [], "formats": ["relative"]}


async def session(kind: str, bin_dir: str, project: Path, cache: str,
                  caps: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TYPEMUX_")}
    env.update(XDG_CACHE_HOME=cache, XDG_CONFIG_HOME="/nonexistent-typemux-bench-config",
               TYPEMUX_BACKEND=kind, TYPEMUX_LOG_LEVEL="warning",
               PATH=os.pathsep.join([bin_dir, env.get("PATH", "")]))
    client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=project.root, env=env)
    try:
        init = await client.initialize(project.root, capabilities=caps)
        await client.did_open(project.main)
        await client.wait_notification("textDocument/publishDiagnostics", None, 60)
        await asyncio.sleep(1)
        registered = [reg["method"] for r in client.server_requests
                      if r["method"] == "client/registerCapability"
                      for reg in r["params"]["registrations"]]
        await client.shutdown_and_exit()
    finally:
        await client.aclose()
    return init["result"]["capabilities"], registered


async def main(kind: str, bin_dir: str) -> None:
    with tempfile.TemporaryDirectory(prefix="learned-caps-") as tmp:
        project = make_project(Path(tmp) / "proj")
        cache = str(Path(tmp) / "cache")
        editor = {**EDITOR_CAPABILITIES, "textDocument": {
            **EDITOR_CAPABILITIES["textDocument"], "semanticTokens": SEMANTIC_TOKENS}}
        first, registered = await session(kind, bin_dir, project, cache, editor)
        second, _ = await session(kind, bin_dir, project, cache, CLAUDE_CODE_CAPABILITIES)
        learned = sorted(set(second) - set(first))
        print(f"{kind} from {bin_dir}")
        print(f"  1st session (no cache): initialize answered {len(first)} capabilities")
        print(f"  1st session: registered dynamically after the handshake: {registered}")
        print(f"  2nd session (cache): initialize answered {len(second)} capabilities; "
              f"new: {learned}")
        print(f"  cache files: {os.listdir(Path(cache) / 'typemux' / 'capabilities')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="pyrefly")
    parser.add_argument("--bin", required=True, help="directory holding the backend's command")
    args = parser.parse_args()
    asyncio.run(main(args.kind, args.bin))
