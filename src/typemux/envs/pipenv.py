"""Pipenv: `$WORKON_HOME/{folder name}-{hash}`, or what the project's `.venv` file names.

`PIPENV_VENV_IN_PROJECT` (or `[pipenv] venv_in_project` in the Pipfile) means `.venv`,
which the `.venv` rule finds. A `.venv` *file* holds a path (relative to the project) or a
name inside `WORKON_HOME`. `PIPENV_CUSTOM_VENV_NAME` replaces the computed name. The name
is the folder name (dangerous characters replaced, 42 at most), a dash, and the URL-safe
base64 of the first 6 bytes of the SHA-256 of the Pipfile's absolute path, plus
`-{PIPENV_PYTHON}` when that is set. `WORKON_HOME` defaults to
`$XDG_DATA_HOME/virtualenvs` (`~/.local/share/virtualenvs`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re

from typemux.envs.model import Context, Folder, Verdict, check, truthy


def pipenv_env_name(pipfile: str) -> str:
    project = os.path.basename(os.path.dirname(pipfile))
    sanitized = re.sub(r'[ &$`!*@"()\[\]\\\r\n\t]', "_", project)[0:42]
    digest = hashlib.sha256(pipfile.encode()).digest()[:6]
    return f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"


def workon_home(ctx: Context) -> str:
    value = ctx.env("WORKON_HOME")
    if value is not None:
        return ctx.expand(value)
    return os.path.join(ctx.xdg("XDG_DATA_HOME", os.path.join(".local", "share")), "virtualenvs")


def pipenv(folder: Folder, ctx: Context) -> Verdict | None:
    if not folder.has("Pipfile"):
        return None
    in_project = truthy(ctx.env("PIPENV_VENV_IN_PROJECT"))
    if in_project is None:
        setting = (folder.toml("Pipfile") or {}).get("pipenv")
        if isinstance(setting, dict) and "venv_in_project" in setting:
            in_project = bool(setting["venv_in_project"])
    if in_project:
        return Verdict("venv in project is set: Pipenv uses .venv (see that rule)")
    home = workon_home(ctx)
    dot_venv = folder.join(".venv")
    if os.path.isfile(dot_venv):
        named = (ctx.files.text(dot_venv) or "").strip()
        if named:
            if os.sep in named or named.startswith("."):
                return check(ctx.expand(named, folder.path), f".venv file names {named!r}")
            return check(os.path.join(home, named), f".venv file names {named!r} in WORKON_HOME")
    name = ctx.env("PIPENV_CUSTOM_VENV_NAME") or pipenv_env_name(folder.join("Pipfile"))
    python = ctx.env("PIPENV_PYTHON")
    if python is not None and not ctx.env("PIPENV_CUSTOM_VENV_NAME"):
        name += "-" + (os.path.basename(python) if os.path.isabs(python) else python)
    return check(os.path.join(home, name), "WORKON_HOME/{name}-{hash}")
