"""End to end: edits the document store cannot read, and full-document sync backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

from e2e_support import Start, fake, hover, project, received, tm_fixture  # noqa: F401

EMOJI = "\U0001F600"  # two UTF-16 code units


def edit(line: int, start: int, end: int, text: str) -> dict[str, object]:
    return {"range": {"start": {"line": line, "character": start},
                      "end": {"line": line, "character": end}}, "text": text}


async def test_an_edit_inside_a_surrogate_pair_is_reported_once(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "solo")
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", f"a{EMOJI}b\nx = 1\n")
    await hover(client, doc)
    client.did_change(doc, 2, [edit(0, 2, 2, "X")])  # between the two halves of the emoji
    warning = await client.wait_notification("window/showMessage", timeout=10)
    assert "could not be applied" in warning["params"]["message"]
    client.did_change(doc, 3, [edit(0, 2, 3, "Y")])
    # the second unreadable edit says nothing more; a full replacement resyncs silently
    client.did_change(doc, 4, [{"text": "fresh = 1\n"}])
    await hover(client, doc)
    shown = [m for m in client.notifications if m.get("method") == "window/showMessage"
             and "could not be applied" in m["params"]["message"]]
    assert len(shown) == 1


async def test_an_edit_inside_a_surrogate_pair_while_the_backend_starts_is_reported(
        tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "solo", {"init_delay": 0.5})
    client = await tm(proj)
    await client.initialize(proj, capabilities={"general": {"positionEncodings": ["utf-16"]}})
    doc = await client.did_open(proj / "main.py", f"{EMOJI}{EMOJI}\n")
    client.did_change(doc, 2, [edit(0, 1, 3, "X")])  # starts and ends inside a pair
    warning = await client.wait_notification("window/showMessage", timeout=10)
    assert "could not be applied" in warning["params"]["message"]
    await hover(client, doc)


def changes_received(entries: list[dict[str, object]]) -> list[object]:
    return [e["params"]["contentChanges"] for e in received(entries, "textDocument/didChange")]  # type: ignore[index]


async def test_a_full_sync_backend_gets_the_whole_text_in_each_did_change(
        tmp_path: Path, tm: Start) -> None:
    # init_delay: the first edits wait while the backend starts, the last goes straight on
    proj = project(tmp_path, "solo", {"text_document_sync": 1, "init_delay": 0.5})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "a = 1\n")
    client.did_change(doc, 2, [edit(0, 4, 5, "2")])
    client.did_change(doc, 3, [edit(1, 0, 0, "b = 3\n")])
    await hover(client, doc)
    client.did_change(doc, 4, [edit(0, 0, 1, "c")])
    await hover(client, doc)
    assert changes_received(await fake(client, "fake/received", doc)) == [
        [{"text": "a = 2\n"}], [{"text": "a = 2\nb = 3\n"}], [{"text": "c = 2\nb = 3\n"}]]


async def test_a_change_object_with_full_sync_is_honoured(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "solo", {"text_document_sync": {"openClose": True, "change": 1}})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "a = 1\n")
    await hover(client, doc)
    client.did_change(doc, 2, [edit(0, 4, 5, "2")])
    await hover(client, doc)
    assert changes_received(await fake(client, "fake/received", doc)) == [[{"text": "a = 2\n"}]]


async def test_a_backend_without_document_sync_gets_no_did_change(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "solo", {"text_document_sync": 0, "init_delay": 0.3})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "a = 1\n")
    client.did_change(doc, 2, [edit(0, 4, 5, "2")])  # held while it starts
    await hover(client, doc)
    client.did_change(doc, 3, [edit(0, 4, 5, "3")])
    await hover(client, doc)
    assert changes_received(await fake(client, "fake/received", doc)) == []


async def test_an_incremental_backend_gets_the_edits_as_sent(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "solo", {"init_delay": 0.3})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "a = 1\n")
    client.did_change(doc, 2, [edit(0, 4, 5, "2")])
    await hover(client, doc)
    client.did_change(doc, 3, [edit(0, 4, 5, "3")])
    await hover(client, doc)
    assert changes_received(await fake(client, "fake/received", doc)) == [
        [edit(0, 4, 5, "2")], [edit(0, 4, 5, "3")]]


async def test_an_unreadable_edit_after_a_shell_rewrite_is_reported(tmp_path: Path, tm: Start) -> None:
    from e2e_support import wait_until

    from support.client import CLAUDE_CODE_ANSWER, CLAUDE_CODE_CAPABILITIES

    proj = project(tmp_path, "solo")
    (proj / "main.py").write_text(f"a{EMOJI}b\n")
    client = await tm(proj)
    client.answer_server_request = CLAUDE_CODE_ANSWER
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    await hover(client, doc)
    await wait_until(lambda: '"watching"' in client.stderr_text())
    (proj / "main.py").write_text("xyz\n")

    async def synced() -> bool:
        return bool((await fake(client, "fake/documents", doc))[doc]["text"] == "xyz\n")

    for _ in range(100):
        if await synced():
            break
        await asyncio.sleep(0.1)
    assert await synced()
    client.did_change(doc, 2, [edit(0, 2, 2, "X")])  # inside the emoji of the client's text
    warning = await client.wait_notification("window/showMessage", timeout=10)
    assert "could not be applied" in warning["params"]["message"]
