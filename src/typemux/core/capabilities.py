"""What typemux tells the client it can do, and what it learns from the first backend.

The initialize answer comes at once, before any backend runs, from the kind's declared
capabilities (or the runtime's cache of a previous session's backend). When the first
backend answers its own initialize, the runtime is asked to cache what that backend version
really offers, and what the answer lacked is registered with the client dynamically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typemux import __version__, jsonrpc
from typemux.backends import client_capabilities, own_text_document_sync
from typemux.backends.base import BackendKind
from typemux.core.actions import Action, CapabilitiesLearned, ToClient
from typemux.core.client_caps import ClientCaps
from typemux.core.registrations import missing_providers, register_request, registrations_for
from typemux.core.session import BackendSession


class Capabilities:
    def __init__(self, kind: BackendKind, log: Callable[..., None]) -> None:
        self.kind = kind
        self._log = log
        self._answered: dict[str, Any] = {}  # the capabilities the client was told
        self._learned = False

    def initialize_answer(self, request_id: Any) -> Action:
        capabilities = dict(self.kind.capabilities)
        # typemux's own: it converts edits per backend (sync_kind), whatever a cache says
        capabilities["textDocumentSync"] = own_text_document_sync(
            capabilities.get("textDocumentSync"))
        self._answered = dict(capabilities)
        return ToClient(jsonrpc.result(request_id, {
            "capabilities": capabilities,
            "serverInfo": {"name": f"typemux ({self.kind.name})", "version": __version__},
        }))

    def learn(self, backend: BackendSession, msg: jsonrpc.Message,
              client: ClientCaps) -> list[Action]:
        """After the first handshake (`msg` is the backend's initialize answer): have the
        runtime cache what this backend version really offers, and register with the
        client what the initialize answer lacked."""
        if self._learned or backend.is_stopping() or not backend.capabilities:
            return []
        self._learned = True
        result = msg.get("result")
        info = result.get("serverInfo") if isinstance(result, dict) else None
        out: list[Action] = [CapabilitiesLearned(backend.capabilities,
                                                 info if isinstance(info, dict) else None)]
        missing = missing_providers(self._answered, client_capabilities(backend.capabilities))
        if not missing:
            return out
        self._log("capabilities_missing_from_answer", providers=sorted(missing))
        regs = registrations_for(missing, client)
        if regs:
            self._answered.update(missing)
            out.append(ToClient(register_request("typemux:capabilities", regs)))
        return out
