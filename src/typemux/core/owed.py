"""The answers typemux owes the client, per request id (sans-IO).

Ids are keyed per backend, so a second request under an id still in flight would take the
first one's answer: the router refuses it instead. A count, not a set: the refusal of a
duplicate is one of the answers owed under that id.
"""

from __future__ import annotations

from typing import Any

from typemux import jsonrpc
from typemux.core.actions import Action, ToClient


class OwedAnswers:
    def __init__(self) -> None:
        self._owed: dict[tuple[bool, object], int] = {}

    def owe(self, request_id: Any) -> bool:
        """Count an answer owed under `request_id`; False when another request with that
        id is still unanswered."""
        return self.owe_key(jsonrpc.id_key(request_id))

    def owe_key(self, key: tuple[bool, object]) -> bool:
        """`owe` for a request whose `jsonrpc.id_key` the caller has at hand."""
        owed = self._owed.get(key, 0)
        self._owed[key] = owed + 1
        return owed == 0

    def settle(self, actions: list[Action]) -> None:
        """Count the answers among `actions` (what goes to the client) as given."""
        owed = self._owed
        if not owed:
            return
        for action in actions:  # after every event: jsonrpc.id_key inline
            if type(action) is ToClient and "method" not in (msg := action.msg):
                request_id = msg.get("id")
                key = (type(request_id) is str, request_id)
                left = owed.get(key, 0) - 1
                if left > 0:
                    owed[key] = left
                else:
                    owed.pop(key, None)

    def unanswered(self, actions: list[Action]) -> list[Any]:
        """The ids still owed once `actions` are given (an id twice when two answers are
        owed under it)."""
        left = dict(self._owed)
        for action in actions:
            if isinstance(action, ToClient) and "method" not in action.msg:
                key = jsonrpc.id_key(action.msg.get("id"))
                if key in left:
                    left[key] -= 1
        return [key[1] for key, count in left.items() for _ in range(count)]

    def settle_owed(self, actions: list[Action]) -> list[Action]:
        """Like `settle`, leaving out the answers no longer owed (after the end, every
        owed answer was given: a late one, a fan-out's or a cancel's, would be a second)."""
        kept: list[Action] = []
        owed = self._owed
        for action in actions:
            if isinstance(action, ToClient) and "method" not in action.msg:
                key = jsonrpc.id_key(action.msg.get("id"))
                left = owed.get(key, 0)
                if left <= 0:
                    continue
                if left > 1:
                    owed[key] = left - 1
                else:
                    del owed[key]
            kept.append(action)
        return kept


def duplicate_refusal(request_id: Any) -> Action:
    """The answer to a request under an id still pending (see the module doc)."""
    return ToClient(jsonrpc.error(
        request_id, jsonrpc.INVALID_REQUEST,
        f"typemux: request id {request_id!r} is already used by a request that is still "
        "pending; ids must be unique among pending requests"))
