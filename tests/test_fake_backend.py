"""The test tools themselves: the fake backend driven directly by LspClient (no proxy)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from support.client import (
    CLAUDE_CODE_ANSWER,
    CLAUDE_CODE_CAPABILITIES,
    JsonRpcError,
    LspClient,
    LspClosedError,
    uri,
)
from support.workspace import FAKE_BACKEND, fake_backend_command, make_monorepo, make_venv

pytestmark = pytest.mark.timeout(30)

Start = Callable[..., Awaitable[LspClient]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "proj-x"
    path.mkdir()
    (path / "main.py").write_text("x = 1\n")
    return path


@pytest.fixture
async def start(project: Path) -> AsyncIterator[Start]:
    """Start the fake for `project` (venv created with the given fake options)."""
    clients: list[LspClient] = []

    async def _start(fake: dict[str, Any] | None = None, **env: str) -> LspClient:
        venv = make_venv(project, fake=fake)
        full_env = {**os.environ, "VIRTUAL_ENV": str(venv), **env}
        client = await LspClient.start(
            [sys.executable, str(FAKE_BACKEND)], cwd=project, env=full_env
        )
        clients.append(client)
        return client

    yield _start
    for client in clients:
        await client.aclose()


def hover_params(doc_uri: str) -> dict[str, Any]:
    return {"textDocument": {"uri": doc_uri}, "position": {"line": 0, "character": 0}}


def change(line: int, start: int, end: int, text: str) -> dict[str, Any]:
    return {
        "range": {
            "start": {"line": line, "character": start},
            "end": {"line": line, "character": end},
        },
        "text": text,
    }


async def test_initialize_answers_capabilities_and_clean_shutdown(
    start: Start, project: Path
) -> None:
    client = await start()
    client.send_request("warmup/unknown")  # ids need not start at 1 for initialize
    response = await client.initialize(project, capabilities=CLAUDE_CODE_CAPABILITIES)

    assert response["id"] == 2
    caps = response["result"]["capabilities"]
    assert response["result"]["serverInfo"]["name"] == "fake-lsp"
    assert caps["textDocumentSync"] == {"openClose": True, "change": 2,
                                        "save": {"includeText": False}}
    assert caps["positionEncoding"] == "utf-16"
    for provider in (
        "hover",
        "definition",
        "references",
        "documentSymbol",
        "workspaceSymbol",
        "implementation",
        "callHierarchy",
        "rename",
    ):
        assert caps[f"{provider}Provider"] is True
    assert caps["completionProvider"]["resolveProvider"] is True
    assert caps["codeLensProvider"]["resolveProvider"] is True

    shutdown = await client.request("shutdown")
    assert "result" in shutdown and shutdown["result"] is None  # an explicit null survives
    client.notify("exit")
    assert await client.wait_exit() == 0
    assert client.protocol_errors == []


async def test_hover_follows_incremental_and_full_changes(start: Start, project: Path) -> None:
    client = await start()
    await client.initialize(project, capabilities=CLAUDE_CODE_CAPABILITIES)  # utf-16
    doc = await client.did_open(project / "main.py", "a = '😀😀b'\n")
    # utf-16: each emoji is 2 units, so "b" sits at character 9.
    client.did_change(doc, 2, [change(0, 9, 10, "cd")])
    hover = await client.request("textDocument/hover", hover_params(doc))
    value = hover["result"]["contents"]["value"]
    expected = "a = '😀😀cd'\n"
    assert value == f"proj-x {doc} v2 len={len(expected)}"

    docs = (await client.request("fake/documents"))["result"]
    assert docs[doc] == {"version": 2, "text": expected}

    client.did_change(doc, 3, [{"text": "full\n"}])
    docs = (await client.request("fake/documents"))["result"]
    assert docs[doc] == {"version": 3, "text": "full\n"}
    diag = await client.wait_notification(
        "textDocument/publishDiagnostics", lambda m: m["params"]["version"] == 3
    )
    assert diag["params"]["diagnostics"][0]["message"] == "proj-x: v3"

    client.did_close(doc)
    assert (await client.request("fake/documents"))["result"] == {}


async def test_received_lists_every_message_in_order(start: Start, project: Path) -> None:
    client = await start()
    await client.initialize(project)
    doc = await client.did_open(project / "main.py")
    await client.request("textDocument/definition", hover_params(doc))
    client.notify("custom/note", {"keep": None, "unknown_field": [1]})
    received = (await client.request("fake/received"))["result"]

    assert [m["method"] for m in received] == [
        "initialize",
        "initialized",
        "textDocument/didOpen",
        "textDocument/definition",
        "custom/note",
        "fake/received",
    ]
    assert received[0]["params"]["rootUri"] == uri(project)
    assert received[4]["params"] == {"keep": None, "unknown_field": [1]}  # raw JSON kept


async def test_config_request_reaches_client_and_answer_is_recorded(
    start: Start, project: Path
) -> None:
    client = await start({"config_sections": ["python", "python.analysis"]})
    client.answer_server_request = lambda msg: [{"pythonPath": "/x"}, None]
    await client.initialize(project)

    request = await client.wait_server_request("workspace/configuration")
    assert request["params"]["items"] == [
        {"section": "python", "scopeUri": uri(project)},
        {"section": "python.analysis", "scopeUri": uri(project)},
    ]
    received = (await client.request("fake/received"))["result"]
    answer = next(
        m for m in received if m.get("id") == request["id"] and m["method"] == "<response>"
    )
    assert answer["result"] == [{"pythonPath": "/x"}, None]


async def test_server_request_and_notify_round_trip(start: Start, project: Path) -> None:
    client = await start({"register_watchers": True})
    client.answer_server_request = CLAUDE_CODE_ANSWER
    await client.initialize(project)
    registration = await client.wait_server_request("client/registerCapability")
    assert registration["params"]["registrations"][0]["id"] == "FILEWATCHER"

    refused = await client.request("fake/serverRequest", {"method": "workspace/applyEdit"})
    assert refused["result"]["error"]["code"] == -32601

    client.answer_server_request = lambda msg: JsonRpcError(-32000, "nope", {"why": 1})
    failed = await client.request("fake/serverRequest", {"method": "x/y", "params": {}})
    assert failed["result"]["error"] == {"code": -32000, "message": "nope", "data": {"why": 1}}

    client.answer_server_request = lambda msg: None
    ok = await client.request("fake/serverRequest", {"method": "x/y"})
    assert ok["result"] == {"result": None}

    await client.request("fake/notify", {"method": "custom/ping", "params": {"n": None}})
    note = await client.wait_notification("custom/ping")
    assert note["params"] == {"n": None}


async def test_progress_after_emits_create_begin_end(start: Start, project: Path) -> None:
    client = await start({"progress_after": 0, "log_after": 0})
    await client.initialize(project)
    create = await client.wait_server_request("window/workDoneProgress/create")
    token = create["params"]["token"]

    end = await client.wait_notification(
        "$/progress", lambda m: m["params"]["value"]["kind"] == "end"
    )
    kinds = [
        m["params"]["value"]["kind"] for m in client.notifications if m["method"] == "$/progress"
    ]
    assert kinds == ["begin", "end"]
    assert end["params"]["token"] == token
    begin = next(m for m in client.notifications if m["method"] == "$/progress")
    assert begin["params"]["value"]["title"] == "Indexing"
    log = await client.wait_notification("window/logMessage")
    assert log["params"]["message"] == "Found 3 source files"


async def test_exit_on_exits_3_and_log_survives(
    start: Start, project: Path, tmp_path: Path
) -> None:
    log = tmp_path / "fake.log"
    client = await start({"exit_on": "textDocument/hover"}, FAKE_LSP_LOG=str(log))
    await client.initialize(project)
    doc = await client.did_open(project / "main.py")

    with pytest.raises(LspClosedError):
        await client.request("textDocument/hover", hover_params(doc))
    assert await client.wait_exit() == 3
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["method"] for line in lines] == [
        "initialize",
        "initialized",
        "textDocument/didOpen",
        "textDocument/hover",
    ]
    assert lines[-1]["id"] is not None


async def test_delayed_request_can_be_cancelled_and_hang_on_never_answers(
    start: Start, project: Path
) -> None:
    client = await start(
        {"delays": {"textDocument/hover": 30}, "hang_on": "textDocument/references"}
    )
    await client.initialize(project)
    doc = await client.did_open(project / "main.py")

    hung = client.send_request("textDocument/references", hover_params(doc))
    slow = client.send_request("textDocument/hover", hover_params(doc))
    client.notify("$/cancelRequest", {"id": slow})
    cancelled = await client.response(slow)
    assert cancelled["error"]["code"] == -32800

    await client.request("fake/sleep", {"seconds": 0})  # later requests still answered
    with pytest.raises(TimeoutError):
        await client.response(hung, timeout=0.2)


async def test_env_and_startup_options(start: Start, project: Path) -> None:
    file_options = {"stderr_noise": 50, "memory_mb": 40, "spawn_child": True, "name": "file"}
    client = await start(file_options, FAKE_LSP=json.dumps({"name": "inline"}))
    await client.initialize(project)
    env = (await client.request("fake/env"))["result"]

    assert env["name"] == "inline"  # FAKE_LSP is merged over fake-lsp.json
    assert env["VIRTUAL_ENV"] == str(project / ".venv")
    assert Path(env["cwd"]) == project
    assert env["pid"] == client.pid
    assert env["argv"][0] == str(FAKE_BACKEND)
    assert client.stderr_text().count("noise line") == 50
    fake = psutil.Process(client.pid)
    assert fake.memory_info().rss > 40 * 1024 * 1024
    child = psutil.Process(env["child_pid"])
    try:
        assert child.ppid() == client.pid
        assert child.cmdline() == ["sleep", "1000"]
        assert await client.shutdown_and_exit() == 0
        child.wait(timeout=5)  # a graceful exit takes the child along
    finally:
        if child.is_running():
            child.kill()


async def test_init_error_and_exit_after(start: Start, project: Path) -> None:
    failing = await start({"init_error": "boom"})
    response = await failing.initialize(project)
    assert response["error"]["message"] == "boom"

    dying = await start({"exit_after": 0})
    await dying.initialize(project)
    assert await dying.wait_exit() == 3


async def test_features_answer_with_the_backend_name(start: Start, project: Path) -> None:
    client = await start({"name": "alpha"})
    await client.initialize(project)
    doc = await client.did_open(project / "main.py")
    pos = hover_params(doc)

    async def result(method: str, params: Any) -> Any:
        response = await client.request(method, params)
        return response["result"]

    assert (await result("textDocument/definition", pos))["uri"] == doc
    assert (
        len(
            await result(
                "textDocument/references", {**pos, "context": {"includeDeclaration": True}}
            )
        )
        == 2
    )
    assert (await result("textDocument/documentSymbol", pos))[0]["name"] == "alpha_symbol"
    symbols = await result("workspace/symbol", {"query": ""})
    assert symbols[0]["location"]["uri"] == uri(project / "alpha.py")
    completion = await result("textDocument/completion", pos)
    item = completion["items"][0]
    assert (await result("completionItem/resolve", item))["detail"] == "alpha resolved"
    lens = (await result("textDocument/codeLens", pos))[0]
    assert (await result("codeLens/resolve", lens))["command"]["title"] == "alpha"
    items = await result("textDocument/prepareCallHierarchy", pos)
    assert items[0]["data"] == {"backend": "alpha"}
    assert await result("callHierarchy/incomingCalls", {"item": items[0]}) == []
    received = (await client.request("fake/received"))["result"]
    assert any(m["method"] == "callHierarchy/incomingCalls" for m in received)


async def test_client_records_junk_on_stdout(tmp_path: Path) -> None:
    body = b'{"jsonrpc": "2.0", "method": "hello", "params": {}}'
    script = (
        "import sys\n"
        "out = sys.stdout.buffer\n"
        "out.write(b'print junk\\n')\n"
        f"out.write(b'Content-Length: {len(body)}\\r\\n\\r\\n' + {body!r})\n"
        "out.write(b'Content-Length: 5\\r\\n\\r\\nnot j')\n"
        "out.flush()\n"
    )
    client = await LspClient.start([sys.executable, "-c", script], cwd=tmp_path)
    try:
        note = await client.wait_notification("hello")
        assert note["params"] == {}
        await client.wait_exit()
        await asyncio.sleep(0)
        with pytest.raises(LspClosedError):
            await client.wait_notification("never")
        assert any("print junk" in e for e in client.protocol_errors)
        assert any("invalid JSON" in e for e in client.protocol_errors)
    finally:
        await client.aclose()


def test_workspace_helpers(tmp_path: Path) -> None:
    projects = make_monorepo(tmp_path / "repo")
    assert (tmp_path / "repo" / ".git").is_dir()
    assert set(projects) == {"proj-a", "proj-b"}
    for project in projects.values():
        cfg = (project / ".venv" / "pyvenv.cfg").read_text()
        assert cfg.startswith(f"home = {Path(sys.executable).parent}\n")
        assert (project / ".venv" / "bin").is_dir()
        assert (project / "main.py").is_file()
    venv = make_venv(tmp_path / "p", fake={"name": "n"})
    assert json.loads((venv / "fake-lsp.json").read_text()) == {"name": "n"}
    assert fake_backend_command().endswith(str(FAKE_BACKEND))
