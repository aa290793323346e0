"""Fixtures for end-to-end tests against the real backends installed in the dev venv.

The backends (pyright-langserver, basedpyright-langserver, ty, pyrefly) live next to the
test interpreter; typemux resolves a backend's command from its own PATH, so that directory
is put first on the PATH typemux gets.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
import pytest

from real.monorepo import Monorepo, make_real_monorepo
from support.client import LspClient

BIN = Path(sys.executable).parent
KINDS = ("pyright", "basedpyright", "ty", "pyrefly")
COMMANDS = {
    "pyright": "pyright-langserver",
    "basedpyright": "basedpyright-langserver",
    "ty": "ty",
    "pyrefly": "pyrefly",
}


def real_env(**settings: Any) -> dict[str, str]:
    """typemux's environment: no inherited TYPEMUX_*/GIT_* or user config, backends on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TYPEMUX_", "GIT_"))}
    env["XDG_CONFIG_HOME"] = "/nonexistent-typemux-test-config"
    # Learned capabilities are the user's own cache; tests start from none unless they say.
    env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="typemux-test-cache-")
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    for key, value in settings.items():
        env[f"TYPEMUX_{key.upper()}"] = str(value)
    return env


ALLOW_MISSING = "TYPEMUX_TESTS_ALLOW_MISSING_BACKENDS"


def backend_available(kind: str) -> bool:
    return shutil.which(COMMANDS[kind], path=str(BIN)) is not None


def require_backend(kind: str) -> None:
    """Fail the test when the real `kind` backend is missing: scripts/setup.sh installs all
    four, so a missing one is a broken setup, never a reason to pass green.

    Only a developer who deliberately set up without them may turn that into a skip, with
    TYPEMUX_TESTS_ALLOW_MISSING_BACKENDS=1; CI (env CI set) ignores it.
    """
    if backend_available(kind):
        return
    why = f"the real backend {kind} ({COMMANDS[kind]}) is not installed next to {sys.executable}"
    if os.environ.get(ALLOW_MISSING) == "1" and not os.environ.get("CI"):
        pytest.skip(f"{why}; {ALLOW_MISSING}=1")
    pytest.fail(f"{why}; run ./scripts/setup.sh (or set {ALLOW_MISSING}=1 outside CI to skip)",
                pytrace=False)


async def start_real_typemux(cwd: Path, kind: str, **settings: Any) -> LspClient:
    """`python -m typemux` with the real `kind` backend and default warm-up (no command)."""
    settings.setdefault("log_level", "debug")
    return await LspClient.start(
        [sys.executable, "-m", "typemux"], cwd=cwd, env=real_env(backend=kind, **settings)
    )


def process_tree(pid: int) -> list[psutil.Process]:
    """Every live descendant of `pid` (backends, and node under the pyright wrappers)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def still_running(processes: Iterable[psutil.Process], timeout: float = 10) -> list[str]:
    """Descriptions of those of `processes` still alive (zombies count as gone) after `timeout`."""
    _, alive = psutil.wait_procs(list(processes), timeout=timeout)
    left: list[str] = []
    for proc in alive:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            left.append(f"{proc.pid} {' '.join(proc.cmdline())[:160]}")
        except psutil.NoSuchProcess:
            continue
    return left


@pytest.fixture(scope="module")
def real_monorepo(tmp_path_factory: pytest.TempPathFactory) -> Monorepo:
    return make_real_monorepo(tmp_path_factory.mktemp("real") / "mono")
