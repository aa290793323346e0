"""Every project of a monorepo resolves to the environment its own tool made and reports.

The monorepo (tool_monorepo.py) is built with the real poetry, pdm, hatch, pipenv, uv and
virtualenv; conda and pyenv through their on-disk layouts. The expected environment of each
project is what the tool itself says, so a change in a tool's naming rules fails here.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from envs.tool_monorepo import BIN, PYTHON, ToolMonorepo
from support.client import LspClient, uri
from support.workspace import FAKE_BACKEND, fake_backend_command
from typemux.envs.ask import ToolAsker
from typemux.venv import VenvResolver

PROJECTS = ("config-app", "pyright-app", "dotvenv-app", "venv-app", "uv-app", "pdm-app",
            "poetry-app", "hatch-app", "pipenv-app", "conda-app", "pyenv-app")


@pytest.mark.parametrize("name", PROJECTS)
def test_project_resolves_to_its_tools_environment(tool_monorepo: ToolMonorepo, name: str) -> None:
    project = tool_monorepo.projects[name]
    resolver = VenvResolver(environ=tool_monorepo.environ, environments=tool_monorepo.environments,
                            ask_tools=False)
    found = resolver.find(project.path / "pkg" / "deep" / "mod.py")
    assert found is not None, name
    assert found.path == project.env
    assert found.project == project.path  # the project, never the environment's parent
    assert found.rule == project.rule


def test_every_rule_is_exercised_by_the_monorepo(tool_monorepo: ToolMonorepo) -> None:
    from typemux.envs import RULE_NAMES

    assert {p.rule for p in tool_monorepo.projects.values()} == set(RULE_NAMES)


def test_poetry_is_asked_in_the_background_and_answers(tool_monorepo: ToolMonorepo) -> None:
    project = tool_monorepo.projects["poetry-app"]
    asker = ToolAsker(tool_monorepo.environ)
    first = asker.ask("poetry", [str(BIN / "poetry"), "env", "info", "-p"], str(project.path))
    assert first.state == "pending"  # returned at once; poetry runs on a thread
    asker.wait(120)
    answer = asker.ask("poetry", [str(BIN / "poetry"), "env", "info", "-p"], str(project.path))
    assert answer.state == "answered"
    assert answer.path == str(project.env)
    assert asker.asked == 1  # cached per project


async def _start(repo: ToolMonorepo, **settings: str) -> LspClient:
    env = repo.typemux_environ()
    env["XDG_CONFIG_HOME"] = "/nonexistent-typemux-test-config"
    env["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="typemux-envs-runtime-")
    for key, value in {"backend_command": fake_backend_command(), "warmup_timeout": "0",
                       "max_backends": "4", "log_level": "debug", **settings}.items():
        env[f"TYPEMUX_{key.upper()}"] = value
    return await LspClient.start([sys.executable, "-m", "typemux"], cwd=repo.root, env=env)


async def test_each_projects_backend_runs_on_its_environment_rooted_at_the_project(
        tool_monorepo: ToolMonorepo) -> None:
    client = await _start(tool_monorepo)
    try:
        assert "result" in await client.initialize(tool_monorepo.root, timeout=30)
        seen: dict[str, tuple[str, str, list[dict[str, str]]]] = {}
        for name in PROJECTS:
            doc = await client.did_open(tool_monorepo.projects[name].path / "main.py")
            response = await client.request("fake/env", {"textDocument": {"uri": doc}}, timeout=60)
            env = response["result"]
            folders = await client.request("fake/serverRequest", {
                "textDocument": {"uri": doc}, "method": "workspace/workspaceFolders"}, timeout=60)
            seen[name] = (env["VIRTUAL_ENV"], env["cwd"], folders["result"]["result"])
            assert env["PATH"].split(":")[0] == f"{env['VIRTUAL_ENV']}/bin"
        for name in PROJECTS:
            project = tool_monorepo.projects[name]
            assert seen[name] == (str(project.env), str(project.path),
                                  [{"uri": uri(project.path), "name": name}]), name
        received = await client.request("fake/received", {"textDocument": {"uri": uri(
            tool_monorepo.projects["poetry-app"].path / "main.py")}}, timeout=30)
        init = next(m for m in received["result"] if m.get("method") == "initialize")
        assert init["params"]["rootUri"] == uri(tool_monorepo.projects["poetry-app"].path)
    finally:
        await client.shutdown_and_exit(timeout=30)


async def test_no_environment_error_names_the_rules(tool_monorepo: ToolMonorepo) -> None:
    bare = tool_monorepo.root / "bare-app"
    bare.mkdir(exist_ok=True)
    (bare / "pyproject.toml").write_text('[project]\nname = "bare-app"\nversion = "0"\n')
    (bare / "main.py").write_text("X = 1\n")
    client = await _start(tool_monorepo)
    try:
        await client.initialize(tool_monorepo.root, timeout=30)
        doc = await client.did_open(bare / "main.py")
        response = await client.request("textDocument/hover", {
            "textDocument": {"uri": doc}, "position": {"line": 0, "character": 0}}, timeout=30)
        message = response["error"]["message"]
        assert message.startswith("typemux: no .venv found")
        for rule in ("poetry", "pipenv", "conda", "pyenv", "typemux doctor"):
            assert rule in message
    finally:
        await client.shutdown_and_exit(timeout=30)



async def test_prewarm_accepts_a_project_folder_of_any_rule(tool_monorepo: ToolMonorepo) -> None:
    project = tool_monorepo.projects["pipenv-app"]
    client = await _start(tool_monorepo, prewarm=str(project.path))
    try:
        await client.initialize(tool_monorepo.root, timeout=30)
        # Started without any document open; a document opened later finds it running.
        deadline = asyncio.get_running_loop().time() + 60
        while str(project.env) not in _backend_environments(client.pid).values():
            assert asyncio.get_running_loop().time() < deadline, _backend_environments(client.pid)
            await asyncio.sleep(0.05)
        (pid,) = [p for p, venv in _backend_environments(client.pid).items()
                  if venv == str(project.env)]
        doc = await client.did_open(project.path / "main.py")
        env = (await client.request("fake/env", {"textDocument": {"uri": doc}}, timeout=60))["result"]
        assert (env["pid"], env["VIRTUAL_ENV"], env["cwd"]) == (pid, str(project.env), str(project.path))
    finally:
        await client.shutdown_and_exit(timeout=30)


def _backend_environments(typemux_pid: int) -> dict[int, str]:
    """pid -> VIRTUAL_ENV of each fake backend under typemux."""
    found: dict[int, str] = {}
    try:
        children = psutil.Process(typemux_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return found
    for child in children:
        try:
            if str(FAKE_BACKEND) in child.cmdline():
                found[child.pid] = child.environ().get("VIRTUAL_ENV", "")
        except psutil.Error:
            continue
    return found


async def test_environment_made_by_poetry_later_is_used_without_restart(
        tool_monorepo: ToolMonorepo) -> None:
    project = tool_monorepo.root / "late-poetry"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "late"\nversion = "0"\n\n[tool.poetry]\npackage-mode = false\n')
    (project / "main.py").write_text("X = 1\n")
    client = await _start(tool_monorepo)
    try:
        await client.initialize(tool_monorepo.root, timeout=30)
        doc = await client.did_open(project / "main.py")
        params = {"textDocument": {"uri": doc}}
        before = await client.request("fake/env", params, timeout=30)
        assert before["error"]["message"].startswith("typemux: no .venv found")
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "poetry"), "env", "use", PYTHON, cwd=project, env=tool_monorepo.environ,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        assert await asyncio.wait_for(proc.wait(), 120) == 0
        after = await client.request("fake/env", params, timeout=60)
        env = Path(after["result"]["VIRTUAL_ENV"])
        assert env.parent == tool_monorepo.home / ".cache" / "pypoetry" / "virtualenvs"
        assert env.name.startswith("late-") and after["result"]["cwd"] == str(project)
    finally:
        await client.shutdown_and_exit(timeout=30)
