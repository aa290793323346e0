"""An in-memory `VenvLookup` (core/ports.py) for driving the sans-IO router in tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Found:
    path: Path
    project: Path


class DictLookup:
    """Projects -> their venv, with no file behind them. A file belongs to the nearest
    project above it. With `cached`, answers stand until `invalidate()` (or for `ttl`
    seconds of `clock`), like the real resolver's cache, so tests can show the router
    looks again when it must. Files under a project in `asking` are pending (a tool is
    being asked for their environment) and find nothing; `pending_wait` is 0 unless set
    (0: nothing ever waits)."""

    rule_names = ("config", ".venv")

    def __init__(self, *, cached: bool = False, ttl: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.venvs: dict[Path, Path] = {}
        self.misses: dict[Path, str] = {}  # project -> what its explicit mapping missed
        self.cached = cached
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[Path, tuple[float, Found | None]] = {}
        self.finds = 0
        self.asking: set[Path] = set()
        self.pending_wait = 0.0

    def add(self, project: Path, venv: Path | None = None) -> Path:
        venv = venv if venv is not None else project / ".venv"
        self.venvs[project] = venv
        return venv

    def remove(self, project: Path) -> None:
        del self.venvs[project]

    def pending(self, path: Path) -> bool:
        return any(path.is_relative_to(project) for project in self.asking)

    def find(self, path: Path) -> Found | None:
        self.finds += 1
        if self.pending(path):
            return None
        now = self.clock() if self.clock is not None else 0.0
        hit = self._cache.get(path) if self.cached else None
        if hit is not None and (self.ttl is None or now - hit[0] < self.ttl):
            return hit[1]
        found = None
        for folder in (path, *path.parents):
            if folder in self.misses:  # an explicit mapping is final
                break
            if folder in self.venvs:
                found = Found(self.venvs[folder], folder)
                break
        if self.cached:
            self._cache[path] = (now, found)
        return found

    def invalidate(self) -> None:
        self._cache.clear()

    def mapping_miss(self, path: Path) -> str | None:
        for folder in (path, *path.parents):
            if folder in self.misses:
                return self.misses[folder]
        return None
