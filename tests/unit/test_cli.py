"""Command-line parsing and the errors `typemux` prints before any LSP stream exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from typemux.cli import main


def test_serve_accepts_the_settings_flags_after_the_subcommand(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    # An invalid value stops before serving, which shows the flag reached the settings.
    assert main(["serve", "--backend", "ty", "--max-backends", "many"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "max_backends" in captured.err and "unrecognized" not in captured.err


def test_config_that_is_a_directory_is_named_as_such(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--config", str(tmp_path), "doctor"]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "does not exist" not in err


def test_doctor_json_with_an_invalid_setting_prints_a_json_error_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["doctor", "--json", "--max-backends", "many"]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["ok"] is False and "max_backends" in report["error"]
    assert "max_backends" in captured.err
