"""The cost of typemux's own file watcher (runtime/watcher.py) on a project of 10,000 files.

    .venv/bin/python bench/watch_cost.py [--files 10000]

Measures, in this process (the watcher runs in typemux's process):
- set-up: time to build the Rust watcher (it walks the tree, one inotify watch per directory)
  and the RSS it adds;
- idle: CPU used over 10 s with no change;
- a burst: 1,000 files rewritten at once (a `git checkout`): time until the batch reaches
  the callback, number of batches, CPU used;
- the event loop's worst stall while all that happens (a 10 ms ticker's largest lateness);
- a re-root (a second project added, as when a backend starts) while a writer rewrites 400
  files of the first one, 1 every 5 ms: time until the new root is watched and until the old
  watcher has handed over, changes lost (must be 0) and changes reported twice.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil

from typemux.runtime.watcher import ProjectWatcher


def make_tree(root: Path, files: int) -> None:
    per_dir = 50
    for index in range(files):
        directory = root / f"pkg{index // (per_dir * 20)}" / f"mod{index // per_dir}"
        if index % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "__init__.py").write_text("")
        (directory / f"m{index}.py").write_text(f"def f{index}(x: int) -> int:\n    return x\n")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main(files: int) -> None:
    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="watch-cost-") as tmp:
        root = Path(tmp) / "proj"
        made = time.perf_counter()
        make_tree(root, files)
        py_files = sorted(root.rglob("*.py"))
        dirs = sum(1 for _ in root.rglob("*") if _.is_dir())
        print(f"project: {len(py_files)} .py files in {dirs} directories "
              f"(made in {time.perf_counter() - made:.1f} s)")

        batches: list[tuple[float, int]] = []
        got = asyncio.Event()

        def on_changes(changes: list[tuple[Path, int]], texts: dict[str, str | None]) -> None:
            batches.append((time.perf_counter(), len(changes)))
            got.set()

        lateness: list[float] = []
        stop = False

        async def ticker() -> None:
            while not stop:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lateness.append(time.perf_counter() - before - 0.01)

        tick = asyncio.create_task(ticker())
        rss0, cpu0, t0 = proc.memory_info().rss, cpu_seconds(), time.perf_counter()
        watcher = ProjectWatcher(on_changes, dict)
        watcher.start()
        watcher.set_roots([root, Path(tmp) / "never-existed"])
        # Ready when a probe write comes through.
        probe = root / "probe.py"
        while not batches:
            probe.write_text(f"x = {time.time()}\n")
            try:
                await asyncio.wait_for(got.wait(), 0.5)
            except TimeoutError:
                continue
        setup = time.perf_counter() - t0
        print(f"set-up: {setup * 1000:.0f} ms until the first change came through, "
              f"RSS +{(proc.memory_info().rss - rss0) / 2**20:.1f} MB, "
              f"CPU {(cpu_seconds() - cpu0) * 1000:.0f} ms")

        print(f"event loop during set-up: worst lateness of a 10 ms tick {max(lateness) * 1000:.1f} ms")
        stop = True
        await tick
        await asyncio.sleep(1)
        cpu1 = cpu_seconds()
        await asyncio.sleep(10)
        print(f"idle (no ticker): CPU {(cpu_seconds() - cpu1) * 1000:.1f} ms over 10 s")
        stop = False
        lateness.clear()
        tick = asyncio.create_task(ticker())

        batches.clear()
        got.clear()
        cpu2 = cpu_seconds()
        written = time.perf_counter()
        def burst() -> None:
            for path in py_files[:1000]:
                path.write_text(path.read_text() + "# changed\n")

        await asyncio.to_thread(burst)  # the writer is not the loop under test
        wrote = time.perf_counter() - written
        await asyncio.wait_for(got.wait(), 10)
        await asyncio.sleep(2)  # later batches of the same burst
        first = batches[0][0] - written
        total = sum(n for _, n in batches)
        print(f"burst: 1000 files rewritten in {wrote * 1000:.0f} ms; first batch after "
              f"{first * 1000:.0f} ms; {len(batches)} batches, {total} changes; CPU "
              f"{(cpu_seconds() - cpu2) * 1000:.0f} ms")

        # A watched directory that vanishes is no error: the watcher keeps going.
        print(f"event loop during the burst: worst lateness {max(lateness) * 1000:.1f} ms")
        lateness.clear()
        vanished = root / "pkg0"
        await asyncio.to_thread(shutil.rmtree, vanished)
        await asyncio.sleep(1)
        probe.write_text("after = 1\n")
        batches.clear()
        got.clear()
        await asyncio.wait_for(got.wait(), 10)
        print("a watched directory removed (pkg0, 5,000 files): the watcher still reports changes")
        worst = max(lateness) * 1000 if lateness else 0.0
        print(f"event loop while a directory vanished: worst lateness {worst:.1f} ms")
        await reroot(watcher, root, Path(tmp) / "other", batches, lateness)
        print(f"memory after all: RSS {(proc.memory_info().rss - rss0) / 2**20:.1f} MB above start; "
              f"threads {proc.num_threads()}")
        stop = True
        await tick
        await watcher.aclose()


async def reroot(watcher: ProjectWatcher, root: Path, other: Path,
                 batches: list[tuple[float, int]], lateness: list[float]) -> None:
    """Adds a second root while the first one's files are being rewritten."""
    reported: dict[Path, int] = {}
    on_changes = watcher._on_changes

    def counting(changes: list[tuple[Path, int]], texts: dict[str, str | None]) -> None:
        for path, _ in changes:
            reported[path] = reported.get(path, 0) + 1
        on_changes(changes, texts)

    watcher._on_changes = counting
    other.mkdir()
    targets = sorted((root / "pkg1").rglob("*.py"))[:400]
    written: list[Path] = []
    go = threading.Event()

    def writer() -> None:
        for index, path in enumerate(targets):
            if index == len(targets) // 4:
                go.set()  # a quarter written: the roots change now
            path.write_text(path.read_text() + "# again\n")
            written.append(path)
            time.sleep(0.005)

    lateness.clear()
    cpu0 = cpu_seconds()
    writing = asyncio.create_task(asyncio.to_thread(writer))
    await asyncio.to_thread(go.wait)
    began = time.perf_counter()
    watcher.set_roots([root, other])
    probe = other / "probe.py"
    while probe not in reported:
        probe.write_text(f"x = {time.time()}\n")
        await asyncio.sleep(0.05)
    watched = time.perf_counter() - began
    while getattr(watcher, "handing_over", 0):
        await asyncio.sleep(0.01)
    handed = time.perf_counter() - began
    await writing
    await asyncio.sleep(2)  # the last batch
    lost = [p for p in written if p not in reported]
    twice = sum(1 for p in written if reported.get(p, 0) > 1)
    print(f"re-root while {len(written)} files were rewritten: new root watched after "
          f"{watched * 1000:.0f} ms, old watcher gone after {handed * 1000:.0f} ms; "
          f"{len(lost)} changes lost, {twice} reported twice; CPU "
          f"{(cpu_seconds() - cpu0) * 1000:.0f} ms (the writer's included)")
    print(f"event loop during the re-root: worst lateness {max(lateness) * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().files))
