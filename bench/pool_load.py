"""Pool load: many venvs, a small pool, thousands of pipelined requests, backends killed.

    .venv/bin/python bench/pool_load.py [--venvs 20] [--max-backends 3] [--requests 5000]
                                        [--no-kills] [--seed 1] [--waves 1] [--rate 0]

The issue-9 figures: 20 venvs, max_backends 3, 5,000 hovers written in one go (each for a
file of a random venv, so the pool churns), with a random backend SIGKILLed every 0.05-0.3 s.
The backend is bench/fast_backend.py. While it runs the process table is sampled every
100 ms (tests/support/process_table.py). Prints a report: every request answered exactly
once, how (results, errors by code), peak live backend trees (each backend with whatever
it started), peak typemux RSS, and the sampler's invariant violations. A smaller run is
tests/reliability/test_pool_load.py.

With `--rate N` the requests are written one at a time, N per second, instead of in
pipelined waves: the pool-thrash scenario (10 venvs, 50 requests/s, max_backends 3, no
kills), where a full pool of busy backends must make a new venv's work wait rather than
evict a backend with pending work. The report's `success ratio` is the share answered with
a result.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.client import LspClient, encode, uri  # noqa: E402
from support.process_table import ProcessSampler, backend_processes, groups  # noqa: E402
from support.workspace import make_monorepo  # noqa: E402

FAST_BACKEND = [sys.executable, str(HERE / "fast_backend.py")]
# grace (2 s) + kill wait (2 s) + the state file's lag (2 s heartbeat) + slack (busy machine)
STOP_LIMIT = 12.0


@dataclass
class LoadReport:
    requests: int
    seconds: float
    answered: int
    duplicates: int
    missing: list[Any]
    outcomes: dict[str, int]
    kills: int
    spawns: int
    sampler: dict[str, Any]
    violations: list[str] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)

    @property
    def exactly_once(self) -> bool:
        return self.answered == self.requests and self.duplicates == 0 and not self.missing

    def lines(self) -> list[str]:
        return [
            f"requests                 {self.requests}",
            f"answered exactly once    {self.exactly_once} "
            f"({self.answered} answered, {self.duplicates} duplicates, {len(self.missing)} missing)",
            f"outcomes                 {dict(sorted(self.outcomes.items()))}",
            f"success ratio            {self.outcomes.get('result', 0) / max(1, self.requests):.3f}",
            f"wall time                {self.seconds:.1f} s",
            f"backends spawned         {self.spawns}",
            f"backends SIGKILLed       {self.kills}",
            f"peak live backend trees  {self.sampler['peak_live_backends']}",
            f"peak typemux RSS         {self.sampler['peak_typemux_rss_mb']} MB",
            f"process-table samples    {self.sampler['samples']}",
            f"invariant violations     {len(self.violations)}",
        ]


def typemux_env(runtime_dir: Path, **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TYPEMUX_", "GIT_"))}
    env["XDG_CONFIG_HOME"] = "/nonexistent-typemux-bench-config"
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    for key, value in settings.items():
        env[f"TYPEMUX_{key.upper()}"] = str(value)
    return env


async def killer(typemux_pid: int, rng: random.Random, stop: asyncio.Event, kills: list[int]) -> None:
    """SIGKILL a random live backend every 0.05-0.3 s."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(0.05, 0.3))
        if stop.is_set():
            return
        leaders = list(groups(backend_processes(typemux_pid)))
        if leaders:
            victim = rng.choice(leaders)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(victim, signal.SIGKILL)
                kills.append(victim)


async def run_load(root: Path, *, venvs: int, max_backends: int, requests: int, kills: bool,
                   seed: int, waves: int = 1, backend: list[str] | None = None,
                   timeout: float = 300, stopping_allowance: int | None = None,
                   rate: float = 0.0) -> LoadReport:
    """Start typemux on a fresh monorepo under `root`, run the load, shut down, report."""
    names = [f"v{i:02d}" for i in range(venvs)]
    projects = make_monorepo(root / "mono", names)
    runtime = root / "runtime"
    runtime.mkdir(mode=0o700)
    command = " ".join(backend or FAST_BACKEND)
    env = typemux_env(runtime, backend_command=command, max_backends=max_backends,
                      warmup_timeout=0, log_level="info")
    client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=root / "mono", env=env)
    try:
        await client.initialize(root / "mono")
        rng = random.Random(seed)
        sampler = ProcessSampler(
            client.pid, runtime / "typemux" / f"{client.pid}.json", max_backends,
            max_backends if stopping_allowance is None else stopping_allowance, STOP_LIMIT)
        sampling = asyncio.create_task(sampler.run())
        stop = asyncio.Event()
        killed: list[int] = []
        killing = asyncio.create_task(killer(client.pid, rng, stop, killed)) if kills else None

        loop = asyncio.get_running_loop()
        ids = list(range(1_000_000, 1_000_000 + requests))
        frames = []
        for request_id in ids:
            target = projects[rng.choice(names)] / "main.py"
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            client._pending[request_id] = future
            frames.append(encode({"jsonrpc": "2.0", "id": request_id, "method": "textDocument/hover",
                                  "params": {"textDocument": {"uri": uri(target)},
                                             "position": {"line": 0, "character": 0}}}))
        started = time.monotonic()
        if rate > 0:  # paced, one request per write
            for n, frame in enumerate(frames):
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                client.send_raw(frame)
            await asyncio.wait([client._pending[i] for i in ids], timeout=timeout)
        size = -(-requests // waves)
        for wave in range(0, requests if rate <= 0 else 0, size):
            # pipelined: each wave is one write; the next goes once all of it is answered
            pending = [client._pending[i] for i in ids[wave:wave + size]]
            client.send_raw(b"".join(frames[wave:wave + size]))
            await asyncio.wait(pending, timeout=timeout)
        seconds = time.monotonic() - started
        stop.set()
        if killing is not None:
            await killing
        if not await sampler.settle():  # what was being stopped must be gone in time
            sampler.violations.append("the live backends never settled to the pool's")
        sampler.stop()
        await sampling

        wanted = set(ids)
        counts = collections.Counter(m["id"] for m in client.received
                                     if "method" not in m and m.get("id") in wanted)
        outcomes: collections.Counter[str] = collections.Counter()
        for message in client.received:
            if "method" in message or message.get("id") not in wanted:
                continue
            outcomes["result" if "result" in message else f"error {message['error']['code']}"] += 1
        report = LoadReport(
            requests=requests, seconds=seconds, answered=len(counts),
            duplicates=sum(n - 1 for n in counts.values()),
            missing=sorted(wanted - set(counts))[:20], outcomes=dict(outcomes),
            kills=len(killed), spawns=client.stderr_text().count('"backend_spawn"'),
            sampler=sampler.report(), violations=list(sampler.violations),
            protocol_errors=list(client.protocol_errors))
        await client.shutdown_and_exit(timeout=30)
        return report
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venvs", type=int, default=20)
    parser.add_argument("--max-backends", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--no-kills", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--waves", type=int, default=1,
                        help="send the requests in this many pipelined writes, each once the "
                             "previous one is answered")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="write one request at a time, this many per second (0: waves)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="typemux-pool-load-") as tmp:
        report = asyncio.run(run_load(Path(tmp), venvs=args.venvs, max_backends=args.max_backends,
                                      requests=args.requests, kills=not args.no_kills,
                                      seed=args.seed, waves=args.waves, rate=args.rate))
    if args.json:
        print(json.dumps({**report.__dict__, "exactly_once": report.exactly_once}, indent=1))
        return
    sending = (f"hovers at {args.rate:g}/s, one per write" if args.rate > 0
               else f"pipelined hovers in {args.waves} write(s)")
    print(f"pool load: {args.venvs} venvs, max_backends {args.max_backends}, "
          f"{args.requests} {sending}, "
          f"kills {'off' if args.no_kills else 'on'}")
    for line in report.lines():
        print("  " + line)
    for violation in report.violations[:10]:
        print("  violation: " + violation)
    for error in report.protocol_errors[:10]:
        print("  protocol error: " + error)


if __name__ == "__main__":
    main()
