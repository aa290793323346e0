"""Per-document order of the messages a backend receives.

A request that has to wait (its backend is still starting, or warming up and the request
needs the index) must not be overtaken by the client's later messages about the same
document: a hover sent before an edit has to be answered about the text before the edit.
So a held message holds every later message of its scope behind it. The scope of a message
is the document it is about; a request about no document in particular (workspace/symbol,
executeCommand, a `*/resolve`) is about all of them.
"""

from __future__ import annotations

from typing import Any

from typemux.jsonrpc import Message

ALL = "*"  # the scope of a workspace-wide request


def scope(msg: Message) -> str | None:
    """The document URI `msg` is about, ALL for a workspace-wide request, or None for a
    notification about no document (those never wait)."""
    params = msg.get("params")
    uri = _uri(params)
    if uri is not None:
        return uri
    return ALL if "id" in msg else None


def _uri(params: Any) -> str | None:
    if not isinstance(params, dict):
        return None
    for key in ("textDocument", "item"):
        holder = params.get(key)
        uri = holder.get("uri") if isinstance(holder, dict) else None
        if isinstance(uri, str):
            return uri
    return None
