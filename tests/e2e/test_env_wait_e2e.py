"""End to end: the first request about a Poetry project whose environment typemux has to ask
`poetry env info -p` for is served, not refused with "no environment"."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from e2e_support import Start, tm_fixture  # noqa: F401

from support.workspace import make_venv


def fake_poetry(bindir: Path, seconds: float, answer: str) -> None:
    """A `poetry` that takes `seconds` to answer `env info -p` (real Poetry: ~0.7 s)."""
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / "poetry"
    script.write_text(f"#!/bin/sh\nsleep {seconds}\n{answer}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def poetry_project(root: Path) -> Path:
    project = root / "app"
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "pyproject.toml").write_text('[tool.poetry]\nname = "app"\n')
    (project / "main.py").write_text("X = 1\n")
    return project


def env_with(bindir: Path, home: Path) -> dict[str, str]:
    # an empty HOME/XDG cache: typemux's own computation of Poetry's path finds nothing
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache")}


async def test_the_first_request_waits_for_poetrys_answer(tmp_path: Path, tm: Start) -> None:
    project = poetry_project(tmp_path)
    env = make_venv(tmp_path / "elsewhere" / "app-env")  # where "poetry" says it is
    fake_poetry(tmp_path / "bin", 1.0, f'echo "{env}"')
    client = await tm(project, env=env_with(tmp_path / "bin", tmp_path / "home"))
    await client.initialize(project)
    doc = await client.did_open(project / "main.py")
    response = await client.request("fake/env", {"textDocument": {"uri": doc}}, timeout=30)
    assert "result" in response, response
    assert response["result"]["VIRTUAL_ENV"] == str(env)
    assert response["result"]["cwd"] == str(project)


async def test_a_poetry_answer_without_environment_gives_the_error(tmp_path: Path, tm: Start) -> None:
    project = poetry_project(tmp_path)
    fake_poetry(tmp_path / "bin", 0.5, "exit 1")
    client = await tm(project, env=env_with(tmp_path / "bin", tmp_path / "home"))
    await client.initialize(project)
    doc = await client.did_open(project / "main.py")
    response = await client.request("textDocument/hover", {
        "textDocument": {"uri": doc}, "position": {"line": 0, "character": 0}}, timeout=30)
    assert "no .venv found" in response["error"]["message"]
