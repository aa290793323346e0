"""`typemux doctor`: settings with their sources, the backend check, the smoke start, exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import typemux_env
from support.workspace import fake_backend_command, make_venv
from typemux.config import load_settings
from typemux.doctor import run_doctor


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    make_venv(root)
    return root


def doctor(capsys: pytest.CaptureFixture[str], cwd: Path, *, as_json: bool,
           cli: dict[str, Any] | None = None, env: dict[str, str] | None = None,
           config: Path | None = None) -> tuple[int, str]:
    base = {"HOME": str(cwd / "no-home"), "TYPEMUX_BACKEND_COMMAND": fake_backend_command()}
    loaded = load_settings(cli, env={**base, **(env or {})}, config_path=config)
    code = run_doctor(loaded, as_json, cwd=cwd)
    return code, capsys.readouterr().out


def test_json_report_names_the_source_of_every_setting(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "typemux.toml"
    config.write_text("backend_ttl = 60\nmax_backends = 2\n")
    code, out = doctor(capsys, project, as_json=True, cli={"warmup_timeout": "0.5"},
                       env={"TYPEMUX_MAX_BACKENDS": "3"}, config=config)
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    settings = report["settings"]
    assert settings["warmup_timeout"] == {"value": 0.5, "source": "cli"}
    assert settings["max_backends"] == {"value": 3, "source": "env TYPEMUX_MAX_BACKENDS"}
    assert settings["backend_ttl"] == {"value": 60.0, "source": f"config {config}"}
    assert settings["log_level"] == {"value": "info", "source": "default"}
    assert settings["backend"]["source"] == "derived from backend_command"
    assert report["config_file"] == str(config)


def test_json_report_has_backend_venv_git_python_and_a_timed_smoke_start(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = doctor(capsys, project, as_json=True)
    report = json.loads(out)
    assert code == 0
    assert report["backend"]["kind"] == "generic"
    assert report["backend"]["resolved"][0] == sys.executable
    assert report["git_toplevel"] == str(project.resolve())
    assert report["fallback_venv"] == str(project.resolve() / ".venv")
    smoke = report["backend"]["smoke"]
    assert smoke["ok"] is True and smoke["initialize_seconds"] >= 0
    assert smoke["where"] == str(project.resolve() / ".venv")
    assert report["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert report["os"]


def test_text_report_shows_each_setting_with_source_and_the_checks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = doctor(capsys, project, as_json=False, env={"TYPEMUX_LOG_LEVEL": "debug"})
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("typemux ")
    assert any(line.split() == ["log_level", "=", "debug", "(env", "TYPEMUX_LOG_LEVEL)"]
               for line in lines)
    smoke = next(line for line in lines if "smoke start" in line)
    assert smoke.split()[0] == "ok" and "initialize answered" in smoke
    assert any("fallback venv" in line and str(project.resolve() / ".venv") in line
               for line in lines)
    assert lines[-1] == "everything needed works"


def test_missing_backend_fails_with_the_reason_on_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = doctor(capsys, project, as_json=False,
                       env={"TYPEMUX_BACKEND_COMMAND": "no-such-typemux-backend --stdio"})
    assert code == 1
    failing = [line for line in out.splitlines() if line.strip().startswith("FAIL")]
    assert len(failing) == 1
    assert "backend command" in failing[0] and "no-such-typemux-backend" in failing[0]
    assert "not found on PATH" in failing[0]


def test_backend_that_fails_initialize_fails_the_smoke_start(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".venv" / "fake-lsp.json").write_text(json.dumps({"init_error": "no licence"}))
    code, out = doctor(capsys, project, as_json=True)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    smoke = next(c for c in report["checks"] if c["name"] == "smoke start")
    assert smoke["status"] == "fail" and "initialize failed" in smoke["text"]


def test_doctor_summary_names_an_environments_mapping_to_a_missing_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = project / "elsewhere" / ".venv"
    _, out = doctor(capsys, project, as_json=True,
                       env={"TYPEMUX_ENVIRONMENTS": json.dumps({str(project): str(missing)})})
    report = json.loads(out)
    (check,) = [c for c in report["checks"] if c["name"] == "environment"]
    assert check["status"] == "warn"
    assert f"maps '{project}' to {missing} (missing)" in check["text"]
    assert report["environment"]["mapping_miss"] is not None


def test_doctor_checks_each_prewarm_entry_as_the_server_resolves_it(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "no-env-here"
    bogus.mkdir()
    prewarm = json.dumps([str(project), str(bogus)])
    _, out = doctor(capsys, project, as_json=True, env={"TYPEMUX_PREWARM": prewarm})
    checks = [c for c in json.loads(out)["checks"] if c["name"] == "prewarm"]
    assert [c["status"] for c in checks] == ["ok", "warn"]
    assert str(project / ".venv") in checks[0]["text"]
    assert str(bogus) in checks[1]["text"] and "not an environment" in checks[1]["text"]


def test_cli_doctor_takes_flags_after_the_subcommand(project: Path) -> None:
    env = typemux_env(backend_command=fake_backend_command())
    proc = subprocess.run(
        [sys.executable, "-m", "typemux", "doctor", "--json", "--max-backends", "4"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["settings"]["max_backends"] == {"value": 4, "source": "cli"}
    assert report["settings"]["backend_command"]["source"] == "env TYPEMUX_BACKEND_COMMAND"


def test_backend_installed_beside_typemux_is_found_and_doctor_says_where(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pipx inject / uv tool --with put a backend's commands only in typemux's own venv.
    beside = tmp_path / "typemux-env" / "bin"
    beside.mkdir(parents=True)
    server = beside / "fake-lsp-server"
    server.write_text(f"#!/bin/sh\nexec {fake_backend_command()} \"$@\"\n")
    server.chmod(0o755)
    monkeypatch.setattr("typemux.backends.locate.scripts_dir", lambda: beside)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    code, out = doctor(capsys, project, as_json=True,
                       env={"TYPEMUX_BACKEND_COMMAND": "fake-lsp-server"})
    report = json.loads(out)
    assert code == 0, out
    assert report["backend"]["resolved"] == [str(server)]
    assert report["backend"]["found"] == "beside typemux"
    line = next(c for c in report["checks"] if c["name"] == "backend command")
    assert line["text"] == f"{server} (found beside typemux, in its own environment)"


def test_missing_backend_hint_names_the_install_command_of_typemux_environment(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("typemux.backends.locate.scripts_dir", lambda: tmp_path / "nothing")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    code, out = doctor(capsys, project, as_json=False,
                       env={"TYPEMUX_BACKEND_COMMAND": "", "TYPEMUX_BACKEND": "pyright"})
    assert code == 1
    failing = [line for line in out.splitlines() if line.strip().startswith("FAIL")]
    assert len(failing) == 1, out
    # The test venv is a plain venv: its own python's pip, never a bare "pip install".
    assert f"{sys.prefix}/bin/python -m pip install 'pyright[nodejs]'" in failing[0]
    assert "'pyright-langserver' was not found on PATH nor beside typemux" in failing[0]


def test_doctor_warns_when_the_backend_will_show_no_type_errors(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    off = json.dumps({"pyrefly": {"python": {"pyrefly": {"displayTypeErrors": "force-off"}}}})
    code, out = doctor(capsys, project, as_json=True,
                       env={"TYPEMUX_BACKEND": "pyrefly", "TYPEMUX_BACKEND_SETTINGS": off})
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 0
    assert checks["type errors"]["status"] == "warn"
    assert "off" in checks["type errors"]["text"]
    code, out = doctor(capsys, project, as_json=True, env={"TYPEMUX_BACKEND": "pyrefly"})
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["type errors"]["status"] == "ok"
