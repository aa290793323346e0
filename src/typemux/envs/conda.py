"""conda (environment.yml's name) and pyenv-virtualenv (.python-version), by their layouts.

conda looks a name up in its `envs_dirs`, first match wins: `CONDA_ENVS_PATH` /
`CONDA_ENVS_DIRS`, `envs_dirs` in the `.condarc` files, then `{root}/envs` and
`~/.conda/envs`. typemux takes the roots from `CONDA_PREFIX`, `CONDA_EXE`, `CONDA_ROOT`,
`MAMBA_ROOT_PREFIX` and the usual install folders, and finally the environments conda
registered in `~/.conda/environments.txt`. An environment is a folder holding `conda-meta/`.

pyenv-virtualenv: `.python-version` names a version in `$PYENV_ROOT/versions` (default
`~/.pyenv`); a name whose folder is a virtualenv (pyvenv.cfg) or a conda environment is one.
"""

from __future__ import annotations

import os
import re

from typemux.envs.model import Context, Folder, Verdict, check, is_env

INSTALL_ROOTS = ("miniforge3", "mambaforge", "miniconda3", "miniconda", "anaconda3", "anaconda",
                 "micromamba", ".local/share/mamba")
SYSTEM_ROOTS = ("/opt/conda", "/opt/miniforge3", "/opt/miniconda3", "/opt/anaconda3")
_ENV_FILES = ("environment.yml", "environment.yaml")


def _scalar(value: str) -> str:
    value = re.sub(r"\s+#.*$", "", value).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def yaml_top_level(text: str, key: str) -> str | None:
    """A top-level `key: value` scalar of a simple YAML file (no YAML library needed)."""
    match = re.search(rf"^{re.escape(key)}\s*:\s*(.*)$", text, re.M)
    if match is None:
        return None
    value = _scalar(match.group(1))
    return value or None


def yaml_top_level_list(text: str, key: str) -> list[str]:
    """A top-level list: `key: [a, b]` or `key:` followed by `- a` lines."""
    match = re.search(rf"^{re.escape(key)}\s*:[ \t]*(.*)$", text, re.M)
    if match is None:
        return []
    inline = _scalar(match.group(1))
    if inline.startswith("["):
        return [_scalar(v) for v in inline.strip("[]").split(",") if _scalar(v)]
    items: list[str] = []
    for line in text[match.end():].splitlines()[1:]:
        item = re.match(r"^\s+-\s+(.*)$", line)
        if item is None:
            if line.strip() and not line.lstrip().startswith("#"):
                break
            continue
        items.append(_scalar(item.group(1)))
    return items


def condarc_files(ctx: Context, roots: list[str]) -> list[str]:
    xdg = ctx.xdg("XDG_CONFIG_HOME", ".config")
    files = ["/etc/conda/.condarc", "/etc/conda/condarc"]
    files += [os.path.join(root, ".condarc") for root in roots]
    files += [os.path.join(xdg, "conda", ".condarc"), os.path.join(xdg, "conda", "condarc"),
              os.path.join(ctx.home, ".config", "conda", ".condarc"),
              os.path.join(ctx.home, ".conda", ".condarc"), os.path.join(ctx.home, ".condarc")]
    if ctx.env("CONDARC"):
        files.append(ctx.expand(ctx.env("CONDARC") or ""))
    return list(dict.fromkeys(files))


def conda_roots(ctx: Context) -> list[str]:
    roots: list[str] = []
    prefix = ctx.env("CONDA_PREFIX")
    if prefix is not None:
        parent = os.path.dirname(prefix)
        # An activated named environment lives in {root}/envs/{name}.
        roots.append(os.path.dirname(parent) if os.path.basename(parent) == "envs" else prefix)
    exe = ctx.env("CONDA_EXE")
    if exe is not None:
        roots.append(os.path.dirname(os.path.dirname(exe)))
    for variable in ("CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
        if ctx.env(variable):
            roots.append(ctx.expand(ctx.env(variable) or ""))
    roots += [os.path.join(ctx.home, r) for r in INSTALL_ROOTS]
    roots += list(SYSTEM_ROOTS)
    return list(dict.fromkeys(os.path.normpath(r) for r in roots))


def conda_envs_dirs(ctx: Context, roots: list[str]) -> list[tuple[str, str]]:
    """Folders that hold named environments, in conda's order, with where each came from."""
    dirs: list[tuple[str, str]] = []
    for variable in ("CONDA_ENVS_PATH", "CONDA_ENVS_DIRS"):
        for part in (ctx.env(variable) or "").replace(",", os.pathsep).split(os.pathsep):
            if part.strip():
                dirs.append((ctx.expand(part.strip()), variable))
    for rc in condarc_files(ctx, roots):
        text = ctx.files.text(rc)
        if text is not None:
            dirs += [(ctx.expand(d), f"envs_dirs in {rc}") for d in yaml_top_level_list(text, "envs_dirs")]
    dirs += [(os.path.join(root, "envs"), "install root") for root in roots if os.path.isdir(root)]
    dirs.append((os.path.join(ctx.home, ".conda", "envs"), "~/.conda/envs"))
    return dirs


def find_conda_env(name: str, ctx: Context) -> tuple[str | None, str]:
    roots = conda_roots(ctx)
    if name == "base":
        for root in roots:
            if is_env(root):
                return root, "the base environment"
    looked: list[str] = []
    for envs_dir, source in conda_envs_dirs(ctx, roots):
        path = os.path.join(envs_dir, name)
        if is_env(path):
            return path, f"{envs_dir} ({source})"
        looked.append(envs_dir)
    registry = os.path.join(ctx.home, ".conda", "environments.txt")
    for line in (ctx.files.text(registry) or "").splitlines():
        path = line.strip()
        if path and os.path.basename(path.rstrip("/")) == name and is_env(path):
            return path, "~/.conda/environments.txt"
    return None, f"not in {', '.join(dict.fromkeys(looked))} nor ~/.conda/environments.txt"


def conda(folder: Folder, ctx: Context) -> Verdict | None:
    source = next((n for n in _ENV_FILES if folder.has(n)), None)
    if source is None:
        return None
    text = folder.text(source) or ""
    prefix = yaml_top_level(text, "prefix")
    if prefix is not None and is_env(ctx.expand(prefix, folder.path)):
        return check(ctx.expand(prefix, folder.path), f"{source} prefix")
    name = yaml_top_level(text, "name")
    if name is None:
        return Verdict(f"{source} has no name")
    path, where = find_conda_env(name, ctx)
    if path is None:
        return Verdict(f"{source} names {name!r}: {where}")
    return Verdict(f"{source} names {name!r}: {path}, from {where}", env=path)


def pyenv_virtualenv(folder: Folder, ctx: Context) -> Verdict | None:
    text = folder.text(".python-version")
    if text is None:
        return None
    root = ctx.expand(ctx.env("PYENV_ROOT") or os.path.join(ctx.home, ".pyenv"))
    names = [n for line in text.splitlines() if not line.lstrip().startswith("#")
             for n in line.split()]
    seen: list[str] = []
    for name in names:
        if name == "system" or ".." in name:
            continue
        path = os.path.join(root, "versions", name)
        if is_env(path):
            return check(path, f".python-version names {name!r}")
        seen.append(f"{name!r} ({'a Python, not a virtualenv' if os.path.isdir(path) else 'not installed'})")
    return Verdict(f".python-version names {', '.join(seen) or 'nothing usable'} "
                   f"in {root}/versions")
