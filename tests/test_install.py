"""The README's three install routes (pipx, uv tool, pip into a venv), run as written.

Each README block runs in bash from a copy of the checkout (what a fresh clone holds) with
a throw-away HOME, so pipx, uv and pip put everything under tmp_path; only the package
caches are shared, which keeps these tests fast (pyright comes from the cache) while they
still reach PyPI like a user would. pipx and uv come from the dev extra. Then `typemux
doctor` must pass in a project, with the backend found beside typemux, and name the
route's own install command for a backend that is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from support.client import LspClient

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEV_BIN = Path(sys.prefix) / "bin"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def readme_block(route: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- install: {route} -->\n```sh\n(.*?)```", text, re.S)
    assert match, f"README has no install block for {route}"
    return match[1]


def pinned_pyright() -> str:
    """The backends extra's pyright pin: the version the package caches hold."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    pins = [p for p in extras["optional-dependencies"]["backends"] if p.startswith("pyright")]
    return pins[0]


def copy_checkout(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def user_env(home: Path, tools: Path | None) -> dict[str, str]:
    real_home = Path.home()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TYPEMUX_", "PIPX_", "UV_", "GIT_", "VIRTUAL_ENV", "PYTHON"))}
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["PATH"] = os.pathsep.join(
        [str(home / ".local" / "bin"), *([str(tools)] if tools else []), SYSTEM_PATH])
    # Throw-away homes, shared download caches.
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache" / "pip"))
    env["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR", str(real_home / ".cache" / "uv"))
    env["PIPX_HOME"] = str(home / ".local" / "share" / "pipx")
    env["PIPX_BIN_DIR"] = str(home / ".local" / "bin")
    env["UV_TOOL_DIR"] = str(home / ".local" / "share" / "uv" / "tools")
    env["UV_TOOL_BIN_DIR"] = str(home / ".local" / "bin")
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, check=False)


def doctor(project: Path, env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any], str]:
    proc = run(["typemux", "doctor", "--json", *extra], project, env, timeout=120)
    report = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    text = run(["typemux", "doctor", *extra], project, env, timeout=120).stdout
    return proc.returncode, report, text + proc.stderr


async def hover_through_installed_typemux(project: Path, env: dict[str, str]) -> str:
    """Serve, as an editor would start it: the backend beside typemux answers a hover."""
    main = project / "main.py"
    main.write_text("def compute_total(a: int) -> int:\n    return a\n\ncompute_total(1)\n")
    client = await LspClient.start(["typemux"], cwd=project, env=env)
    try:
        await client.initialize(project, timeout=60)
        doc = await client.did_open(main)
        answer = await client.request("textDocument/hover", {
            "textDocument": {"uri": doc}, "position": {"line": 3, "character": 2}}, timeout=120)
        assert await client.shutdown_and_exit(timeout=30) == 0
    finally:
        await client.aclose()
    return json.dumps(answer.get("result"))


# route -> (the tool the route needs, where typemux's environment ends up under HOME,
#           the hint doctor gives for a missing `ty`)
ROUTES = {
    "pipx": ("pipx", ".local/share/pipx/venvs/typemux", "pipx inject typemux 'ty'"),
    "uv": ("uv", ".local/share/uv/tools/typemux",
           "uv tool install --reinstall {checkout} --with '{pyright}' --with 'ty'"),
    "pip": (None, ".local/share/typemux", "{env}/bin/python -m pip install 'ty'"),
}


@pytest.mark.real
@pytest.mark.parametrize("route", list(ROUTES))
def test_readme_install_route_ends_in_a_passing_doctor(route: str, tmp_path: Path) -> None:
    tool, env_dir, hint = ROUTES[route]
    home = tmp_path / "home"
    home.mkdir()
    checkout = tmp_path / "typemux"
    copy_checkout(checkout)
    tools = None
    if tool is not None:
        # Only this route's tool: pipx would use uv when it finds one.
        tools = tmp_path / "tools"
        tools.mkdir()
        (tools / tool).symlink_to(DEV_BIN / tool)
    env = user_env(home, tools)

    script = readme_block(route)
    script = "\n".join(line for line in script.splitlines() if not line.startswith("git clone"))
    script = script.replace('"pyright[nodejs]"', f'"{pinned_pyright()}"')
    installed = run(["bash", "-euo", "pipefail", "-c", script], tmp_path, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", ".venv"], cwd=project, check=True)
    doctor_env = user_env(home, None)  # the user's shell: no pipx/uv needed any more
    code, report, text = doctor(project, doctor_env)
    print(f"\n$ typemux doctor   # after the {route} route\n{text}")
    assert code == 0 and report["ok"], text
    typemux_env = (home / env_dir).absolute()
    assert report["python"]["executable"].startswith(str(typemux_env)), text
    assert report["backend"]["found"] == "beside typemux", text
    assert report["backend"]["resolved"][0] == str(typemux_env / "bin" / "pyright-langserver")
    assert report["backend"]["smoke"]["ok"] is True

    hover = asyncio.run(hover_through_installed_typemux(project, doctor_env))
    assert "compute_total" in hover and "int" in hover, hover

    # A backend that is not installed: the hint is this route's own command.
    code, _report, text = doctor(project, doctor_env, "--backend", "ty")
    assert code == 1
    failing = [line for line in text.splitlines() if line.strip().startswith("FAIL")]
    assert len(failing) == 1, text
    expected = hint.format(checkout=checkout, env=typemux_env, pyright=pinned_pyright())
    assert f"install it beside typemux: {expected}" in failing[0], text
