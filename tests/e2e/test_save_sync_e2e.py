"""End to end: a backend gets didSave as its own `textDocumentSync.save` asks: none when it
omits `save`, the client's as sent when `save` is true, with the document's text (typemux's
copy, as of the save) when it asks `includeText: true`, also for a didSave held while the
backend was still starting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_support import Start, fake, project, received, tm_fixture  # noqa: F401

SYNC = {"openClose": True, "change": 2}


@pytest.mark.parametrize(("declared", "init_delay", "expected"), [
    (SYNC, 0, []),
    ({**SYNC, "save": True}, 0, [None]),
    ({**SYNC, "save": {"includeText": True}}, 0, ["a = 2\n"]),
    ({**SYNC, "save": {"includeText": True}}, 1.5, ["a = 2\n"]),  # held while it starts
], ids=["save-omitted", "save-true", "include-text", "include-text-held"])
async def test_did_save_follows_the_backends_save_option(
    tmp_path: Path, tm: Start, declared: Any, init_delay: float, expected: list[str | None]
) -> None:
    proj = project(tmp_path, "solo", {"text_document_sync": declared, "init_delay": init_delay})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "a = 1\n")
    client.did_change(doc, 2, [{"text": "a = 2\n"}])
    client.notify("textDocument/didSave", {"textDocument": {"uri": doc}})
    client.did_change(doc, 3, [{"text": "a = 3\n"}])
    entries = await fake(client, "fake/received", doc)  # after the notifications, in order
    assert [e["params"].get("text") for e in received(entries, "textDocument/didSave")] == expected
    assert len(received(entries, "textDocument/didChange")) == 2  # the edits went on regardless
