"""The README's first command: scripts/demo.py (what ./scripts/demo.sh runs after setup).

It broke once when the wire modules changed under it and nothing in the suite ran it; this
runs it as a user does, with real pyright, and checks what it claims to show.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from real.conftest import real_env

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_demo_runs_and_shows_each_project_served_by_its_own_venv() -> None:
    env = real_env()
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "malformed output" not in out
    # Each project's references are answered by its own venv's backend.
    assert "backend #1 (project-a/.venv)" in out
    assert "backend #2 (project-b/.venv)" in out
    # Each project resolves its own venv's package and not the other's.
    assert "project-a/main.py: ['Import \"beta_only\" could not be resolved']" in out
    assert "project-b/main.py: ['Import \"alpha_only\" could not be resolved']" in out
    assert "typemux exit code 0; processes left: none" in out
