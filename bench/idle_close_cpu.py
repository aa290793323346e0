"""pyright's CPU for one didChange with 200 files opened by a Claude Code session, with and
without typemux's idle closing (`document_idle_close`).

    .venv/bin/python bench/idle_close_cpu.py [--files 200] [--backend pyright]

A project of N modules that all import `common.py`. The client opens every module (as
Claude Code does, and never closes them), then, once everything has settled, sends one
didChange: to `common.py` (every open file depends on it) and, separately, to a leaf module.
Measured: the CPU time of the backend's process tree (node for pyright) from the change
until it is idle again, and the wall time until then. With idle closing, the change comes
after the idle period, so typemux has closed the documents in the backend meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from real.conftest import real_env
from real.test_claude_code import make_project
from support.client import CLAUDE_CODE_ANSWER, CLAUDE_CODE_CAPABILITIES, LspClient

COMMON = '''\
from dataclasses import dataclass


@dataclass
class Record:
    name: str
    value: int

    def doubled(self) -> "Record":
        return Record(self.name, self.value * 2)


def total(records: list[Record]) -> int:
    return sum(r.value for r in records)
'''

MODULE = '''\
from common import Record, total


class Service{n}:
    def __init__(self) -> None:
        self.records: list[Record] = [Record("a{n}", {n}), Record("b{n}", {n} + 1)]

    def run(self) -> int:
        doubled = [r.doubled() for r in self.records]
        return total(doubled) + total(self.records)

    def names(self) -> list[str]:
        return [r.name for r in self.records]


def make{n}() -> Service{n}:
    return Service{n}()


VALUE: int = make{n}().run()
'''


def tree_cpu(pid: int) -> float:
    total = 0.0
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for child in children:
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


async def settle(pid: int, quiet: float = 1.5, limit: float = 120.0) -> tuple[float, float]:
    """Wait until the backend tree's CPU stops growing for `quiet` s: (cpu, when it last grew)."""
    started = time.perf_counter()
    last_cpu, last_change = tree_cpu(pid), time.perf_counter()
    while time.perf_counter() - last_change < quiet and time.perf_counter() - started < limit:
        await asyncio.sleep(0.1)
        cpu = tree_cpu(pid)
        if cpu - last_cpu > 0.005:
            last_cpu, last_change = cpu, time.perf_counter()
    return last_cpu, last_change


async def one_change(client: LspClient, doc: str, version: int, text: str) -> tuple[float, float]:
    before, _ = await settle(client.pid)
    started = time.perf_counter()
    client.did_change(doc, version, [{"text": text}])
    after, last = await settle(client.pid)
    return after - before, max(0.0, last - started)


async def run(files: int, backend: str, idle_close: float) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="idle-close-cpu-") as tmp:
        project = make_project(Path(tmp) / "proj")
        (project.root / "common.py").write_text(COMMON)
        modules = []
        for n in range(files):
            path = project.root / f"mod{n}.py"
            path.write_text(MODULE.format(n=n))
            modules.append(path)
        env = real_env(backend=backend, log_level="warning", document_idle_close=idle_close)
        client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=project.root, env=env)
        client.answer_server_request = CLAUDE_CODE_ANSWER
        results: dict[str, list[float]] = {"common cpu": [], "common wall": [],
                                           "leaf cpu": [], "leaf wall": []}
        try:
            await client.initialize(project.root, capabilities=CLAUDE_CODE_CAPABILITIES)
            common = await client.did_open(project.root / "common.py")
            docs = [await client.did_open(path) for path in modules]
            await settle(client.pid, quiet=3.0)
            if idle_close > 0:
                await asyncio.sleep(idle_close + 2)
                await settle(client.pid)
            version = 1
            for round_ in range(3):
                version += 1
                cpu, wall = await one_change(client, common, version,
                                             COMMON + f"\n\nEXTRA_{round_}: int = {round_}\n")
                results["common cpu"].append(cpu)
                results["common wall"].append(wall)
                if idle_close > 0:  # the changed document is idle again before the next round
                    await asyncio.sleep(idle_close + 1)
            leaf_version = 1
            for round_ in range(3):
                leaf_version += 1
                cpu, wall = await one_change(client, docs[0], leaf_version,
                                             MODULE.format(n=0) + f"\nX{round_} = {round_}\n")
                results["leaf cpu"].append(cpu)
                results["leaf wall"].append(wall)
                if idle_close > 0:
                    await asyncio.sleep(idle_close + 1)
            rss = sum(p.memory_info().rss for p in psutil.Process(client.pid).children(recursive=True))
            results["rss mb"] = [rss / 2**20]
            await client.shutdown_and_exit(timeout=30)
        finally:
            await client.aclose()
        return results


async def main(files: int, backend: str, idle: float) -> None:
    print(f"{backend}, {files} modules opened (+ common.py), one didChange; 3 rounds, median")
    print(f"{'document_idle_close':<22}{'change to':<12}{'CPU':>10}{'until idle':>12}{'RSS':>10}")
    for idle_close in (0.0, idle):
        r = await run(files, backend, idle_close)
        label = "off (0)" if idle_close == 0 else f"{idle_close:g} s"
        for case in ("common", "leaf"):
            print(f"{label:<22}{case:<12}{statistics.median(r[case + ' cpu']) * 1000:>8.0f}ms"
                  f"{statistics.median(r[case + ' wall']) * 1000:>10.0f}ms"
                  f"{r['rss mb'][0]:>8.0f}MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--backend", default="pyright")
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main(args.files, args.backend, args.idle))
