"""End to end: a backend message over max_message_size costs that message, not the backend.

The frame decoder skips an oversize body unread and stays in sync, so only the message is
lost: an answer is replaced by an error under the request's id, a notification is dropped,
a request of the backend's is refused to it. The backend (and its index) is kept.
The backend is tests/fakes/hostile_backend.py (plain Python, quick to start)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from e2e_support import Start, tm_fixture, wait_until  # noqa: F401

from support.client import LspClient
from support.workspace import make_venv

HOSTILE = Path(__file__).resolve().parents[1] / "fakes" / "hostile_backend.py"
HOSTILE_COMMAND = shlex.join([sys.executable, str(HOSTILE)])
LIMIT = 64 * 1024
HUGE = 200_000


async def _started(tm: Start, tmp_path: Path, **options: Any) -> tuple[LspClient, dict[str, Any], int]:
    proj = tmp_path / "proj"
    proj.mkdir()
    venv = make_venv(proj)
    (venv / "hostile-lsp.json").write_text(json.dumps(options))
    (proj / "main.py").write_text('NAME = "proj"\n')
    client = await tm(proj, backend_command=HOSTILE_COMMAND, max_message_size=LIMIT,
                      log_level="info")
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    where = {"textDocument": {"uri": doc}}
    pid = (await client.request("hostile/env", where, timeout=30))["result"]["pid"]
    return client, where, pid


async def test_an_oversize_answer_is_an_error_under_its_id_and_the_backend_is_kept(
    tmp_path: Path, tm: Start
) -> None:
    client, where, pid = await _started(tm, tmp_path)
    answer = await client.request("hostile/huge", {**where, "size": HUGE}, timeout=30)
    error = answer["error"]
    assert error["code"] == -32803, answer  # LSP RequestFailed, not -32800 "cancelled"
    assert str(LIMIT) in error["message"] and "max_message_size" in error["message"], error
    assert str(HUGE) in error["message"] or "bytes" in error["message"], error
    # The same process answers the next request: it was neither killed nor restarted.
    again = await client.request("hostile/env", where, timeout=30)
    assert again["result"]["pid"] == pid
    assert "backend_oversize" in client.stderr_text()
    assert "backend_crashed" not in client.stderr_text()


async def test_an_oversize_notification_is_dropped_and_the_backend_is_kept(
    tmp_path: Path, tm: Start
) -> None:
    client, where, pid = await _started(tm, tmp_path)
    flooded = await client.request("hostile/flood", {**where, "count": 1, "size": HUGE}, timeout=30)
    assert "result" in flooded, flooded
    again = await client.request("hostile/env", where, timeout=30)
    assert again["result"]["pid"] == pid
    await wait_until(lambda: "backend_message_too_large" in client.stderr_text(), timeout=10)
    assert not [n for n in client.notifications if n.get("method") == "window/logMessage"
                and len(json.dumps(n)) > LIMIT]


async def test_an_oversize_request_of_the_backend_is_refused_to_it_and_the_backend_is_kept(
    tmp_path: Path, tm: Start
) -> None:
    client, where, pid = await _started(tm, tmp_path)
    answer = await client.request("hostile/huge", {**where, "size": HUGE, "request": True}, timeout=30)
    refused = answer["result"]["answer"]
    assert refused["id"] == "huge-edit"
    assert refused["error"]["code"] == -32803
    assert "max_message_size" in refused["error"]["message"]
    assert not [r for r in client.server_requests if r.get("method") == "workspace/applyEdit"]
    again = await client.request("hostile/env", where, timeout=30)
    assert again["result"]["pid"] == pid

