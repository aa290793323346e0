"""End to end through a real typemux process and the fake backend: typemux's own watcher for
a client that cannot watch (Claude Code), disk truth for clean documents, and no watcher at
all for a client that watches."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from e2e_support import (
    Start,
    fake,
    hover,
    project,
    received,
    tm_fixture,  # noqa: F401
    wait_until,
)

from support.client import CLAUDE_CODE_ANSWER, CLAUDE_CODE_CAPABILITIES


async def _documents(client, doc: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return await fake(client, "fake/documents", doc)  # type: ignore[no-any-return]


async def test_a_shell_rewrite_reaches_the_backend_of_a_clean_open_document(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj)
    client.answer_server_request = CLAUDE_CODE_ANSWER
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    await hover(client, doc)
    await wait_until(lambda: '"watching"' in client.stderr_text())
    (proj / "main.py").write_text('NAME = "rewritten by sed"\n')
    (proj / "helper.py").write_text("X = 1\n")

    async def synced() -> bool:
        return (await _documents(client, doc))[doc]["text"] == 'NAME = "rewritten by sed"\n'

    for _ in range(100):
        if await synced():
            break
        await asyncio.sleep(0.1)
    assert await synced()
    events = received(await fake(client, "fake/received", doc), "workspace/didChangeWatchedFiles")
    changed = {c["uri"].rsplit("/", 1)[-1] for e in events for c in e["params"]["changes"]}
    assert {"helper.py", "main.py"} <= changed


async def test_a_dirty_buffer_is_not_overridden_end_to_end(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj)
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    await hover(client, doc)
    await wait_until(lambda: '"watching"' in client.stderr_text())
    client.did_change(doc, 2, [{"text": "unsaved = 1\n"}])
    (proj / "main.py").write_text("on_disk = 1\n")
    (proj / "later.py").write_text("y = 1\n")  # written after: once seen, main.py was too
    seen = False
    for _ in range(100):
        events = received(await fake(client, "fake/received", doc), "workspace/didChangeWatchedFiles")
        seen = any("later.py" in c["uri"] for e in events for c in e["params"]["changes"])
        if seen:
            break
        await asyncio.sleep(0.1)
    assert seen
    assert (await _documents(client, doc))[doc]["text"] == "unsaved = 1\n"


async def test_a_watching_client_makes_typemux_watch_nothing(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj)
    await client.initialize(proj)  # the editor profile: dynamic registration of watchers
    doc = await client.did_open(proj / "main.py")
    await hover(client, doc)
    registration = await client.wait_server_request("client/registerCapability")
    assert registration["params"]["registrations"][0]["method"] == "workspace/didChangeWatchedFiles"
    (proj / "main.py").write_text("changed = 1\n")
    await asyncio.sleep(1.0)
    assert '"watching"' not in client.stderr_text()
    assert (await _documents(client, doc))[doc]["text"] == 'NAME = "proj"\n'


async def test_a_vanished_project_directory_is_not_an_error(tmp_path: Path, tm: Start) -> None:
    root = tmp_path / "ws"
    gone = project(root, "gone")
    kept = project(root, "kept")
    client = await tm(root)
    await client.initialize(root, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc_gone = await client.did_open(gone / "main.py")
    await hover(client, doc_gone)
    doc_kept = await client.did_open(kept / "main.py")
    await hover(client, doc_kept)
    await wait_until(lambda: '"watching"' in client.stderr_text())
    shutil.rmtree(gone)
    await asyncio.sleep(1.0)
    # Written once: a change made while the watcher re-roots (the pool dropped gone's
    # backend when its venv vanished) must still arrive.
    (kept / "main.py").write_text('NAME = "still watched"\n')
    for _ in range(100):
        if (await _documents(client, doc_kept))[doc_kept]["text"] == 'NAME = "still watched"\n':
            break
        await asyncio.sleep(0.1)
    assert (await _documents(client, doc_kept))[doc_kept]["text"] == 'NAME = "still watched"\n'
    assert client.process.returncode is None
