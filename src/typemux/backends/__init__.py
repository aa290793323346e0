"""The backend kinds typemux can run, and what they share.

`get_kind` imports only the module of the kind asked for: each holds a large recorded
capabilities literal, and typemux runs one kind per session.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from typemux.backends.base import NO_PROJECT_CONFIG, BackendKind, ProjectConfig

KIND_NAMES = ("pyright", "basedpyright", "ty", "pyrefly", "generic")


def get_kind(name: str, command: Sequence[str] | None = None) -> BackendKind:
    """The kind called `name`; `command`, when given, replaces its default argv."""
    if name not in KIND_NAMES:
        raise ValueError(f"unknown backend kind {name!r}; choose one of {', '.join(KIND_NAMES)}")
    if isinstance(command, str):
        # A bare string would silently become one argv entry per character.
        raise TypeError("command must be a sequence of arguments, not a string")
    argv = None if command is None else tuple(command)
    if argv is not None and not argv:
        raise ValueError("command must not be empty")
    module = importlib.import_module(f"typemux.backends.{name}")
    kind: BackendKind = module.build(argv)
    return kind


def client_capabilities(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """What typemux answers the client's `initialize` with, from a backend's recorded answer.

    Every backend is offered utf-16 only, so that is what the client gets. Document sync is
    typemux's own (see `own_text_document_sync`), never the backend's. typemux offers
    backends push diagnostics only (pyrefly has no pull), so a static `diagnosticProvider`
    (ty's) would invite the client to pull from a backend that is pushing. typemux routes
    text documents only, so `notebookDocumentSync` would invite notebook traffic it cannot
    route (and ty's and pyrefly's cell-only selector does not parse in lsprotocol clients).
    """
    caps = copy.deepcopy(dict(recorded))
    caps["positionEncoding"] = "utf-16"
    caps["textDocumentSync"] = own_text_document_sync(caps.get("textDocumentSync"))
    caps.pop("diagnosticProvider", None)
    caps.pop("notebookDocumentSync", None)
    return caps


def own_text_document_sync(declared: Any) -> dict[str, Any]:
    """The `textDocumentSync` typemux asks the client for, whatever a backend declared.

    typemux keeps every document's text itself and gives each backend the didChange its own
    declaration asks for (core/sync_kind.py), so the client always sends open/close and
    incremental edits. A backend's value, from a cache or a recorded table, may be stale
    (another server behind the same command) and is not typemux's to pass on. didSave is
    always asked for (typemux learns from it that the buffer equals the file on disk), with
    the text only when the backend's declaration wants it.
    """
    save = declared.get("save") if isinstance(declared, Mapping) else None
    include_text = isinstance(save, Mapping) and save.get("includeText") is True
    return {"openClose": True, "change": 2, "save": {"includeText": include_text}}


def client_entries(items: list[Any], client_result: list[Any] | None) -> list[Any]:
    """The client's answer per item, or None per item when it gave no usable answer."""
    if isinstance(client_result, list) and len(client_result) == len(items):
        return list(client_result)
    return [None] * len(items)


def item_section(item: Any) -> str | None:
    section = item.get("section") if isinstance(item, Mapping) else None
    return section if isinstance(section, str) else None


def interpreter(venv: Path) -> str:
    return str(venv / "bin" / "python")


def python_section_configuration(
    items: list[Any], venv: Path, client_result: list[Any] | None,
    project_config: ProjectConfig = NO_PROJECT_CONFIG, /,
) -> list[Any]:
    """Set `python.pythonPath` to the venv's interpreter in every answer.

    pyright, basedpyright and pyrefly read the interpreter from the `python` section. The
    client knows one interpreter for the whole workspace (Zed sends its selected
    toolchain's), which is the wrong one for every other venv behind typemux: a client
    value is kept only when it already lies in this backend's venv. A project's own config
    file still beats this setting inside the backend, so what the project chose stands.
    """
    answers = client_entries(items, client_result)
    for index, item in enumerate(items):
        section = item_section(item)
        entry = answers[index]
        if section == "python":
            if not isinstance(entry, Mapping):
                answers[index] = {"pythonPath": interpreter(venv)}
            elif not _inside(entry.get("pythonPath"), venv):
                answers[index] = {**entry, "pythonPath": interpreter(venv)}
        elif section == "python.pythonPath" and not _inside(entry, venv):
            answers[index] = interpreter(venv)
    return answers


def _inside(python: Any, venv: Path) -> bool:
    """Whether a client's interpreter path names one of `venv`'s own."""
    if not isinstance(python, str) or not python:
        return False
    return Path(python).parent.parent == venv
