"""End to end: edits the document store cannot read, and full-document sync backends."""

from __future__ import annotations

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
