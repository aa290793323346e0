"""Poetry: `{virtualenvs.path}/{name}-{hash}-py{X.Y}`, found the way Poetry finds it.

`virtualenvs.path` and `cache-dir` come from `POETRY_VIRTUALENVS_PATH` / `POETRY_CACHE_DIR`,
else the project's `poetry.toml`, else Poetry's `config.toml`, else the default
`{cache-dir}/virtualenvs` with `cache-dir` = `$XDG_CACHE_HOME/pypoetry`. The name is the
project name (sanitised, 42 characters at most) and the first 8 characters of the URL-safe
base64 SHA-256 of the project's real path. The Python suffix comes from `envs.toml` (what
`poetry env use` chose) or, without it, the newest environment of the project. Failing
all that, `poetry env info -p` is asked once, in the background.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from typing import Any

from typemux.envs.model import Context, Folder, Verdict, canonical_name, check, is_env, truthy


def poetry_env_name(name: str, project: str) -> str:
    """Poetry's base environment name for project `name` in folder `project`."""
    sanitized = re.sub(r'[ $`!*@"\\\r\n\t]', "_", name.lower())[:42]
    normalized = os.path.normcase(os.path.realpath(project))
    digest = hashlib.sha256(normalized.encode()).digest()
    return f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"


def _get(config: dict[str, Any] | None, *keys: str) -> Any:
    node: Any = config
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def poetry_settings(folder: Folder, ctx: Context) -> tuple[str, str, bool | None]:
    """(virtualenvs path, where that came from, virtualenvs.in-project)."""
    config_dir = ctx.env("POETRY_CONFIG_DIR") or os.path.join(
        ctx.xdg("XDG_CONFIG_HOME", ".config"), "pypoetry")
    layers = [("poetry.toml", folder.toml("poetry.toml")),
              (os.path.join(config_dir, "config.toml"),
               ctx.files.toml(os.path.join(config_dir, "config.toml")))]

    def setting(env_name: str, *keys: str) -> tuple[Any, str]:
        if ctx.env(env_name) is not None:
            return ctx.env(env_name), env_name
        for where, config in layers:
            value = _get(config, *keys)
            if value is None and len(keys) == 2:  # also written dotted: "virtualenvs.path"
                value = _get(config, ".".join(keys))
            if value is not None:
                return value, where
        return None, "default"

    cache, _ = setting("POETRY_CACHE_DIR", "cache-dir")
    cache_dir = ctx.expand(cache) if isinstance(cache, str) else os.path.join(
        ctx.xdg("XDG_CACHE_HOME", ".cache"), "pypoetry")
    path, source = setting("POETRY_VIRTUALENVS_PATH", "virtualenvs", "path")
    if not isinstance(path, str):
        path, source = os.path.join(cache_dir, "virtualenvs"), "default {cache-dir}/virtualenvs"
    path = ctx.expand(path.replace("{cache-dir}", cache_dir))
    in_project, _ = setting("POETRY_VIRTUALENVS_IN_PROJECT", "virtualenvs", "in-project")
    flag = truthy(in_project) if isinstance(in_project, str) else (
        in_project if isinstance(in_project, bool) else None)
    return path, source, flag


def is_poetry_project(folder: Folder) -> bool:
    return folder.has("poetry.lock") or isinstance(
        _get(folder.pyproject(), "tool", "poetry"), dict)


def _minor_key(env_name: str) -> tuple[int, ...]:
    version = env_name.rsplit("-py", 1)[-1]
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def poetry(folder: Folder, ctx: Context) -> Verdict | None:
    if not is_poetry_project(folder):
        return None
    pyproject = folder.pyproject() or {}
    name = _get(pyproject, "project", "name") or _get(pyproject, "tool", "poetry", "name")
    name = canonical_name(name) if isinstance(name, str) and name else "non-package-mode"
    venvs, source, in_project = poetry_settings(folder, ctx)
    if in_project:
        return Verdict("virtualenvs.in-project is set: Poetry uses .venv (see that rule)")
    base = poetry_env_name(name, folder.path)
    envs_toml = ctx.files.toml(os.path.join(venvs, "envs.toml"))
    minor = _get(envs_toml, base, "minor")
    if isinstance(minor, str):
        return check(os.path.join(venvs, f"{base}-py{minor}"),
                     f"{base} in {venvs} ({source}), py{minor} from envs.toml")
    try:
        candidates = sorted((n for n in os.listdir(venvs) if n.startswith(base + "-py")),
                            key=_minor_key)
    except OSError:
        candidates = []
    for env_name in reversed(candidates):
        path = os.path.join(venvs, env_name)
        if is_env(path):
            return Verdict(f"{base}-py* in {venvs} ({source}): {env_name}", env=path)
    looked = f"no {base}-py* in {venvs} ({source})"
    if ctx.asker is None:
        return Verdict(looked)
    answer = ctx.asker.ask("poetry", ["poetry", "env", "info", "-p"], folder.path)
    if answer.path is not None:
        return check(answer.path, f"{looked}; `poetry env info -p` says")
    if answer.state == "pending":
        return Verdict(f"{looked}; `poetry env info -p` asked, no answer yet", pending=True)
    return Verdict(f"{looked}; `poetry env info -p`: {answer.state}")
