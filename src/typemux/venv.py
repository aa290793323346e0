"""Which virtualenv serves a file.

A venv is a directory named `.venv` holding a `pyvenv.cfg`. The nearest one above a file wins,
but the walk never leaves the file's own git repository (its nearest ancestor holding `.git`,
a directory or a worktree's file), so a stray `.venv` in a home directory cannot capture
files of an unrelated repo, while sibling worktrees and nested repos each find their own.
Paths are canonicalised first so that a symlinked workspace maps to the same venv.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Venv", "VenvIdentity", "VenvResolver", "git_toplevel", "venv_identity"]

_MARKER = "pyvenv.cfg"
_VENV_DIR = ".venv"
_CACHE_LIMIT = 8192
_GIT_TIMEOUT = 2.0
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


@dataclass(frozen=True, slots=True)
class VenvIdentity:
    """Stat of `pyvenv.cfg`: changes when the venv is rewritten or recreated in place."""

    dev: int
    ino: int
    mtime_ns: int
    size: int


def venv_identity(venv: Path) -> VenvIdentity | None:
    try:
        st = os.stat(os.path.join(venv, _MARKER))
    except (OSError, ValueError):
        return None
    return VenvIdentity(dev=st.st_dev, ino=st.st_ino, mtime_ns=st.st_mtime_ns, size=st.st_size)


@dataclass(frozen=True, slots=True)
class Venv:
    # `<real project dir>/.venv`; a symlinked `.venv` itself is not followed, so that the
    # project stays the directory the venv was found in.
    path: Path

    @property
    def project(self) -> Path:
        return self.path.parent


def _venv_in(directory: str) -> str | None:
    candidate = os.path.join(directory, _VENV_DIR)
    return candidate if os.path.isfile(os.path.join(candidate, _MARKER)) else None


def _has_git(directory: str) -> bool:
    return os.path.lexists(os.path.join(directory, ".git"))


class VenvResolver:
    """Finds the venv of a file, caching answers per directory for a short time only.

    The answer for a directory does not depend on which file asked (the walk from a
    directory upward and its git boundary are the same for every file below it), so every
    directory visited on a walk is cached with the answer found.
    """

    def __init__(
        self, *, cache_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, str | None]] = {}
        # Per file as given, so the hot path (every request) skips realpath's lstat per
        # path component; same expiry as the directory cache.
        self._files: dict[object, tuple[float, Venv | None]] = {}

    def find(self, file: Path) -> Venv | None:
        now = self._clock()
        hit = self._files.get(file)
        if hit is not None and now - hit[0] < self._cache_seconds:
            return hit[1]
        venv = self._find(file, now)
        if self._cache_seconds > 0:
            if len(self._files) >= _CACHE_LIMIT:
                self._files.clear()
            self._files[file] = (now, venv)
        return venv

    def _find(self, file: Path, now: float) -> Venv | None:
        directory = os.path.dirname(os.path.realpath(file))
        visited: list[str] = []
        found: str | None = None
        while True:
            cached = self._cache.get(directory)
            if cached is not None and now - cached[0] < self._cache_seconds:
                found = cached[1]
                break
            visited.append(directory)
            found = _venv_in(directory)
            if found is not None or _has_git(directory):
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        self._remember(visited, now, found)
        return None if found is None else Venv(Path(found))

    def _remember(self, directories: list[str], now: float, found: str | None) -> None:
        if self._cache_seconds <= 0 or not directories:
            return
        if len(self._cache) + len(directories) > _CACHE_LIMIT:
            self._cache = {
                d: entry for d, entry in self._cache.items() if now - entry[0] < self._cache_seconds
            }
            if len(self._cache) + len(directories) > _CACHE_LIMIT:
                self._cache.clear()
        for directory in directories:
            self._cache[directory] = (now, found)

    def invalidate(self) -> None:
        """Forget every cached answer (for example after a venv is known to have changed)."""
        self._cache.clear()
        self._files.clear()

    def fallback(self, cwd: Path) -> Venv | None:
        """The startup venv: `<git toplevel>/.venv`, else `<cwd>/.venv`."""
        real_cwd = os.path.realpath(cwd)
        top = git_toplevel(Path(real_cwd))
        for base in (None if top is None else os.fspath(top), real_cwd):
            if base is None:
                continue
            found = _venv_in(base)
            if found is not None:
                return Venv(Path(found))
        return None


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
