"""A HeldQueue's running counts (what the held-request bound reads) match its contents."""

from __future__ import annotations

import pytest

from typemux.core.session import HeldQueue, Queued


def _counts(queue: HeldQueue) -> tuple[int, int]:
    return (sum("id" in q.msg for q in queue),
            sum(len(q.raw) for q in queue if q.raw is not None))


def test_the_counts_follow_append_remove_and_clear() -> None:
    queue = HeldQueue()
    request = Queued({"id": 1, "method": "textDocument/hover"}, b"x" * 10)
    edit = Queued({"method": "textDocument/didChange"}, b"y" * 7)
    rebuilt = Queued({"id": 2, "method": "textDocument/definition"}, None)
    for item in (request, edit, rebuilt):
        queue.append(item)
        assert (queue.requests, queue.size) == _counts(queue)
    queue.remove(request)
    assert (queue.requests, queue.size) == _counts(queue) == (1, 7)
    queue.clear()
    assert (queue.requests, queue.size) == (0, 0)


def test_a_change_the_counts_do_not_follow_is_refused() -> None:
    queue = HeldQueue()
    queue.append(Queued({"id": 1, "method": "m"}, b"abc"))
    with pytest.raises(TypeError):
        queue.popleft()
    assert (queue.requests, queue.size) == _counts(queue)
