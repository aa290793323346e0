"""Record the `initialize` answer (capabilities, serverInfo) of each real backend.

Usage: python scripts/record_capabilities.py [pyright|basedpyright|ty|pyrefly ...]

Each server is started in a throw-away project that has its own `.venv`, with the
environment typemux gives a backend (VIRTUAL_ENV + PATH) and the client capabilities typemux
sends every backend, so the recorded answer is the one typemux will really get. The result is
printed as Python literals, ready to paste into `src/typemux/backends/<kind>.py`.

Servers are looked up next to the running interpreter first (the dev venv), then on PATH.
Only the standard library is used so the script runs before typemux is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pprint
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

SERVERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (language server argv, version argv)
    "pyright": (("pyright-langserver", "--stdio"), ("pyright", "--version")),
    "basedpyright": (("basedpyright-langserver", "--stdio"), ("basedpyright", "--version")),
    "ty": (("ty", "server"), ("ty", "--version")),
    "pyrefly": (("pyrefly", "lsp"), ("pyrefly", "--version")),
}

# Exactly what typemux offers every backend (see DESIGN.md and reference/backends.md §6).
CLIENT_CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "textDocument": {
        "synchronization": {"dynamicRegistration": False, "didSave": True},
        "publishDiagnostics": {"relatedInformation": True, "versionSupport": True},
    },
    "window": {"workDoneProgress": True},
    "workspace": {
        "configuration": True,
        "workspaceFolders": True,
        "didChangeWatchedFiles": {"dynamicRegistration": True},
    },
}

TIMEOUT = 30.0


def search_path() -> str:
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def resolve(argv: tuple[str, ...]) -> list[str]:
    found = shutil.which(argv[0], path=search_path())
    if found is None:
        raise SystemExit(f"{argv[0]} not found next to {sys.executable} or on PATH")
    return [found, *argv[1:]]


def make_project(root: Path) -> Path:
    project = root / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text("")
    (project / "pkg" / "main.py").write_text("def greet(name: str) -> str:\n    return name\n")
    venv_dir = project / ".venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(venv_dir)
    return venv_dir


async def write(stdin: asyncio.StreamWriter, msg: dict[str, Any]) -> None:
    body = json.dumps(msg).encode()
    stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await stdin.drain()


async def read(stdout: asyncio.StreamReader) -> dict[str, Any]:
    length = None
    while True:
        line = await stdout.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise RuntimeError("frame without Content-Length")
    result: dict[str, Any] = json.loads(await stdout.readexactly(length))
    return result


def answer_for(msg: dict[str, Any]) -> Any:
    if msg["method"] == "workspace/configuration":
        return [None] * len(msg.get("params", {}).get("items", []))
    return None


async def drain(stream: asyncio.StreamReader) -> None:
    # pyrefly blocks once a full stderr pipe is not read.
    while await stream.read(65536):
        pass


async def record(kind: str, venv_dir: Path) -> dict[str, Any]:
    argv = resolve(SERVERS[kind][0])
    project = venv_dir.parent
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(venv_dir)
    env["PATH"] = os.pathsep.join([str(venv_dir / "bin"), env.get("PATH", "")])
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=project,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    stderr_task = asyncio.create_task(drain(proc.stderr))
    uri = project.as_uri()
    await write(
        proc.stdin,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "processId": os.getpid(),
                "clientInfo": {"name": "typemux-record"},
                "rootUri": uri,
                "rootPath": str(project),
                "workspaceFolders": [{"uri": uri, "name": project.name}],
                "capabilities": CLIENT_CAPABILITIES,
            },
        },
    )
    init_result: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                msg = await read(proc.stdout)
                if "method" in msg and "id" in msg:
                    await write(
                        proc.stdin, {"jsonrpc": "2.0", "id": msg["id"], "result": answer_for(msg)}
                    )
                elif msg.get("id") == 1 and init_result is None:
                    if "error" in msg:
                        raise RuntimeError(f"{kind}: initialize failed: {msg['error']}")
                    init_result = msg["result"]
                    await write(
                        proc.stdin, {"jsonrpc": "2.0", "method": "initialized", "params": {}}
                    )
                    await write(proc.stdin, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
                elif msg.get("id") == 2:
                    await write(proc.stdin, {"jsonrpc": "2.0", "method": "exit"})
                    proc.stdin.close()
                    break
            await proc.wait()
    finally:
        if proc.returncode is None:
            # The pyright wrapper leaves its node child behind unless the whole group dies.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
        stderr_task.cancel()
    assert init_result is not None
    return init_result


def version(kind: str) -> str:
    argv = resolve(SERVERS[kind][1])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


async def main(kinds: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="typemux-record-") as tmp:
        venv_dir = make_project(Path(tmp))
        for kind in kinds:
            result = await record(kind, venv_dir)
            print(f"# ---- {kind}: {version(kind)} ----")
            print(
                "CAPABILITIES: dict[str, Any] = "
                + pprint.pformat(result.get("capabilities"), sort_dicts=True)
            )
            print("SERVER_INFO = " + pprint.pformat(result.get("serverInfo"), sort_dicts=True))
            print()


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(SERVERS)
    unknown = [k for k in wanted if k not in SERVERS]
    if unknown:
        raise SystemExit(f"unknown kind(s): {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
    asyncio.run(main(wanted))
