"""Which environment serves a file: the public face of `typemux.envs`.

The nearest project above a file with an environment wins (`.venv`, and every other rule of
docs/environments.md), but the walk never leaves the file's own git repository (its nearest
ancestor holding `.git`, a directory or a worktree's file), so a stray `.venv` in a home
directory cannot capture files of an unrelated repo, while sibling worktrees and nested
repos each find their own. Paths are canonicalised first so that a symlinked workspace maps
to the same environment.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from typemux.core.ports import VenvIdentity
from typemux.envs import RULE_NAMES, EnvResolver, Venv

__all__ = ["Venv", "VenvIdentity", "VenvResolver", "git_toplevel", "venv_identity"]

_MARKER = "pyvenv.cfg"
_GIT_TIMEOUT = 2.0
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


def venv_identity(venv: Path) -> VenvIdentity | None:
    """pyvenv.cfg's stat; a conda environment has none, so its interpreter's, else its
    conda-meta/history's (recreating the environment changes either)."""
    markers = [_MARKER]
    if os.path.isdir(os.path.join(venv, "conda-meta")):
        markers += [os.path.join("bin", "python"), os.path.join("conda-meta", "history")]
    for marker in markers:
        try:
            st = os.stat(os.path.join(venv, marker))
        except (OSError, ValueError):
            continue
        return VenvIdentity(dev=st.st_dev, ino=st.st_ino, mtime_ns=st.st_mtime_ns, size=st.st_size)
    return None


class VenvResolver(EnvResolver):
    """Finds the environment of a file (see `typemux.envs`), plus the startup fallback.
    The router's `VenvLookup` (core/ports.py)."""

    rule_names: tuple[str, ...] = RULE_NAMES

    def fallback(self, cwd: Path) -> Venv | None:
        """The startup environment: the one of the git toplevel folder, else of the cwd
        (each folder by itself, without walking)."""
        real_cwd = os.path.realpath(cwd)
        top = git_toplevel(Path(real_cwd))
        for base in (None if top is None else os.fspath(top), real_cwd):
            if base is None:
                continue
            found = self.at(Path(base))
            if found is not None:
                return found
        return None


def _has_git(directory: str) -> bool:
    return os.path.lexists(os.path.join(directory, ".git"))


def _walk_to_git(directory: str) -> Path | None:
    while True:
        if _has_git(directory):
            return Path(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def git_toplevel(cwd: Path) -> Path | None:
    """The work tree root holding `cwd`, from git itself, or by looking for `.git` without git."""
    real_cwd = os.path.realpath(cwd)
    if not os.path.isdir(real_cwd):
        return None
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=real_cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return _walk_to_git(real_cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    out = os.fsdecode(proc.stdout.rstrip(b"\n"))
    return Path(out) if out else None
