"""The sans-IO core with environments found by other rules: the backend is rooted at the
project (Spawn cwd, initialize roots, workspaceFolders), never at the environment's parent,
and such an environment is tracked exactly like `.venv` (replaced, removed, created later)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from envs.layout import conda_at, venv_at, write
from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.core.actions import Spawn, ToBackend, ToClient
from typemux.core.lifecycle import INIT_ID, LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.envs.pipenv import pipenv_env_name
from typemux.runtime.identity import MISSING_GRACE, IdentityChecks
from typemux.uris import path_to_uri
from typemux.venv import VenvResolver

KIND = BackendKind(name="fake", command=("fake-lsp",), version_command=None,
                   capabilities={"hoverProvider": True}, readiness=ReadinessDetector)


class Core:
    def __init__(self, home: Path, **settings: Any) -> None:
        resolver = VenvResolver(environ={"HOME": str(home)}, home=home, cache_seconds=0,
                                ask_tools=False)
        self.router = Router(RouterSettings(LifecycleSettings(argv=["/bin/fake-lsp"]), **settings),
                             KIND, resolver)
        self.now = 100.0
        self.identities = IdentityChecks()  # what the runtime does around the core

    def look_at_venvs(self) -> None:
        self.identities.run(self.router.pool, self.router.venv_checked, self.now)

    def client(self, msg: dict[str, Any]) -> list[Any]:
        self.look_at_venvs()
        self.router.client_message(msg, None, self.now)
        self.look_at_venvs()
        return self.router.take_actions()

    def backend(self, session: int, msg: dict[str, Any]) -> list[Any]:
        self.router.backend_message(session, msg, None, self.now)
        self.look_at_venvs()
        return self.router.take_actions()

    def initialize(self) -> list[Any]:
        return self.client({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                     "params": {"processId": 1, "rootUri": None, "capabilities": {}}})

    def open(self, path: Path) -> list[Any]:
        return self.client({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": path_to_uri(path), "languageId": "python", "version": 1,
                             "text": "x = 1\n"}}})

    def hover(self, path: Path, request_id: int = 5) -> list[Any]:
        return self.client({"jsonrpc": "2.0", "id": request_id, "method": "textDocument/hover",
                            "params": {"textDocument": {"uri": path_to_uri(path)},
                                       "position": {"line": 0, "character": 0}}})


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return Path(os.path.realpath(tmp_path))


@pytest.fixture
def pipenv_project(tmp: Path) -> tuple[Path, Path, Path]:
    home, project = tmp / "home", tmp / "repo" / "web"
    (tmp / "repo" / ".git").mkdir(parents=True)
    write(project / "Pipfile", "")
    write(project / "app.py", "x = 1\n")
    env = venv_at(home / ".local" / "share" / "virtualenvs" / pipenv_env_name(str(project / "Pipfile")))
    return home, project, env


def test_backend_is_rooted_at_the_project_not_the_environments_parent(
        pipenv_project: tuple[Path, Path, Path]) -> None:
    home, project, env = pipenv_project
    core = Core(home)
    core.initialize()
    actions = core.open(project / "app.py")
    spawn = next(a for a in actions if isinstance(a, Spawn))
    assert spawn.venv == env
    assert spawn.cwd == project
    assert spawn.env["VIRTUAL_ENV"] == str(env)
    assert spawn.env["PATH"].startswith(f"{env}/bin{os.pathsep}")
    init = next(a.msg for a in actions if isinstance(a, ToBackend) and a.msg.get("id") == INIT_ID)
    assert init["params"]["rootUri"] == path_to_uri(project)
    assert init["params"]["rootPath"] == str(project)
    assert init["params"]["workspaceFolders"] == [{"uri": path_to_uri(project), "name": "web"}]
    core.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    answers = core.backend(spawn.session, {"jsonrpc": "2.0", "id": 9,
                                           "method": "workspace/workspaceFolders"})
    (answer,) = [a.msg for a in answers if isinstance(a, ToBackend) and a.msg.get("id") == 9]
    assert answer["result"] == [{"uri": path_to_uri(project), "name": "web"}]


def test_replaced_environment_restarts_its_backend(pipenv_project: tuple[Path, Path, Path]) -> None:
    home, project, env = pipenv_project
    core = Core(home)
    core.initialize()
    first = next(a for a in core.open(project / "app.py") if isinstance(a, Spawn))
    core.backend(first.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    shutil.rmtree(env)
    venv_at(env)  # recreated in place: a new pyvenv.cfg
    core.now += 5
    actions = core.hover(project / "app.py")
    assert any(isinstance(a, ToBackend) and a.session == first.session
               and a.msg.get("method") == "shutdown" for a in actions)
    second = next(a for a in actions if isinstance(a, Spawn))
    assert second.venv == env and second.cwd == project


def test_removed_conda_environment_is_reported_and_a_new_one_picked_up(tmp: Path) -> None:
    home, project = tmp / "home", tmp / "repo" / "sci"
    (tmp / "repo" / ".git").mkdir(parents=True)
    write(project / "environment.yml", "name: sci\n")
    write(project / "a.py", "x = 1\n")
    core = Core(home)
    core.initialize()
    core.open(project / "a.py")
    (error,) = [a.msg for a in core.hover(project / "a.py") if isinstance(a, ToClient)]
    assert error["error"]["message"].startswith("typemux: no .venv found")
    env = conda_at(home / "miniforge3" / "envs" / "sci")  # created later, no restart
    core.now += 5
    spawn = next(a for a in core.hover(project / "a.py", 6) if isinstance(a, Spawn))
    assert (spawn.venv, spawn.cwd) == (env, project)
    core.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {"capabilities": {}}})
    shutil.rmtree(env)
    core.now += 5
    core.look_at_venvs()  # seen missing: looked at again MISSING_GRACE later (a rebuild?)
    core.now += MISSING_GRACE
    actions = core.hover(project / "a.py", 7)
    assert any(isinstance(a, ToBackend) and a.session == spawn.session
               and a.msg.get("method") == "shutdown" for a in actions)
    (error,) = [a.msg for a in actions if isinstance(a, ToClient) and a.msg.get("id") == 7]
    assert "error" in error


def test_fallback_environment_is_rooted_at_its_project(pipenv_project: tuple[Path, Path, Path]) -> None:
    home, project, env = pipenv_project
    core = Core(home, fallback_venv=env, fallback_project=project)
    spawn = next(a for a in core.initialize() if isinstance(a, Spawn))  # started at once
    assert (spawn.venv, spawn.cwd) == (env, project)
