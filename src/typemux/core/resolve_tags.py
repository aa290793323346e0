"""Which backend resolves an item: the one that produced it.

Items that a client later sends back in a `*/resolve` (completion items, code lenses, inlay
hints, document links, code actions) carry a `data` member for their server. On the way to
the client each item's `data` is wrapped with the producing session; a resolve unwraps it and
goes to that session, so two venvs' completions can be interleaved freely. The original
`data` comes back exactly (also an explicit null, also its absence).
"""

from __future__ import annotations

from typing import Any

SESSION = "typemux.session"
ORIGINAL = "typemux.data"

RESOLVE_METHODS = frozenset({
    "completionItem/resolve", "codeLens/resolve", "inlayHint/resolve", "documentLink/resolve",
    "codeAction/resolve",
})
PRODUCING_METHODS = frozenset({
    "textDocument/completion", "textDocument/codeLens", "textDocument/inlayHint",
    "textDocument/documentLink", "textDocument/codeAction",
}) | RESOLVE_METHODS


def tag_result(method: str, result: Any, session: int) -> Any:
    """`result` with its items' `data` tagged with `session`; the very same object when
    nothing needed a tag."""
    if method in RESOLVE_METHODS:
        return _tag(result, session, _MISSING)
    if method == "textDocument/completion" and isinstance(result, dict):
        items = result.get("items")
        defaults = result.get("itemDefaults")
        # An item without data takes itemDefaults.data at the client: keep that meaning.
        fallback = defaults["data"] if isinstance(defaults, dict) and "data" in defaults else _MISSING
        if isinstance(items, list) and items:
            return {**result, "items": [_tag(item, session, fallback) for item in items]}
        return result
    if isinstance(result, list) and result:
        return [_tag(item, session, _MISSING) for item in result]
    return result


def untag(params: Any) -> tuple[int | None, Any]:
    """The session that produced the item in `params` and the item as it produced it; (None,
    params) for an item typemux did not tag."""
    if not isinstance(params, dict):
        return None, params
    data = params.get("data")
    if not isinstance(data, dict) or not isinstance(data.get(SESSION), int):
        return None, params
    item = dict(params)
    if ORIGINAL in data:
        item["data"] = data[ORIGINAL]
    else:
        del item["data"]
    return data[SESSION], item


class _Missing:
    pass


_MISSING: Any = _Missing()


def _tag(item: Any, session: int, fallback: Any) -> Any:
    # A plain Command (codeAction results may hold them) is never resolved.
    if not isinstance(item, dict) or isinstance(item.get("command"), str):
        return item
    wrapped: dict[str, Any] = {SESSION: session}
    if "data" in item:
        wrapped[ORIGINAL] = item["data"]
    elif fallback is not _MISSING:
        wrapped[ORIGINAL] = fallback
    return {**item, "data": wrapped}
