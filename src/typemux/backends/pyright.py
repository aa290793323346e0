"""pyright (`pyright-langserver --stdio`, the PyPI wrapper around the npm package).

Reference: /work/shared/reference/backends.md (pyright 1.1.414).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from typemux.backends import client_capabilities, python_section_configuration
from typemux.backends.base import BackendKind, ReadinessDetector

COMMAND = ("pyright-langserver", "--stdio")
# The langserver entry point has no version flag; the CLI of the same wheel does.
VERSION_COMMAND = ("pyright", "--version")

# Recorded from pyright 1.1.414 by scripts/record_capabilities.py. No implementationProvider:
# pyright answers textDocument/implementation with -32601.
RECORDED_CAPABILITIES: dict[str, Any] = {
    "callHierarchyProvider": True,
    "codeActionProvider": {
        "codeActionKinds": ["quickfix", "source.organizeImports"],
        "workDoneProgress": True,
    },
    "completionProvider": {
        "completionItem": {"labelDetailsSupport": True},
        "resolveProvider": True,
        "triggerCharacters": [".", "[", '"', "'"],
        "workDoneProgress": True,
    },
    "declarationProvider": {"workDoneProgress": True},
    "definitionProvider": {"workDoneProgress": True},
    "documentHighlightProvider": {"workDoneProgress": True},
    "documentSymbolProvider": {"workDoneProgress": True},
    "executeCommandProvider": {"commands": [], "workDoneProgress": True},
    "hoverProvider": {"workDoneProgress": True},
    "referencesProvider": {"workDoneProgress": True},
    "renameProvider": {"prepareProvider": True, "workDoneProgress": True},
    "signatureHelpProvider": {"triggerCharacters": ["(", ",", ")"], "workDoneProgress": True},
    "textDocumentSync": 2,
    "typeDefinitionProvider": {"workDoneProgress": True},
    "workspace": {"workspaceFolders": {"changeNotifications": True, "supported": True}},
    "workspaceSymbolProvider": {"workDoneProgress": True},
}
# pyright sends no serverInfo.
SERVER_INFO: dict[str, Any] | None = None

# A non-empty value makes the wrapper fetch another pyright from npm (or ask GitHub which one
# Pylance uses) and print npm's output on stdout ahead of the LSP stream; empty means "unset".
EXTRA_ENV = {"PYRIGHT_PYTHON_FORCE_VERSION": "", "PYRIGHT_PYTHON_PYLANCE_VERSION": ""}

_SOURCE_FILES = re.compile(r"Found \d+ source files?|No source files found")


class PyrightReadiness(ReadinessDetector):
    """Ready once source enumeration ends, which is when answers become complete.

    pyright logs "Found N source files" (or "No source files found.") at that moment; in push
    mode the first publishDiagnostics for an open file lands in the same millisecond, so
    either one is the signal. Per-request "Finding references" progress is deliberately not.
    """

    def __init__(self) -> None:
        self._fired = False

    def observe(self, msg: Mapping[str, Any]) -> str | None:
        if self._fired:
            return None
        reason = self._reason(msg)
        self._fired = reason is not None
        return reason

    @staticmethod
    def _reason(msg: Mapping[str, Any]) -> str | None:
        method = msg.get("method")
        if method == "textDocument/publishDiagnostics":
            return "first publishDiagnostics"
        if method == "window/logMessage":
            params = msg.get("params")
            text = params.get("message") if isinstance(params, Mapping) else None
            if isinstance(text, str) and (found := _SOURCE_FILES.search(text)):
                return f"log: {found.group(0)}"
        return None


def build(command: tuple[str, ...] | None = None) -> BackendKind:
    return BackendKind(
        name="pyright",
        command=command or COMMAND,
        version_command=VERSION_COMMAND,
        capabilities=client_capabilities(RECORDED_CAPABILITIES),
        readiness=PyrightReadiness,
        configuration=python_section_configuration,
        extra_env=dict(EXTRA_ENV),
    )
