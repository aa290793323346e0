"""What a starting backend holds: a client's real pipelining fits, memory stays bounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typemux import jsonrpc
from typemux.core.actions import ToClient
from typemux.core.delivery import CREATING_QUEUE_BYTES, CREATING_QUEUE_LIMIT
from typemux.core.session import BackendSession
from unit.test_lifecycle_actions import lifecycle, make_venv


def _raw(msg: Any) -> bytes:
    return json.dumps(msg).encode()


def _hover(n: int) -> jsonrpc.Message:
    return {"jsonrpc": "2.0", "id": n, "method": "textDocument/hover",
            "params": {"textDocument": {"uri": "file:///a.py"}, "position": {"line": 0, "character": 0}}}


def _edit(n: int, text: str) -> jsonrpc.Message:
    return {"jsonrpc": "2.0", "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": "file:///a.py", "version": n},
                       "contentChanges": [{"text": text}]}}


def test_a_starting_backend_holds_hundreds_of_pipelined_edit_and_hover_pairs(tmp_path: Path) -> None:
    """300 edit+hover pairs sent while the backend starts are all held (64 were, before)."""
    lc = lifecycle()
    target, _ = lc.ensure(make_venv(tmp_path, "a"), 1.0)
    assert isinstance(target, BackendSession)
    for n in range(300):
        edit = _edit(n, f"a = {n}\n")
        assert lc.deliver(target, edit, _raw(edit), 1.0) == []
        hover = _hover(n)
        assert lc.deliver(target, hover, _raw(hover), 1.0) == []
    assert target.queued_requests() == 300
    assert CREATING_QUEUE_LIMIT >= 1000


def test_the_request_bound_answers_the_next_request_with_a_clear_error(tmp_path: Path) -> None:
    lc = lifecycle()
    target, _ = lc.ensure(make_venv(tmp_path, "a"), 1.0)
    assert isinstance(target, BackendSession)
    for n in range(CREATING_QUEUE_LIMIT):
        assert lc.deliver(target, _hover(n), None, 1.0) == []
    (answer,) = lc.deliver(target, _hover(CREATING_QUEUE_LIMIT), None, 1.0)
    assert isinstance(answer, ToClient)
    assert answer.msg["id"] == CREATING_QUEUE_LIMIT
    assert "is still starting" in answer.msg["error"]["message"]
    assert f"{CREATING_QUEUE_LIMIT} requests" in answer.msg["error"]["message"]
    # A notification is never refused: dropping an edit would desynchronise the document.
    assert lc.deliver(target, _edit(1, "x"), None, 1.0) == []


def test_the_byte_budget_refuses_requests_before_the_count_does(tmp_path: Path) -> None:
    lc = lifecycle()
    target, _ = lc.ensure(make_venv(tmp_path, "a"), 1.0)
    assert isinstance(target, BackendSession)
    big = "x" * (1024 * 1024)
    held = 0
    while held * len(big) < CREATING_QUEUE_BYTES:
        edit = _edit(held, big)
        assert lc.deliver(target, edit, _raw(edit), 1.0) == []
        held += 1
    assert held < CREATING_QUEUE_LIMIT
    (answer,) = lc.deliver(target, _hover(1), _raw(_hover(1)), 1.0)
    assert isinstance(answer, ToClient)
    assert "MB" in answer.msg["error"]["message"]
    assert target.queued_requests() == 0
