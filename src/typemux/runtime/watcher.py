"""typemux's own file watcher, for clients that cannot watch files for their server.

Claude Code declares no dynamic registration, so no `workspace/didChangeWatchedFiles` ever
comes from it: after `git checkout`, `uv add` or `sed -i` in its shell every backend would
keep the old state of every module. typemux then watches the projects of its backends
itself (watchfiles: the Rust `notify` crate, inotify on Linux) and hands the changes, with
the new texts of open documents, to the router.

Nothing here blocks the event loop: the Rust watcher is built (it walks the tree to add
inotify watches) and waited on in a thread of its own, files are read in that thread too,
and a directory that vanishes or never existed is skipped, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from typemux.log import get_logger

log = get_logger("typemux.watcher")

# Changes are handed on after STEP ms of quiet, or after DEBOUNCE ms at most (a long
# `uv sync` still reaches the backends in batches while it runs).
DEBOUNCE_MS = 300
STEP_MS = 50
# The Rust wait returns this often to see whether it should stop.
RUST_TIMEOUT_MS = 1000
RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 120.0

WATCHED_SUFFIXES = (".py", ".pyi", ".pth")
WATCHED_NAMES = frozenset({"pyproject.toml", "pyrightconfig.json", "ty.toml", "pyrefly.toml",
                           "pyvenv.cfg", "setup.cfg"})
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".mypy_cache",
                          ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".hypothesis"})

# (path, LSP FileChangeType: 1 created, 2 changed, 3 deleted); watchfiles uses the same numbers.
Change = tuple[Path, int]
# (changes, new texts of the open documents among them by URI, None when deleted)
OnChanges = Callable[[list[Change], dict[str, str | None]], None]


def is_watched(path: str) -> bool:
    """Whether a change of `path` matters to a Python type checker."""
    name = os.path.basename(path)
    if not (name.endswith(WATCHED_SUFFIXES) or name in WATCHED_NAMES):
        return False
    return not any(part in IGNORED_DIRS for part in Path(path).parts)


def too_wide(root: Path) -> bool:
    """A venv in the home directory (or at /) makes its "project" everything: watching that
    recursively would cost an inotify watch per directory of the whole tree."""
    return root == Path(root.anchor) or root == Path.home()


def outermost(roots: Iterable[Path]) -> list[Path]:
    """Existing directories among `roots`, without those inside another one (a recursive
    watch of the outer one covers them), and without the home directory or /."""
    kept: list[Path] = []
    candidates = {Path(r) for r in roots if os.path.isdir(r) and not too_wide(Path(r))}
    for root in sorted(candidates, key=lambda p: (len(p.parts), str(p))):
        if not any(root.is_relative_to(outer) for outer in kept):
            kept.append(root)
    return kept


def read_texts(paths: dict[Path, str]) -> dict[str, str | None]:
    """URI -> the file's text (None when it is gone). Bytes, not read_text: universal
    newlines would turn "\\r\\n" into "\\n" and the backend's positions would drift."""
    texts: dict[str, str | None] = {}
    for path, uri in paths.items():
        try:
            texts[uri] = path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            texts[uri] = None
        except OSError:
            continue  # unreadable for now: keep what typemux has
    return texts


MAX_SOURCE_BYTES = 4 * 2**20


def read_source(path: Path) -> str | None:
    """A source file's text for a document typemux opens itself (a client asked about a
    file it never opened); None when it is missing, unreadable or unreasonably big. A small
    blocking read, once per such file."""
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


class ProjectWatcher:
    """Watches a changing set of project directories; one Rust watcher over all of them,
    rebuilt when the set changes."""

    def __init__(self, on_changes: OnChanges, open_paths: Callable[[], dict[Path, str]]) -> None:
        self._on_changes = on_changes
        self._open_paths = open_paths
        self._roots: list[Path] = []
        self._wanted = asyncio.Event()
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="typemux-watch")
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # change batches delivered (for tests and logs)

    @property
    def roots(self) -> list[Path]:
        return list(self._roots)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def set_roots(self, roots: Iterable[Path]) -> None:
        wanted = outermost(roots)
        if wanted == self._roots:
            return
        self._roots = wanted
        self._stop.set()  # the running Rust wait returns; _run rebuilds on the new roots
        self._wanted.set()

    async def aclose(self) -> None:
        self._closed = True
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._closed:
            self._wanted.clear()
            roots = [r for r in self._roots if r.is_dir()]
            if not roots:
                await self._wanted.wait()
                continue
            self._stop = threading.Event()
            try:
                await self._watch(loop, roots, self._stop)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A root vanished under the watcher, or inotify ran out of watches: retry,
                # less and less often while it keeps failing (sooner if the roots change).
                failures += 1
                delay = min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2 ** (failures - 1))
                log.info("watch_restart", roots=[str(r) for r in roots], why=repr(exc),
                         retry_in=delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wanted.wait(), delay)

    async def _watch(self, loop: asyncio.AbstractEventLoop, roots: list[Path],
                     stop: threading.Event) -> None:
        notify: Any = await loop.run_in_executor(self._executor, self._open_notify, roots)
        log.info("watching", roots=[str(r) for r in roots])
        try:
            while not stop.is_set():
                raw = await loop.run_in_executor(
                    self._executor, notify.watch, DEBOUNCE_MS, STEP_MS, RUST_TIMEOUT_MS, stop)
                if raw in ("timeout", "stop", "signal"):
                    continue
                await self._deliver(loop, raw)
        finally:
            notify.close()

    def _open_notify(self, roots: list[Path]) -> Any:
        """A Rust watcher over `roots` (blocking: it walks the trees adding inotify watches)."""
        from watchfiles._rust_notify import RustNotify

        return RustNotify([str(r) for r in roots], False, False, 300, True, True)

    async def _deliver(self, loop: asyncio.AbstractEventLoop, raw: set[tuple[int, str]]) -> None:
        kinds: dict[str, set[int]] = {}
        for kind, path in raw:
            if is_watched(path):
                kinds.setdefault(path, set()).add(kind)
        if not kinds:
            return
        open_paths = self._open_paths()
        changes, texts = await loop.run_in_executor(self._executor, settle, kinds, open_paths)
        self.batches += 1
        self._on_changes(changes, texts)


def settle(kinds: dict[str, set[int]], open_paths: dict[Path, str]
           ) -> tuple[list[Change], dict[str, str | None]]:
    """One change per path (a batch is a set: a file deleted and re-created by a
    `git checkout` has both kinds, and the disk says which holds now), and the new texts of
    the open documents among them."""
    changes: list[Change] = []
    for path, seen in sorted(kinds.items()):
        # Both kinds in one batch: whatever the disk holds now decides.
        kind = next(iter(seen)) if len(seen) == 1 else (2 if os.path.exists(path) else 3)
        changes.append((Path(path), kind))
    return changes, texts_of_open(changes, open_paths) if open_paths else {}


def texts_of_open(changes: list[Change], open_paths: dict[Path, str]) -> dict[str, str | None]:
    """The new texts of the open documents among `changes` (matched by real path too: a
    client may name a file through a symlink)."""
    real = {Path(os.path.realpath(p)): uri for p, uri in open_paths.items()}
    wanted: dict[Path, str] = {}
    for path, _ in changes:
        uri = open_paths.get(path) or real.get(Path(os.path.realpath(path)))
        if uri is not None:
            wanted[path] = uri
    return read_texts(wanted)
