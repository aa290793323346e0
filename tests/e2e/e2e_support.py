"""Helpers shared by the end-to-end tests: a typemux starter that audits stdout, and small
LSP/psutil conveniences. Test modules import the `tm` fixture from here."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import typemux_env
from support.client import LspClient, Message, uri
from support.workspace import FAKE_BACKEND, fake_backend_command, make_venv

Start = Callable[..., Coroutine[Any, Any, LspClient]]
POS = {"line": 0, "character": 0}


@pytest.fixture(name="tm")
async def tm_fixture() -> AsyncIterator[Start]:
    """Like `start_typemux`, plus `env=` for extra environment, and a teardown check that
    typemux's stdout carried nothing but well-formed frames."""
    clients: list[LspClient] = []

    async def start(cwd: Path, *, env: Mapping[str, str] | None = None, **settings: Any) -> LspClient:
        settings.setdefault("backend_command", fake_backend_command())
        settings.setdefault("warmup_timeout", 0)
        settings.setdefault("log_level", "debug")
        full_env = typemux_env(**settings)
        full_env.update(env or {})
        client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=cwd, env=full_env)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for client in clients:
        assert client.protocol_errors == [], client.protocol_errors


def td(doc_uri: str, **extra: Any) -> dict[str, Any]:
    """Params routed by `textDocument.uri` (the fake ignores what it does not need)."""
    return {"textDocument": {"uri": doc_uri}, "position": POS, **extra}


async def hover(client: LspClient, doc_uri: str, timeout: float = 10) -> Message:
    return await client.request("textDocument/hover", td(doc_uri), timeout=timeout)


def hover_text(response: Message) -> str:
    return str(response["result"]["contents"]["value"])


async def fake(client: LspClient, hook: str, doc_uri: str, **params: Any) -> Any:
    """Call a fake test hook (`fake/env`, `fake/received`...) on the backend owning `doc_uri`."""
    response = await client.request(hook, {"textDocument": {"uri": doc_uri}, **params})
    assert "result" in response, response
    return response["result"]


def received(entries: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("method") == method]


def send_with_id(client: LspClient, request_id: int | str, method: str, params: Any = None) -> None:
    """A request under an id of the test's choosing (the client numbers its own from 1)."""
    future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
    client._pending[request_id] = future
    message: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    client._send(message)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def wait_until(predicate: Callable[[], bool], timeout: float = 10, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


async def wait_gone(pids: list[int], timeout: float = 5) -> None:
    await wait_until(lambda: not any(alive(p) for p in pids), timeout)


def project(root: Path, name: str, fake_options: dict[str, Any] | None = None) -> Path:
    """A project with a venv (fake options in its fake-lsp.json) and a main.py."""
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    make_venv(path, fake=fake_options)
    (path / "main.py").write_text(f'NAME = "{name}"\n')
    return path


def fake_command_with_env(**env: str) -> str:
    """The fake backend run through `env`, e.g. to make every backend share one project."""
    assignments = [f"{k}={v}" for k, v in env.items()]
    return shlex.join(["env", *assignments, sys.executable, str(FAKE_BACKEND)])


__all__ = ["POS", "Start", "alive", "fake", "fake_command_with_env", "hover", "hover_text",
           "project", "received", "send_with_id", "td", "tm_fixture", "uri", "wait_gone", "wait_until"]
