"""`typemux doctor`: which environment serves the cwd, by which rule, and what each rule saw."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from envs.tool_monorepo import ToolMonorepo
from support.workspace import fake_backend_command
from typemux.config import load_settings
from typemux.doctor import environment_report, run_doctor
from typemux.venv import VenvResolver


@pytest.mark.parametrize("name", ["poetry-app", "conda-app", "config-app"])
def test_report_names_the_environment_its_rule_and_project(tool_monorepo: ToolMonorepo,
                                                           name: str) -> None:
    project = tool_monorepo.projects[name]
    resolver = VenvResolver(environ=tool_monorepo.environ, environments=tool_monorepo.environments)
    report = environment_report(resolver, project.path)
    assert (report["environment"], report["rule"], report["project"]) == (
        str(project.env), project.rule, str(project.path))
    rules = report["folders"][0]["rules"]
    assert rules[-1]["rule"] == project.rule and rules[-1]["found"] == str(project.env)
    assert all(r["found"] is None for r in rules[:-1])


def test_report_shows_every_rule_when_nothing_is_found(tool_monorepo: ToolMonorepo) -> None:
    bare = tool_monorepo.root / "doctor-bare" / "pkg"
    bare.mkdir(parents=True, exist_ok=True)
    (bare.parent / "Pipfile").write_text("")
    resolver = VenvResolver(environ=tool_monorepo.environ, ask_tools=False)
    report = environment_report(resolver, bare)
    assert report["environment"] is None
    assert [f["path"] for f in report["folders"]] == [str(bare), str(bare.parent),
                                                      str(tool_monorepo.root)]
    pipenv = next(r for r in report["folders"][1]["rules"] if r["rule"] == "pipenv")
    assert "missing" in pipenv["saw"]


def test_doctor_command_prints_the_discovery(tool_monorepo: ToolMonorepo,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for key in list(os.environ):
        if key.startswith(("TYPEMUX_", "PYENV", "CONDA", "XDG_", "POETRY", "WORKON", "UV_")):
            monkeypatch.delenv(key)
    for key, value in tool_monorepo.typemux_environ().items():
        monkeypatch.setenv(key, value)
    project = tool_monorepo.projects["hatch-app"]
    env = {**os.environ, "TYPEMUX_BACKEND_COMMAND": shlex.join(shlex.split(fake_backend_command()))}
    loaded = load_settings(env=env)
    assert run_doctor(loaded, True, cwd=project.path) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["environment"]["rule"] == "hatch"
    assert report["environment"]["environment"] == str(project.env)
    run_doctor(loaded, False, cwd=project.path)
    text = capsys.readouterr().out
    assert "found hatch" in text and f"=> {project.env} (rule hatch, project {project.path})" in text
    assert Path(report["backend"]["smoke"]["where"]) == project.env
