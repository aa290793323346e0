"""pyrefly (`pyrefly lsp`), Meta's type checker.

Reference: /work/shared/reference/backends.md (pyrefly 1.4.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typemux.backends import client_capabilities, item_section, python_section_configuration
from typemux.backends.base import NO_PROJECT_CONFIG, BackendKind, ProjectConfig, ReadinessDetector

COMMAND = ("pyrefly", "lsp")
VERSION_COMMAND = ("pyrefly", "--version")

# Recorded from pyrefly 1.4.1 by scripts/record_capabilities.py.
RECORDED_CAPABILITIES: dict[str, Any] = {
    "callHierarchyProvider": True,
    "codeActionProvider": {
        "codeActionKinds": [
            "quickfix",
            "refactor.extract",
            "refactor.rewrite",
            "refactor.delete",
            "refactor.move",
            "refactor.inline",
            "source.fixAll",
            "source.fixAll.pyrefly",
        ]
    },
    "codeLensProvider": {"resolveProvider": False},
    "completionProvider": {"resolveProvider": True, "triggerCharacters": [".", "'", '"']},
    "declarationProvider": True,
    "definitionProvider": True,
    "documentHighlightProvider": True,
    "documentSymbolProvider": True,
    "foldingRangeProvider": True,
    "hoverProvider": True,
    "implementationProvider": True,
    "inlayHintProvider": True,
    "notebookDocumentSync": {"notebookSelector": [{"cells": [{"language": "python"}]}]},
    "positionEncoding": "utf-16",
    "referencesProvider": True,
    "renameProvider": {"prepareProvider": True},
    "selectionRangeProvider": True,
    "signatureHelpProvider": {"triggerCharacters": ["(", ","]},
    "textDocumentSync": {"change": 2, "openClose": True, "save": {"includeText": False}},
    "typeDefinitionProvider": True,
    "typeHierarchyProvider": True,
    "workspace": {
        "fileOperations": {
            "willRename": {
                "filters": [
                    {"pattern": {"glob": "**/*.{py,pyi}", "matches": "file"}, "scheme": "file"}
                ]
            }
        },
        "workspaceFolders": {"changeNotifications": True, "supported": True},
    },
    "workspaceSymbolProvider": True,
}
SERVER_INFO: dict[str, Any] | None = {"name": "pyrefly-lsp", "version": "1.4.1"}

# Publishes seen at start-up before answers were complete, per the measurements.
_READY_AT_PUBLISH = 3


class PyreflyReadiness(ReadinessDetector):
    """A heuristic: pyrefly has no start-up progress, but it re-publishes diagnostics.

    It checks the open files at once, then indexes the project in the background and
    publishes the open files' diagnostics again (up to 3 times per file at start-up). In
    every measured run a request sent after the third publishDiagnostics was complete. So:
    ready at the 3rd publish overall, or at the 2nd publish for one uri (a re-publish means
    the index finished), whichever comes first. This is not a contract of pyrefly's; the
    router's warm-up timeout bounds the cost when it never fires.
    """

    def __init__(self) -> None:
        self._fired = False
        self._total = 0
        self._per_uri: dict[str, int] = {}

    def observe(self, msg: Mapping[str, Any]) -> str | None:
        if self._fired or msg.get("method") != "textDocument/publishDiagnostics":
            return None
        params = msg.get("params")
        uri = params.get("uri") if isinstance(params, Mapping) else None
        self._total += 1
        again = False
        if isinstance(uri, str):
            self._per_uri[uri] = self._per_uri.get(uri, 0) + 1
            again = self._per_uri[uri] >= 2
        if again or self._total >= _READY_AT_PUBLISH:
            self._fired = True
            return f"publishDiagnostics re-published (#{self._total})"
        return None


def configuration(items: list[Any], venv: Path, client_result: list[Any] | None,
                  project_config: ProjectConfig = NO_PROJECT_CONFIG, /) -> list[Any]:
    """The interpreter (python.pythonPath), and type errors shown without a pyrefly config.

    Without a pyrefly.toml or [tool.pyrefly], pyrefly shows no type errors (1.4: only with
    `displayTypeErrors: "force-on"`; newer versions: a "basic" preset of syntax and import
    errors). A client that cannot pass settings (Claude Code) would hear "clean" for files
    full of type errors, so typemux asks for them, unless the project configures pyrefly or
    has a mypy/pyright config that pyrefly migrates into its own preset (what the project's
    files say is read by the runtime: runtime/project_config.py).
    """
    answers = python_section_configuration(items, venv, client_result)
    if project_config.own:
        return answers
    for index, item in enumerate(items):
        entry = answers[index]
        if item_section(item) != "python" or not isinstance(entry, Mapping):
            continue
        pyrefly = dict(entry.get("pyrefly") or {})
        pyrefly.setdefault("displayTypeErrors", "force-on")
        if not project_config.migrated:
            pyrefly.setdefault("typeCheckingMode", "default")
        answers[index] = {**entry, "pyrefly": pyrefly}
    return answers


def build(command: tuple[str, ...] | None = None) -> BackendKind:
    return BackendKind(
        name="pyrefly",
        command=command or COMMAND,
        version_command=VERSION_COMMAND,
        capabilities=client_capabilities(RECORDED_CAPABILITIES),
        readiness=PyreflyReadiness,
        configuration=configuration,
        reads_project_config=True,
        # Its first progress, "Pyrefly: Rechecking 0/0", begins and ends within a millisecond
        # of start-up, long before the background index that references need.
        progress_readiness=False,
    )
