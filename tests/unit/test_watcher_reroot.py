"""typemux's own watcher re-roots (a backend starts or stops) without losing a change made
meanwhile to a file under a root that stays watched."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from typemux.runtime.watcher import ProjectWatcher

Batch = tuple[list[tuple[Path, int]], dict[str, str | None]]
WAIT = 20.0  # generous: the machine is slow and shared


class GatedWatcher(ProjectWatcher):
    """A watcher whose next rebuild waits, once armed, until the test lets it go: the test
    writes while the rebuild is under way."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.armed = False
        self.building = threading.Event()
        self.release = threading.Event()

    def _open_notify(self, roots: list[Path]) -> Any:
        if self.armed:
            self.armed = False
            self.building.set()
            self.release.wait(WAIT)
        return super()._open_notify(roots)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.arrived = asyncio.Event()

    def __call__(self, changes: list[tuple[Path, int]], texts: dict[str, str | None]) -> None:
        self.batches.append((changes, texts))
        self.arrived.set()

    def saw(self, path: Path) -> bool:
        return any(p == path for changes, _ in self.batches for p, _ in changes)

    def texts(self, uri: str) -> list[str | None]:
        return [texts[uri] for _, texts in self.batches if uri in texts]

    async def until(self, predicate: Any, timeout: float = WAIT) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            self.arrived.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                return bool(predicate())
        return True


async def _watching(watcher: ProjectWatcher, recorder: Recorder, probe: Path) -> None:
    """Returns once a probe write under `probe`'s root comes through (the watch is up)."""
    for round_ in range(200):
        probe.write_text(f"probe = {round_}\n")
        if await recorder.until(lambda: recorder.saw(probe), 0.2):
            return
    raise AssertionError("the watcher never came up")


def _projects(tmp_path: Path) -> tuple[Path, Path, Path]:
    kept, other = tmp_path / "kept", tmp_path / "other"
    kept.mkdir()
    other.mkdir()
    main = kept / "main.py"
    main.write_text("x = 1\n")
    return kept, other, main


@pytest.mark.parametrize("before,after", [("kept", "kept+other"), ("kept+other", "kept")],
                         ids=["a root added", "a root removed"])
async def test_a_write_while_the_new_watcher_is_being_built_is_not_lost(
    tmp_path: Path, before: str, after: str
) -> None:
    kept, other, main = _projects(tmp_path)
    named = {"kept": [kept], "kept+other": [kept, other]}
    recorder = Recorder()
    watcher = GatedWatcher(recorder, lambda: {main: "file:///main"})
    watcher.start()
    watcher.set_roots(named[before])
    try:
        await _watching(watcher, recorder, kept / "probe.py")
        watcher.armed = True
        watcher.set_roots(named[after])
        assert await asyncio.to_thread(watcher.building.wait, WAIT)
        main.write_text("x = 2\n")  # the rebuild for the new roots is under way
        watcher.release.set()
        assert await recorder.until(lambda: "x = 2\n" in recorder.texts("file:///main"))
        assert watcher.roots == named[after]
    finally:
        watcher.release.set()
        await watcher.aclose()


@pytest.mark.parametrize("before,after", [("kept", "kept+other"), ("kept+other", "kept")],
                         ids=["a root added", "a root removed"])
async def test_a_write_pending_when_the_roots_change_is_not_lost(
    tmp_path: Path, before: str, after: str
) -> None:
    kept, other, main = _projects(tmp_path)
    named = {"kept": [kept], "kept+other": [kept, other]}
    recorder = Recorder()
    watcher = ProjectWatcher(recorder, lambda: {main: "file:///main"})
    watcher.start()
    watcher.set_roots(named[before])
    try:
        await _watching(watcher, recorder, kept / "probe.py")
        main.write_text("x = 2\n")  # not yet handed on (batches wait for 50 ms of quiet)
        watcher.set_roots(named[after])
        assert await recorder.until(lambda: "x = 2\n" in recorder.texts("file:///main"))
    finally:
        await watcher.aclose()


async def test_after_a_rebuild_the_new_roots_are_watched_and_nothing_repeats_later(
    tmp_path: Path,
) -> None:
    kept, other, main = _projects(tmp_path)
    recorder = Recorder()
    watcher = ProjectWatcher(recorder, lambda: {main: "file:///main"})
    watcher.start()
    watcher.set_roots([kept])
    try:
        await _watching(watcher, recorder, kept / "probe.py")
        watcher.set_roots([kept, other])
        await _watching(watcher, recorder, other / "probe.py")
        # Once the old watcher has handed over, each change arrives once.
        for _ in range(100):
            if watcher.handing_over == 0:
                break
            await asyncio.sleep(0.1)
        assert watcher.handing_over == 0
        recorder.batches.clear()
        main.write_text("x = 3\n")
        assert await recorder.until(lambda: recorder.saw(main))
        await asyncio.sleep(1.0)  # a second watcher would report it again by now
        assert sum(p == main for changes, _ in recorder.batches for p, _ in changes) == 1
    finally:
        await watcher.aclose()


class FailingOnceWatcher(ProjectWatcher):
    """A watcher whose next rebuild, once armed, fails (inotify out of watches)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.armed = False
        self.failed = threading.Event()

    def _open_notify(self, roots: list[Path]) -> Any:
        if self.armed:
            self.armed = False
            self.failed.set()
            raise OSError(28, "inotify watch limit reached")
        return super()._open_notify(roots)


async def test_a_rebuild_that_fails_leaves_the_old_watcher_watching(tmp_path: Path) -> None:
    kept, other, main = _projects(tmp_path)
    recorder = Recorder()
    watcher = FailingOnceWatcher(recorder, lambda: {main: "file:///main"})
    watcher.start()
    watcher.set_roots([kept])
    try:
        await _watching(watcher, recorder, kept / "probe.py")
        watcher.armed = True
        watcher.set_roots([kept, other])
        assert await asyncio.to_thread(watcher.failed.wait, WAIT)
        main.write_text("x = 2\n")  # the retry is seconds away: the old watcher sees it
        assert await recorder.until(lambda: "x = 2\n" in recorder.texts("file:///main"))
        await _watching(watcher, recorder, other / "probe.py")  # the retry came
    finally:
        await watcher.aclose()


async def test_closing_during_a_rebuild_stops_every_watcher(tmp_path: Path) -> None:
    kept, other, main = _projects(tmp_path)
    recorder = Recorder()
    watcher = GatedWatcher(recorder, lambda: {main: "file:///main"})
    watcher.start()
    watcher.set_roots([kept])
    try:
        await _watching(watcher, recorder, kept / "probe.py")
        watcher.armed = True
        watcher.set_roots([kept, other])
        assert await asyncio.to_thread(watcher.building.wait, WAIT)
        await asyncio.wait_for(watcher.aclose(), WAIT)
        assert watcher.handing_over == 0
        recorder.batches.clear()
        main.write_text("x = 2\n")
        await asyncio.sleep(1.0)
        assert not recorder.batches
    finally:
        watcher.release.set()


class WrappedNotify:
    """A Rust watcher as the test sees it: it tells when a wait returned `path`, and once
    told to fail, its next wait fails (after the test lets it) with what it saw lost."""

    def __init__(self, inner: Any, path: Path) -> None:
        self.inner = inner
        self.path = str(path)
        self.saw = threading.Event()
        self.fail = False
        self.proceed = threading.Event()

    def watch(self, *args: Any) -> Any:
        raw = self.inner.watch(*args)
        if not isinstance(raw, str) and any(p == self.path for _, p in raw):
            self.saw.set()
        if self.fail:
            self.proceed.wait(WAIT)
            raise RuntimeError("the wait failed")
        return raw

    def close(self) -> None:
        self.inner.close()


class WrappingWatcher(GatedWatcher):
    def __init__(self, *args: Any, path: Path) -> None:
        super().__init__(*args)
        self.path = path
        self.notifies: list[WrappedNotify] = []

    def _open_notify(self, roots: list[Path]) -> Any:
        self.notifies.append(WrappedNotify(super()._open_notify(roots), self.path))
        return self.notifies[-1]


async def test_what_the_new_watcher_saw_is_reported_when_the_old_one_fails_handing_over(
    tmp_path: Path,
) -> None:
    kept, other, main = _projects(tmp_path)
    recorder = Recorder()
    watcher = WrappingWatcher(recorder, lambda: {main: "file:///main"}, path=main)
    watcher.start()
    watcher.set_roots([kept])
    try:
        await _watching(watcher, recorder, kept / "probe.py")
        old = watcher.notifies[0]
        old.fail = True  # its next return fails: it never reports again
        watcher.armed = True
        watcher.set_roots([kept, other])
        assert await asyncio.to_thread(watcher.building.wait, WAIT)
        watcher.release.set()
        for _ in range(200):  # the new watcher is up
            if len(watcher.notifies) == 2:
                break
            await asyncio.sleep(0.05)
        main.write_text("x = 2\n")
        assert await asyncio.to_thread(watcher.notifies[1].saw.wait, WAIT)
        old.proceed.set()
        assert await recorder.until(lambda: "x = 2\n" in recorder.texts("file:///main"))
    finally:
        for notify in watcher.notifies:
            notify.proceed.set()
        watcher.release.set()
        await watcher.aclose()
