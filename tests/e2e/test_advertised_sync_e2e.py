"""End to end: the capabilities cache never tells the client another document sync."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import Start, hover, project, tm_fixture, wait_until  # noqa: F401


async def test_a_cached_backend_sync_kind_is_not_advertised_to_the_next_client(
        tmp_path: Path, tm: Start) -> None:
    """The first session caches a backend that declared full sync; the same command then runs
    a server that declares none. The client is asked for incremental edits both times."""
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    proj = project(tmp_path, "solo", {"text_document_sync": 1})
    first = await tm(proj, env=env)
    answer = await first.initialize(proj)
    assert answer["result"]["capabilities"]["textDocumentSync"]["change"] == 2
    await hover(first, await first.did_open(proj / "main.py", "a = 1\n"))
    await wait_until(lambda: any((cache / "typemux" / "capabilities").glob("generic-*.json")),
                     timeout=20)
    await first.shutdown_and_exit()

    (proj / ".venv" / "fake-lsp.json").write_text(json.dumps({"text_document_sync": 0}))
    second = await tm(proj, env=env)
    caps = (await second.initialize(proj))["result"]["capabilities"]
    assert caps["textDocumentSync"] == {"openClose": True, "change": 2,
                                        "save": {"includeText": False}}
    # the cache did answer: the fake's completion came from the first handshake
    assert "completionProvider" in caps
    await second.shutdown_and_exit()
