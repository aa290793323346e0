"""The hostile backend (tests/fakes/hostile_backend.py) misbehaves as its modes say: other
tests rely on it, so its own behaviour is checked here directly, with no typemux between."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from support.client import LspClient

HOSTILE = Path(__file__).resolve().parents[1] / "fakes" / "hostile_backend.py"


async def hostile(tmp_path: Path, **options: Any) -> LspClient:
    env = {**os.environ, "HOSTILE_LSP": json.dumps(options)}
    env.pop("VIRTUAL_ENV", None)
    client = await LspClient.start([sys.executable, str(HOSTILE)], cwd=tmp_path, env=env)
    answer = await client.request("initialize", {"processId": None, "capabilities": {}})
    assert "capabilities" in answer["result"]
    client.notify("initialized", {})
    return client


@pytest.fixture
async def clients() -> Any:
    started: list[LspClient] = []
    yield started
    for client in started:
        await client.kill()


async def test_well_behaved_by_default_and_honours_cancel(tmp_path: Path, clients: list[LspClient]) -> None:
    client = await hostile(tmp_path, answer_delay=30)
    clients.append(client)
    request_id = client.send_request("textDocument/hover", {})
    client.notify("$/cancelRequest", {"id": request_id})
    answer = await client.response(request_id)
    assert answer["error"]["code"] == -32800


async def test_ignore_cancel_and_never_answer(tmp_path: Path, clients: list[LspClient]) -> None:
    client = await hostile(tmp_path, ignore_cancel=True, never_answer=["textDocument/hover"])
    clients.append(client)
    request_id = client.send_request("textDocument/hover", {})
    client.notify("$/cancelRequest", {"id": request_id})
    with pytest.raises(TimeoutError):
        await client.response(request_id, timeout=1.0)
    assert (await client.request("textDocument/definition", {}))["result"]["echo"] == "textDocument/definition"


async def test_wrong_ids(tmp_path: Path, clients: list[LspClient]) -> None:
    client = await hostile(tmp_path, wrong_ids="after_initialize")
    clients.append(client)
    client.send_request("textDocument/hover", {})
    await asyncio.sleep(1.0)
    assert any("response to unknown id" in e and "1000002" in e for e in client.protocol_errors)
    client.protocol_errors.clear()


async def test_flood_and_setsid_child(tmp_path: Path, clients: list[LspClient]) -> None:
    client = await hostile(tmp_path, flood={"count": 500, "size": 10}, setsid_child=True)
    clients.append(client)
    env = (await client.request("hostile/env"))["result"]
    assert os.getsid(env["child_pid"]) == env["child_pid"]
    deadline = asyncio.get_running_loop().time() + 30
    while sum(n["method"] == "window/logMessage" for n in client.notifications) < 500:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    os.kill(env["child_pid"], 9)


async def test_hang_after_initialize_and_stop_reading(tmp_path: Path, clients: list[LspClient]) -> None:
    silent = await hostile(tmp_path, hang_after_initialize=True)
    deaf = await hostile(tmp_path, stop_reading_after=2)
    clients.extend([silent, deaf])
    for client in (silent, deaf):
        with pytest.raises(TimeoutError):
            await client.request("textDocument/hover", {}, timeout=1.0)
        assert client.process.returncode is None
