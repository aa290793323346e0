"""Dynamic registrations towards the client (sans-IO).

Two jobs:
- typemux answers `initialize` at once, from what it knows of the backend (a cache learned
  from the real backend, or a recorded table). When the live backend turns out to offer
  more, the difference is registered with `client/registerCapability` where the client
  supports dynamic registration of it.
- A backend's own registrations that typemux need not absorb (pyrefly registers
  `workspace/didChangeConfiguration`) are forwarded to a client that supports them, once per
  method however many backends register it. File watchers are absorbed: typemux watches for
  every backend (runtime/watcher.py) or registers one set for all with a watching client.
"""

from __future__ import annotations

from typing import Any

from typemux import jsonrpc
from typemux.core.client_caps import ClientCaps

# server capability -> the method it is registered for
PROVIDER_METHODS: dict[str, str] = {
    "hoverProvider": "textDocument/hover",
    "definitionProvider": "textDocument/definition",
    "declarationProvider": "textDocument/declaration",
    "typeDefinitionProvider": "textDocument/typeDefinition",
    "implementationProvider": "textDocument/implementation",
    "referencesProvider": "textDocument/references",
    "documentHighlightProvider": "textDocument/documentHighlight",
    "documentSymbolProvider": "textDocument/documentSymbol",
    "codeActionProvider": "textDocument/codeAction",
    "codeLensProvider": "textDocument/codeLens",
    "documentLinkProvider": "textDocument/documentLink",
    "colorProvider": "textDocument/documentColor",
    "documentFormattingProvider": "textDocument/formatting",
    "documentRangeFormattingProvider": "textDocument/rangeFormatting",
    "renameProvider": "textDocument/rename",
    "foldingRangeProvider": "textDocument/foldingRange",
    "selectionRangeProvider": "textDocument/selectionRange",
    "callHierarchyProvider": "textDocument/prepareCallHierarchy",
    "typeHierarchyProvider": "textDocument/prepareTypeHierarchy",
    "semanticTokensProvider": "textDocument/semanticTokens",
    "inlayHintProvider": "textDocument/inlayHint",
    "inlineValueProvider": "textDocument/inlineValue",
    "linkedEditingRangeProvider": "textDocument/linkedEditingRange",
    "completionProvider": "textDocument/completion",
    "signatureHelpProvider": "textDocument/signatureHelp",
    "workspaceSymbolProvider": "workspace/symbol",
    "executeCommandProvider": "workspace/executeCommand",
}

# method -> where the client declares `dynamicRegistration` for it
_CLIENT_CAPABILITY: dict[str, tuple[str, str]] = {
    "textDocument/documentColor": ("textDocument", "colorProvider"),
    "textDocument/prepareCallHierarchy": ("textDocument", "callHierarchy"),
    "textDocument/prepareTypeHierarchy": ("textDocument", "typeHierarchy"),
    "workspace/symbol": ("workspace", "symbol"),
    "workspace/executeCommand": ("workspace", "executeCommand"),
    "workspace/didChangeConfiguration": ("workspace", "didChangeConfiguration"),
    "workspace/didChangeWatchedFiles": ("workspace", "didChangeWatchedFiles"),
}

# Registrations typemux keeps to itself.
ABSORBED = frozenset({"workspace/didChangeWatchedFiles", "textDocument/diagnostic",
                      "workspace/diagnostic"})

PYTHON_SELECTOR = [{"language": "python"}]


def client_capability(method: str) -> tuple[str, str] | None:
    found = _CLIENT_CAPABILITY.get(method)
    if found is not None:
        return found
    section, _, name = method.partition("/")
    if section == "textDocument" and name:
        return section, name
    return None


def client_registers(caps: ClientCaps, method: str) -> bool:
    """Whether the client declared dynamic registration for `method`."""
    where = client_capability(method)
    if where is None:
        return False
    node = caps.raw.get(where[0])
    node = node.get(where[1]) if isinstance(node, dict) else None
    return isinstance(node, dict) and node.get("dynamicRegistration") is True


def missing_providers(answered: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """Providers the live backend offers that the `initialize` answer left out."""
    return {key: value for key, value in live.items()
            if key in PROVIDER_METHODS and value and not answered.get(key)}


def registrations_for(providers: dict[str, Any], caps: ClientCaps) -> list[dict[str, Any]]:
    """One registration per provider the client can take dynamically."""
    found: list[dict[str, Any]] = []
    for key, value in sorted(providers.items()):
        method = PROVIDER_METHODS[key]
        if not client_registers(caps, method):
            continue
        options: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
        if method.startswith("textDocument/"):
            options.setdefault("documentSelector", PYTHON_SELECTOR)
        found.append({"id": f"typemux:{method}", "method": method, "registerOptions": options})
    return found


def register_request(request_id: str, registrations: list[dict[str, Any]]) -> jsonrpc.Message:
    return jsonrpc.request(request_id, "client/registerCapability",
                           {"registrations": registrations})


class ForwardedRegistrations:
    """A backend's own registrations, forwarded once per method to a client that takes them."""

    def __init__(self) -> None:
        self.methods: set[str] = set()
        self._next = 0

    def forward(self, params: Any, caps: ClientCaps) -> jsonrpc.Message | None:
        """The request to send the client for the backend's `client/registerCapability`
        params, or None when there is nothing to forward."""
        regs = params.get("registrations") if isinstance(params, dict) else None
        found: list[dict[str, Any]] = []
        for reg in regs if isinstance(regs, list) else []:
            method = reg.get("method") if isinstance(reg, dict) else None
            if (not isinstance(method, str) or method in ABSORBED or method in self.methods
                    or not client_registers(caps, method)):
                continue
            self.methods.add(method)
            found.append({**reg, "id": f"typemux:{method}"})
        if not found:
            return None
        self._next += 1
        return register_request(f"typemux:forwarded-registration:{self._next}", found)
