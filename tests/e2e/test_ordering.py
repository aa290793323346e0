"""End to end: per-document order behind waiting requests, and cancel that does not rely on
the backend."""

from __future__ import annotations

import asyncio
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
)

TOP_LINE = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "text": "import sys\n"}
SOURCE = "import os\nvalue = os.sep\n"


async def test_a_hover_waiting_for_a_starting_backend_is_answered_about_the_text_it_was_sent_about(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj", {"init_delay": 1.0})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", SOURCE)
    # hover at (1,0), then a line is inserted at the top, while the backend still starts
    hover_id = client.send_request("textDocument/hover", {"textDocument": {"uri": doc},
                                                          "position": {"line": 1, "character": 0}})
    client.did_change(doc, 2, [TOP_LINE])
    answer = await client.response(hover_id, timeout=15)
    assert f"v1 len={len(SOURCE)}" in hover_text(answer)
    # and the edit did arrive, after the hover
    assert (await fake(client, "fake/documents", doc))[doc] == {"version": 2, "text": "import sys\n" + SOURCE}


async def test_an_edit_waits_behind_a_request_held_for_warmup_and_other_documents_flow(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj, warmup_timeout=1.5)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", SOURCE)
    other = await client.did_open(proj / "other.py", "y = 2\n")
    definition = client.send_request("textDocument/definition", td(doc))
    client.did_change(doc, 2, [TOP_LINE])
    # Another document is not held: its hover is answered during the warmup.
    assert "v1" in hover_text(await hover(client, other))
    assert "result" in await client.response(definition, timeout=10)
    got = await fake(client, "fake/received", doc)
    order = [(e["method"], e.get("id")) for e in got
             if e["method"] in ("textDocument/definition", "textDocument/didChange")]
    assert order == [("textDocument/definition", definition), ("textDocument/didChange", None)]


async def test_a_cancelled_request_is_answered_although_the_backend_ignores_the_cancel(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj", {"ignore_cancel": True, "delays": {"textDocument/hover": 3}})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    await fake(client, "fake/env", doc)  # the backend is up
    request_id = client.send_request("textDocument/hover", td(doc))
    await asyncio.sleep(0.2)
    cancelled_at = time.monotonic()
    client.notify("$/cancelRequest", {"id": request_id})
    answer = await client.response(request_id, timeout=10)
    print(f"cancel answered after {time.monotonic() - cancelled_at:.2f} s")
    assert answer["error"]["code"] == -32800
    assert [c["params"]["id"] for c in received(await fake(client, "fake/received", doc),
                                                "$/cancelRequest")] == [request_id]
    # The backend's own late answer (3 s after the hover) is dropped: a second answer would
    # be a protocol error at teardown. Wait until it has certainly been sent.
    await asyncio.sleep(3.5)
    assert hover_text(await hover(client, doc)).startswith("proj ")
