"""A small monorepo for real type checkers, built offline in well under a second.

Layout (mirrored for project-b with `beta_only` and `pkg_b`):

    <root>/.git
    <root>/project-a/.venv/                      python -m venv --without-pip
    <root>/project-a/.venv/lib/python3.X/site-packages/alpha_only/__init__.py
    <root>/project-a/pkg_a/__init__.py
    <root>/project-a/pkg_a/util.py               def compute_total(...), class Widget
    <root>/project-a/main.py                     imports alpha_only, beta_only, pkg_a.util
    <root>/project-a/other.py                    never opened; calls compute_total too

The package only one venv has makes the venv a backend picked visible: project-a's main.py
must see `beta_only` reported unresolved and `alpha_only` resolved, and vice versa.
Used by the real-backend tests and by scripts/demo.py (which imports this file by path, so
it depends on nothing but the standard library).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UTIL = '''\
"""Utilities of {pkg}."""


def compute_total(first: int, second: int) -> int:
    """Add two numbers ({project})."""
    return first + second


class Widget:
    """A widget of {project}."""

    def __init__(self, name: str) -> None:
        self.name = name

    def describe(self) -> str:
        return "widget " + self.name
'''

MAIN = '''\
import alpha_only
import beta_only

from {pkg}.util import Widget, compute_total

total = compute_total(2, 3)
widget = Widget("{project}")
label = widget.describe()
print({own}.MARKER, {foreign}, total, label)
'''

OTHER = '''\
from {pkg}.util import compute_total

doubled = compute_total(4, 4)
'''

VENV_PACKAGE = '''\
"""Installed only in {project}'s venv."""

MARKER: str = "{module}"


def {module}_version() -> str:
    return "1.0"
'''


@dataclass(frozen=True)
class Project:
    name: str
    root: Path
    venv: Path
    pkg: str  # first-party package, e.g. "pkg_a"
    own_module: str  # present only in this project's venv
    foreign_module: str  # present only in the other project's venv

    @property
    def main(self) -> Path:
        return self.root / "main.py"

    @property
    def other(self) -> Path:
        return self.root / "other.py"

    @property
    def util(self) -> Path:
        return self.root / self.pkg / "util.py"


@dataclass(frozen=True)
class Monorepo:
    root: Path
    a: Project
    b: Project

    @property
    def projects(self) -> tuple[Project, Project]:
        return (self.a, self.b)


def position_of(path: Path, needle: str, occurrence: int = 0) -> dict[str, int]:
    """LSP position (utf-16; the fixture is ASCII) of the `occurrence`-th `needle` in `path`."""
    seen = 0
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        start = 0
        while (column := line.find(needle, start)) >= 0:
            if seen == occurrence:
                return {"line": line_number, "character": column}
            seen += 1
            start = column + 1
    raise ValueError(f"{needle!r} #{occurrence} not in {path}")


def _make_venv(project: Path, python: str) -> Path:
    venv = project / ".venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv


def _site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages in {venv}")
    return found[0]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _make_project(
    root: Path, suffix: str, own: str, foreign: str, python: str
) -> Project:
    name = f"project-{suffix}"
    project_dir = root / name
    pkg = f"pkg_{suffix}"
    venv = _make_venv(project_dir, python)
    _write(
        _site_packages(venv) / own / "__init__.py",
        VENV_PACKAGE.format(project=name, module=own),
    )
    # Typed, like most maintained packages: basedpyright would otherwise report missing stubs
    # for it, a diagnostic that names the module although it resolved.
    _write(_site_packages(venv) / own / "py.typed", "")
    _write(project_dir / pkg / "__init__.py", "")
    _write(project_dir / pkg / "util.py", UTIL.format(pkg=pkg, project=name))
    _write(
        project_dir / "main.py",
        MAIN.format(pkg=pkg, project=name, own=own, foreign=foreign),
    )
    _write(project_dir / "other.py", OTHER.format(pkg=pkg))
    return Project(name, project_dir, venv, pkg, own, foreign)


def make_real_monorepo(root: Path, *, python: str | None = None) -> Monorepo:
    """Build the monorepo under `root` (created; must not hold a previous one)."""
    python = python or sys.executable
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    a = _make_project(root, "a", "alpha_only", "beta_only", python)
    b = _make_project(root, "b", "beta_only", "alpha_only", python)
    return Monorepo(root, a, b)
