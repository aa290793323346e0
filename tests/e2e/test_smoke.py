from __future__ import annotations

from pathlib import Path

from conftest import StartTypemux


async def test_hover_reaches_the_documents_own_venv_backend(
    monorepo: dict[str, Path], start_typemux: StartTypemux
) -> None:
    root = monorepo["proj-a"].parent
    client = await start_typemux(root)
    init = await client.initialize(root)
    assert init["id"] is not None and "hoverProvider" in init["result"]["capabilities"]
    a = await client.did_open(monorepo["proj-a"] / "main.py")
    b = await client.did_open(monorepo["proj-b"] / "main.py")
    ha = await client.request("textDocument/hover", {"textDocument": {"uri": a}, "position": {"line": 0, "character": 0}})
    hb = await client.request("textDocument/hover", {"textDocument": {"uri": b}, "position": {"line": 0, "character": 0}})
    assert ha["result"]["contents"]["value"].startswith("proj-a ")
    assert hb["result"]["contents"]["value"].startswith("proj-b ")
    assert await client.shutdown_and_exit() == 0
    assert client.protocol_errors == []
