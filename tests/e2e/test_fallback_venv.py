"""End to end: the fallback venv (the one of the folder typemux started in), found by the
runtime after initialize is answered, serves what no project owns even when no backend
runs any more."""

from __future__ import annotations

from pathlib import Path

from e2e_support import Start, hover, hover_text, project, tm_fixture, wait_until  # noqa: F401


async def test_an_untitled_document_restarts_the_fallback_venvs_backend(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj, backend_ttl=1)
    await client.initialize(proj)
    # The fallback's backend is prewarmed, then stopped once idle for backend_ttl.
    await wait_until(lambda: '"backend_spawn"' in client.stderr_text())
    await wait_until(lambda: '"backend_evict"' in client.stderr_text())
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": "untitled:Untitled-1", "languageId": "python", "version": 1, "text": "x = 1\n"}})
    answer = await hover(client, "untitled:Untitled-1")
    assert "error" not in answer, answer
    assert hover_text(answer) == "proj untitled:Untitled-1 v1 len=6"
