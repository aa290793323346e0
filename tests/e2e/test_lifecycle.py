"""End to end: documents across crashes, warmup, non-blocking creation, crash loops, spawn
failure and venv replacement."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import time
from pathlib import Path

from e2e_support import (
    Start,
    fake,
    hover,
    hover_text,
    project,
    received,
    td,
    tm_fixture,  # noqa: F401
    wait_gone,
)

from support.workspace import FAKE_BACKEND
from typemux.core.stopping import SHUTDOWN_ANSWER_GRACE


def _edit(line: int, start: int, end: int, text: str, end_line: int | None = None) -> dict[str, object]:
    stop = line if end_line is None else end_line
    return {"range": {"start": {"line": line, "character": start},
                      "end": {"line": stop, "character": end}}, "text": text}


# ----- documents ----------------------------------------------------------------------------


async def test_incremental_edits_with_emoji_and_crlf_survive_a_crash(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "a\U0001f600b\r\nline2\r\n")
    client.did_change(doc, 2, [_edit(0, 3, 3, "X")])  # after the emoji (2 UTF-16 units)
    client.did_change(doc, 3, [_edit(1, 0, 4, "LINE"), _edit(0, 1, 3, "\U0001f389!")])
    expected = "a\U0001f389!Xb\r\nLINE2\r\n"
    env = await fake(client, "fake/env", doc)
    assert (await fake(client, "fake/documents", doc))[doc] == {"version": 3, "text": expected}

    crash = await client.request("fake/exit", td(doc))
    assert crash["error"]["code"] == -32800
    await wait_gone([env["pid"]])
    after = await fake(client, "fake/documents", doc)
    assert (await fake(client, "fake/env", doc))["pid"] != env["pid"]
    assert after[doc] == {"version": 3, "text": expected}


async def test_an_edit_past_the_end_is_clamped_and_the_editors_text_survives_a_crash(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "unsaved = 1\n")  # differs from the disk
    client.did_change(doc, 2, [_edit(99, 0, 0, "Z")])  # past the end: lands at the end
    expected = {"version": 2, "text": "unsaved = 1\nZ"}
    assert (await fake(client, "fake/documents", doc))[doc] == expected
    assert "error" in await client.request("fake/exit", td(doc))
    after = await fake(client, "fake/documents", doc)  # replayed to the restarted backend
    assert after[doc] == expected
    assert not [m for m in client.notifications if m.get("method") == "window/showMessage"]


# ----- warmup -------------------------------------------------------------------------------


async def test_backend_ready_by_progress_is_not_held_until_the_timeout(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj", {"progress_after": 0.2})
    client = await tm(proj, warmup_timeout=10)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    started = time.monotonic()
    refs = await client.request("textDocument/references", td(doc, context={"includeDeclaration": True}))
    assert len(refs["result"]) == 2
    assert time.monotonic() - started < 6  # released by the progress end, not the 10 s timeout


async def test_silent_backend_holds_index_requests_until_the_timeout_only(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj, warmup_timeout=1)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    started = time.monotonic()
    other = await client.did_open(proj / "other.py", "x = 1\n")
    refs_id = client.send_request("textDocument/references", td(doc, context={"includeDeclaration": True}))
    assert hover_text(await hover(client, other)).startswith("proj ")  # another document: not held
    hover_done = time.monotonic()
    refs = await client.response(refs_id, timeout=8)
    refs_done = time.monotonic()
    assert len(refs["result"]) == 2
    assert refs_done - started >= 0.9
    assert refs_done > hover_done


async def test_cancelling_a_held_request_answers_it_exactly_once(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj, warmup_timeout=1.5)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    params = td(doc, context={"includeDeclaration": True})
    held = client.send_request("textDocument/references", params)
    await asyncio.sleep(0.1)
    client.notify("$/cancelRequest", {"id": held})
    assert (await client.response(held, timeout=5))["error"]["code"] == -32800
    second = await client.request("textDocument/references", params)  # released at the timeout
    assert len(second["result"]) == 2
    refs = received(await fake(client, "fake/received", doc), "textDocument/references")
    assert [r["id"] for r in refs] == [second["id"]]
    # A second answer to `held` would land in client.protocol_errors (checked at teardown).


# ----- creation, crashes, failures ------------------------------------------------------


async def test_a_slow_starting_backend_does_not_delay_another_venv(tmp_path: Path, tm: Start) -> None:
    root = tmp_path / "ws"
    slow = project(root, "slow", {"init_delay": 3})
    fast = project(root, "fast")
    client = await tm(root)
    await client.initialize(root)
    us = await client.did_open(slow / "main.py")
    uf = await client.did_open(fast / "main.py")
    order: list[str] = []

    async def ask(name: str, doc: str) -> None:
        hover_text(await hover(client, doc, timeout=10))
        order.append(name)

    slow_task = asyncio.create_task(ask("slow", us))
    await asyncio.sleep(0.05)
    await ask("fast", uf)
    assert not slow_task.done()
    await slow_task
    assert order == ["fast", "slow"]


async def test_crash_loop_backs_off_with_one_message(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj", {"exit_after": 0.2})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    deadline = time.monotonic() + 10
    backoff_error = None
    while backoff_error is None and time.monotonic() < deadline:
        response = await hover(client, doc)
        message = response.get("error", {}).get("message", "")
        if "next attempt" in message:
            backoff_error = message
        else:
            await asyncio.sleep(0.3)
    assert backoff_error is not None and "proj" in backoff_error
    await asyncio.sleep(0.3)
    notices = [n for n in client.notifications if n["method"] == "window/showMessage"]
    assert len(notices) == 1, notices
    assert "keeps crashing" in notices[0]["params"]["message"]


async def test_missing_command_fails_with_command_and_venv_named_once(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    command = "/nonexistent/typemux-test-lsp"
    client = await tm(proj, backend_command=f"{command} --stdio")
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    for _ in range(2):
        error = (await hover(client, doc))["error"]
        assert error["code"] == -32603
        assert command in error["message"] and str(proj / ".venv") in error["message"]
    await asyncio.sleep(0.2)
    notices = [n for n in client.notifications if n["method"] == "window/showMessage"]
    assert len(notices) == 1 and command in notices[0]["params"]["message"]
    assert await client.shutdown_and_exit() == 0


async def test_one_venv_failing_to_start_leaves_the_others_serving(
    tmp_path: Path, tm: Start
) -> None:
    root = tmp_path / "ws"
    broken, good = project(root, "broken"), project(root, "good")
    (broken / ".venv" / "broken").touch()
    script = tmp_path / "lsp-wrapper"
    script.write_text(
        "#!/bin/sh\n"
        'if [ -e "$VIRTUAL_ENV/broken" ]; then exec /nonexistent/typemux-broken; fi\n'
        f"exec {sys.executable} {FAKE_BACKEND}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    client = await tm(root, backend_command=str(script))
    await client.initialize(root)
    ub = await client.did_open(broken / "main.py")
    ug = await client.did_open(good / "main.py")
    error = (await hover(client, ub))["error"]
    assert str(script) in error["message"] and str(broken / ".venv") in error["message"]
    assert hover_text(await hover(client, ug)).startswith("good ")
    notice = await client.wait_notification("window/showMessage")
    assert str(broken / ".venv") in notice["params"]["message"]


async def test_a_replaced_venv_gets_a_fresh_backend(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    old = (await fake(client, "fake/env", doc))["pid"]
    cfg = proj / ".venv" / "pyvenv.cfg"
    content = cfg.read_text()
    cfg.unlink()
    cfg.write_text(content + "prompt = rebuilt\n")
    await asyncio.sleep(1.1)  # typemux re-checks a venv's identity at most once a second
    new = (await fake(client, "fake/env", doc))["pid"]
    assert new != old
    assert hover_text(await hover(client, doc)).startswith("proj ")
    await wait_gone([old])


async def test_a_venv_rebuilt_or_removed_while_the_client_is_quiet_stops_its_backend(
    tmp_path: Path, tm: Start
) -> None:
    """Nothing comes from the client after the change: the backend of the old venv must
    still go within seconds, not at the client's next message (black-box pass 6, G1/G2)."""
    for change in ("rebuilt", "removed"):
        proj = project(tmp_path / change, "proj")
        client = await tm(proj)
        await client.initialize(proj)
        doc = await client.did_open(proj / "main.py")
        old = (await fake(client, "fake/env", doc))["pid"]
        await asyncio.sleep(1.1)  # past the last look at the venv: only a timer looks now
        cfg = proj / ".venv" / "pyvenv.cfg"
        content = cfg.read_text()
        cfg.unlink()
        if change == "rebuilt":
            cfg.write_text(content + "prompt = rebuilt\n")
        await wait_gone([old], timeout=10)
        await client.shutdown_and_exit()


# ----- eviction: exit after the shutdown answer ------------------------------------------------


def _arrivals(log: Path) -> list[tuple[str, float]]:
    return [(e["method"], e["t"]) for e in map(json.loads, log.read_text().splitlines())]


async def _evict_first_backend(tmp_path: Path, tm: Start, options: dict[str, object]) -> Path:
    """max_backends 1: a's idle backend is evicted when b's document opens. The fake
    backend of a records each message it receives, with the time, in the returned log."""
    log = tmp_path / "a.log"
    root = tmp_path / "ws"
    a = project(root, "a", options)
    b = project(root, "b")
    client = await tm(root, max_backends=1, env={"FAKE_LSP_LOG": str(log)})
    await client.initialize(root)
    doc_a = await client.did_open(a / "main.py")
    pid = (await fake(client, "fake/env", doc_a))["pid"]
    doc_b = await client.did_open(b / "main.py")
    assert hover_text(await hover(client, doc_b)).startswith("b ")
    await wait_gone([pid], timeout=15)
    await client.shutdown_and_exit()
    return log


async def test_an_evicted_backend_gets_exit_only_after_its_shutdown_answer(
    tmp_path: Path, tm: Start
) -> None:
    log = await _evict_first_backend(tmp_path, tm, {"delays": {"shutdown": 0.5}})
    arrivals = [(m, t) for m, t in _arrivals(log) if m in ("shutdown", "exit")]
    (_, shutdown_at), (_, exit_at) = arrivals[:2]
    assert [m for m, _ in arrivals[:2]] == ["shutdown", "exit"]
    assert exit_at - shutdown_at >= 0.45  # it waited for the answer, sent 0.5 s later


async def test_an_evicted_backend_that_never_answers_shutdown_gets_exit_after_the_grace(
    tmp_path: Path, tm: Start
) -> None:
    log = await _evict_first_backend(tmp_path, tm, {"hang_on": "shutdown"})
    arrivals = [(m, t) for m, t in _arrivals(log) if m in ("shutdown", "exit")]
    assert [m for m, _ in arrivals[:2]] == ["shutdown", "exit"]
    assert arrivals[1][1] - arrivals[0][1] >= SHUTDOWN_ANSWER_GRACE * 0.9
