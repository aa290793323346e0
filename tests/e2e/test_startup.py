"""The serve path stays short: what `typemux` imports and runs before answering initialize.

Timings are measured by bench/startup.py; here we check the causes: no pydantic, no
diagnostic commands, no lsprotocol on the way to the initialize answer, and no git, state
file or backend before it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import typemux_env
from support.client import encode
from support.workspace import make_monorepo, make_venv

NOT_ON_THE_SERVE_PATH = (
    "pydantic", "pydantic_core", "pydantic_settings", "annotated_types", "typemux.config",
    "typemux.config_docs", "typemux.settings_gen", "typemux.doctor", "typemux.status",
    "lsprotocol", "pygls", "argparse", "tomllib", "structlog",
)


def _initialize(root: Path) -> bytes:
    return encode({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}})


def _serve(root: Path, stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "typemux", *args],
                          cwd=root, env=typemux_env(), input=stdin, capture_output=True,
                          timeout=60, check=False)


def _imported(stderr: bytes) -> set[str]:
    lines = stderr.decode("utf-8", "replace").splitlines()
    return {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}


def test_serving_imports_no_pydantic_no_diagnostics_and_no_lsprotocol(tmp_path: Path) -> None:
    exit_ = encode({"jsonrpc": "2.0", "method": "exit"})
    proc = _serve(tmp_path, _initialize(tmp_path) + exit_)
    assert b'"id":1' in proc.stdout.replace(b" ", b"") and b"capabilities" in proc.stdout
    imported = _imported(proc.stderr)
    assert "typemux.runtime.proxy" in imported  # the check sees the serve path's imports
    heavy = {m for m in imported if m.split(".")[0] in NOT_ON_THE_SERVE_PATH
             or m in NOT_ON_THE_SERVE_PATH}
    assert heavy == set(), (
        f"the serve path imported {sorted(heavy)}. If pydantic: a new settings field or "
        "validator makes every start fall back to it (a default without a plain literal, or "
        "a model validator without a twin in typemux.fast_config)")


def test_a_config_file_adds_only_tomllib(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("max_backends = 3\n")
    proc = _serve(tmp_path, _initialize(tmp_path), "--config", str(config))
    assert b"capabilities" in proc.stdout
    imported = _imported(proc.stderr)
    assert "tomllib" in imported and "argparse" in imported
    assert not {m for m in imported if m.startswith(("pydantic", "typemux.config"))}


def test_an_invalid_setting_still_stops_startup_with_the_full_message(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "typemux"], cwd=tmp_path,
                          env=typemux_env(max_backends="0"), input=b"", capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert ("invalid setting max_backends = '0' (from env TYPEMUX_MAX_BACKENDS): "
            "must be an integer >= 1") in proc.stderr.decode()


def test_initialize_is_answered_before_git_runs_and_before_the_fallback_backend_starts(
        tmp_path: Path) -> None:
    """A `git` and a backend that look, when they start, whether typemux's stdout (a file
    here, written synchronously) already holds the initialize answer."""
    project = tmp_path / "project"
    project.mkdir()
    make_monorepo(project, ())  # git init
    venv = make_venv(project)
    out = tmp_path / "stdout"
    tools = tmp_path / "bin"
    tools.mkdir()
    real_git = shutil.which("git")
    assert real_git is not None
    look = f'if grep -q capabilities "{out}"; then echo after; else echo before; fi'
    git = tools / "git"
    git.write_text(f'#!/bin/sh\n{look} >> "{tmp_path}/git-ran"\nexec "{real_git}" "$@"\n')
    backend = tools / "backend"
    backend.write_text(f'#!/bin/sh\n{look} >> "{tmp_path}/backend-ran"\nexec cat >/dev/null\n')
    for tool in (git, backend):
        tool.chmod(0o755)
    env = typemux_env(log_level="info", backend_command=str(backend))
    env["PATH"] = f"{tools}{os.pathsep}{env['PATH']}"
    with out.open("wb") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "typemux"], cwd=project, env=env,
                                stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(_initialize(project))
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while not (tmp_path / "backend-ran").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for an event (the backend started), not for a time
        _, stderr = proc.communicate(b"", timeout=60)
    assert b"capabilities" in out.read_bytes()
    assert (tmp_path / "git-ran").read_text() == "after\n"
    assert (tmp_path / "backend-ran").read_text() == "after\n"
    events = [json.loads(line) for line in stderr.decode().splitlines()
              if line.startswith("{")]
    started = next(e for e in events if e["event"] == "typemux_started")
    assert started["fallback_venv"] == str(venv.resolve())
