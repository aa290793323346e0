"""Per-backend settings from typemux's config, merged into configuration answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.backends import get_kind
from typemux.backends.settings import apply_user_settings, deep_merge, lookup
from typemux.config import ConfigError, load_settings
from typemux.core.lifecycle import LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.core.session import BackendSession
from typemux.runtime import project_config
from typemux.venv import VenvResolver
from unit.test_config_project_folder import answer_reads
from unit.test_router import make_project, to_backend


def test_lookup_follows_dotted_sections() -> None:
    tree = {"python": {"analysis": {"typeCheckingMode": "strict"}}}
    assert lookup(tree, "python.analysis") == {"typeCheckingMode": "strict"}
    assert lookup(tree, "python.analysis.typeCheckingMode") == "strict"
    assert lookup(tree, "ty") is None


def test_user_settings_beat_typemux_defaults_and_lose_to_the_client() -> None:
    items = [{"section": "python"}]
    user = {"python": {"pythonPath": "/user/python", "analysis": {"x": 1}}}
    defaults = [{"pythonPath": "/venv/python", "analysis": {"y": 2}}]
    assert apply_user_settings(items, defaults, user, client_answered=False) == [
        {"pythonPath": "/user/python", "analysis": {"x": 1, "y": 2}}]
    assert apply_user_settings(items, defaults, user, client_answered=True) == [
        {"pythonPath": "/venv/python", "analysis": {"x": 1, "y": 2}}]
    assert deep_merge({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}


def test_settings_from_the_config_file_reach_the_backends_answer(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[backend_settings.pyrefly]\npython.pyrefly.typeCheckingMode = "strict"\n')
    settings = load_settings(env={"HOME": str(tmp_path)}, config_path=config).settings
    assert settings.backend_settings == {"pyrefly": {"python": {"pyrefly": {"typeCheckingMode": "strict"}}}}
    project = make_project(tmp_path, "proj")
    (tmp_path / ".git").mkdir()
    router = Router(RouterSettings(LifecycleSettings(argv=["x"]),
                                   backend_settings=settings.backend_settings["pyrefly"]),
                    get_kind("pyrefly"), VenvResolver(cache_seconds=0))
    backend = BackendSession(1, (project / ".venv").resolve(), None, get_kind("pyrefly").readiness(), 0.0)
    (answer,) = to_backend(answer_reads(router.server_requests, "pyrefly",
                                        router.server_requests.from_backend(backend, {
        "jsonrpc": "2.0", "id": 3, "method": "workspace/configuration",
        "params": {"items": [{"section": "python"}]}}, 0.0)))
    assert answer["result"][0]["pyrefly"] == {"displayTypeErrors": "force-on", "typeCheckingMode": "strict"}


def test_backend_settings_from_the_environment_are_json(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "TYPEMUX_BACKEND_SETTINGS": '{"ty": {"ty": {"x": 1}}}'}
    assert load_settings(env=env).settings.backend_settings == {"ty": {"ty": {"x": 1}}}
    with pytest.raises(ConfigError, match="backend_settings"):
        load_settings(env={"HOME": str(tmp_path), "TYPEMUX_BACKEND_SETTINGS": '{"mypy": {}}'})


def test_doctor_knows_when_pyrefly_will_show_no_type_errors(tmp_path: Path) -> None:
    from typemux.backends.settings import type_errors_hidden as hidden_for

    venv = make_project(tmp_path, "proj") / ".venv"

    def type_errors_hidden(kind: str, venv: Path, user: dict[str, Any]) -> str | None:
        return hidden_for(kind, venv, user, project_config.read(kind, venv.parent))

    assert type_errors_hidden("pyrefly", venv, {}) is None  # typemux asks for them
    off = {"python": {"pyrefly": {"displayTypeErrors": "force-off"}}}
    assert "off" in (type_errors_hidden("pyrefly", venv, off) or "")
    basic = {"python": {"pyrefly": {"typeCheckingMode": "basic"}}}
    assert "basic" in (type_errors_hidden("pyrefly", venv, basic) or "")
    strict_off = {"python": {"analysis": {"typeCheckingMode": "off"}}}
    assert type_errors_hidden("pyright", venv, strict_off)
    assert type_errors_hidden("pyright", venv, {}) is None
    (venv.parent / "pyrightconfig.json").write_text('{"typeCheckingMode": "off"}')
    assert type_errors_hidden("basedpyright", venv, {})
