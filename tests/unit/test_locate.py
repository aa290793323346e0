"""Where typemux finds a backend command: a given path, PATH, then beside typemux; never a venv."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest

from typemux.backends.locate import (
    CommandNotFound,
    install_hint,
    installer,
    locate_command,
    scripts_dir,
)


def executable(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_found_beside_typemux_when_not_on_path(tmp_path: Path) -> None:
    beside = tmp_path / "tool-venv" / "bin"
    server = executable(beside, "pyright-langserver")
    located = locate_command(["pyright-langserver", "--stdio"], path=str(tmp_path / "empty"),
                             beside=beside)
    assert located.argv == [str(server), "--stdio"]
    assert located.where == "beside typemux"


def test_path_wins_over_beside_typemux(tmp_path: Path) -> None:
    on_path = executable(tmp_path / "path-bin", "ty")
    executable(tmp_path / "beside", "ty")
    located = locate_command(["ty", "server"], path=str(tmp_path / "path-bin"),
                             beside=tmp_path / "beside")
    assert located.argv == [str(on_path), "server"] and located.where == "PATH"


def test_a_projects_venv_is_never_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "proj"
    venv_bin = project / ".venv" / "bin"
    executable(venv_bin, "pyright-langserver")
    (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    monkeypatch.chdir(project)
    monkeypatch.setenv("VIRTUAL_ENV", str(project / ".venv"))
    with pytest.raises(CommandNotFound) as caught:
        locate_command(["pyright-langserver", "--stdio"], path=str(tmp_path / "empty"),
                       beside=tmp_path / "typemux-env" / "bin")
    assert "not found on PATH nor beside typemux" in str(caught.value)


def test_a_given_path_is_used_as_is_and_must_be_an_executable_file(tmp_path: Path) -> None:
    server = executable(tmp_path / "bin", "server")
    assert locate_command([str(server)]).where == "path"
    with pytest.raises(CommandNotFound):
        locate_command([str(tmp_path / "bin")])  # a directory is "executable" but not a command


def test_scripts_dir_is_the_bin_of_typemux_own_environment() -> None:
    # The test venv runs typemux: its bin/ holds this interpreter's python (unresolved).
    assert scripts_dir() == Path(sysconfig.get_path("scripts"))
    assert scripts_dir() == Path(sys.prefix) / "bin"
    assert (scripts_dir() / "python").exists()


def test_install_hint_names_the_installer_in_use(tmp_path: Path) -> None:
    pipx_venv = tmp_path / "pipx" / "venvs" / "typemux"
    pipx_venv.mkdir(parents=True)
    (pipx_venv / "pyvenv.cfg").write_text("")
    (pipx_venv / "pipx_metadata.json").write_text("{}")
    assert installer(pipx_venv) == "pipx"
    assert install_hint("pyright", pipx_venv) == "pipx inject typemux 'pyright[nodejs]'"

    uv_venv = tmp_path / "uv" / "tools" / "typemux"
    uv_venv.mkdir(parents=True)
    (uv_venv / "pyvenv.cfg").write_text("")
    (uv_venv / "uv-receipt.toml").write_text(
        '[tool]\nrequirements = [{ name = "typemux", directory = "/src/typemux" },\n'
        '  { name = "pyright", extras = ["nodejs"], specifier = "==1.1.414" }]\n')
    assert installer(uv_venv) == "uv tool"
    # The backends already installed stay: a reinstall without them would remove them.
    assert install_hint("ty", uv_venv) == (
        "uv tool install --reinstall /src/typemux --with 'pyright[nodejs]==1.1.414' --with 'ty'")

    plain = tmp_path / "venv"
    plain.mkdir()
    (plain / "pyvenv.cfg").write_text("")
    assert installer(plain) == "venv"
    assert install_hint("basedpyright", plain) == \
        f"{plain / 'bin' / 'python'} -m pip install 'basedpyright'"


def test_hint_never_says_plain_pip_for_pipx(tmp_path: Path) -> None:
    (tmp_path / "pipx_metadata.json").write_text("{}")
    assert "pip install" not in install_hint("pyrefly", tmp_path)
    assert os.sep not in install_hint("pyrefly", tmp_path).split()[0]
