"""The `prewarm` setting: backends started right after initialize, before any document.

An entry names a venv, a project folder holding `.venv`, or a project whose environment
another discovery rule finds (Poetry, conda, ...). `typemux doctor` resolves the entries
the same way, to show what each one would start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from typemux.core.router import Router
from typemux.log import get_logger
from typemux.venv import VenvResolver

log = get_logger("typemux.proxy")


def prewarm_venv(path: Path) -> Path | None:
    """The venv a `prewarm` entry names (a venv, or a project directory holding `.venv`),
    spelled as the venv resolver spells it: real project directory + venv name."""
    path = Path(os.path.abspath(path.expanduser()))
    if (path / "pyvenv.cfg").is_file():
        return Path(os.path.realpath(path.parent)) / path.name
    if (path / ".venv" / "pyvenv.cfg").is_file():
        return Path(os.path.realpath(path)) / ".venv"
    return None


def prewarm_target(entry: Path, resolver: VenvResolver) -> tuple[Path, Path | None] | None:
    """(venv, project or None) a `prewarm` entry starts: a venv, a project folder holding
    `.venv`, or one whose environment another rule finds (Poetry, conda, ...)."""
    venv = prewarm_venv(entry)
    if venv is not None:
        return venv, None
    found = resolver.at(entry.expanduser())
    return None if found is None else (found.path, found.project)


def prewarm(entries: Iterable[Path], resolver: VenvResolver, router: Router, now: float,
            max_backends: int) -> None:
    """Start the backends of the `prewarm` entries, while the pool has room."""
    for entry in entries:
        target = prewarm_target(entry, resolver)
        if target is None:
            log.warning("prewarm_skipped", path=str(entry),
                        why="not an environment, nor a project folder with one")
            continue
        venv, project = target
        if len(router.pool) >= max_backends:
            log.info("prewarm_skipped", path=str(entry), why="the pool is full (max_backends)")
            break
        log.info("prewarm", venv=str(venv))
        router.prewarm(venv, now, project)
