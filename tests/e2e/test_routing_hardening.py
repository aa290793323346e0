"""End to end: documents no project owns (untitled:, library files), workspace folders, and
resolves that follow the item's own backend."""

from __future__ import annotations

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

from support.client import uri


async def test_an_untitled_document_is_served_by_the_most_recently_used_backend(
    tmp_path: Path, tm: Start
) -> None:
    root = tmp_path / "ws"
    a, b = project(root, "a"), project(root, "b")
    client = await tm(root)
    await client.initialize(root)
    await hover(client, await client.did_open(a / "main.py"))
    ub = await client.did_open(b / "main.py")
    await hover(client, ub)  # b is the most recently used backend
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": "untitled:Untitled-1", "languageId": "python", "version": 1, "text": "x = 1\n"}})
    answer = await hover(client, "untitled:Untitled-1")
    assert hover_text(answer) == "b untitled:Untitled-1 v1 len=6"
    assert "untitled:Untitled-1" in await fake(client, "fake/documents", ub)


async def test_a_library_file_is_served_the_same_before_and_after_it_is_opened(
    tmp_path: Path, tm: Start
) -> None:
    root = tmp_path / "ws"
    proj = project(root, "proj")
    stub = tmp_path / "dist" / "typeshed-fallback" / "stdlib" / "builtins.pyi"
    stub.parent.mkdir(parents=True)
    stub.write_text("class int: ...\n")
    client = await tm(root)
    await client.initialize(root)
    await hover(client, await client.did_open(proj / "main.py"))
    before = await hover(client, uri(stub))  # go-to-definition pointed here
    assert hover_text(before).startswith("proj ") and "disk" in hover_text(before)
    await client.did_open(stub, "class int: ...\n")  # and the editor opened it
    after = await hover(client, uri(stub))
    assert hover_text(after).startswith("proj ") and "v1" in hover_text(after)


async def test_workspace_folder_changes_reach_no_backend(tmp_path: Path, tm: Start) -> None:
    root = tmp_path / "ws"
    a, b = project(root, "a"), project(root, "b")
    client = await tm(root)
    await client.initialize(root)
    ua, ub = await client.did_open(a / "main.py"), await client.did_open(b / "main.py")
    await hover(client, ua)  # both backends are up
    await hover(client, ub)
    client.notify("workspace/didChangeWorkspaceFolders", {"event": {
        "added": [{"uri": uri(tmp_path / "elsewhere"), "name": "elsewhere"}], "removed": []}})
    await hover(client, ua)
    await hover(client, ub)
    for doc in (ua, ub):
        got = await fake(client, "fake/received", doc)
        assert received(got, "workspace/didChangeWorkspaceFolders") == []


async def test_interleaved_completions_are_resolved_by_the_backend_that_produced_each_item(
    tmp_path: Path, tm: Start
) -> None:
    root = tmp_path / "ws"
    a, b = project(root, "a"), project(root, "b")
    client = await tm(root)
    await client.initialize(root)
    ua, ub = await client.did_open(a / "main.py"), await client.did_open(b / "main.py")
    b_item = (await client.request("textDocument/completion", td(ub)))["result"]["items"][0]
    a_item = (await client.request("textDocument/completion", td(ua)))["result"]["items"][0]
    b_item["x-unknown"] = {"kept": [1, None]}
    resolved = await client.request("completionItem/resolve", b_item)
    assert resolved["result"]["detail"] == "b resolved"
    assert resolved["result"]["x-unknown"] == {"kept": [1, None]}
    assert (await client.request("completionItem/resolve", a_item))["result"]["detail"] == "a resolved"
    # Each backend got back its item's own data, untouched.
    got_b = received(await fake(client, "fake/received", ub), "completionItem/resolve")
    assert [e["params"]["data"] for e in got_b] == [{"backend": "b"}]
