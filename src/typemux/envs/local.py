"""Rules that read only the project folder and typemux's own settings.

typemux's `environments` mapping, pyright's `venvPath` + `venv`, `.venv`, other in-project
environment folders, `UV_PROJECT_ENVIRONMENT`, and PDM's `.pdm-python`.
"""

from __future__ import annotations

import os
import re

from typemux.envs.model import Context, Folder, Verdict, check, describe_env, is_env

# Entries that mark a folder as a project: only there is any child folder holding a
# pyvenv.cfg taken as the project's environment (not, say, in a home directory).
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "Pipfile",
                   "pyrightconfig.json", ".git", "tox.ini")
PREFERRED_NAMES = ("venv", "env", ".env", ".conda", "virtualenv", ".virtualenv")
_SKIP = frozenset({".venv", ".git", "node_modules", "__pycache__", ".mypy_cache",
                   ".ruff_cache", ".pytest_cache", ".tox", ".nox", "build", "dist", "src"})
_CHILD_LIMIT = 200


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob where `*` and `?` stay inside one path segment and `**` spans segments.
    A relative pattern matches the end of a path (`services/*` matches `/x/services/api`)."""
    pattern = pattern.rstrip("/") or "/"
    out = [] if pattern.startswith("/") else ["(?:.*/)?"]
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _real_prefix(pattern: str) -> str:
    """`pattern` with its literal leading folders spelled as real paths (folders on the walk
    are real: a key under a symlinked home must still match)."""
    if not pattern.startswith("/"):
        return pattern
    parts = pattern.split("/")
    literal = 0
    while literal < len(parts) - 1 and not any(c in parts[literal + 1] for c in "*?["):
        literal += 1
    head = "/".join(parts[:literal + 1]) or "/"
    real = os.path.realpath(head)
    rest = "/".join(parts[literal + 1:])
    return real if not rest else os.path.join(real, rest)


def compile_mapping(environments: dict[str, str], ctx: Context
                    ) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    return tuple((glob, glob_regex(_real_prefix(ctx.expand(glob))), env)
                 for glob, env in environments.items())


def explicit_mapping(folder: Folder, ctx: Context) -> Verdict | None:
    for glob, regex, env in ctx.mapping:
        if regex.match(folder.path):
            path = ctx.expand(env, folder.path)
            if is_env(path):
                return Verdict(f"config environments[{glob!r}] = {path}", env=path)
            # Explicit, so authoritative: no other rule may pick some other environment.
            return Verdict(f"`environments` setting maps {glob!r} to {describe_env(path)}",
                           final=True)
    return None


def pyright_settings(folder: Folder, ctx: Context) -> Verdict | None:
    if folder.has("pyrightconfig.json"):
        source = "pyrightconfig.json"
        config = ctx.files.jsonc(folder.join(source))
        if config is None:
            return Verdict("pyrightconfig.json cannot be read as JSON")
    else:
        tool = (folder.pyproject() or {}).get("tool")
        if not isinstance(tool, dict):
            return None
        source = "[tool.pyright]" if "pyright" in tool else "[tool.basedpyright]"
        config = tool.get("pyright", tool.get("basedpyright"))
        if not isinstance(config, dict):
            return None
    venv = config.get("venv")
    if not isinstance(venv, str) or not venv:
        return Verdict(f"{source} sets no venv")
    # pyright: venvPath is relative to the config file; without it, the project root.
    venv_path = config.get("venvPath")
    base = ctx.expand(venv_path, folder.path) if isinstance(venv_path, str) else folder.path
    return check(os.path.join(base, venv), f"{source} venvPath + venv")


def dot_venv(folder: Folder, ctx: Context) -> Verdict | None:
    if not folder.has(".venv"):
        return None
    return check(folder.join(".venv"), ".venv")


def in_project(folder: Folder, ctx: Context) -> Verdict | None:
    if folder.path == ctx.home or not any(folder.has(m) for m in PROJECT_MARKERS):
        return None
    preferred = [n for n in PREFERRED_NAMES if folder.has(n)]
    others = sorted(n for n in folder.names if n not in _SKIP and n not in PREFERRED_NAMES
                    and not n.endswith((".py", ".pyi", ".md", ".txt", ".toml", ".cfg", ".lock")))
    for name in (preferred + others)[:_CHILD_LIMIT]:
        path = folder.join(name)
        if is_env(path):
            return Verdict(f"project folder {name}/ is an environment", env=path)
    return Verdict("no folder of the project holds pyvenv.cfg or conda-meta")


def uv_project_environment(folder: Folder, ctx: Context) -> Verdict | None:
    # Only uv's projects: an absolute UV_PROJECT_ENVIRONMENT must not capture a Poetry
    # project of the same monorepo.
    tool = (folder.pyproject() or {}).get("tool")
    if not folder.has("uv.lock") and not (isinstance(tool, dict) and "uv" in tool):
        return None
    value = ctx.env("UV_PROJECT_ENVIRONMENT")
    if value is None:
        return Verdict("UV_PROJECT_ENVIRONMENT is unset")
    # uv: relative to the workspace root; a member's own folder simply has none there,
    # and the walk goes on to the root.
    return check(ctx.expand(value, folder.path), "UV_PROJECT_ENVIRONMENT")


def pdm_python(folder: Folder, ctx: Context) -> Verdict | None:
    text = folder.text(".pdm-python")
    if text is None:
        return None
    interpreter = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not interpreter:
        return Verdict(".pdm-python is empty")
    interpreter = ctx.expand(interpreter, folder.path)
    bindir = os.path.dirname(interpreter)
    if os.path.basename(bindir) not in ("bin", "Scripts"):
        return Verdict(f".pdm-python names {interpreter}, which is not inside an environment")
    return check(os.path.dirname(bindir), f".pdm-python names {interpreter}; environment")
