"""What discovery works with: the environment found, one rule's verdict, a folder's view.

Rules are plain functions of a `Folder` (its entry names and small files, read through a
stat-checked cache) and a `Context` (environment variables, home, the background asker),
so unit tests can drive them with any directory tree and any environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typemux.xdg import base_dir

if TYPE_CHECKING:
    from typemux.envs.ask import ToolAsker

MARKER = "pyvenv.cfg"
_FILE_LIMIT = 1 << 20  # config files bigger than this are not config files
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True, init=False)
class Venv:
    """An environment and the project it serves.

    Equality is the environment's path only: two lookups that find the same environment
    agree, whichever rule or project found it.
    """

    path: Path
    project: Path = field(compare=False)
    rule: str = field(compare=False)

    def __init__(self, path: Path, project: Path | None = None, rule: str = ".venv") -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "project", project if project is not None else path.parent)
        object.__setattr__(self, "rule", rule)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one rule saw in one folder. `env` set: the rule found this environment.
    `final`: stop the walk here even without an environment (an explicit mapping that
    points nowhere must not fall through to some other environment). `pending`: a tool was
    asked and has not answered yet; the walk stops here, and the answer is not cached."""

    saw: str
    env: str | None = None
    final: bool = False
    pending: bool = False


def is_env(path: str) -> bool:
    """A virtualenv (pyvenv.cfg) or a conda environment (conda-meta/)."""
    return os.path.isfile(os.path.join(path, MARKER)) or os.path.isdir(
        os.path.join(path, "conda-meta"))


def describe_env(path: str) -> str:
    if os.path.isfile(os.path.join(path, MARKER)):
        return f"{path} (pyvenv.cfg present)"
    if os.path.isdir(os.path.join(path, "conda-meta")):
        return f"{path} (conda-meta present)"
    if os.path.isdir(path):
        return f"{path} (exists, but is no environment: no pyvenv.cfg or conda-meta)"
    if os.path.lexists(path):
        return f"{path} (not a folder)"
    return f"{path} (missing)"


def check(path: str, what: str) -> Verdict:
    """The common ending of a rule: `what` names `path`; found when it is an environment."""
    path = os.path.normpath(path)
    if is_env(path):
        return Verdict(f"{what}: {path}", env=path)
    return Verdict(f"{what}: {describe_env(path)}")


_JSONC = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def loads_jsonc(text: str) -> Any:
    """JSON with comments and trailing commas, as pyrightconfig.json allows."""
    stripped = _JSONC.sub(lambda m: m.group(1) or "", text)
    return json.loads(_TRAILING_COMMA.sub(r"\1", stripped))


class FileCache:
    """Small files' contents, re-read only when their stat changes.

    Discovery re-runs often (its directory answers live about a second), but a
    pyproject.toml rarely changes: a stat per look instead of a read and a parse.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[tuple[int, int, int, int], Any]] = {}

    def _load(self, path: str, kind: str, parse: Callable[[str], Any]) -> Any:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        hit = self._entries.get((kind, path))
        if hit is not None and hit[0] == key:
            return hit[1]
        value: Any = None
        if st.st_size <= _FILE_LIMIT:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    value = parse(f.read())
            except (OSError, ValueError, UnicodeError):  # TOMLDecodeError is a ValueError
                value = None
        if len(self._entries) >= _CACHE_LIMIT:
            self._entries.clear()
        self._entries[(kind, path)] = (key, value)
        return value

    def text(self, path: str) -> str | None:
        value = self._load(path, "text", lambda s: s)
        return value if isinstance(value, str) else None

    def toml(self, path: str) -> dict[str, Any] | None:
        import tomllib  # only when a folder has TOML files: not on typemux's start-up path

        value = self._load(path, "toml", tomllib.loads)
        return value if isinstance(value, dict) else None

    def jsonc(self, path: str) -> dict[str, Any] | None:
        value = self._load(path, "jsonc", loads_jsonc)
        return value if isinstance(value, dict) else None


@dataclass(slots=True)
class Folder:
    """One directory on the walk: its real path and entry names, and its files by name."""

    path: str
    names: frozenset[str]
    files: FileCache

    def has(self, name: str) -> bool:
        return name in self.names

    def join(self, *parts: str) -> str:
        return os.path.join(self.path, *parts)

    def text(self, name: str) -> str | None:
        return self.files.text(self.join(name)) if name in self.names else None

    def toml(self, name: str) -> dict[str, Any] | None:
        return self.files.toml(self.join(name)) if name in self.names else None

    def pyproject(self) -> dict[str, Any] | None:
        return self.toml("pyproject.toml")

    def project_name(self) -> str | None:
        project = (self.pyproject() or {}).get("project")
        name = project.get("name") if isinstance(project, dict) else None
        return name if isinstance(name, str) and name else None

    @classmethod
    def read(cls, path: str, files: FileCache) -> Folder:
        try:
            names = frozenset(os.listdir(path))
        except (OSError, ValueError):
            names = frozenset()
        return cls(path, names, files)


@dataclass(slots=True)
class Context:
    environ: Mapping[str, str]
    home: str
    files: FileCache
    asker: ToolAsker | None = None
    # typemux's `environments` setting: (glob as written, its regex, environment path)
    mapping: tuple[tuple[str, re.Pattern[str], str], ...] = ()

    def env(self, name: str) -> str | None:
        value = self.environ.get(name)
        return value if value else None

    def expand(self, path: str, base: str | None = None) -> str:
        """`~` and `$VARS` expanded against this context, relative paths joined to `base`."""
        if path == "~" or path.startswith("~/"):
            path = self.home + path[1:]
        path = re.sub(r"\$(\w+)|\$\{(\w+)\}",
                      lambda m: self.environ.get(m.group(1) or m.group(2), m.group(0)), path)
        if base is not None and not os.path.isabs(path):
            path = os.path.join(base, path)
        return os.path.normpath(path)

    def xdg(self, variable: str, default: str) -> str:
        """An XDG base directory: the variable when absolute (the spec ignores others)."""
        return str(base_dir(self.environ, variable, default, self.home))


def canonical_name(name: str) -> str:
    """PEP 503 normalisation, as Poetry and Hatch apply to the project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def truthy(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on", "y")
