"""Shared fixtures: a monorepo of fake-backend projects and typemux started on it."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support.client import LspClient  # noqa: E402
from support.workspace import fake_backend_command, make_monorepo  # noqa: E402

_RUNTIME_DIR = tempfile.mkdtemp(prefix="typemux-test-runtime-")
os.chmod(_RUNTIME_DIR, 0o700)

StartTypemux = Callable[..., Coroutine[Any, Any, LspClient]]


def typemux_env(**settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TYPEMUX_", "GIT_"))}
    env.setdefault("XDG_CONFIG_HOME", "/nonexistent-typemux-test-config")
    # Each test run keeps its own status files (a killed proxy cannot leave one behind).
    env.setdefault("XDG_RUNTIME_DIR", _RUNTIME_DIR)
    # A fresh capabilities cache per typemux: fake backends share one command line but
    # advertise what each test asks for.
    env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="cache-", dir=_RUNTIME_DIR)
    for key, value in settings.items():
        env[f"TYPEMUX_{key.upper()}"] = str(value)
    return env


@pytest.fixture
def monorepo(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "mono"
    root.mkdir()
    return make_monorepo(root, ("proj-a", "proj-b"))


@pytest.fixture
async def start_typemux() -> AsyncIterator[StartTypemux]:
    """Start `python -m typemux` in `cwd` with TYPEMUX_* settings (fake backend by default)."""
    clients: list[LspClient] = []

    async def start(cwd: Path, **settings: Any) -> LspClient:
        settings.setdefault("backend_command", fake_backend_command())
        settings.setdefault("warmup_timeout", 0)
        settings.setdefault("log_level", "debug")
        client = await LspClient.start(
            [sys.executable, "-m", "typemux"], cwd=cwd, env=typemux_env(**settings)
        )
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.kill()
