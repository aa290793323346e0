"""The floor of any Python proxy on the pipelined bench: a proxy that does nothing.

Issue 11 asks for 10,000 pipelined hovers through typemux at >= 0.7x the rate of talking to
bench/fast_backend.py directly. This measures, side by side in one run, direct, a *null
proxy* written the way typemux's short path is (asyncio pipe Protocols, the same
Content-Length fast-path regex, one write per stream per input chunk) that only cuts frames
and copies them across, without decoding JSON, routing or keeping any state, and typemux.
Whatever the null proxy cannot reach, no Python proxy on this interpreter and machine can.
A second null proxy, *decoding*, also reads every message as typemux must (typemux's own
`wire.messages.parse_body`: the JSON decoded and checked, a backend's answer envelope first)
and still routes nothing: the floor of a Python proxy that never forwards what it has not
understood.

    .venv/bin/python bench/python_floor.py [--rounds 3] [-n 10000]

With `--serve BACKEND...` the script *is* the null proxy (the bench starts it that way).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py: its client, projects and fast backend

from typemux.wire.messages import parse_body
from typemux.wire.streams import read_in_pieces

_HEADER = re.compile(rb"Content-Length: ([0-9]{1,19})\r\n\r\n")


class _Cutter:
    """Whole frames out of a byte stream (the null proxy's only work); with `decode`, each
    body is also read as typemux reads it (`lazy`: as a backend's answers are)."""

    def __init__(self, decode: bool = False, lazy: bool = False) -> None:
        self.buf = bytearray()
        self.decode = decode
        self.lazy = lazy

    def frames(self, data: bytes) -> bytes:
        self.buf += data
        pos, out = 0, []
        buf = self.buf
        while (m := _HEADER.match(buf, pos)) is not None:
            end = m.end() + int(m.group(1))
            if end > len(buf):
                break
            out.append(bytes(buf[pos:end]))
            if self.decode:
                parse_body(out[-1][m.end() - pos:], lazy=self.lazy)
            pos = end
        del buf[:pos]
        return b"".join(out)


class _Reader(asyncio.Protocol):
    def __init__(self, sink: asyncio.WriteTransport, done: asyncio.Future[None],
                 cutter: _Cutter) -> None:
        self.sink = sink
        self.cutter = cutter
        self.done = done

    def data_received(self, data: bytes) -> None:
        frames = self.cutter.frames(data)
        if frames:
            self.sink.write(frames)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _serve(argv: list[str], decode: bool) -> None:
    loop = asyncio.get_running_loop()
    to_backend_r, to_backend_w = os.pipe()
    from_backend_r, from_backend_w = os.pipe()
    proc = subprocess.Popen(argv, stdin=to_backend_r, stdout=from_backend_w)
    os.close(to_backend_r)
    os.close(from_backend_w)
    done: asyncio.Future[None] = loop.create_future()
    backend_in, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(to_backend_w, "wb"))
    client_out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(1, "wb"))
    stdin, _ = await loop.connect_read_pipe(lambda: _Reader(client_out, done, _Cutter(decode)),
                                            os.fdopen(0, "rb"))
    stdout, _ = await loop.connect_read_pipe(
        lambda: _Reader(backend_in, done, _Cutter(decode, lazy=True)),
        os.fdopen(from_backend_r, "rb"))
    read_in_pieces(stdin)  # as typemux reads (wire.streams.READ_CHUNK): no mmap per read
    read_in_pieces(stdout)
    await done
    proc.kill()


async def _start(mode: str, base: Path, commands: dict[str, list[str]]) -> tuple[bench.Client, Path]:
    if mode not in commands:
        return await bench.open_pair(base, mode)
    root, projects = bench.make_root(base, 1)
    env = dict(os.environ, VIRTUAL_ENV=str(projects[0] / ".venv"))
    client = await bench.Client.start(commands[mode], cwd=projects[0], env=env)
    await client.initialize(root)
    return client, projects[0]


async def _measure(rounds: int, n: int, sequential: int) -> None:
    null = [bench.PY, str(Path(__file__).resolve()), "--serve", *bench.FAST]
    commands = {"null": null, "decoding": [null[0], null[1], "--decode", *null[2:]]}
    modes = ("direct", "null", "decoding", "typemux")
    results: dict[str, list[tuple[float, int, float]]] = {mode: [] for mode in modes}
    latencies: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="typemux-floor-") as tmp:
        base = Path(tmp)
        for i in range(rounds):
            for mode in modes if i % 2 == 0 else modes[::-1]:
                client, project = await _start(mode, base, commands)
                try:
                    results[mode].append(await _pipelined(client, project, n))
                    latencies[mode].append(await _sequential(client, project, sequential))
                finally:
                    await client.close()
    direct = max(r[0] for r in results["direct"])
    direct_p50 = min(latencies["direct"])
    print(f"pipelined {n} hovers (best of {rounds} rounds) and {sequential} sequential hovers "
          f"(p50, best round), load {os.getloadavg()[0]:.1f}")
    print(f"{'':24}{'req/s':>10}{'x direct':>10}{'answered':>10}{'CPU/req':>10}"
          f"{'p50':>9}{'added':>9}")
    for mode, label in (("direct", "direct"), ("null", "null Python proxy"),
                        ("decoding", "null proxy, decoding"), ("typemux", "typemux")):
        best = max(results[mode])
        cpu = statistics.median(r[2] for r in results[mode])
        p50 = min(latencies[mode])
        added = "" if mode == "direct" else f"+{(p50 - direct_p50) * 1e6:.0f}µs"
        print(f"{label:24}{best[0]:>10,.0f}{best[0] / direct:>10.2f}{best[1]:>10}"
              f"{cpu * 1e6:>8.1f}µs{p50 * 1e6:>7.0f}µs{added:>9}")


def _hover(client: bench.Client, project: Path) -> dict[str, object]:
    doc = project / "main.py"
    bench.did_open(client, doc, doc.read_text())
    return {"textDocument": bench.text_doc(doc), "position": {"line": 0, "character": 4}}


async def _pipelined(client: bench.Client, project: Path, n: int) -> tuple[float, int, float]:
    params = _hover(client, project)
    await client.request("textDocument/hover", params)
    cpu = bench.cpu_seconds(client.pid)
    start = time.perf_counter()
    futures = [client.send("textDocument/hover", params) for _ in range(n)]
    results = await asyncio.wait_for(asyncio.gather(*futures), 120)
    elapsed = time.perf_counter() - start
    cpu = bench.cpu_seconds(client.pid) - cpu
    answered = sum(1 for r in results if "result" in r)
    return n / elapsed, answered, cpu / n


async def _sequential(client: bench.Client, project: Path, n: int) -> float:
    """The p50 of `n` hovers, one at a time (after 200 to warm up)."""
    params = {"textDocument": bench.text_doc(project / "main.py"),
              "position": {"line": 0, "character": 4}}
    return statistics.median(await bench.round_trips(client, "textDocument/hover", params, n,
                                                     warm=200))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--sequential", type=int, default=2000, help="hovers for the p50")
    parser.add_argument("--decode", action="store_true", help="with --serve: decode bodies")
    parser.add_argument("--serve", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    if ns.serve:
        asyncio.run(_serve(ns.serve, ns.decode))
    else:
        asyncio.run(_measure(ns.rounds, ns.n, ns.sequential))


if __name__ == "__main__":
    main()
