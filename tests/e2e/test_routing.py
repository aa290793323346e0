"""End to end: initialize, handshake, routing, fan-out, server→client traffic, the pool."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

from e2e_support import (
    Start,
    alive,
    fake,
    fake_command_with_env,
    hover,
    hover_text,
    project,
    received,
    send_with_id,
    td,
    tm_fixture,  # noqa: F401
    wait_gone,
)

from support.client import CLAUDE_CODE_ANSWER, CLAUDE_CODE_CAPABILITIES, uri
from support.workspace import FAKE_BACKEND, make_venv
from typemux.core.pool import PREEMPT_AFTER


def _real(path: Path) -> str:
    return os.path.realpath(path)


# ----- initialize and handshake ----------------------------------------------------------


async def test_initialize_answers_id_zero_with_real_capabilities(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "solo")
    client = await tm(proj)
    send_with_id(client, 0, "initialize", {"processId": None, "rootUri": uri(proj), "capabilities": {}})
    response = await client.response(0)
    assert response["id"] == 0
    caps = response["result"]["capabilities"]
    assert caps["hoverProvider"] and caps["definitionProvider"] and caps["textDocumentSync"]


async def test_initialize_answers_string_id_without_any_venv(tmp_path: Path, tm: Start) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    client = await tm(empty)
    send_with_id(client, "init-x", "initialize", {"processId": None, "rootUri": uri(empty), "capabilities": {}})
    response = await client.response("init-x")
    assert response["id"] == "init-x"
    assert response["result"]["capabilities"].get("hoverProvider"), response


async def test_backend_gets_its_project_root_pid_utf16_env_and_path_command(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj")
    marker = tmp_path / "decoy-ran"
    # The venv's bin/ holds a decoy of the same name: typemux must resolve the command from
    # its own PATH, even though the backend's PATH starts with the venv's bin/.
    decoy = proj / ".venv" / "bin" / "fake-lsp-cmd"
    decoy.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    tools = tmp_path / "tools"
    tools.mkdir()
    real = tools / "fake-lsp-cmd"
    real.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_BACKEND}\n")
    for script in (decoy, real):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    client = await tm(tmp_path, env={"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"},
                      backend_command="fake-lsp-cmd")
    await client.initialize(tmp_path)
    doc = await client.did_open(proj / "main.py")

    init = received(await fake(client, "fake/received", doc), "initialize")[0]["params"]
    assert init["rootUri"] == uri(proj)
    assert init["processId"] == client.pid
    assert init["capabilities"]["general"]["positionEncodings"] == ["utf-16"]

    env = await fake(client, "fake/env", doc)
    venv = proj / ".venv"
    assert _real(env["VIRTUAL_ENV"]) == _real(venv)
    first = env["PATH"].split(os.pathsep)[0]
    assert _real(first) == _real(venv / "bin")
    assert _real(env["cwd"]) == _real(proj)
    assert not marker.exists()


# ----- routing ------------------------------------------------------------------------------


async def test_document_requests_and_notifications_reach_the_owning_venv(
    monorepo: dict[str, Path], tm: Start
) -> None:
    root = monorepo["proj-a"].parent
    (monorepo["proj-b"] / "unopened.py").write_text("x = 1\n")
    client = await tm(root)
    await client.initialize(root)
    a = await client.did_open(monorepo["proj-a"] / "main.py")
    b = await client.did_open(monorepo["proj-b"] / "main.py")

    assert hover_text(await hover(client, a)).startswith("proj-a ")
    assert hover_text(await hover(client, b)).startswith("proj-b ")
    assert "result" in await client.request("textDocument/definition", td(b))
    refs = await client.request("textDocument/references", td(a, context={"includeDeclaration": True}))
    assert len(refs["result"]) == 2
    client.notify("textDocument/didSave", {"textDocument": {"uri": b}})
    # Never opened: routed by its path; typemux opens it in the backend with its disk text
    # (some backends, pyrefly, answer nothing for a file that is not open).
    unopened = await hover(client, uri(monorepo["proj-b"] / "unopened.py"))
    assert hover_text(unopened).startswith("proj-b ") and "v0 len=6" in hover_text(unopened)

    got_a = await fake(client, "fake/received", a)
    got_b = await fake(client, "fake/received", b)
    assert [e["params"]["textDocument"]["uri"] for e in received(got_b, "textDocument/definition")] == [b]
    assert received(got_a, "textDocument/definition") == []
    assert [e["params"]["textDocument"]["uri"] for e in received(got_a, "textDocument/references")] == [a]
    assert received(got_b, "textDocument/references") == []
    assert [e["params"]["textDocument"]["uri"] for e in received(got_b, "textDocument/didSave")] == [b]
    assert received(got_a, "textDocument/didSave") == []


async def test_call_hierarchy_and_resolve_follow_the_item_not_the_last_backend(
    monorepo: dict[str, Path], tm: Start
) -> None:
    root = monorepo["proj-a"].parent
    client = await tm(root)
    await client.initialize(root)
    a = await client.did_open(monorepo["proj-a"] / "main.py")
    b = await client.did_open(monorepo["proj-b"] / "main.py")

    items = (await client.request("textDocument/prepareCallHierarchy", td(b)))["result"]
    completion = (await client.request("textDocument/completion", td(b)))["result"]
    await hover(client, a)  # proj-a is now the most recently used backend
    item = completion["items"][0]
    item["x-unknown"] = {"kept": [1, None]}
    resolved = await client.request("completionItem/resolve", item)
    assert resolved["result"]["detail"] == "proj-b resolved"
    assert resolved["result"]["x-unknown"] == {"kept": [1, None]}  # unknown fields survive
    for method in ("callHierarchy/incomingCalls", "callHierarchy/outgoingCalls"):
        assert "result" in await client.request(method, {"item": items[0]})
    await hover(client, a)

    got_a = await fake(client, "fake/received", a)
    got_b = await fake(client, "fake/received", b)
    for method in ("callHierarchy/incomingCalls", "callHierarchy/outgoingCalls", "completionItem/resolve"):
        assert len(received(got_b, method)) == 1, method
        assert received(got_a, method) == [], method


async def test_workspace_symbol_merges_and_deduplicates(tmp_path: Path, tm: Start) -> None:
    shared = tmp_path / "shared" / ".venv"
    shared.mkdir(parents=True)
    root = tmp_path / "ws"
    a, b = project(root, "a"), project(root, "b")
    # Both fakes believe they serve the same project, so they answer the very same symbol.
    client = await tm(root, backend_command=fake_command_with_env(VIRTUAL_ENV=str(shared)))
    await client.initialize(root)
    ua = await client.did_open(a / "main.py")
    ub = await client.did_open(b / "main.py")
    await hover(client, ua)
    await hover(client, ub)
    response = await client.request("workspace/symbol", {"query": ""})
    assert [s["name"] for s in response["result"]] == ["shared_sym"]
    for doc in (ua, ub):
        assert len(received(await fake(client, "fake/received", doc), "workspace/symbol")) == 1


async def test_workspace_symbol_is_partial_after_fanout_timeout(tmp_path: Path, tm: Start) -> None:
    root = tmp_path / "ws"
    a = project(root, "a")
    b = project(root, "b", {"delays": {"workspace/symbol": 30}})
    client = await tm(root, fanout_timeout=0.5)
    await client.initialize(root)
    ua = await client.did_open(a / "main.py")
    ub = await client.did_open(b / "main.py")
    await hover(client, ua)
    await hover(client, ub)
    response = await client.request("workspace/symbol", {"query": ""}, timeout=5)
    assert [s["name"] for s in response["result"]] == ["a_sym"]
    warning = await client.wait_notification("window/showMessage", timeout=2)
    assert "fanout_timeout" in warning["params"]["message"]


async def test_cancel_request_reaches_the_backend_holding_it(tmp_path: Path, tm: Start) -> None:
    root = tmp_path / "ws"
    a = project(root, "a")
    b = project(root, "b", {"delays": {"textDocument/hover": 30}})
    client = await tm(root)
    await client.initialize(root)
    ua = await client.did_open(a / "main.py")
    ub = await client.did_open(b / "main.py")
    await hover(client, ua)
    request_id = client.send_request("textDocument/hover", td(ub))
    await asyncio.sleep(0.3)
    await hover(client, ua)  # proj-a becomes most recently used: the cancel must not go there
    client.notify("$/cancelRequest", {"id": request_id})
    response = await client.response(request_id, timeout=5)
    assert response["error"]["code"] == -32800
    cancels_b = received(await fake(client, "fake/received", ub), "$/cancelRequest")
    assert [c["params"]["id"] for c in cancels_b] == [request_id]
    assert received(await fake(client, "fake/received", ua), "$/cancelRequest") == []


async def test_no_venv_error_then_a_new_venv_works_without_restart(
    monorepo: dict[str, Path], tm: Start
) -> None:
    root = monorepo["proj-a"].parent
    bare = root / "bare"
    bare.mkdir()
    (bare / "main.py").write_text("y = 2\n")
    client = await tm(root)
    await client.initialize(root)
    doc = await client.did_open(bare / "main.py")
    response = await hover(client, doc)
    assert response["error"]["code"] == -32603
    assert response["error"]["message"].startswith("typemux: no .venv found")
    make_venv(bare)
    assert hover_text(await hover(client, doc)).startswith("bare ")


async def test_null_result_is_kept(monorepo: dict[str, Path], tm: Start) -> None:
    root = monorepo["proj-a"].parent
    client = await tm(root)
    await client.initialize(root)
    await client.did_open(monorepo["proj-a"] / "main.py")
    # The fake answers null for a file that does not exist.
    response = await hover(client, uri(monorepo["proj-a"] / "missing.py"))
    assert "result" in response and response["result"] is None
    assert "error" not in response


# ----- server → client --------------------------------------------------------------------


async def test_claude_code_profile_configuration_is_answered_by_typemux(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj", {"config_sections": ["python", "python.analysis"]})
    client = await tm(proj)
    client.answer_server_request = CLAUDE_CODE_ANSWER
    await client.initialize(proj, capabilities=CLAUDE_CODE_CAPABILITIES)
    doc = await client.did_open(proj / "main.py")
    await hover(client, doc)
    answers = [e for e in await fake(client, "fake/received", doc)
               if e.get("method") == "<response>" and e.get("id") == "fake-1"]
    assert len(answers) == 1 and answers[0]["result"] == [None, None]
    assert all(r["method"] != "workspace/configuration" for r in client.server_requests)


async def test_editor_profile_configuration_goes_to_the_client_and_back(
    tmp_path: Path, tm: Start
) -> None:
    proj = project(tmp_path, "proj", {"config_sections": ["python", "python.analysis"]})
    client = await tm(proj)
    client.answer_server_request = lambda msg: [{"answer": 1}, {"answer": 2}]
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    question = await client.wait_server_request("workspace/configuration")
    assert question["id"] != "fake-1"
    await hover(client, doc)
    answers = [e for e in await fake(client, "fake/received", doc)
               if e.get("method") == "<response>" and e.get("id") == "fake-1"]
    assert [a["result"] for a in answers] == [[{"answer": 1}, {"answer": 2}]]


async def test_progress_tokens_of_two_backends_never_collide(tmp_path: Path, tm: Start) -> None:
    root = tmp_path / "ws"
    a, b = project(root, "a"), project(root, "b")
    client = await tm(root)
    await client.initialize(root)
    docs = [await client.did_open(p / "main.py") for p in (a, b)]
    for doc in docs:
        await fake(client, "fake/serverRequest", doc, method="window/workDoneProgress/create",
                   params={"token": "same"})
        await fake(client, "fake/notify", doc, method="$/progress",
                   params={"token": "same", "value": {"kind": "begin", "title": "x"}})
    creates = [r["params"]["token"] for r in client.server_requests
               if r["method"] == "window/workDoneProgress/create"]
    progress = [n["params"]["token"] for n in client.notifications if n["method"] == "$/progress"]
    assert len(creates) == 2 and creates[0] != creates[1]
    assert progress == creates


# ----- pool -------------------------------------------------------------------------------


async def test_lru_eviction_cancels_pending_keeps_open_diagnostics_and_kills(
    tmp_path: Path, tm: Start
) -> None:
    """No false "clean": the evicted backend's diagnostics for a document the client still
    has open stand (an empty publish would tell Claude Code the file is clean); they are
    cleared when the client closes it."""
    root = tmp_path / "ws"
    a = project(root, "a", {"delays": {"textDocument/hover": 30}})
    b = project(root, "b")
    client = await tm(root, max_backends=1)
    await client.initialize(root)
    ua = await client.did_open(a / "main.py")
    await client.wait_notification("textDocument/publishDiagnostics", lambda m: m["params"]["uri"] == ua
                                   and bool(m["params"]["diagnostics"]))
    pid_a = (await fake(client, "fake/env", ua))["pid"]
    pending = client.send_request("textDocument/hover", td(ua))
    await asyncio.sleep(0.2)
    since = len(client.notifications)
    ub = await client.did_open(b / "main.py")
    # a is busy: b waits PREEMPT_AFTER for a slot, then a is preempted (evicted).
    response = await client.response(pending, timeout=PREEMPT_AFTER + 10)
    assert response["error"]["code"] == -32800
    assert hover_text(await hover(client, ub)).startswith("b ")
    await wait_gone([pid_a])
    assert [m for m in client.notifications[since:] if m["method"] == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == ua] == []
    since = len(client.notifications)
    client.did_close(ua)
    cleared = await client.wait_notification(
        "textDocument/publishDiagnostics", lambda m: m["params"]["uri"] == ua, since=since)
    assert cleared["params"]["diagnostics"] == []


async def test_idle_backend_is_stopped_after_ttl(tmp_path: Path, tm: Start) -> None:
    proj = project(tmp_path, "proj")
    client = await tm(proj, backend_ttl=1)
    await client.initialize(proj)
    doc = await client.did_open(proj / "main.py")
    pid = (await fake(client, "fake/env", doc))["pid"]
    assert alive(pid)
    await wait_gone([pid], timeout=6)
