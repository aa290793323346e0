"""Fixtures for the environment-discovery tests."""

from __future__ import annotations

import pytest

from envs.tool_monorepo import ToolMonorepo, build_tool_monorepo, tools_available


@pytest.fixture(scope="session")
def tool_monorepo(tmp_path_factory: pytest.TempPathFactory) -> ToolMonorepo:
    missing = tools_available()
    if missing:
        pytest.skip(f"environment tools missing: {', '.join(missing)} (pip install -e '.[envtools]')")
    return build_tool_monorepo(tmp_path_factory.mktemp("tools"))
