"""Hatch: the `default` environment, at `{env dir}/{name}/{project id}/{name}`.

The env dir is `[dirs.env] virtual` in Hatch's config (relative paths from the project),
else `{data dir}/env/virtual` with the data dir from `HATCH_DATA_DIR`, `[dirs] data`, or
`$XDG_DATA_HOME/hatch`. The project id is the first 8 characters of the URL-safe base64
SHA-256 of the project folder. An explicit `path` (`HATCH_ENV_TYPE_VIRTUAL_PATH`, or
`[envs.default] path` in hatch.toml or `[tool.hatch.envs.default]`) wins; an env dir of
`~/.virtualenvs` or one inside the project is flat: `{env dir}/{name}`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from typemux.envs.model import Context, Folder, Verdict, canonical_name, check


def hatch_project_id(project: str) -> str:
    digest = hashlib.sha256(project.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("utf-8")[:8]


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def hatch_env_path(folder: Folder, ctx: Context) -> tuple[str, str]:
    """(where Hatch keeps the project's default environment, how that was decided)."""
    name = folder.project_name()
    project_id = hatch_project_id(folder.path)
    project_name = canonical_name(name) if name else f"{project_id}-unmanaged"
    explicit = ctx.env("HATCH_ENV_TYPE_VIRTUAL_PATH")
    source = "HATCH_ENV_TYPE_VIRTUAL_PATH"
    if explicit is None:
        explicit = _dig(folder.toml("hatch.toml"), "envs", "default", "path")
        source = "hatch.toml [envs.default] path"
    if not isinstance(explicit, str) or not explicit:
        explicit = _dig(folder.pyproject(), "tool", "hatch", "envs", "default", "path")
        source = "[tool.hatch.envs.default] path"
    if isinstance(explicit, str) and explicit:
        return ctx.expand(explicit, folder.path), source
    config_path = ctx.env("HATCH_CONFIG") or os.path.join(
        ctx.xdg("XDG_CONFIG_HOME", ".config"), "hatch", "config.toml")
    config = ctx.files.toml(config_path)
    virtual = _dig(config, "dirs", "env", "virtual")
    if isinstance(virtual, str) and virtual:
        env_dir, source = ctx.expand(virtual, folder.path), f"[dirs.env] virtual in {config_path}"
    else:
        data = ctx.env("HATCH_DATA_DIR") or _dig(config, "dirs", "data")
        data_dir = ctx.expand(data) if isinstance(data, str) and data else os.path.join(
            ctx.xdg("XDG_DATA_HOME", os.path.join(".local", "share")), "hatch")
        env_dir, source = os.path.join(data_dir, "env", "virtual"), "Hatch's data dir"
    flat = env_dir == os.path.join(ctx.home, ".virtualenvs") or \
        os.path.realpath(env_dir).startswith(folder.path + os.sep)
    if flat:
        return os.path.join(env_dir, project_name), source
    return os.path.join(env_dir, project_name, project_id, project_name), source


def hatch(folder: Folder, ctx: Context) -> Verdict | None:
    tool = _dig(folder.pyproject(), "tool", "hatch")
    if not folder.has("hatch.toml") and tool is None and folder.project_name() is None:
        return None
    path, source = hatch_env_path(folder, ctx)
    return check(path, f"default environment ({source})")
