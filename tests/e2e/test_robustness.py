"""End to end: bad input from the client, unknown methods, and every way typemux ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

from e2e_support import (
    Start,
    fake,
    hover,
    hover_text,
    project,
    tm_fixture,  # noqa: F401
    wait_gone,
    wait_until,
)

from support.client import CLAUDE_CODE_CAPABILITIES, LspClient, Message, encode


def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _expect(client: LspClient, request_id: int) -> None:
    """Register interest in an answer to a message the test sends raw."""
    client._pending[request_id] = asyncio.get_running_loop().create_future()


async def _started(tm: Start, tmp_path: Path, fake_options: dict[str, object] | None = None,
                   **settings: object) -> tuple[LspClient, str]:
    proj = project(tmp_path, "proj", fake_options)
    client = await tm(proj, **settings)
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    return client, doc


# ----- bad input ----------------------------------------------------------------------------


async def test_invalid_json_is_logged_and_the_proxy_keeps_serving(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path)
    client.send_raw(_frame(b'{"jsonrpc": "2.0", "id": 7, "method": '))
    assert hover_text(await hover(client, doc)).startswith("proj ")
    # Its id is unreadable, so the answer is a parse error with "id": null (JSON-RPC 2.0).
    await wait_until(lambda: bool(client.null_id_errors), timeout=5)
    assert client.null_id_errors[0]["error"]["code"] == -32700
    assert not [m for m in client.received if m.get("id") == 7]
    await wait_until(lambda: "client_malformed" in client.stderr_text(), timeout=5)


async def test_message_without_method_or_result_gets_invalid_request(
    tmp_path: Path, tm: Start
) -> None:
    client, doc = await _started(tm, tmp_path)
    _expect(client, 5)
    client.send_raw(encode({"jsonrpc": "2.0", "id": 5}))
    response = await client.response(5)
    assert response["error"]["code"] == -32600
    assert hover_text(await hover(client, doc)).startswith("proj ")


async def test_oversized_frame_is_skipped_and_the_next_request_answered(
    tmp_path: Path, tm: Start
) -> None:
    client, doc = await _started(tm, tmp_path, max_message_size=2048)
    big: Message = {"jsonrpc": "2.0", "id": 999, "method": "textDocument/hover",
                    "params": {"textDocument": {"uri": doc}, "position": {"line": 0, "character": 0},
                               "padding": "x" * 4000}}
    client._pending[999] = asyncio.get_running_loop().create_future()
    client.send_raw(encode(big))
    assert hover_text(await hover(client, doc)).startswith("proj ")
    # Skipped unread, and refused under its own id (read from the body's first bytes).
    refused = await client.response(999, timeout=15)
    assert refused["error"]["code"] == -32600
    assert "max_message_size" in refused["error"]["message"]


async def test_unknown_method_is_forwarded_to_the_backend(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path)
    response = await client.request("custom/notAMethod", {"textDocument": {"uri": doc}})
    assert response["error"]["code"] == -32601
    assert not response["error"]["message"].startswith("typemux")


# ----- ending -------------------------------------------------------------------------------


async def test_shutdown_then_exit_returns_0_and_stops_the_backend(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path)
    pid = (await fake(client, "fake/env", doc))["pid"]
    shutdown = await client.request("shutdown")
    assert "result" in shutdown and shutdown["result"] is None
    client.notify("exit")
    assert await client.wait_exit() == 0
    await wait_gone([pid])


async def test_exit_without_shutdown_returns_1(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path)
    pid = (await fake(client, "fake/env", doc))["pid"]
    client.notify("exit")
    assert await client.wait_exit() == 1
    await wait_gone([pid])


async def test_stdin_eof_exits_and_leaves_no_backend(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path)
    pid = (await fake(client, "fake/env", doc))["pid"]
    assert client.process.stdin is not None
    client.process.stdin.close()
    await client.wait_exit()
    await wait_gone([pid])


async def test_sigterm_exits_and_leaves_no_backend_nor_its_child(tmp_path: Path, tm: Start) -> None:
    client, doc = await _started(tm, tmp_path, {"spawn_child": True})
    env = await fake(client, "fake/env", doc)
    assert env["child_pid"] is not None
    await client.terminate()
    await wait_gone([env["pid"], env["child_pid"]])

