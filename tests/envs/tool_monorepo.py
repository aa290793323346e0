"""A monorepo with one project per environment tool, built with the real tools from PyPI.

Everything lives under a temporary HOME: the tools put their environments in their own
default places there (Poetry's cache, PDM's and Hatch's data dirs, WORKON_HOME, ...).
conda and pyenv are not installed: their environments are laid out as their docs describe
(`~/miniforge3/envs/NAME` holding `conda-meta/`, `~/.pyenv/versions/VER/envs/NAME` with the
`versions/NAME` link), made functional by `uv venv`.

Each environment gets a module `only_<project>` in its site-packages, so that a type
checker shows which environment it really uses. The expected environment of each project
is what the tool itself reports (`poetry env info -p`, `.pdm-python`, `hatch env find`,
`pipenv --venv`), not typemux's own computation.

Tool invocations create no dependencies and run offline, all at once: a few seconds.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent  # the dev venv: poetry, pdm, hatch, pipenv, uv, virtualenv
PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
TOOLS = ("poetry", "pdm", "hatch", "pipenv", "uv", "virtualenv")
PY_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
TOOL_TIMEOUT = 120


@dataclass
class Project:
    name: str
    path: Path
    rule: str  # the discovery rule expected to find its environment
    env: Path | None = None  # filled in from the tool's own answer


@dataclass
class ToolMonorepo:
    root: Path
    home: Path
    environ: dict[str, str]  # what typemux runs with (also the tools)
    environments: dict[str, str]  # typemux's `environments` setting
    projects: dict[str, Project] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def typemux_environ(self) -> dict[str, str]:
        env = dict(self.environ)
        env["TYPEMUX_ENVIRONMENTS"] = json.dumps(self.environments)
        return env


def tools_available() -> list[str]:
    return [t for t in TOOLS if not (BIN / t).exists()]


def _environ(home: Path) -> dict[str, str]:
    keep = ("LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({
        "HOME": str(home),
        "PATH": os.pathsep.join([str(BIN), os.path.dirname(PYTHON), "/usr/bin", "/bin"]),
        # offline and quiet: no update checks, no downloads, no pip in new environments
        "PDM_CHECK_UPDATE": "false",
        "PIPENV_YES": "1",
        "PIPENV_NOSPIN": "1",
        "PIPENV_VERBOSITY": "-1",
        "POETRY_VIRTUALENVS_OPTIONS_NO_PIP": "true",
        "UV_OFFLINE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": PYTHON,
        "UV_PROJECT_ENVIRONMENT": str(home / "uv-envs" / "uv-app"),
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "VIRTUALENV_SEEDER": "app-data",
        "VIRTUALENV_NO_PIP": "1",
        "VIRTUALENV_NO_SETUPTOOLS": "1",
        "VIRTUALENV_NO_WHEEL": "1",
    })
    return env


def _pyproject(name: str, extra: str = "") -> str:
    return (f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">={PY_VERSION}"\n'
            f"dependencies = []\n{extra}")


def _main(name: str, others: list[str]) -> str:
    lines = [f"import only_{name.replace('-', '_')}\n"]
    lines += [f"import only_{o.replace('-', '_')}\n" for o in others if o != name]
    lines.append(f'\nVALUE = only_{name.replace("-", "_")}.VALUE\n')
    return "".join(lines)


def _run_all(commands: list[tuple[str, list[str], Path, dict[str, str]]],
             seconds: dict[str, float]) -> dict[str, str]:
    """Run the commands at once; their stdout by label. Any failure fails loudly."""
    started = time.monotonic()
    procs = []
    for label, argv, cwd, env in commands:
        procs.append((label, argv, subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)))
    out: dict[str, str] = {}
    for label, argv, proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise RuntimeError(f"{' '.join(argv)} took over {TOOL_TIMEOUT} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{stderr[-2000:]}")
        out[label] = stdout
        seconds[label] = round(time.monotonic() - started, 2)
    return out


def _site_packages(env: Path) -> Path:
    found = sorted(env.glob("lib/python*/site-packages"))
    if not found:
        raise RuntimeError(f"{env} has no site-packages")
    return found[0]


def build_tool_monorepo(base: Path) -> ToolMonorepo:
    home = base / "home"
    root = base / "mono"
    home.mkdir(parents=True)
    root.mkdir(parents=True)
    home, root = Path(os.path.realpath(home)), Path(os.path.realpath(root))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    environ = _environ(home)
    repo = ToolMonorepo(root, home, environ, {"**/config-app": "~/elsewhere/config-env"})
    rules = {"config-app": "config", "pyright-app": "pyright", "dotvenv-app": ".venv",
             "venv-app": "in-project", "uv-app": "uv", "pdm-app": "pdm", "poetry-app": "poetry",
             "hatch-app": "hatch", "pipenv-app": "pipenv", "conda-app": "conda",
             "pyenv-app": "pyenv"}
    names = list(rules)
    for name, rule in rules.items():
        path = root / name
        path.mkdir()
        (path / "main.py").write_text(_main(name, names))
        repo.projects[name] = Project(name, path, rule)

    p = {name: project.path for name, project in repo.projects.items()}
    (p["config-app"] / "requirements.txt").write_text("")
    (p["pyright-app"] / "pyrightconfig.json").write_text(
        '{\n  // pyright allows comments\n  "venvPath": "../pyright-envs",\n  "venv": "pyright-env",\n}\n')
    (p["venv-app"] / "requirements.txt").write_text("")
    (p["uv-app"] / "pyproject.toml").write_text(_pyproject("uv-app"))
    (p["pdm-app"] / "pyproject.toml").write_text(_pyproject("pdm-app"))
    (p["poetry-app"] / "pyproject.toml").write_text(
        _pyproject("Poetry_App", "\n[tool.poetry]\npackage-mode = false\n"))
    (p["hatch-app"] / "pyproject.toml").write_text(
        _pyproject("Hatch.App", "\n[tool.hatch.envs.default]\nskip-install = true\n"))
    (p["pipenv-app"] / "Pipfile").write_text(
        f'[packages]\n\n[dev-packages]\n\n[requires]\npython_version = "{PY_VERSION}"\n')
    (p["conda-app"] / "environment.yml").write_text(
        "# conda environment\nname: conda-app-env  # looked up by name\nchannels:\n  - conda-forge\n"
        f"dependencies:\n  - python={PY_VERSION}\n")
    (p["pyenv-app"] / ".python-version").write_text("pyenv-app-env\n")

    conda_env = home / "miniforge3" / "envs" / "conda-app-env"
    pyenv_env = home / ".pyenv" / "versions" / platform.python_version() / "envs" / "pyenv-app-env"
    e = environ
    pdm_env = {**e, "PDM_VENV_IN_PROJECT": "false"}
    uv = str(BIN / "uv")
    first = [
        ("uv-config", [uv, "venv", "-q", str(home / "elsewhere" / "config-env")], root, e),
        ("uv-pyright", [uv, "venv", "-q", str(root / "pyright-envs" / "pyright-env")], root, e),
        ("uv-dotvenv", [uv, "venv", "-q", ".venv"], p["dotvenv-app"], e),
        ("virtualenv", [str(BIN / "virtualenv"), "-q", "-p", PYTHON, "venv"], p["venv-app"], e),
        ("uv-sync", [uv, "sync", "-q"], p["uv-app"], e),
        ("pdm-create", [str(BIN / "pdm"), "venv", "create", PYTHON], p["pdm-app"], pdm_env),
        ("poetry", [str(BIN / "poetry"), "env", "use", PYTHON], p["poetry-app"], e),
        ("hatch", [str(BIN / "hatch"), "env", "create"], p["hatch-app"], e),
        ("pipenv", [str(BIN / "pipenv"), "--python", PYTHON], p["pipenv-app"], e),
        ("uv-conda", [uv, "venv", "-q", str(conda_env)], root, e),
        ("uv-pyenv", [uv, "venv", "-q", str(pyenv_env)], root, e),
    ]
    _run_all(first, repo.seconds)
    (conda_env / "conda-meta").mkdir()
    (conda_env / "conda-meta" / "history").write_text("==> 2026-01-01 00:00:00 <==\n")
    (home / ".pyenv" / "versions" / "pyenv-app-env").symlink_to(pyenv_env)
    second = [
        ("pdm-use", [str(BIN / "pdm"), "use", "--venv", PY_VERSION], p["pdm-app"], pdm_env),
        ("poetry-info", [str(BIN / "poetry"), "env", "info", "-p"], p["poetry-app"], e),
        ("hatch-find", [str(BIN / "hatch"), "env", "find"], p["hatch-app"], e),
        ("pipenv-venv", [str(BIN / "pipenv"), "--venv"], p["pipenv-app"], e),
    ]
    answers = _run_all(second, repo.seconds)
    pdm_python = (p["pdm-app"] / ".pdm-python").read_text().strip()
    told = {
        "config-app": home / "elsewhere" / "config-env",
        "pyright-app": root / "pyright-envs" / "pyright-env",
        "dotvenv-app": p["dotvenv-app"] / ".venv",
        "venv-app": p["venv-app"] / "venv",
        "uv-app": home / "uv-envs" / "uv-app",
        "pdm-app": Path(pdm_python).parent.parent,
        "poetry-app": Path(answers["poetry-info"].strip().splitlines()[-1]),
        "hatch-app": Path(answers["hatch-find"].strip().splitlines()[-1]),
        "pipenv-app": Path(answers["pipenv-venv"].strip().splitlines()[-1]),
        "conda-app": conda_env,
        "pyenv-app": home / ".pyenv" / "versions" / "pyenv-app-env",
    }
    for name, env in told.items():
        if not (env / "pyvenv.cfg").is_file():
            raise RuntimeError(f"{name}: {env} is not an environment")
        repo.projects[name].env = env
        module = name.replace("-", "_")
        (_site_packages(env) / f"only_{module}.py").write_text(f'VALUE = "{name}"\n')
    return repo
