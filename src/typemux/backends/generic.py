"""Any other LSP server, given by its command (`backend_command`).

Nothing is known about it: no readiness signal (the router's `$/progress` rule and warm-up
timeout apply), and configuration questions get the client's answer or nulls.
"""

from __future__ import annotations

from typing import Any

from typemux.backends import client_capabilities
from typemux.backends.base import BackendKind, ReadinessDetector, null_configuration

# typemux answers the client's initialize before any backend runs (the root may not even have
# a venv), so an unknown server cannot be asked. This is the subset nearly every Python
# language server offers; a request the server turns out not to support is answered -32601 by
# the server itself, which is no worse than the client never asking. Advertising more would
# invite requests the server cannot handle; advertising less would hide core features.
TEMPLATE_CAPABILITIES: dict[str, Any] = {
    "textDocumentSync": {"openClose": True, "change": 2},
    "hoverProvider": True,
    "definitionProvider": True,
    "referencesProvider": True,
    "documentSymbolProvider": True,
    "workspaceSymbolProvider": True,
    "completionProvider": {"triggerCharacters": ["."]},
}


def build(command: tuple[str, ...] | None = None) -> BackendKind:
    if not command:
        raise ValueError("the generic backend needs a command (backend_command)")
    return BackendKind(
        name="generic",
        command=command,
        version_command=None,
        capabilities=client_capabilities(TEMPLATE_CAPABILITIES),
        readiness=ReadinessDetector,
        configuration=null_configuration,
    )
