"""End to end: a signal (SIGTERM, SIGINT, SIGHUP) under load. Every request typemux has read
gets exactly one answer before its stdout closes, and the requests already waiting in its
stdin pipe are read and answered too (see docs/architecture.md, "After shutdown").

Which requests typemux read is taken from its own debug log (`client_to_proxy`, written as
each message is read): the client cannot otherwise tell a request typemux read from one
still in the pipe when it exited."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from e2e_support import Start, project, td, tm_fixture  # noqa: F401

from support.client import CLAUDE_CODE_CAPABILITIES, LspClient

SLOW = {"delays": {"textDocument/hover": 60}}  # every hover stays at the backend
STARTING = {"init_delay": 60}  # every hover waits for a backend that is starting
IN_FLIGHT = 300  # requests sent before the signal, as in the black-box run


def _read_ids(client: LspClient) -> set[Any]:
    """The ids of the requests typemux logged as read from its stdin."""
    ids = set()
    for line in client.stderr_text().splitlines():
        if '"client_to_proxy"' in line:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("id") is not None:
                    ids.add(entry["id"])
    return ids


def _answers(client: LspClient, ids: list[Any]) -> dict[Any, dict[str, Any]]:
    out = {}
    for request_id in ids:
        future = client._pending.get(request_id)
        if future is not None and future.done() and future.exception() is None:
            out[request_id] = future.result()
    return out


async def _stdout_closed(client: LspClient, timeout: float = 60) -> None:
    await asyncio.wait_for(asyncio.shield(client._stdout_task), timeout)


@pytest.mark.parametrize(("sig", "fake_options"), [
    (signal.SIGTERM, SLOW), (signal.SIGINT, STARTING), (signal.SIGHUP, SLOW)],
    ids=["SIGTERM-backend-busy", "SIGINT-backend-starting", "SIGHUP-backend-busy"])
async def test_every_request_read_before_a_signal_gets_one_answer(
    tmp_path: Path, tm: Start, sig: signal.Signals, fake_options: dict[str, Any]
) -> None:
    """The client keeps writing requests before, during and after the signal, until
    typemux's stdout closes: none that typemux read may be left unanswered."""
    proj = project(tmp_path, "proj", fake_options)
    client = await tm(proj)
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    ids: list[Any] = []
    before_signal = asyncio.Event()

    async def keep_writing() -> None:
        stdin = client.process.stdin
        assert stdin is not None
        while not client._closed and not stdin.is_closing():
            for _ in range(10):
                ids.append(client.send_request("textDocument/hover", td(doc)))
            if len(ids) >= IN_FLIGHT:
                before_signal.set()
            await client._drain()  # what typemux does not read stays in the pipe
            await asyncio.sleep(0)  # the answers are read meanwhile

    writer = asyncio.create_task(keep_writing())
    await asyncio.wait_for(before_signal.wait(), 60)
    client.process.send_signal(sig)
    await _stdout_closed(client)
    await writer
    assert await client.wait_exit(30) == 0

    read = _read_ids(client) & set(ids)
    answers = _answers(client, ids)
    assert len(read) >= IN_FLIGHT / 2, "the load did not reach typemux"
    unanswered = sorted(read - answers.keys())
    assert not unanswered, f"{len(unanswered)} requests read by typemux got no answer: {unanswered[:20]}"
    # None of them could have been answered by the backend: each says why it ends, the
    # signal, unless it was refused earlier (more than 1,000 waiting for a starting backend).
    assert all("error" in a for a in answers.values())
    messages = {a["error"]["message"] for a in answers.values()}
    assert {m for m in messages if sig.name not in m and "already wait" not in m} == set()
    assert any(sig.name in m for m in messages)
    # Exactly one answer each: a second one is a protocol error (checked by the fixture).


async def test_requests_waiting_in_the_pipe_at_a_signal_are_answered(
    tmp_path: Path, tm: Start
) -> None:
    """Requests written while typemux was not reading (stopped with SIGSTOP), then a
    SIGTERM: typemux reads what waits in its pipe and answers every one."""
    proj = project(tmp_path, "proj", SLOW)
    client = await tm(proj)
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    await client._drain()
    client.process.send_signal(signal.SIGSTOP)
    try:
        ids = [client.send_request("textDocument/hover", td(doc)) for _ in range(150)]
        stdin = client.process.stdin
        assert stdin is not None
        # All of it in the pipe (150 small requests fit its 64 KiB), none in our buffer.
        for _ in range(600):
            if stdin.transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.05)
        assert stdin.transport.get_write_buffer_size() == 0
        client.process.send_signal(signal.SIGTERM)
    finally:
        client.process.send_signal(signal.SIGCONT)
    await _stdout_closed(client)
    assert await client.wait_exit(30) == 0
    answers = _answers(client, ids)
    assert sorted(answers) == sorted(ids)
    assert all("SIGTERM" in a["error"]["message"] for a in answers.values())
