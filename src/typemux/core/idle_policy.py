"""Which clients' documents idle close applies to (`document_idle_close_clients`; pure).

Idle close exists for Claude Code, which opens every file it asks about and never sends
didClose. An editor closes what the user closes, and a document it keeps open is a tab the
user expects to stay live: closed in the backend, it would stop getting fresh diagnostics
when a module it imports changes. So with "auto" (the default) idle close applies to a
client that sent no `clientInfo` name (Claude Code 2.1 sends none; anthropics/claude-code
#45345) or one naming Claude, until the client closes a document itself; "all" applies it
to every client. Documents typemux opened on its own (the client never had them open) are
idle-closed for every client.
"""

from __future__ import annotations

from typing import Any


def closes_client_documents(mode: str, client_info: Any) -> bool:
    """Whether idle close applies to the documents a client with `client_info` keeps open."""
    if mode != "auto":
        return True
    name = client_info.get("name") if isinstance(client_info, dict) else None
    if not isinstance(name, str) or not name.strip():
        return True
    return "claude" in name.lower()


def after_client_close(mode: str, closes: bool) -> bool:
    """Whether it still applies once the client has closed a document itself: a client that
    closes what it no longer needs manages its own documents."""
    return closes and mode != "auto"
