"""What the core asks of the outside world, as plain interfaces (the runtime implements them).

The core never reads a file, stats a path or looks at a clock: finding a document's
environment does all three (`typemux.venv.VenvResolver` implements `VenvLookup`), so the
router is given a lookup and unit tests give it an in-memory one
(`tests/support/venv_lookup.DictLookup`). Reading a file's text is
likewise a `SourceReader` the runtime sets (`router.sync.reader`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# A file's text, or None when unreadable or too big (the runtime's `read_source`): how
# document sync opens a file the client asks about without having opened it.
SourceReader = Callable[[Path], str | None]


@dataclass(frozen=True, slots=True)
class VenvIdentity:
    """Stat of `pyvenv.cfg` (taken by the runtime, `typemux.venv.venv_identity`): changes
    when the venv is rewritten or recreated in place."""

    dev: int
    ino: int
    mtime_ns: int
    size: int


class FoundVenv(Protocol):
    """An environment and the project it serves."""

    @property
    def path(self) -> Path: ...

    @property
    def project(self) -> Path: ...


class VenvLookup(Protocol):
    @property
    def rule_names(self) -> tuple[str, ...]:
        """The discovery rules a lookup tries, in order (named in "no environment" errors)."""
        ...

    def find(self, path: Path) -> FoundVenv | None:
        """The environment serving the file `path`, or None. May answer from a cache."""
        ...

    def invalidate(self) -> None:
        """Forget cached answers: the next `find` looks again."""
        ...

    def mapping_miss(self, path: Path) -> str | None:
        """Why an explicit mapping for `path` found nothing (a mapping is final), or None."""
        ...

    def pending(self, path: Path) -> bool:
        """Whether the last `find(path)` found nothing only because a tool asked about its
        project (`poetry env info -p`) has not answered yet (core.env_wait holds the
        messages about such a file; the runtime tells the router when a tool answers)."""
        ...

    @property
    def pending_wait(self) -> float:
        """How long, in seconds, a message about a pending file may wait for the tool's
        answer; 0 for a lookup that never asks a tool (nothing ever waits)."""
        ...
