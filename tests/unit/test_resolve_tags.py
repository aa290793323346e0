"""Tagging resolvable items with the session that produced them, and getting them back."""

from __future__ import annotations

from typing import Any

from typemux.core.resolve_tags import tag_result, untag


def roundtrip(method: str, result: Any, session: int = 3) -> list[tuple[int | None, Any]]:
    tagged = tag_result(method, result, session)
    items = tagged["items"] if isinstance(tagged, dict) and "items" in tagged else tagged
    return [untag(item) for item in items]


def test_items_come_back_exactly_with_explicit_null_and_missing_data() -> None:
    items = [{"label": "a", "data": {"x": [None, 1]}, "extra": None}, {"label": "b", "data": None},
             {"label": "c"}]
    assert roundtrip("textDocument/completion", items) == [(3, item) for item in items]


def test_a_list_without_item_data_keeps_the_meaning_of_item_defaults() -> None:
    result = {"isIncomplete": False, "itemDefaults": {"data": {"d": 1}},
              "items": [{"label": "a"}, {"label": "b", "data": 2}]}
    assert roundtrip("textDocument/completion", result) == [
        (3, {"label": "a", "data": {"d": 1}}), (3, {"label": "b", "data": 2})]


def test_plain_commands_among_code_actions_are_left_alone() -> None:
    command = {"title": "run", "command": "x.run", "arguments": [1]}
    action = {"title": "fix", "kind": "quickfix", "data": 5}
    tagged = tag_result("textDocument/codeAction", [command, action], 2)
    assert tagged[0] is command
    assert untag(tagged[1]) == (2, action)


def test_nothing_to_tag_returns_the_same_object() -> None:
    for method, result in [("textDocument/completion", None), ("textDocument/codeLens", []),
                           ("textDocument/completion", {"isIncomplete": True, "items": []})]:
        assert tag_result(method, result, 1) is result


def test_an_untagged_item_is_not_claimed() -> None:
    item = {"label": "mine", "data": {"typemux.session": "not an int"}}
    assert untag(item) == (None, item)
    assert untag(None) == (None, None)


def test_a_resolved_item_is_tagged_again() -> None:
    resolved = {"label": "a", "detail": "d", "data": 1}
    assert untag(tag_result("completionItem/resolve", resolved, 4)) == (4, resolved)
