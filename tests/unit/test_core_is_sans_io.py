"""The core and the document store are sans-IO: no OS, clock or process API, no file I/O.

A static scan of their imports and calls, so a stat or a clock read sneaking into the core
fails here rather than as a flaky unit test or a slow event loop. The backend kinds'
configuration answers, which the core calls, are scanned too: the project's config files
are read by the runtime (runtime/project_config.py) and come in as data.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import typemux

SRC = Path(typemux.__file__).parent
FILES = [*sorted((SRC / "core").glob("*.py")), SRC / "documents.py"]

# The kinds' configuration modules (what `ServerRequests` calls for a configuration answer).
CONFIGURATION_FILES = [SRC / "backends" / f"{name}.py" for name in (
    "__init__", "base", "settings", "pyright", "basedpyright", "ty", "pyrefly", "generic")]

# Modules that do I/O, read the clock or run processes, and typemux's own I/O layers.
BANNED_MODULES = ("os", "time", "subprocess", "asyncio", "shutil", "socket", "signal",
                  "threading", "select", "io", "tempfile", "glob",
                  "typemux.venv", "typemux.envs", "typemux.runtime", "typemux.wire.streams")
# pathlib.Path methods that touch the file system.
PATH_IO = frozenset({"stat", "lstat", "exists", "read_text", "read_bytes", "write_text",
                     "write_bytes", "open", "is_dir", "is_file", "is_symlink", "iterdir",
                     "resolve", "glob", "rglob", "mkdir", "unlink", "readlink",
                     "samefile", "expanduser", "home", "cwd"})
# The document store's own `open` (a document, not a file).
STORE_OPEN = {"documents"}


# Parsers of config files: a configuration answer that imports one is reading a file.
CONFIG_PARSERS = ("tomllib", "json", "configparser")


def _banned(module: str, banned: tuple[str, ...] = BANNED_MODULES) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def violations(source: str, banned: tuple[str, ...] = BANNED_MODULES) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if _banned(a.name, banned)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(_banned(n, banned) for n in names):
                found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("open", "__import__"):
                found.append(f"line {node.lineno}: {func.id}()")
            elif isinstance(func, ast.Attribute) and func.attr in PATH_IO:
                if func.attr == "open" and _receiver(func.value) in STORE_OPEN:
                    continue
                found.append(f"line {node.lineno}: .{func.attr}()")
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_module_names_no_os_clock_process_or_file_api(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", CONFIGURATION_FILES, ids=lambda p: p.name)
def test_configuration_answers_read_no_project_file(path: Path) -> None:
    # base.py builds a backend's environment from os.environ (for the runtime's Spawn): the
    # one OS name allowed here; no file API, no config parser.
    banned = tuple(b for b in BANNED_MODULES if b != "os") + CONFIG_PARSERS
    assert violations(path.read_text(encoding="utf-8"), banned) == []


@pytest.mark.parametrize("source", [
    "import tomllib", "from json import loads",
])
def test_the_configuration_scan_catches_config_parsers(source: str) -> None:
    assert violations(source, BANNED_MODULES + CONFIG_PARSERS)


@pytest.mark.parametrize("source", [
    "import os", "import time", "from subprocess import run", "import asyncio",
    "from shutil import which", "from typemux.venv import venv_identity",
    "from typemux import venv", "p.stat()", "path.exists()", "p.read_text()", "p.open()",
    "p.is_dir()", "p.is_file()", "p.iterdir()", "p.resolve()", "open('x')",
])
def test_the_scan_catches(source: str) -> None:
    assert violations(source)


def test_the_scan_lets_the_document_store_open_documents() -> None:
    assert violations("self.documents.open(uri, 'python', 0, text)") == []
