"""End to end: a backend that declares textDocumentSync None (0), or `openClose: false`,
gets no didOpen nor didClose: not the client's, not a restart's replay; one that declares
`openClose: false` with `change: 2` still gets the client's edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_support import Start, fake, hover, hover_text, project, received, tm_fixture  # noqa: F401

CRASH = "fake/crashNow"  # a method the fake dies on (exit_on)


def _names(entries: list[dict[str, Any]]) -> list[str]:
    return [e["method"] for e in entries if e.get("method", "").startswith("textDocument/did")]


@pytest.mark.parametrize("declared", [0, {"openClose": False, "change": 2}],
                         ids=["sync-none", "openClose-false"])
async def test_a_backend_that_takes_no_open_close_gets_none(
    tmp_path: Path, tm: Start, declared: Any
) -> None:
    proj = project(tmp_path, "solo", {"text_document_sync": declared, "exit_on": [CRASH]})
    client = await tm(proj)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py", "a = 1\n")
    client.did_change(doc, 2, [{"text": "a = 2\n"}])
    assert hover_text(await hover(client, doc)).startswith("solo ")  # read from disk
    client.did_close(doc)
    doc = await client.did_open(proj / "main.py", "a = 3\n")
    first = await fake(client, "fake/received", doc)
    expected = [] if declared == 0 else ["textDocument/didChange"]
    assert _names(first) == expected
    # A restart replays the open documents to a backend that takes them: not to this one.
    pid = (await fake(client, "fake/env", doc))["pid"]
    crashed = await client.request(CRASH, {"textDocument": {"uri": doc}}, timeout=30)
    assert crashed["error"]["code"] == -32800  # answered as its backend died
    assert hover_text(await hover(client, doc, timeout=30)).startswith("solo ")
    env = await fake(client, "fake/env", doc)
    assert env["pid"] != pid
    assert _names(await fake(client, "fake/received", doc)) == []
    assert not received(first, "textDocument/didOpen")
