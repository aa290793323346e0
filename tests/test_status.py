"""State files of running proxies and `typemux status` over them."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import StartTypemux, typemux_env
from typemux.runtime.statefile import StateFile, read_states, state_dir


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    return path


def status(runtime_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**typemux_env(), "XDG_RUNTIME_DIR": str(runtime_dir)}
    return subprocess.run([sys.executable, "-m", "typemux", "status", *args], env=env,
                          capture_output=True, text=True, timeout=30, check=False)


async def wait_state(directory: Path, pid: int, predicate: Any, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        states = {s["pid"]: s for s in read_states(directory, clean=False)}
        if pid in states and predicate(states[pid]):
            return states[pid]
        if time.monotonic() > deadline:
            raise AssertionError(f"state of {pid} never matched; last: {states.get(pid)}")
        await asyncio.sleep(0.1)


def ready_venvs(state: dict[str, Any]) -> set[str]:
    return {b["venv"] for b in state["backends"] if b["state"] == "ready"}


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


async def test_status_lists_two_running_proxies_and_their_backends(
    monorepo: dict[str, Path], start_typemux: StartTypemux, runtime_dir: Path
) -> None:
    root = monorepo["proj-a"].parent
    first = await start_typemux(root)
    second = await start_typemux(root)
    for client in (first, second):
        await client.initialize(root)
    await first.did_open(monorepo["proj-a"] / "main.py")
    await second.did_open(monorepo["proj-a"] / "main.py")
    await second.did_open(monorepo["proj-b"] / "main.py")
    venv_a = str(monorepo["proj-a"].resolve() / ".venv")
    venv_b = str(monorepo["proj-b"].resolve() / ".venv")
    await wait_state(runtime_dir / "typemux", first.pid, lambda s: ready_venvs(s) == {venv_a})
    await wait_state(runtime_dir / "typemux", second.pid,
                     lambda s: ready_venvs(s) == {venv_a, venv_b})

    proc = status(runtime_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    proxies = {p["pid"]: p for p in json.loads(proc.stdout)["proxies"]}
    assert set(proxies) == {first.pid, second.pid}
    two = proxies[second.pid]
    assert two["cwd"] == str(root.resolve()) and two["backend"] == "generic"
    assert two["totals"]["backends"] == 2 and two["totals"]["by_state"] == {"ready": 2}
    for backend in two["backends"]:
        assert isinstance(backend["pid"], int) and backend["pid"] > 0
        assert backend["rss"] > 0 and backend["uptime"] >= 0 and backend["idle"] >= 0
        assert backend["pending_requests"] == 0 and backend["queued"] == 0
    assert two["totals"]["rss"] == sum(b["rss"] for b in two["backends"])

    text = status(runtime_dir).stdout
    assert f"typemux pid {first.pid}" in text and f"typemux pid {second.pid}" in text
    assert text.count(venv_a) == 2 and text.count(venv_b) == 1
    assert "SESSION" in text and "ready" in text


async def test_state_file_is_removed_when_the_proxy_exits(
    monorepo: dict[str, Path], start_typemux: StartTypemux, runtime_dir: Path
) -> None:
    root = monorepo["proj-a"].parent
    client = await start_typemux(root)
    await client.initialize(root)
    path = runtime_dir / "typemux" / f"{client.pid}.json"
    await wait_state(runtime_dir / "typemux", client.pid, lambda s: True)
    assert path.is_file()
    assert await client.shutdown_and_exit() == 0
    assert not path.exists()


async def test_state_file_shows_a_starting_backend_and_its_queue(
    monorepo: dict[str, Path], start_typemux: StartTypemux, runtime_dir: Path
) -> None:
    (monorepo["proj-a"] / ".venv" / "fake-lsp.json").write_text(json.dumps({"init_delay": 30}))
    root = monorepo["proj-a"].parent
    client = await start_typemux(root)
    await client.initialize(root)
    uri = await client.did_open(monorepo["proj-a"] / "main.py")
    client.send_request("textDocument/hover", {"textDocument": {"uri": uri},
                                               "position": {"line": 0, "character": 0}})
    state = await wait_state(runtime_dir / "typemux", client.pid,
                             lambda s: bool(s["backends"]) and s["backends"][0]["queued"] == 1)
    assert state["backends"][0]["state"] == "creating"


def test_files_of_dead_proxies_are_ignored_and_removed(runtime_dir: Path) -> None:
    directory = state_dir()
    assert directory == runtime_dir / "typemux"
    stale = directory / f"{dead_pid()}.json"
    stale.write_text(json.dumps({"pid": 1, "backends": []}))
    # A live pid that now names another process (the start time differs): stale too.
    reused = directory / f"{os.getpid()}.json"
    reused.write_text(json.dumps({"pid": os.getpid(), "proc_start": -5, "backends": []}))
    proc = status(runtime_dir, "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"proxies": []}
    assert not stale.exists() and not reused.exists()
    assert status(runtime_dir).stdout.strip() == "no typemux is running"


def test_state_file_write_is_atomic_and_skips_unchanged(runtime_dir: Path) -> None:
    directory = state_dir()
    state_file = StateFile(directory, os.getpid())
    assert state_file.write({"pid": os.getpid(), "backends": []}) is True
    assert state_file.write({"pid": os.getpid(), "backends": []}) is False
    assert json.loads(state_file.path.read_text()) == {"pid": os.getpid(), "backends": []}
    assert [p.name for p in directory.iterdir()] == [state_file.path.name]  # no temp left
    assert [s["pid"] for s in read_states(directory)] == [os.getpid()]
    state_file.remove()
    assert not state_file.path.exists()


def test_state_dir_falls_back_to_a_private_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directory = state_dir()
    assert directory == tmp_path / f"typemux-{os.getuid()}"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


async def test_idle_restarts_with_document_traffic_alone(
    monorepo: dict[str, Path], start_typemux: StartTypemux, runtime_dir: Path
) -> None:
    # Claude Code mostly opens and edits documents; that is use, and IDLE must say so.
    root = monorepo["proj-a"].parent
    client = await start_typemux(root)
    await client.initialize(root)
    uri = await client.did_open(monorepo["proj-a"] / "main.py")
    state = await wait_state(runtime_dir / "typemux", client.pid,
                             lambda s: [b["state"] for b in s["backends"]] == ["ready"])
    started = state["backends"][0]["started_at"]
    await asyncio.sleep(3)
    client.did_change(uri, 2, [{"text": "NAME = 'edited'\n"}])
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    state = await wait_state(runtime_dir / "typemux", client.pid,
                             lambda s: s["backends"][0]["last_used_at"] >= started + 2.5)
    proc = status(runtime_dir, "--json")
    backend = next(p for p in json.loads(proc.stdout)["proxies"]
                   if p["pid"] == client.pid)["backends"][0]
    assert backend["uptime"] - backend["idle"] >= 2.5, backend


def test_a_damaged_state_file_is_skipped_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typemux.status as status_module

    good = {"pid": 7, "started_at": 1.0, "backends": [
        {"session": 1, "pid": None, "state": "ready", "venv": "/p/.venv", "started_at": 1.0,
         "last_used_at": 1.0}]}
    damaged = [{"pid": 8, "backends": [{"pid": "a"}]}, {"pid": "x"}, {"pid": 9, "backends": 3}]
    monkeypatch.setattr(status_module, "state_dir", lambda: Path("/nonexistent"))
    monkeypatch.setattr(status_module, "read_states", lambda _d: [good, *damaged])
    assert status_module.run_status(as_json=False) == 0
    out = capsys.readouterr().out
    assert "typemux pid 7" in out and "pid 8" not in out
    assert status_module.run_status(as_json=True) == 0
    assert [p["pid"] for p in json.loads(capsys.readouterr().out)["proxies"]] == [7]
