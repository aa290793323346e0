"""Project config files are read by the runtime; the core answers from the data it is given.

A configuration answer of ty or pyrefly depends on the project's own files (ty.toml,
[tool.ty], pyrefly.toml, ...). The core parks the answer and asks the runtime to read them
(`ReadProjectConfig`); the runtime's `project_config.read` result comes back as data
(`project_config_read`). The kinds' configuration functions take that data and read nothing.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

import pytest

from typemux.backends import KIND_NAMES, get_kind
from typemux.backends.base import NO_PROJECT_CONFIG, BackendKind, ProjectConfig
from typemux.core.actions import ReadProjectConfig, ToBackend, ToClient
from typemux.core.client_caps import ClientCaps
from typemux.core.server_requests import CLIENT_ANSWER_TIMEOUT, ServerRequests
from typemux.core.session import BackendSession
from typemux.runtime import project_config

# Nothing exists here: an answer that depended on reading this folder would see no config.
PROJECT = Path("/nonexistent-project")
VENV = Path("/nonexistent-envs/proj-py3.12")
ITEMS = [{"section": "python"}, {"section": "ty"}]
TY_INJECTED = {"configuration": {"environment": {"python": str(VENV)}}}


def kind_of(name: str) -> BackendKind:
    return get_kind(name, ["srv"] if name == "generic" else None)


def ask(request_id: int = 3) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "workspace/configuration",
            "params": {"items": [{"section": "ty"}]}}


def session(kind: BackendKind) -> BackendSession:
    backend = BackendSession(1, VENV, None, kind.readiness(), 0.0)
    backend.project = PROJECT
    return backend


@pytest.fixture
def no_file_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a configuration answer touched the file system")

    for name in ("read_text", "read_bytes", "open", "is_file", "is_dir", "exists", "stat"):
        monkeypatch.setattr(Path, name, refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "stat", refuse)


@pytest.mark.parametrize("name", KIND_NAMES)
@pytest.mark.usefixtures("no_file_io")
def test_configuration_answers_read_no_file(name: str) -> None:
    kind = kind_of(name)
    for config in (NO_PROJECT_CONFIG, ProjectConfig(own=True), ProjectConfig(migrated=True)):
        assert len(kind.configuration(ITEMS, VENV, None, config)) == len(ITEMS)


@pytest.mark.usefixtures("no_file_io")
def test_the_answer_follows_the_data_given_not_the_disk() -> None:
    ty, pyrefly = get_kind("ty"), get_kind("pyrefly")
    assert ty.configuration(ITEMS, VENV, None, ProjectConfig(own=True))[1] is None
    assert ty.configuration(ITEMS, VENV, None, NO_PROJECT_CONFIG)[1] == TY_INJECTED
    assert "pyrefly" not in pyrefly.configuration(ITEMS, VENV, None, ProjectConfig(own=True))[0]
    migrated = pyrefly.configuration(ITEMS, VENV, None, ProjectConfig(migrated=True))[0]
    assert migrated["pyrefly"] == {"displayTypeErrors": "force-on"}


@pytest.mark.parametrize("name", KIND_NAMES)
def test_a_kind_reads_project_config_exactly_when_its_answer_depends_on_it(name: str) -> None:
    kind = kind_of(name)
    unconfigured = kind.configuration(ITEMS, VENV, None, NO_PROJECT_CONFIG)
    configured = kind.configuration(ITEMS, VENV, None, ProjectConfig(own=True, migrated=True))
    assert kind.reads_project_config == (configured != unconfigured)


@pytest.mark.usefixtures("no_file_io")
def test_the_core_asks_the_runtime_to_read_the_backends_project_then_answers_from_the_data() -> None:
    requests = ServerRequests(get_kind("ty"))
    backend = session(get_kind("ty"))
    (read,) = requests.from_backend(backend, ask(), 0.0)
    assert isinstance(read, ReadProjectConfig) and read.project == PROJECT
    assert requests.project_config_read(read.ticket, ProjectConfig(own=True)) == [
        ToBackend(1, {"jsonrpc": "2.0", "id": 3, "result": [None]})]
    assert requests.project_config_read(read.ticket, ProjectConfig(own=True)) == []  # once
    (read,) = requests.from_backend(backend, ask(4), 0.0)
    assert requests.project_config_read(read.ticket, NO_PROJECT_CONFIG) == [
        ToBackend(1, {"jsonrpc": "2.0", "id": 4, "result": [TY_INJECTED]})]


def test_a_configuration_answer_of_a_gone_backend_is_dropped() -> None:
    requests = ServerRequests(get_kind("ty"))
    (read,) = requests.from_backend(session(get_kind("ty")), ask(), 0.0)
    requests.forget(1)
    assert requests.project_config_read(read.ticket, NO_PROJECT_CONFIG) == []


def test_the_clients_answer_and_the_timeout_are_merged_with_fresh_data() -> None:
    requests = ServerRequests(get_kind("ty"))
    requests.caps = ClientCaps({"workspace": {"configuration": True}})
    backend = session(get_kind("ty"))
    (forward,) = requests.from_backend(backend, ask(), 0.0)
    assert isinstance(forward, ToClient)
    client = {"diagnosticMode": "workspace"}
    (read,) = requests.from_client({"jsonrpc": "2.0", "id": forward.msg["id"], "result": [client]}, 1.0) or []
    assert isinstance(read, ReadProjectConfig)
    (answer,) = requests.project_config_read(read.ticket, NO_PROJECT_CONFIG)
    assert isinstance(answer, ToBackend)
    assert answer.msg["result"] == [{**client, **TY_INJECTED}]
    # the client never answers: typemux does, after the timeout, from the files as read then
    requests.from_backend(backend, ask(5), 2.0)
    (read,) = requests.expire(2.0 + CLIENT_ANSWER_TIMEOUT)
    assert isinstance(read, ReadProjectConfig)
    assert requests.project_config_read(read.ticket, ProjectConfig(own=True)) == [
        ToBackend(1, {"jsonrpc": "2.0", "id": 5, "result": [None]})]


@pytest.mark.parametrize("name", ["pyright", "basedpyright", "generic"])
def test_kinds_whose_answer_needs_no_project_file_are_answered_at_once(name: str) -> None:
    kind = kind_of(name)
    (answer,) = ServerRequests(kind).from_backend(session(kind), ask(), 0.0)
    assert isinstance(answer, ToBackend)


# ----- the runtime's reader ---------------------------------------------------------------


def test_the_runtime_reads_each_kinds_project_files(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert project_config.read("ty", tmp_path) == NO_PROJECT_CONFIG
    assert project_config.read("pyrefly", tmp_path) == NO_PROJECT_CONFIG
    (tmp_path / "pyproject.toml").write_text("[tool.ty]\n[tool.mypy]\n")
    assert project_config.read("ty", tmp_path) == ProjectConfig(own=True)
    assert project_config.read("pyrefly", tmp_path) == ProjectConfig(migrated=True)
    (tmp_path / "pyrefly.toml").write_text("")
    assert project_config.read("pyrefly", tmp_path) == ProjectConfig(own=True)
    assert project_config.read("pyright", tmp_path) == NO_PROJECT_CONFIG
    (tmp_path / "pyrightconfig.json").write_text('{"typeCheckingMode": "off"}')
    assert project_config.read("basedpyright", tmp_path) == ProjectConfig(type_checking_mode="off")
    assert project_config.read("generic", tmp_path) == NO_PROJECT_CONFIG


def test_pyrefly_configs_are_looked_for_up_to_the_repository_root(tmp_path: Path) -> None:
    (tmp_path / "pyrefly.toml").write_text("")  # above the repository: not this project's
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "mypy.ini").write_text("")
    package = repo / "packages" / "app"
    package.mkdir(parents=True)
    assert project_config.read("pyrefly", package) == ProjectConfig(migrated=True)
