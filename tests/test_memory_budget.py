"""max_memory_mb: backends' process-tree RSS is sampled and the LRU ones are evicted."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import StartTypemux
from support.workspace import make_monorepo
from typemux.runtime.memory import group_rss, parse_stat, process_start_time
from typemux.runtime.statefile import read_states

MB = 2**20
HOLD = (
    "import subprocess, sys, time\n"
    "block = bytearray(int(sys.argv[1]) * 2**20); block[::4096] = b'\\1' * len(block[::4096])\n"
    "if len(sys.argv) > 2:\n"
    "    subprocess.Popen([sys.executable, __file__, sys.argv[2]])\n"
    "print('ready', flush=True); time.sleep(60)\n"
)


def test_parse_stat_handles_spaces_and_parens_in_the_name() -> None:
    line = "42 (a b) c)) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 1000 250 0 0"
    assert parse_stat(line) == (42, 250, 777)
    assert parse_stat("garbage") is None


def test_group_rss_sums_the_whole_process_group(tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(HOLD)
    leader = subprocess.Popen([sys.executable, str(script), "40", "30"], stdout=subprocess.PIPE,
                              start_new_session=True)
    try:
        assert leader.stdout is not None and leader.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 10
        total = 0
        while time.monotonic() < deadline:
            total = group_rss([leader.pid]).get(leader.pid, 0)
            if total >= 70 * MB:
                break
            time.sleep(0.1)
        assert total >= 70 * MB  # leader's 40 MB + its child's 30 MB
        assert group_rss([]) == {}
        assert process_start_time(leader.pid) is not None
    finally:
        os.killpg(leader.pid, 9)
        leader.wait()


async def wait_backends(runtime: Path, pid: int, predicate: Any, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    backends: list[Any] = []
    while time.monotonic() < deadline:
        states = {s["pid"]: s for s in read_states(runtime, clean=False)}
        if pid in states:
            backends = states[pid]["backends"]
            if predicate(backends):
                return backends
        await asyncio.sleep(0.2)
    raise AssertionError(f"backends never matched: {backends}")


async def test_least_recently_used_backend_is_evicted_over_the_budget(
    tmp_path: Path, start_typemux: StartTypemux, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    projects = make_monorepo(tmp_path / "mono", ("a", "b", "c"))
    for project in projects.values():
        (project / ".venv" / "fake-lsp.json").write_text(json.dumps({"memory_mb": 60}))
    root = tmp_path / "mono"
    log_file = tmp_path / "typemux.log"
    # Each fake holds ~60 MB over a ~40 MB interpreter: two fit in 250 MB, three do not.
    client = await start_typemux(root, max_memory_mb=250, log_file=log_file)
    await client.initialize(root)
    uris = {}
    for name in ("a", "b", "c"):
        uris[name] = await client.did_open(projects[name] / "main.py")
        await client.wait_notification(
            "textDocument/publishDiagnostics", lambda m, u=uris[name]: m["params"]["uri"] == u)
    venvs = {name: str(p.resolve() / ".venv") for name, p in projects.items()}
    backends = await wait_backends(runtime / "typemux", client.pid,
                                   lambda bs: {b["venv"] for b in bs} == {venvs["b"], venvs["c"]})
    assert all(b["rss"] is not None and b["rss"] > 60 * MB for b in backends)
    evictions = [json.loads(line) for line in log_file.read_text().splitlines()
                 if '"backend_evict"' in line]
    assert [e["venv"] for e in evictions] == [venvs["a"]]
    assert "max_memory_mb 250 MB" in evictions[0]["why"]
    # The evicted venv is served again on its next request (it is restarted).
    hover = await client.request("textDocument/hover", {
        "textDocument": {"uri": uris["a"]}, "position": {"line": 0, "character": 0}}, timeout=20)
    assert hover["result"]["contents"]["value"].startswith("a ")
