"""Any other LSP server, given by its command (`backend_command`).

Nothing is known about it: no readiness signal (the lifecycle's `$/progress` rule and warm-up
timeout apply), and configuration questions get the client's answer or nulls.
"""

from __future__ import annotations

from typing import Any

from typemux.backends import client_capabilities
from typemux.backends.base import BackendKind, ReadinessDetector, null_configuration

# typemux answers the client's initialize before any backend runs (the root may not even have
# a venv), so an unknown server cannot be asked. Until its first handshake is cached, the
# answer claims only what nearly every language server offers: hover, go-to-definition and
# references (docs/backends.md says so). Claiming more (symbols, completion) invited requests a server
# may not handle. The first handshake registers what the server really offers with a client
# that takes dynamic registrations, and caches it for the next session's answer.
TEMPLATE_CAPABILITIES: dict[str, Any] = {
    "hoverProvider": True,
    "definitionProvider": True,
    "referencesProvider": True,
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
