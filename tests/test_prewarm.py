"""Pre-warming: the fallback venv's and the `prewarm` venvs' backends right after initialize."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import psutil

from conftest import StartTypemux
from support.workspace import FAKE_BACKEND, make_monorepo, make_venv
from typemux.runtime.prewarm import prewarm_venv


def backend_venvs(pid: int) -> set[str]:
    """VIRTUAL_ENV of every fake backend process under typemux `pid`."""
    venvs: set[str] = set()
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return venvs
    for child in children:
        try:
            if str(FAKE_BACKEND) in child.cmdline():
                venvs.add(child.environ().get("VIRTUAL_ENV", ""))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return venvs


async def wait_venvs(pid: int, expected: set[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while backend_venvs(pid) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"backends {backend_venvs(pid)}, expected {expected}")
        await asyncio.sleep(0.05)


async def test_fallback_backend_starts_right_after_initialize_which_is_answered_at_once(
    tmp_path: Path, start_typemux: StartTypemux
) -> None:
    root = tmp_path / "proj"
    make_monorepo(tmp_path, ())  # git init only
    root.mkdir()
    venv = make_venv(root, fake={"init_delay": 20})
    client = await start_typemux(root)
    await asyncio.sleep(0.5)
    # Nothing (git, the watchdog, a backend) runs before the initialize answer.
    assert backend_venvs(client.pid) == set()
    started = time.monotonic()
    init = await client.initialize(root, timeout=15)
    # The backend needs 20 s for its own initialize; typemux answers without it.
    assert time.monotonic() - started < 10
    assert "hoverProvider" in init["result"]["capabilities"]
    await wait_venvs(client.pid, {str(venv.resolve())})


async def test_prewarm_setting_starts_listed_venvs_after_initialize_without_any_open(
    tmp_path: Path, start_typemux: StartTypemux
) -> None:
    projects = make_monorepo(tmp_path / "mono", ("a", "b", "c"))
    for project in projects.values():
        (project / ".venv" / "fake-lsp.json").write_text(json.dumps({"init_delay": 20}))
    root = tmp_path / "mono"
    # A project directory, a venv itself, and a path without any venv (skipped).
    prewarm = ",".join([str(projects["a"]), str(projects["b"] / ".venv"), str(tmp_path / "none")])
    client = await start_typemux(root, prewarm=prewarm)
    await asyncio.sleep(0.5)
    assert backend_venvs(client.pid) == set()  # nothing before initialize (no fallback here)
    started = time.monotonic()
    await client.initialize(root, timeout=15)
    assert time.monotonic() - started < 10
    venvs = {str(projects[n].resolve() / ".venv") for n in ("a", "b")}
    await wait_venvs(client.pid, venvs)
    assert client.process.returncode is None


async def test_prewarm_respects_max_backends(tmp_path: Path, start_typemux: StartTypemux) -> None:
    projects = make_monorepo(tmp_path / "mono", ("a", "b"))
    root = tmp_path / "mono"
    client = await start_typemux(root, prewarm=f"{projects['a']},{projects['b']}", max_backends=1)
    await client.initialize(root)
    await wait_venvs(client.pid, {str(projects["a"].resolve() / ".venv")})
    await asyncio.sleep(0.5)
    assert backend_venvs(client.pid) == {str(projects["a"].resolve() / ".venv")}


def test_prewarm_entries_name_a_venv_or_a_project_holding_one(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    venv = make_venv(project)
    link = tmp_path / "link"
    link.symlink_to(project)
    assert prewarm_venv(project) == venv
    assert prewarm_venv(venv) == venv
    assert prewarm_venv(link) == venv.resolve()  # spelled with the real project directory
    assert prewarm_venv(link / ".venv") == venv.resolve()
    assert prewarm_venv(tmp_path) is None
