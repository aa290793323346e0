"""Where a backend's command is found, and how to install one beside typemux.

A backend is looked up, in order: as given when it names a path; on typemux's own PATH;
then in the scripts directory of the interpreter typemux runs on ("beside typemux"). The
last place is what makes `pipx inject typemux pyright` and `uv tool install typemux --with
pyright` work: both put the backend's commands only in typemux's private venv. A project's
venv is never searched: a checked-out repository must not choose which binary typemux runs.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Where = Literal["path", "PATH", "beside typemux"]

# The PyPI requirement that brings each kind's server (pyright needs Node: its extra has it).
REQUIREMENTS = {
    "pyright": "pyright[nodejs]",
    "basedpyright": "basedpyright",
    "ty": "ty",
    "pyrefly": "pyrefly",
}


class CommandNotFound(Exception):
    pass


@dataclass(frozen=True)
class Located:
    argv: list[str]  # argv[0] absolute
    where: Where  # "path" (given as one), "PATH", or "beside typemux" (its scripts directory)


def scripts_dir() -> Path:
    """The scripts directory of typemux's own environment (a venv's bin/ under pipx or uv).

    `sys.prefix`, not the directory of `sys.executable`: a venv's python is a symlink, and
    resolving it would land in the base interpreter's bin/.
    """
    return Path(sysconfig.get_path("scripts", vars={"base": sys.prefix, "platbase": sys.prefix}))


def locate_command(argv: list[str], *, path: str | None = None,
                   beside: Path | None = None) -> Located:
    """argv with argv[0] made absolute: a path as given, else PATH, else beside typemux."""
    exe = argv[0]
    if os.sep in exe:
        # abspath, not resolve: a venv's bin/python is a symlink that must stay one.
        given = Path(os.path.abspath(Path(exe).expanduser()))
        if not (given.is_file() and os.access(given, os.X_OK)):
            raise CommandNotFound(f"'{exe}' is not an executable file")
        return Located([str(given), *argv[1:]], "path")
    found = shutil.which(exe, path=path if path is not None else os.environ.get("PATH", os.defpath))
    if found is not None:
        return Located([os.path.abspath(found), *argv[1:]], "PATH")
    directory = beside if beside is not None else scripts_dir()
    found = shutil.which(exe, path=str(directory))
    if found is not None:
        return Located([os.path.abspath(found), *argv[1:]], "beside typemux")
    raise CommandNotFound(f"'{exe}' was not found on PATH nor beside typemux in {directory}")


def resolve_command(argv: list[str]) -> list[str]:
    """argv with argv[0] made absolute (see `locate_command`)."""
    return locate_command(argv).argv


# ----- how typemux was installed, to name the right install command ----------------------------
Installer = Literal["pipx", "uv tool", "venv", "system"]


def installer(prefix: Path | None = None) -> Installer:
    """Which tool made typemux's environment: pipx and uv leave a marker file in the venv."""
    prefix = Path(sys.prefix) if prefix is None else prefix
    if (prefix / "pipx_metadata.json").is_file():
        return "pipx"
    if (prefix / "uv-receipt.toml").is_file():
        return "uv tool"
    if (prefix / "pyvenv.cfg").is_file():
        return "venv"
    return "system"


def _uv_receipt(prefix: Path) -> tuple[str, list[str]]:
    """From uv's receipt: what typemux was installed from, and the `--with` requirements
    already there (a reinstall without them would remove those backends)."""
    import tomllib  # only doctor gets here: the serve path stays without it

    try:
        receipt = tomllib.loads((prefix / "uv-receipt.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "typemux", []
    source, extra = "typemux", []
    for req in receipt.get("tool", {}).get("requirements", []):
        if not isinstance(req, dict) or not isinstance(req.get("name"), str):
            continue
        if req["name"] == "typemux":
            for key in ("directory", "path", "editable"):
                if isinstance(req.get(key), str):
                    source = str(req[key])
            continue
        extras = req.get("extras")
        text = req["name"] + (f"[{','.join(map(str, extras))}]" if isinstance(extras, list) and extras else "")
        extra.append(text + str(req.get("specifier") or ""))
    return source, extra


def install_hint(kind: str, prefix: Path | None = None) -> str:
    """The command that installs `kind`'s server where typemux will find it."""
    prefix = Path(sys.prefix) if prefix is None else prefix
    req = REQUIREMENTS.get(kind, kind)
    how = installer(prefix)
    if how == "pipx":
        return f"pipx inject typemux '{req}'"
    if how == "uv tool":
        source, kept = _uv_receipt(prefix)
        withs = " ".join(f"--with '{r}'" for r in [*kept, req])
        return f"uv tool install --reinstall {source} {withs}"
    python = Path(sysconfig.get_path("scripts", vars={"base": str(prefix), "platbase": str(prefix)})) / "python"
    if how == "venv":
        return f"{python} -m pip install '{req}'"
    return f"{sys.executable} -m pip install --user '{req}'"
