"""The core and the document store are sans-IO: no OS, clock or process API, no file I/O.

A static scan of their imports and calls, so a stat or a clock read sneaking into the core
fails here rather than as a flaky unit test or a slow event loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import typemux

SRC = Path(typemux.__file__).parent
FILES = [*sorted((SRC / "core").glob("*.py")), SRC / "documents.py"]

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


def _banned(module: str) -> bool:
    return any(module == b or module.startswith(b + ".") for b in BANNED_MODULES)


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def violations(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _banned(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(_banned(n) for n in names):
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
