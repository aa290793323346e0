"""What a project's own config files say about its checker: the one place that reads them.

The core never reads a file. When a backend of a kind whose configuration answers depend
on these files (`BackendKind.reads_project_config`: ty, pyrefly) is to be answered, the
core asks with a `ReadProjectConfig` action; the proxy calls `read` and hands the result
back (`Router.project_config_read`), and the answer is computed from that data. The files
are read again for every answer, so an edit of ty.toml or pyproject.toml between two
configuration questions is seen by the second one.

`typemux doctor` reads through here too, for the same answers and its type-error check.
"""

from __future__ import annotations

import json
from pathlib import Path

from typemux.backends.base import NO_PROJECT_CONFIG, ProjectConfig

PYREFLY_CONFIGS = ("pyrefly.toml",)
# Configs of other checkers that pyrefly's "auto" mode migrates (it then picks a preset itself).
MIGRATED_CONFIGS = ("mypy.ini", ".mypy.ini", "pyrightconfig.json")
MAX_CONFIG_DEPTH = 32


def read(kind_name: str, project: Path) -> ProjectConfig:
    """What the files of `project` (the backend's project folder) say about `kind_name`."""
    if kind_name == "ty":
        return ProjectConfig(own=ty_configured(project))
    if kind_name == "pyrefly":
        own, migrated = pyrefly_configs(project)
        return ProjectConfig(own=own, migrated=migrated)
    if kind_name in ("pyright", "basedpyright"):
        return ProjectConfig(type_checking_mode=pyright_type_checking_mode(project))
    return NO_PROJECT_CONFIG


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def ty_configured(project: Path) -> bool:
    """Whether the project configures ty itself (ty.toml, or [tool.ty] in pyproject.toml)."""
    if (project / "ty.toml").is_file():
        return True
    text = _text(project / "pyproject.toml")
    if text is None:
        return False
    import tomllib  # only here: the serve path of the other kinds stays without it

    try:
        tool = tomllib.loads(text).get("tool")
    except tomllib.TOMLDecodeError:
        # ty will complain about the file itself; err on the side of not overriding it.
        return "[tool.ty" in text
    return isinstance(tool, dict) and "ty" in tool


def _pyproject_tools(directory: Path) -> set[str]:
    text = _text(directory / "pyproject.toml")
    if text is None:
        return set()
    return {tool for tool in ("pyrefly", "mypy", "pyright", "basedpyright")
            if f"[tool.{tool}" in text}


def pyrefly_configs(project: Path) -> tuple[bool, bool]:
    """(a pyrefly config covers `project`, another checker's config pyrefly migrates does),
    looking in `project` and its parents up to the repository root."""
    directory = project
    for _ in range(MAX_CONFIG_DEPTH):
        tools = _pyproject_tools(directory)
        if "pyrefly" in tools or any((directory / n).is_file() for n in PYREFLY_CONFIGS):
            return True, False
        if tools or any((directory / n).is_file() for n in MIGRATED_CONFIGS):
            return False, True
        if (directory / ".git").exists() or directory.parent == directory:
            break
        directory = directory.parent
    return False, False


def pyright_type_checking_mode(project: Path) -> str | None:
    """The typeCheckingMode the project's pyrightconfig.json sets, if any."""
    text = _text(project / "pyrightconfig.json")
    try:
        config = json.loads(text) if text is not None else None
    except ValueError:
        return None
    mode = config.get("typeCheckingMode") if isinstance(config, dict) else None
    return mode if isinstance(mode, str) else None
