"""The project's config files, read by the runtime for each configuration answer.

typemux answers a ty backend's `workspace/configuration` for a client that cannot (Claude
Code): it points ty at the venv unless the project configures ty itself. The core reads no
file, so the proxy reads them when the core asks (`ReadProjectConfig`), every time: an edit
of ty.toml between two questions is seen by the second one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from e2e_support import Start, fake, project, tm_fixture  # noqa: F401

from support.client import CLAUDE_CODE_ANSWER, CLAUDE_CODE_CAPABILITIES

ASK = {"method": "workspace/configuration", "params": {"items": [{"section": "ty"}]}}


async def test_an_edit_of_ty_toml_is_seen_by_the_next_configuration_answer(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj, backend="ty")  # the fake backend, answered as ty is
    client.answer_server_request = CLAUDE_CODE_ANSWER
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")

    first = await fake(client, "fake/serverRequest", doc, **ASK)
    (entry,) = first["result"]
    assert Path(entry["configuration"]["environment"]["python"]).name == ".venv"

    (proj / "ty.toml").write_text('[environment]\npython = "./other"\n')
    assert await fake(client, "fake/serverRequest", doc, **ASK) == {"result": [None]}

    (proj / "ty.toml").unlink()
    assert await fake(client, "fake/serverRequest", doc, **ASK) == first
    assert all(r["method"] != "workspace/configuration" for r in client.server_requests)


async def test_ty_is_restarted_when_a_config_it_was_answered_without_appears(
    tmp_path: Path, tm: Start
) -> None:
    """ty asks once: a ty.toml created after it was answered (typemux's own watcher sees it,
    the client does not watch files) restarts its backend, and the new one is told null."""
    proj = project(tmp_path, "proj")
    client = await tm(proj, backend="ty")
    client.answer_server_request = CLAUDE_CODE_ANSWER
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    first = await fake(client, "fake/serverRequest", doc, **ASK)
    assert first["result"][0]["configuration"]["environment"]["python"]
    pid = (await fake(client, "fake/env", doc))["pid"]

    (proj / "ty.toml").write_text('[environment]\npython = "./other"\n')
    for _ in range(200):  # the watcher's debounce, the re-read, the stop
        await asyncio.sleep(0.05)
        if (await fake(client, "fake/env", doc))["pid"] != pid:
            break
    assert (await fake(client, "fake/env", doc))["pid"] != pid
    assert await fake(client, "fake/serverRequest", doc, **ASK) == {"result": [None]}
