"""Project trees for end-to-end tests: venvs the way typemux detects them, monorepos."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FAKE_BACKEND: Path = (
    Path(__file__).resolve().parent.parent / "fakes" / "fake_backend.py"
).resolve()


def make_venv(project: Path, *, fake: dict[str, Any] | None = None) -> Path:
    """Create `project/.venv` (pyvenv.cfg and bin/, no interpreter) and return it.

    `fake` becomes the venv's fake-lsp.json, the per-venv behaviour of the fake backend.
    """
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    home = Path(sys.executable).parent
    (venv / "pyvenv.cfg").write_text(f"home = {home}\nversion = 3.11\n")
    if fake is not None:
        (venv / "fake-lsp.json").write_text(json.dumps(fake))
    return venv


def make_monorepo(
    root: Path, projects: Sequence[str] = ("proj-a", "proj-b"), *, git: bool = True
) -> dict[str, Path]:
    """A repository root holding one project per name, each with a venv and a main.py."""
    root.mkdir(parents=True, exist_ok=True)
    if git:
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    result: dict[str, Path] = {}
    for name in projects:
        project = root / name
        project.mkdir(parents=True, exist_ok=True)
        make_venv(project)
        (project / "main.py").write_text(
            f'NAME = "{name}"\n\n\ndef main() -> str:\n    return NAME\n'
        )
        result[name] = project
    return result


def fake_backend_command() -> str:
    """The fake backend as a shell-quoted command line, for TYPEMUX_BACKEND_COMMAND."""
    return shlex.join([sys.executable, str(FAKE_BACKEND)])
