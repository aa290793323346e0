"""Project-config checks look in the backend's project, not beside its venv.

An environment in a tool's cache (Poetry, Hatch, pipenv, conda) has no project next to it,
so `venv.parent` is the wrong place to look for ty.toml or pyrefly.toml. The runtime reads
them (runtime/project_config.py) where the core asks (`ReadProjectConfig.project`).
"""

from __future__ import annotations

from pathlib import Path

from typemux.backends import get_kind
from typemux.core.actions import Action, ReadProjectConfig
from typemux.core.lifecycle import LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession
from typemux.runtime import project_config
from typemux.venv import VenvResolver
from unit.test_router import to_backend


def cached_venv(tmp_path: Path) -> Path:
    """A venv in a tool's cache, far from any project."""
    venv = tmp_path / "cache" / "virtualenvs" / "proj-AbCd-py3.12"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return venv


def project_with(tmp_path: Path, name: str, text: str) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".git").mkdir()
    (project / name).write_text(text)
    return project


TY_ITEMS = [{"section": "ty"}]


def answer_reads(requests: ServerRequests, kind_name: str, actions: list[Action]) -> list[Action]:
    """`actions` with each ReadProjectConfig done as the proxy does it: the runtime reads
    the files of the project the core names and hands the data back."""
    out: list[Action] = []
    for action in actions:
        if isinstance(action, ReadProjectConfig):
            out += requests.project_config_read(
                action.ticket, project_config.read(kind_name, action.project))
        else:
            out.append(action)
    return out


def test_ty_keeps_the_projects_own_config_when_the_venv_is_elsewhere(tmp_path: Path) -> None:
    venv = cached_venv(tmp_path)
    project = project_with(tmp_path, "ty.toml", '[environment]\npython = "./other"\n')
    ty = get_kind("ty")
    assert ty.configuration(TY_ITEMS, venv, None, project_config.read("ty", project)) == [None]
    # without a ty config in the project, typemux points ty at the venv
    (project / "ty.toml").unlink()
    assert ty.configuration(TY_ITEMS, venv, None, project_config.read("ty", project)) == [
        {"configuration": {"environment": {"python": str(venv)}}}]


def test_pyrefly_keeps_the_projects_own_config_when_the_venv_is_elsewhere(tmp_path: Path) -> None:
    venv = cached_venv(tmp_path)
    project = project_with(tmp_path, "pyrefly.toml", "")
    (answer,) = get_kind("pyrefly").configuration([{"section": "python"}], venv, None,
                                                  project_config.read("pyrefly", project))
    assert "pyrefly" not in answer
    assert answer["pythonPath"] == str(venv / "bin" / "python")


def test_a_backends_configuration_answer_uses_its_project(tmp_path: Path) -> None:
    venv = cached_venv(tmp_path)
    project = project_with(tmp_path, "ty.toml", "")
    router = Router(RouterSettings(LifecycleSettings(argv=["x"])), get_kind("ty"),
                    VenvResolver(cache_seconds=0))
    backend = BackendSession(1, venv, None, get_kind("ty").readiness(), 0.0)
    backend.project = project
    (read,) = router.server_requests.from_backend(backend, {
        "jsonrpc": "2.0", "id": 3, "method": "workspace/configuration",
        "params": {"items": TY_ITEMS}}, 0.0)
    assert isinstance(read, ReadProjectConfig) and read.project == project
    (answer,) = to_backend(answer_reads(router.server_requests, "ty", [read]))
    assert answer["result"] == [None]


def test_doctor_looks_for_the_pyrefly_config_in_the_project(tmp_path: Path) -> None:
    from typemux.backends.settings import type_errors_hidden

    venv = cached_venv(tmp_path)
    project = project_with(tmp_path, "pyrefly.toml", "")
    basic = {"python": {"pyrefly": {"typeCheckingMode": "basic"}}}
    # the project's own pyrefly config decides, so typemux's "basic" is not the reason
    config = project_config.read("pyrefly", project)
    assert type_errors_hidden("pyrefly", venv, basic, config, project) is None
