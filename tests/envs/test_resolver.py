"""The walk: nearest project wins, rule order, caching, created-later pickup, tools asked in
the background, identity of environments without pyvenv.cfg, and the doctor's account."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from envs.layout import conda_at, resolver, venv_at, write
from typemux.envs import RULE_NAMES
from typemux.envs.ask import ToolAsker
from typemux.envs.poetry import poetry_env_name
from typemux.venv import VenvResolver, venv_identity


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return Path(os.path.realpath(tmp_path))


@pytest.fixture
def home(tmp: Path) -> Path:
    (tmp / "home").mkdir()
    return tmp / "home"


@pytest.fixture
def repo(tmp: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp / "repo")], check=True)
    return tmp / "repo"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rule_order_is_the_documented_one() -> None:
    assert RULE_NAMES == ("config", "pyright", ".venv", "in-project", "uv", "pdm", "poetry",
                          "hatch", "pipenv", "conda", "pyenv")
    doc = (Path(__file__).parents[2] / "docs" / "environments.md").read_text()
    positions = [doc.index(f"| {i} | {name} |") for i, name in enumerate(RULE_NAMES, 1)]
    assert positions == sorted(positions)


def test_nearest_project_wins_over_an_outer_one(home: Path, repo: Path) -> None:
    outer = venv_at(repo / ".venv")
    write(repo / "libs" / "p" / "Pipfile", "")
    from typemux.envs.pipenv import pipenv_env_name
    inner = venv_at(home / ".local" / "share" / "virtualenvs" /
                    pipenv_env_name(str(repo / "libs" / "p" / "Pipfile")))
    r = resolver(home)
    found = r.find(repo / "libs" / "p" / "src" / "a.py")
    assert found is not None and (found.path, found.project) == (inner, repo / "libs" / "p")
    found = r.find(repo / "libs" / "other" / "b.py")
    assert found is not None and (found.path, found.project) == (outer, repo)


def test_project_without_its_environment_falls_through_to_an_outer_one(home: Path, repo: Path) -> None:
    # a uv workspace member: its own folder has a pyproject.toml but no environment
    outer = venv_at(repo / ".venv")
    write(repo / "member" / "pyproject.toml", '[project]\nname = "member"\n[tool.poetry]\n')
    found = resolver(home).find(repo / "member" / "m.py")
    assert found is not None and found.path == outer


def test_broken_files_only_make_rules_skip(home: Path, repo: Path) -> None:
    env = venv_at(repo / "p" / ".venv")
    write(repo / "p" / "pyproject.toml", "[tool.poetry\nname = ")
    write(repo / "p" / "pyrightconfig.json", "{not json")
    write(repo / "p" / "environment.yml", "\x00\x01")
    (repo / "p" / "Pipfile").mkdir()  # a folder where a file is expected
    found = resolver(home).find(repo / "p" / "x.py")
    assert found is not None and found.path == env


def test_environment_created_later_is_picked_up(home: Path, repo: Path) -> None:
    write(repo / "p" / "pyproject.toml", '[tool.poetry]\nname = "late"\n')
    clock = Clock()
    r = VenvResolver(environ={"HOME": str(home)}, home=home, ask_tools=False, clock=clock)
    assert r.find(repo / "p" / "x.py") is None
    env = venv_at(home / ".cache" / "pypoetry" / "virtualenvs" /
                  f"{poetry_env_name('late', str(repo / 'p'))}-py3.11")
    assert r.find(repo / "p" / "x.py") is None  # cached for a second
    clock.now += 1.5
    found = r.find(repo / "p" / "x.py")
    assert found is not None and found.path == env


def test_explain_tells_what_each_rule_saw(home: Path, repo: Path) -> None:
    write(repo / "p" / "Pipfile", "")
    write(repo / "p" / "environment.yml", "name: sci\n")
    env = conda_at(home / "miniforge3" / "envs" / "sci")
    reports = resolver(home).explain(repo / "p")
    assert reports[0].path == str(repo / "p")
    assert [s.rule.name for s in reports[0].seen] == list(RULE_NAMES[:RULE_NAMES.index("conda") + 1])
    by_rule = {s.rule.name: s.verdict for s in reports[0].seen}
    assert by_rule["pipenv"] is not None and "missing" in by_rule["pipenv"].saw
    assert by_rule["conda"] is not None and by_rule["conda"].env == str(env)
    assert by_rule[".venv"] is None
    assert reports[0].found is not None and reports[0].found.rule == "conda"
    assert len(reports) == 1  # found: the walk stops


def test_fallback_uses_every_rule_at_the_toplevel(home: Path, repo: Path) -> None:
    write(repo / "environment.yml", "name: top\n")
    env = conda_at(home / "miniforge3" / "envs" / "top")
    (repo / "sub").mkdir()
    found = resolver(home).fallback(repo / "sub")
    assert found is not None and (found.path, found.project, found.rule) == (env, repo, "conda")


def test_conda_environment_identity_follows_its_interpreter(tmp: Path) -> None:
    env = conda_at(tmp / "envs" / "sci")
    first = venv_identity(env)
    assert first is not None
    with open(env / "conda-meta" / "history", "a") as f:
        f.write("==> 2026-01-02 <==\n")  # installing a package: same environment
    assert venv_identity(env) == first
    (env / "bin" / "python").unlink()
    (env / "bin" / "python").write_text("recreated")
    assert venv_identity(env) != first
    plain = venv_at(tmp / "v")
    (plain / "bin" / "python").write_text("")
    (plain / "pyvenv.cfg").unlink()  # a venv losing pyvenv.cfg is gone, interpreter or not
    assert venv_identity(plain) is None


# ----- tools asked in the background ---------------------------------------------------------
def _fake_poetry(bindir: Path, body: str) -> None:
    script = bindir / "poetry"
    write(script, f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def _poetry_project(repo: Path) -> Path:
    write(repo / "p" / "pyproject.toml", '[tool.poetry]\nname = "asked"\n')
    return repo / "p"


def test_poetry_answer_is_used_when_the_computed_path_misses(home: Path, repo: Path, tmp: Path) -> None:
    project = _poetry_project(repo)
    env = venv_at(tmp / "somewhere" / "asked-env")
    _fake_poetry(tmp / "bin", f'[ "$VIRTUAL_ENV" ] && exit 3; echo "{env}"')
    r = VenvResolver(environ={"HOME": str(home), "PATH": str(tmp / "bin"), "VIRTUAL_ENV": "/x"},
                     home=home, cache_seconds=0)
    assert r.find(project / "x.py") is None  # asked, not waited for
    assert r.asker is not None
    r.asker.wait(30)
    found = r.find(project / "x.py")
    assert found is not None and (found.path, found.project, found.rule) == (env, project, "poetry")
    assert r.asker.asked == 1


@pytest.mark.parametrize(("body", "state"), [
    ("exit 1", "exit code 1"),
    ("echo relative/path", "no environment"),
    ("echo /", "no environment"),
    ("/bin/sleep 30; echo /", "no answer within"),  # its child holds the pipe
])
def test_broken_tools_only_make_the_rule_skip(home: Path, repo: Path, tmp: Path, body: str,
                                              state: str) -> None:
    _fake_poetry(tmp / "bin", body)
    asker = ToolAsker({"PATH": str(tmp / "bin")}, timeout=1.0)
    started = time.monotonic()
    assert asker.ask("poetry", ["poetry", "env", "info", "-p"], str(repo)).state == "pending"
    assert time.monotonic() - started < 5  # generous: the call never waits for the tool
    asker.wait(30)
    answer = asker.ask("poetry", ["poetry", "env", "info", "-p"], str(repo))
    assert answer.path is None and state in answer.state


def test_missing_tool_is_not_an_error(repo: Path, tmp: Path) -> None:
    answer = ToolAsker({"PATH": str(tmp / "empty")}).ask("poetry", ["poetry"], str(repo))
    assert answer.path is None and "not on PATH" in answer.state


def test_negative_answer_is_asked_again_later(repo: Path, tmp: Path) -> None:
    _fake_poetry(tmp / "bin", "exit 1")
    clock = Clock()
    asker = ToolAsker({"PATH": str(tmp / "bin")}, retry_seconds=60, clock=clock)
    asker.ask("poetry", ["poetry"], str(repo))
    asker.wait(30)
    asker.ask("poetry", ["poetry"], str(repo))
    assert asker.asked == 1
    clock.now += 61
    asker.ask("poetry", ["poetry"], str(repo))
    assert asker.asked == 2
    asker.wait(30)


def test_close_stops_a_tool_still_being_asked(repo: Path, tmp: Path) -> None:
    marker = tmp / "started"
    _fake_poetry(tmp / "bin", f"/bin/sleep 60 &\necho > {marker}\nwait")
    asker = ToolAsker({"PATH": str(tmp / "bin")}, timeout=120)
    asker.ask("poetry", ["poetry"], str(repo))
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    asker.close()
    asker.wait(30)  # the question ends at once: its process group was killed
    answer = asker.ask("poetry", ["poetry"], str(repo))
    assert answer.path is None and answer.state != "pending"
    assert asker.ask("poetry", ["poetry"], str(tmp)).state == "typemux is stopping"


def test_at_most_two_tools_run_at_once(tmp: Path) -> None:
    log = tmp / "log"
    _fake_poetry(tmp / "bin", f'echo start >> {log}; /bin/sleep 0.3; echo end >> {log}; exit 1')
    asker = ToolAsker({"PATH": str(tmp / "bin")})
    for i in range(5):
        (tmp / f"p{i}").mkdir()
        asker.ask("poetry", ["poetry"], str(tmp / f"p{i}"))
    asker.wait(60)
    running, most = 0, 0
    for line in log.read_text().split():
        running += 1 if line == "start" else -1
        most = max(most, running)
    assert asker.asked == 5 and most <= 2
