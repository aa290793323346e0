"""ty (`ty server`), Astral's type checker.

ty answers every request only once the answer is complete, so it needs no warm-up gate.
Reference: /work/shared/reference/backends.md (ty 0.0.105).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typemux.backends import client_capabilities, client_entries, item_section
from typemux.backends.base import NO_PROJECT_CONFIG, BackendKind, ProjectConfig

COMMAND = ("ty", "server")
VERSION_COMMAND = ("ty", "--version")

# Recorded from ty 0.0.105 by scripts/record_capabilities.py. Its static diagnosticProvider
# is dropped from the client-facing answer (see client_capabilities).
RECORDED_CAPABILITIES: dict[str, Any] = {
    "callHierarchyProvider": True,
    "codeActionProvider": {"codeActionKinds": ["quickfix"]},
    "completionProvider": {"triggerCharacters": [".", '"', "'"]},
    "declarationProvider": True,
    "definitionProvider": True,
    "diagnosticProvider": {
        "identifier": "ty",
        "interFileDependencies": True,
        "workDoneProgress": True,
        "workspaceDiagnostics": True,
    },
    "documentHighlightProvider": True,
    "documentSymbolProvider": True,
    "executeCommandProvider": {"commands": ["ty.printDebugInformation"], "workDoneProgress": False},
    "foldingRangeProvider": True,
    "hoverProvider": True,
    "implementationProvider": True,
    "inlayHintProvider": {},
    "notebookDocumentSync": {
        "notebookSelector": [{"cells": [{"language": "python"}]}],
        "save": False,
    },
    "positionEncoding": "utf-16",
    "referencesProvider": True,
    "renameProvider": {"prepareProvider": True},
    "selectionRangeProvider": True,
    "semanticTokensProvider": {
        "full": True,
        "legend": {
            "tokenModifiers": ["definition", "readonly", "async", "documentation"],
            "tokenTypes": [
                "namespace",
                "class",
                "parameter",
                "selfParameter",
                "clsParameter",
                "variable",
                "property",
                "function",
                "method",
                "keyword",
                "string",
                "number",
                "decorator",
                "builtinConstant",
                "typeParameter",
                "operator",
                "regexp",
            ],
        },
        "range": True,
    },
    "signatureHelpProvider": {"retriggerCharacters": [")"], "triggerCharacters": ["(", ","]},
    "textDocumentSync": {"change": 2, "openClose": True, "save": {"includeText": False}},
    "typeDefinitionProvider": True,
    "typeHierarchyProvider": True,
    "workspace": {
        "fileOperations": {
            "willRename": {
                "filters": [
                    {"pattern": {"glob": "**/*.{py,pyi}", "matches": "file"}, "scheme": "file"},
                    {"pattern": {"glob": "**/*", "matches": "folder"}, "scheme": "file"},
                ]
            }
        },
        "workspaceFolders": {"changeNotifications": True, "supported": True},
    },
    "workspaceSymbolProvider": True,
}
SERVER_INFO: dict[str, Any] | None = {"name": "ty", "version": "0.0.105"}


def _with_environment(entry: Any, venv: Path) -> dict[str, Any]:
    """`entry` with configuration.environment.python = venv, unless the client set one."""
    merged = copy.deepcopy(dict(entry)) if isinstance(entry, Mapping) else {}
    node = merged
    for key in ("configuration", "environment"):
        child = node.get(key)
        node[key] = child = dict(child) if isinstance(child, Mapping) else {}
        node = child
    if not node.get("python"):
        node["python"] = str(venv)
    return merged


def configuration(items: list[Any], venv: Path, client_result: list[Any] | None,
                  project_config: ProjectConfig = NO_PROJECT_CONFIG, /) -> list[Any]:
    """Point ty at `venv` through its `ty` section, unless the project configures ty.

    ty ranks this editor setting above the project's ty.toml / [tool.ty], so injecting it
    there would override the project's own choice. VIRTUAL_ENV + PATH already select the venv
    when nothing else does; the injection guards against ty's other discovery paths. Whether
    the project configures ty is read by the runtime (runtime/project_config.py).
    """
    answers = client_entries(items, client_result)
    if project_config.own:
        return answers
    for index, item in enumerate(items):
        if item_section(item) == "ty":
            answers[index] = _with_environment(answers[index], venv)
    return answers


def build(command: tuple[str, ...] | None = None) -> BackendKind:
    return BackendKind(
        name="ty",
        command=command or COMMAND,
        version_command=VERSION_COMMAND,
        capabilities=client_capabilities(RECORDED_CAPABILITIES),
        ready_at_once=True,
        configuration=configuration,
        reads_project_config=True,
        # checked with ty 0.0.105: it asks once, and not again on didChangeConfiguration
        config_asked_once=frozenset({"ty.toml", "pyproject.toml"}),
    )
