"""Disk write -> new diagnostics, per real backend, through typemux, for a client that
behaves like Claude Code (no notification at all about the write).

    .venv/bin/python bench/disk_truth.py [pyright basedpyright ty pyrefly] [--rounds 6]

Per backend: an open file is rewritten on disk (rename over, as `sed -i` does), alternately
with and without a type error; and a function is deleted from / restored to a module that
is not open, which the open file calls. Each time: from the write until the open file's
diagnostics show the change. Prints the median and the worst.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from real.conftest import KINDS, backend_available, real_env
from real.test_claude_code import (
    BROKEN_LINE,
    MAIN,
    MAIN_SHELL_BROKEN,
    PUBLISH,
    UTIL,
    UTIL_WITHOUT_HELPER,
    _errors_at,
    _mentions,
    make_project,
    shell_write,
)
from support.client import CLAUDE_CODE_ANSWER, CLAUDE_CODE_CAPABILITIES, LspClient


def _clean_at(doc: str, line: int):  # type: ignore[no-untyped-def]
    def predicate(msg):  # type: ignore[no-untyped-def]
        return msg["params"]["uri"] == doc and not any(
            d["range"]["start"]["line"] == line for d in msg["params"]["diagnostics"])
    return predicate


async def measure(kind: str, rounds: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix=f"disk-truth-{kind}-") as tmp:
        project = make_project(Path(tmp) / "proj")
        client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=project.root,
                                       env=real_env(backend=kind, log_level="warning"))
        client.answer_server_request = CLAUDE_CODE_ANSWER
        times: dict[str, list[float]] = {"open file rewritten": [], "closed module changed": []}
        try:
            await client.initialize(project.root, capabilities=CLAUDE_CODE_CAPABILITIES)
            main = await client.did_open(project.main)
            await client.wait_notification(PUBLISH, lambda m: m["params"]["uri"] == main, 60)
            await asyncio.sleep(1)
            for index in range(rounds):
                broken = index % 2 == 0
                since = len(client.notifications)
                started = time.perf_counter()
                shell_write(project.main, MAIN_SHELL_BROKEN if broken else MAIN)
                wanted = _errors_at(main, BROKEN_LINE) if broken else _clean_at(main, BROKEN_LINE)
                await client.wait_notification(PUBLISH, wanted, 30, since=since)
                times["open file rewritten"].append(time.perf_counter() - started)
                await asyncio.sleep(0.5)
            shell_write(project.main, MAIN)
            await asyncio.sleep(1)
            for index in range(rounds):
                deleted = index % 2 == 0
                since = len(client.notifications)
                started = time.perf_counter()
                shell_write(project.util, UTIL_WITHOUT_HELPER if deleted else UTIL)
                await client.wait_notification(PUBLISH, _mentions(main, "helper", deleted), 30,
                                               since=since)
                times["closed module changed"].append(time.perf_counter() - started)
                await asyncio.sleep(0.5)
            await client.shutdown_and_exit(timeout=30)
        finally:
            await client.aclose()
        return times


async def main(kinds: list[str], rounds: int) -> None:
    print(f"disk write -> new diagnostics in the open file ({rounds} rounds each)")
    print(f"{'backend':<14}{'case':<24}{'median':>10}{'worst':>10}")
    for kind in kinds:
        if not backend_available(kind):
            print(f"{kind:<14}not installed")
            continue
        for case, values in (await measure(kind, rounds)).items():
            print(f"{kind:<14}{case:<24}{statistics.median(values) * 1000:>8.0f}ms"
                  f"{max(values) * 1000:>8.0f}ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kinds", nargs="*", default=list(KINDS))
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.kinds, args.rounds))
