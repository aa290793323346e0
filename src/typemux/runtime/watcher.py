"""typemux's own file watcher, for clients that cannot watch files for their server.

Claude Code declares no dynamic registration, so no `workspace/didChangeWatchedFiles` ever
comes from it: after `git checkout`, `uv add` or `sed -i` in its shell every backend would
keep the old state of every module. typemux then watches the projects of its backends
itself (watchfiles: the Rust `notify` crate, inotify on Linux) and hands the changes, with
the new texts of open documents, to the router.

Nothing here blocks the event loop: the Rust watcher is built (it walks the tree to add
inotify watches) and waited on in a thread of its own, files are read in that thread too,
and a directory that vanishes or never existed is skipped, not an error. When the set of
projects changes, the new watcher is built before the old one stops (a hand-over), so a
change under a project watched before and after is never lost.
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
# A watcher handing over to its successor waits this long once more for changes still in
# flight (made before the successor was up), then closes.
DRAIN_TIMEOUT_MS = 200
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


class _Watch:
    """One Rust watcher over one set of roots, and the task that hands its changes on."""

    def __init__(self, roots: list[Path], notify: Any) -> None:
        self.roots = roots
        self.notify = notify
        self.stop = threading.Event()  # return at once, dropping what is pending (closing)
        # Handing over to a successor: one more wait, begun once the successor is up, then
        # close (its changes until then are in this watcher, later ones in the successor).
        self.retiring = False
        self.draining = False  # in that last wait
        # While its predecessor hands over: the changes this one saw before the predecessor's
        # last wait began (the predecessor reports those itself; delivered only if it
        # fails), and those after (delivered after all of the predecessor's).
        self.predecessor: _Watch | None = None
        self.spare: dict[str, set[int]] = {}
        self.held: dict[str, set[int]] | None = None
        self.task: asyncio.Task[None] | None = None


class ProjectWatcher:
    """Watches a changing set of project directories; one Rust watcher over all of them,
    rebuilt when the set changes. A rebuild hands over: the old watcher keeps watching
    until the new one is up, then waits once more; the new one's changes from before that
    last wait are the old one's to report, those after go on once the old one is closed. A
    change under a root watched before and after is seen by one of them (reported twice at
    worst when made during the old one's last wait)."""

    def __init__(self, on_changes: OnChanges, open_paths: Callable[[], dict[Path, str]]) -> None:
        self._on_changes = on_changes
        self._open_paths = open_paths
        self._roots: list[Path] = []
        self._wanted = asyncio.Event()
        # Threads: the waits of the old and the new watcher during a hand-over, a build, a
        # batch's file reads. Made when needed: two are busy when nothing is re-rooting.
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="typemux-watch")
        self._deliveries = asyncio.Lock()  # batches reach on_changes one at a time, in order
        self._current: _Watch | None = None
        self._watches: list[_Watch] = []  # alive: the current one and one handing over
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0  # change batches delivered (for tests and logs)

    @property
    def roots(self) -> list[Path]:
        return list(self._roots)

    @property
    def handing_over(self) -> int:
        """Old watchers still watching until their successor is fully in place."""
        return sum(1 for watch in self._watches if watch.retiring)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def set_roots(self, roots: Iterable[Path]) -> None:
        wanted = outermost(roots)
        if wanted == self._roots:
            return
        self._roots = wanted
        self._wanted.set()  # _run builds a watcher on the new roots, then retires the old one

    async def aclose(self) -> None:
        self._closed = True
        for watch in self._watches:
            watch.stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        # The waits return within a step once stopped; each pump then closes its watcher.
        pumps = [w.task for w in self._watches if w.task is not None]
        if pumps:
            done, pending = await asyncio.wait(pumps, timeout=5)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled():
                    task.exception()  # a wait that failed while closing: nothing to report
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        delay: float | None = None  # wait this long before building again after a failure
        while not self._closed:
            self._wanted.clear()
            current = self._current
            roots = [r for r in self._roots if r.is_dir()]
            if current is not None and current.task is not None and current.task.done():
                # Its wait failed: changes are not seen until a new one is up. Rebuild, less
                # and less often while it keeps failing.
                failed = current.task.exception() if not current.task.cancelled() else None
                self._current = current = None
                failures += 1
                delay = _retry(failures, roots, repr(failed))
            if current is not None and current.roots == roots:
                await self._news(current, None)
                continue
            if delay is not None:
                await self._news(current, delay)
                delay = None
                continue
            if not roots:
                if current is not None:
                    await self._retire(current)  # nothing left to watch: no successor
                    self._current = None
                await self._news(None, None)
                continue
            try:
                notify: Any = await loop.run_in_executor(self._executor, self._open_notify, roots)
            except Exception as exc:
                # A root vanished meanwhile, or inotify ran out of watches: the old watcher
                # (if any) goes on meanwhile.
                failures += 1
                delay = _retry(failures, roots, repr(exc))
                continue
            log.info("watching", roots=[str(r) for r in roots])
            successor = _Watch(roots, notify)
            if current is not None:
                successor.held, successor.predecessor = {}, current
            self._start_pump(successor)
            self._current = successor
            if current is not None:
                handed_over = await self._retire(current)
                if handed_over:
                    failures = 0
                await self._release(successor, handed_over)
            else:
                failures = 0

    async def _news(self, current: _Watch | None, timeout: float | None) -> None:
        """Until the roots change, the current watcher fails, or `timeout` seconds pass."""
        wanted = asyncio.ensure_future(self._wanted.wait())
        waits: set[asyncio.Future[Any]] = {wanted}
        if current is not None and current.task is not None:
            waits.add(current.task)
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            wanted.cancel()

    def _start_pump(self, watch: _Watch) -> None:
        self._watches.append(watch)
        watch.task = asyncio.get_running_loop().create_task(self._pump(watch))

    async def _pump(self, watch: _Watch) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not watch.stop.is_set():
                last = watch.draining = watch.retiring  # it began after the successor was up
                raw = await loop.run_in_executor(
                    self._executor, watch.notify.watch, DEBOUNCE_MS, STEP_MS,
                    DRAIN_TIMEOUT_MS if last else RUST_TIMEOUT_MS, watch.stop)
                if not isinstance(raw, str):  # not "timeout", "stop" or "signal"
                    if watch.held is not None:
                        before = watch.predecessor is not None and not watch.predecessor.draining
                        into = watch.spare if before else watch.held
                        for kind, path in raw:
                            into.setdefault(path, set()).add(kind)
                    else:
                        await self._deliver(loop, raw)
                if last:
                    return
        finally:
            self._watches.remove(watch)
            with contextlib.suppress(Exception):  # still borrowed by a wait cut short
                watch.notify.close()

    async def _retire(self, old: _Watch) -> bool:
        """Let `old` watch once more (its successor, if any, is up), deliver what it saw,
        and close it. False when its wait failed meanwhile."""
        old.retiring = True
        assert old.task is not None
        try:
            await asyncio.shield(old.task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("watch_restart", roots=[str(r) for r in old.roots], why=repr(exc), retry_in=0)
            return False
        return True

    async def _release(self, successor: _Watch, handed_over: bool) -> None:
        """The old watcher is gone: what the successor saw meanwhile and the old one did not
        report goes on now, and from here its batches go on directly."""
        held, successor.held = successor.held or {}, None
        if not handed_over:  # the old one failed: what it saw may be lost
            for path, kinds in successor.spare.items():
                held.setdefault(path, set()).update(kinds)
        successor.spare, successor.predecessor = {}, None
        if held:
            await self._deliver(asyncio.get_running_loop(),
                                {(kind, path) for path, kinds in held.items() for kind in kinds})

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
        async with self._deliveries:
            open_paths = self._open_paths()
            changes, texts = await loop.run_in_executor(self._executor, settle, kinds, open_paths)
            self.batches += 1
            self._on_changes(changes, texts)


def _retry(failures: int, roots: list[Path], why: str) -> float:
    """Seconds before the next attempt after `failures` failures in a row, logged."""
    delay = float(min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2 ** (failures - 1)))
    log.info("watch_restart", roots=[str(r) for r in roots], why=why, retry_in=delay)
    return delay


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
