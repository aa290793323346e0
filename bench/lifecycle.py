"""Lifecycle timings through typemux with the pygls fake backend (issue: backend lifecycle).

    .venv/bin/python bench/lifecycle.py

Measures, from didOpen (which spawns the backend):
- an early-ready backend (it reports a start-up progress that ends after 0.2 s) with
  warmup_timeout 10: when the held `references` is answered;
- a silent backend with warmup_timeout 1: when the held `references` is answered;
- while project A's backend takes 3 s to answer initialize, the hover latency on project B.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import typemux_env
from support.client import LspClient
from support.workspace import fake_backend_command, make_monorepo

POS = {"line": 0, "character": 0}


async def start(root: Path, **settings: object) -> LspClient:
    env = typemux_env(backend_command=fake_backend_command(), **settings)
    client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=root, env=env)
    await client.initialize(root)
    return client


def fake(project: Path, **options: object) -> None:
    (project / ".venv" / "fake-lsp.json").write_text(json.dumps(options))


async def held_references(root: Path, project: Path, warmup: float, **options: object) -> float:
    fake(project, **options)
    client = await start(root, warmup_timeout=warmup)
    t0 = time.perf_counter()
    doc = await client.did_open(project / "main.py")
    await client.request("textDocument/references", {"textDocument": {"uri": doc}, "position": POS,
                                                     "context": {"includeDeclaration": True}}, timeout=20)
    elapsed = time.perf_counter() - t0
    await client.shutdown_and_exit()
    return elapsed


async def other_venv_while_slow(root: Path, a: Path, b: Path) -> list[float]:
    fake(a, init_delay=3)
    fake(b)
    client = await start(root, warmup_timeout=0)
    await client.did_open(a / "main.py")
    doc_b = await client.did_open(b / "main.py")
    await client.request("textDocument/hover", {"textDocument": {"uri": doc_b}, "position": POS})
    samples = []
    for _ in range(50):
        t0 = time.perf_counter()
        await client.request("textDocument/hover", {"textDocument": {"uri": doc_b}, "position": POS})
        samples.append(time.perf_counter() - t0)
    await client.shutdown_and_exit()
    return samples


async def main() -> None:
    root = Path(tempfile.mkdtemp()) / "mono"
    root.mkdir()
    projects = make_monorepo(root, ("proj-a", "proj-b"))
    a, b = projects["proj-a"], projects["proj-b"]
    early = await held_references(root, a, 10, progress_after=0.2)
    silent = await held_references(root, a, 1)
    slow = await other_venv_while_slow(root, a, b)
    print(f"early-ready backend (progress ends 0.2 s after initialized), warmup_timeout 10: "
          f"didOpen -> held references answered in {early * 1000:.0f} ms")
    print(f"silent backend, warmup_timeout 1: didOpen -> held references answered in {silent * 1000:.0f} ms")
    print(f"hover on project B while project A's backend is still starting (3 s initialize): "
          f"p50 {statistics.median(slow) * 1000:.2f} ms, max {max(slow) * 1000:.2f} ms over {len(slow)}")


if __name__ == "__main__":
    asyncio.run(main())
