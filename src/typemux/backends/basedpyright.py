"""basedpyright (`basedpyright-langserver --stdio`), a pyright fork with the same signals.

It reads the interpreter from the `python` section like pyright (its other settings come
from the `basedpyright` and `pyright` sections, passed through untouched). Reference:
/work/shared/reference/backends.md (basedpyright 1.40.2, based on pyright 1.1.414).
"""

from __future__ import annotations

from typing import Any

from typemux.backends import client_capabilities, python_section_configuration
from typemux.backends.base import BackendKind
from typemux.backends.pyright import PyrightReadiness

COMMAND = ("basedpyright-langserver", "--stdio")
VERSION_COMMAND = ("basedpyright", "--version")

# Recorded from basedpyright 1.40.2 by scripts/record_capabilities.py.
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
    "documentOnTypeFormattingProvider": {"firstTriggerCharacter": "{"},
    "documentSymbolProvider": {"workDoneProgress": True},
    "executeCommandProvider": {
        "commands": [
            "basedpyright.createtypestub",
            "basedpyright.restartserver",
            "basedpyright.writeBaseline",
        ],
        "workDoneProgress": True,
    },
    "hoverProvider": {"workDoneProgress": True},
    "implementationProvider": {"workDoneProgress": True},
    "inlayHintProvider": True,
    "notebookDocumentSync": {
        "notebookSelector": [
            {
                "cells": [{"language": "python"}],
                "notebook": {"notebookType": "jupyter-notebook", "scheme": "file"},
            }
        ],
        "save": True,
    },
    "referencesProvider": {"workDoneProgress": True},
    "renameProvider": {"prepareProvider": True, "workDoneProgress": True},
    "semanticTokensProvider": {
        "full": True,
        "legend": {
            "tokenModifiers": [
                "declaration",
                "definition",
                "readonly",
                "static",
                "async",
                "defaultLibrary",
                "builtin",
                "classMember",
                "parameter",
            ],
            "tokenTypes": [
                "namespace",
                "type",
                "class",
                "enum",
                "typeParameter",
                "parameter",
                "variable",
                "property",
                "enumMember",
                "function",
                "method",
                "keyword",
                "decorator",
                "selfParameter",
                "clsParameter",
            ],
        },
    },
    "signatureHelpProvider": {"triggerCharacters": ["(", ",", ")"], "workDoneProgress": True},
    "textDocumentSync": {"change": 2, "openClose": True, "willSave": True},
    "typeDefinitionProvider": {"workDoneProgress": True},
    "workspace": {
        "fileOperations": {"willRename": {"filters": [{"pattern": {"glob": "**/*"}}]}},
        "workspaceFolders": {"changeNotifications": True, "supported": True},
    },
    "workspaceSymbolProvider": {"workDoneProgress": True},
}
SERVER_INFO: dict[str, Any] | None = {"name": "basedpyright", "version": "1.40.2"}


def build(command: tuple[str, ...] | None = None) -> BackendKind:
    return BackendKind(
        name="basedpyright",
        command=command or COMMAND,
        version_command=VERSION_COMMAND,
        capabilities=client_capabilities(RECORDED_CAPABILITIES),
        readiness=PyrightReadiness,
        configuration=python_section_configuration,
    )
