"""End to end: a backend that dies is reported with how it ended and what it last said.

"closed its stdout" alone does not tell a user why their type checker would not start; the
exit code (or signal) and the last lines of its stderr usually do."""

from __future__ import annotations

from pathlib import Path

from e2e_support import Start, hover, project, tm_fixture  # noqa: F401

from support.client import CLAUDE_CODE_CAPABILITIES


async def test_a_backend_dying_in_initialize_is_reported_with_its_exit_code_and_stderr(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj", {"exit_on": ["initialize"], "stderr_noise": 3})
    client = await tm(proj)
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    answer = await hover(client, doc)
    message = answer["error"]["message"]
    assert "exited with code 3" in message, message  # the fake's EXIT_CRASH
    assert "fake-lsp noise line 2" in message, message  # its last stderr line
    assert "fake-lsp noise line 0" in message, message  # a few lines, not only the last
