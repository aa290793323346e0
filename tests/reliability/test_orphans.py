"""No backend process, nor any child of one, outlives typemux, however typemux ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from conftest import StartTypemux, typemux_env
from support.client import LspClient

ENDINGS = ("exit", "stdin_eof", "sigterm", "sigkill")


def descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).children(recursive=True)
    return []


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Processes still running (a zombie has ended; only its parent has not reaped it)."""
    result = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                result.append(proc)
        except psutil.NoSuchProcess:
            pass
    return result


def is_node(proc: psutil.Process) -> bool:
    """node renames its main thread ("MainThread"), so look at what was executed."""
    with contextlib.suppress(psutil.Error):
        argv = proc.cmdline()
        return bool(argv) and os.path.basename(argv[0]).startswith("node")
    return False


async def wait_for_tree(pid: int, predicate: object, timeout: float = 30) -> list[psutil.Process]:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while True:
        procs = alive(descendants(pid))
        if predicate(procs) or time.monotonic() > deadline:
            return procs
        await asyncio.sleep(0.05)


async def end_typemux(client: LspClient, how: str) -> None:
    if how == "exit":
        await client.shutdown_and_exit()
    elif how == "stdin_eof":
        stdin = client.process.stdin
        assert stdin is not None
        stdin.close()
        await client.wait_exit(15)
    elif how == "sigterm":
        client.process.send_signal(signal.SIGTERM)
        await client.wait_exit(15)
    else:
        client.process.send_signal(signal.SIGKILL)
        await client.wait_exit(15)


async def assert_all_gone(procs: list[psutil.Process], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(procs) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    left = [(p.pid, p.info if hasattr(p, "info") else None) for p in alive(procs)]
    for proc in alive(procs):  # never leave them behind for the next test
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    assert left == [], f"processes outlived typemux: {left}"


@pytest.fixture
async def clients() -> AsyncIterator[list[LspClient]]:
    started: list[LspClient] = []
    yield started
    for client in started:
        await client.aclose()


@pytest.mark.parametrize("how", ENDINGS)
async def test_fake_backends_and_their_children_never_outlive_typemux(
    monorepo: dict[str, Path], start_typemux: StartTypemux, how: str
) -> None:
    for project in monorepo.values():
        (project / ".venv" / "fake-lsp.json").write_text(json.dumps({"spawn_child": True}))
    root = monorepo["proj-a"].parent
    client = await start_typemux(root, log_level="info")
    await client.initialize(root)
    for project in monorepo.values():
        doc = await client.did_open(project / "main.py")
        answer = await client.request("textDocument/hover", {
            "textDocument": {"uri": doc}, "position": {"line": 0, "character": 0}})
        assert "result" in answer
    # two backends, each with its `sleep` child (and typemux's watchdog)
    procs = await wait_for_tree(
        client.pid, lambda ps: sum(p.name() == "sleep" for p in ps) >= 2)
    assert sum(p.name() == "sleep" for p in procs) == 2, [p.name() for p in procs]
    await end_typemux(client, how)
    await assert_all_gone(procs)


@pytest.mark.real
@pytest.mark.parametrize("how", ENDINGS)
async def test_real_pyright_and_its_node_child_never_outlive_typemux(
    monorepo: dict[str, Path], clients: list[LspClient], how: str
) -> None:
    bin_dir = str(Path(sys.executable).parent)
    if shutil.which("pyright-langserver", path=bin_dir) is None:
        pytest.skip("pyright-langserver is not installed next to the test interpreter")
    root = monorepo["proj-a"].parent
    env = typemux_env(backend="pyright", warmup_timeout=5, log_level="info")
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=root, env=env)
    clients.append(client)
    await client.initialize(root)
    doc = await client.did_open(monorepo["proj-a"] / "main.py")
    await client.request("textDocument/hover", {
        "textDocument": {"uri": doc}, "position": {"line": 0, "character": 4}}, timeout=60)
    procs = await wait_for_tree(client.pid, lambda ps: any(is_node(p) for p in ps))
    assert any(is_node(p) for p in procs), [p.name() for p in procs]
    await end_typemux(client, how)
    await assert_all_gone(procs)
