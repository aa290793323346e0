"""Small builders of on-disk environment layouts for the rule tests."""

from __future__ import annotations

import os
from pathlib import Path

from typemux.envs.model import Context, FileCache, Folder
from typemux.venv import VenvResolver


def venv_at(path: Path) -> Path:
    """A virtualenv as discovery sees one: a folder holding pyvenv.cfg."""
    (path / "bin").mkdir(parents=True, exist_ok=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return path


def conda_at(path: Path) -> Path:
    """A conda environment: conda-meta/ and an interpreter, no pyvenv.cfg."""
    (path / "conda-meta").mkdir(parents=True, exist_ok=True)
    (path / "conda-meta" / "history").write_text("==> 2026-01-01 00:00:00 <==\n")
    (path / "bin").mkdir(exist_ok=True)
    (path / "bin" / "python").write_text("")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def context(home: Path, **environ: str) -> Context:
    return Context({"HOME": str(home), "PATH": os.defpath, **environ}, str(home), FileCache())


def folder(path: Path, ctx: Context) -> Folder:
    return Folder.read(os.path.realpath(path), ctx.files)


def resolver(home: Path, environments: dict[str, str] | None = None, **environ: str) -> VenvResolver:
    return VenvResolver(environ={"HOME": str(home), "PATH": os.defpath, **environ}, home=home,
                        environments=environments, ask_tools=False)
