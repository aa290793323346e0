"""typemux benchmarks: direct-to-backend vs through typemux, side by side.

    .venv/bin/python bench/run.py [--quick] [--real] [--before REV] [--only NAME ...]

Prints a table and writes bench/results/latest.md. The backend is bench/fast_backend.py
(answers at once), so the "typemux" column minus the "direct" column is the proxy's cost.
--before REV adds a column for typemux as of git revision REV (its src/ exported to a
temporary folder, same interpreter and backend), measured in the same run, interleaved.
The loop row counts typemux's event-loop iterations per sequential round trip
(bench/loop_probe.py). --real adds pyright, ty and pyrefly: time to the first complete
references after typemux starts, and a request switching between two warm venvs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_backend import take_messages

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
FAST = [PY, str(HERE / "fast_backend.py")]
TYPEMUX = [PY, "-m", "typemux"]
PROBE = [PY, str(HERE / "loop_probe.py")]
# Where each typemux column's sources are: "typemux" is this checkout, "before" is --before.
SOURCES: dict[str, Path] = {"typemux": ROOT / "src"}


# ----- a minimal fast client ----------------------------------------------------------------
class _Proto(asyncio.SubprocessProtocol):
    def __init__(self, client: Client) -> None:
        self.client = client
        self.buf = bytearray()
        self.exited = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            self.client.stderr += data
            return
        self.buf += data
        for msg in take_messages(self.buf):
            self.client.dispatch(msg)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class Client:
    def __init__(self) -> None:
        self.transport: asyncio.SubprocessTransport
        self.proto: _Proto
        self.stdin: asyncio.WriteTransport
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}
        self.waiters: list[tuple[str, int, asyncio.Future[None]]] = []
        self.stderr = bytearray()
        self.next_id = 0
        self.last_version: Any = None  # of the last publishDiagnostics received

    @classmethod
    async def start(cls, argv: list[str], *, cwd: Path, env: dict[str, str]) -> Client:
        client = cls()
        transport, proto = await asyncio.get_running_loop().subprocess_exec(
            lambda: _Proto(client), *argv, cwd=str(cwd), env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        client.transport, client.proto, client.stdin = transport, proto, stdin
        return client

    @property
    def pid(self) -> int:
        return self.transport.get_pid()

    def dispatch(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:
            future = self.pending.pop(msg["id"], None)
            if future is not None and not future.done():
                future.set_result(msg)
            return
        if "id" in msg:  # a server request: answer null, like a minimal client
            self.write({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            return
        if method == "textDocument/publishDiagnostics":
            self.last_version = msg["params"].get("version")
        count = self.counts.get(method, 0) + 1
        self.counts[method] = count
        for waiter in self.waiters:
            if waiter[0] == method and count >= waiter[1] and not waiter[2].done():
                waiter[2].set_result(None)

    def write(self, msg: dict[str, Any]) -> None:
        body = orjson.dumps(msg)
        self.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def send(self, method: str, params: Any = None) -> asyncio.Future[dict[str, Any]]:
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.write(msg)
        return future

    async def request(self, method: str, params: Any = None, timeout: float = 60) -> dict[str, Any]:
        return await asyncio.wait_for(self.send(method, params), timeout)

    def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.write(msg)

    async def wait_count(self, method: str, count: int, timeout: float = 60) -> None:
        if self.counts.get(method, 0) >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append((method, count, future))
        await asyncio.wait_for(future, timeout)

    async def initialize(self, root: Path) -> dict[str, Any]:
        answer = await self.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(), "rootPath": str(root),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": {"general": {"positionEncodings": ["utf-16"]}}})
        self.notify("initialized", {})
        return answer

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.request("shutdown", timeout=5)
            self.notify("exit")
        try:
            await asyncio.wait_for(asyncio.shield(self.proto.exited), 5)
        except TimeoutError:
            self.transport.kill()
            await self.proto.exited
        self.transport.close()


# ----- workspace ---------------------------------------------------------------------------
def make_project(root: Path, name: str, *, real_python: bool = False) -> Path:
    project = root / name
    project.mkdir(parents=True)
    venv = project / ".venv"
    if real_python:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    else:
        (venv / "bin").mkdir(parents=True)
        (venv / "pyvenv.cfg").write_text(f"home = {Path(PY).parent}\nversion = 3.11\n")
    (project / "main.py").write_text("def main() -> int:\n    return 1\n")
    return project


def make_root(base: Path, projects: int, **kw: Any) -> tuple[Path, list[Path]]:
    root = base / f"ws{len(list(base.iterdir()))}"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root, [make_project(root, f"proj{i}", **kw) for i in range(projects)]


def typemux_env(mode: str = "typemux", **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TYPEMUX_")}
    env["XDG_CONFIG_HOME"] = "/nonexistent-typemux-bench-config"
    env["PYTHONPATH"] = str(SOURCES[mode])
    for key, value in settings.items():
        env[f"TYPEMUX_{key.upper()}"] = str(value)
    return env


def fast_settings(**extra: Any) -> dict[str, Any]:
    return {"backend_command": " ".join(FAST), "warmup_timeout": 0, "log_level": "warning",
            **extra}


async def open_pair(base: Path, mode: str, probe: bool = False,
                    **settings: Any) -> tuple[Client, Path]:
    root, projects = make_root(base, 1)
    if mode == "direct":
        env = dict(os.environ, VIRTUAL_ENV=str(projects[0] / ".venv"))
        client = await Client.start(FAST, cwd=projects[0], env=env)
    else:
        client = await Client.start(PROBE if probe else TYPEMUX, cwd=root,
                                    env=typemux_env(mode, **fast_settings(**settings)))
    await client.initialize(root)
    return client, projects[0]


def text_doc(path: Path) -> dict[str, Any]:
    return {"uri": path.as_uri()}


def did_open(client: Client, path: Path, text: str, version: int = 1) -> None:
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": path.as_uri(), "languageId": "python", "version": version, "text": text}})


# ----- measurements ------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


async def round_trips(client: Client, method: str, params: Any, n: int, warm: int) -> list[float]:
    """The durations of `n` requests sent one at a time, after `warm` unmeasured ones."""
    for _ in range(warm):  # warm up caches and the venv lookup
        await client.request(method, params)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await client.request(method, params)
        samples.append(time.perf_counter() - start)
    return samples


async def latency(base: Path, mode: str, n: int) -> tuple[float, float]:
    client, project = await open_pair(base, mode)
    doc = project / "main.py"
    did_open(client, doc, doc.read_text())
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 4}}
    samples = await round_trips(client, "textDocument/hover", params, n, warm=200)
    await client.close()
    return statistics.median(samples), pct(samples, 0.99)


async def loop_count(client: Client) -> int:
    """typemux's event-loop iterations so far (bench/loop_probe.py answers SIGUSR1)."""
    seen = client.stderr.count(b"typemux-loops ")
    os.kill(client.pid, signal.SIGUSR1)
    for _ in range(1000):
        if client.stderr.count(b"typemux-loops ") > seen:
            break
        await asyncio.sleep(0.005)
    line = client.stderr[client.stderr.rindex(b"typemux-loops "):].split(b"\n", 1)[0]
    return int(line.split()[1])


async def loops_per_round_trip(base: Path, mode: str, n: int) -> float:
    client, project = await open_pair(base, mode, probe=True)
    doc = project / "main.py"
    did_open(client, doc, doc.read_text())
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 4}}
    for _ in range(50):
        await client.request("textDocument/hover", params)
    await asyncio.sleep(0.2)  # let start-up work and its timers settle
    before = await loop_count(client)
    for _ in range(n):
        await client.request("textDocument/hover", params)
    after = await loop_count(client)
    await client.close()
    # The SIGUSR1 that asked for `after` woke the loop once itself.
    return (after - before - 1) / n


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def throughput(base: Path, mode: str, n: int) -> tuple[float, int, float]:
    """(requests/s, answered, CPU seconds per request of the process the client talks to)."""
    client, project = await open_pair(base, mode)
    doc = project / "main.py"
    did_open(client, doc, doc.read_text())
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 4}}
    await client.request("textDocument/hover", params)
    cpu = cpu_seconds(client.pid)
    start = time.perf_counter()
    futures = [client.send("textDocument/hover", params) for _ in range(n)]
    results = await asyncio.wait_for(asyncio.gather(*futures), 120)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(client.pid) - cpu
    answered = sum(1 for r in results if "result" in r)
    await client.close()
    return n / elapsed, answered, cpu / n


async def references(base: Path, mode: str, count: int, n: int) -> float:
    """Round trip p50 of a references request whose answer holds `count` locations."""
    client, project = await open_pair(base, mode)
    doc = project / "main.py"
    did_open(client, doc, doc.read_text())
    params = {"count": count, "textDocument": text_doc(doc)}
    samples = await round_trips(client, "bench/references", params, n, warm=5)
    await client.close()
    return statistics.median(samples)


async def big_document(base: Path, mode: str, size: int) -> float:
    client, project = await open_pair(base, mode)
    doc = project / "big.py"
    line = "x_value = 'abcdefghijklmnopqrstuvwxyz0123456789'  # filler\n"
    text = line * (size // len(line))
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 0}}
    await client.request("textDocument/hover", params)  # backend up before timing
    samples = []
    for round_ in range(3):
        start = time.perf_counter()
        did_open(client, doc, text, version=1)
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": doc.as_uri(), "version": 2},
            "contentChanges": [{"text": text.replace("x_value", "y_value", 1)}]})
        await client.request("textDocument/hover", params)
        samples.append(time.perf_counter() - start)
        client.notify("textDocument/didClose", {"textDocument": text_doc(doc)})
        del round_
    await client.close()
    return statistics.median(samples)


async def burst(base: Path, mode: str, n: int) -> tuple[float, int, bool]:
    """(time until the last arrived, how many arrived, whether the last did)."""
    client, project = await open_pair(base, mode)
    doc = project / "main.py"
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 0}}
    await client.request("textDocument/hover", params)
    before = client.counts.get("textDocument/publishDiagnostics", 0)
    start = time.perf_counter()
    await client.request("bench/burst", {"count": n, "uri": doc.as_uri(),
                                         "textDocument": text_doc(doc)})
    # All for one uri: when the client reads slower than they come, typemux's outbox keeps
    # only the latest waiting one (older ones are superseded), so wait for the last.
    for _ in range(6000):
        if client.last_version == n - 1:
            break
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    got = client.counts.get("textDocument/publishDiagnostics", 0) - before
    last = client.last_version == n - 1
    await client.close()
    return elapsed, got, last


async def startup(base: Path, mode: str, rounds: int) -> float:
    root, projects = make_root(base, 1)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        if mode == "direct":
            env = dict(os.environ, VIRTUAL_ENV=str(projects[0] / ".venv"))
            client = await Client.start(FAST, cwd=projects[0], env=env)
        else:
            client = await Client.start(TYPEMUX, cwd=root, env=typemux_env(mode, **fast_settings()))
        await client.initialize(root)
        samples.append(time.perf_counter() - start)
        await client.close()
    return statistics.median(samples)


async def memory(base: Path, mode: str, backends: int, documents: int) -> tuple[float, float]:
    root, projects = make_root(base, backends)
    client = await Client.start(TYPEMUX, cwd=root, env=typemux_env(
        mode, **fast_settings(max_backends=backends)))
    await client.initialize(root)
    rss_idle = psutil.Process(client.pid).memory_info().rss
    body = "".join(f"def f{i}(x: int) -> int:\n    return x + {i}\n" for i in range(20))
    for i in range(documents):
        project = projects[i % backends]
        did_open(client, project / f"m{i}.py", f"# module {i}\n{body}")
    for project in projects:  # every backend answered: every didOpen before it was handled
        await client.request("textDocument/hover", {
            "textDocument": text_doc(project / "main.py"), "position": {"line": 0, "character": 0}})
    rss = psutil.Process(client.pid).memory_info().rss
    children = sum(any("fast_backend" in a for a in p.cmdline())
                   for p in psutil.Process(client.pid).children())
    await client.close()
    if children != backends:
        print(f"warning: {children} backends running, expected {backends}", file=sys.stderr)
    return rss_idle / 2**20, rss / 2**20


# ----- real backends ---------------------------------------------------------------------------
REAL_FILES = {
    "lib.py": "def helper(x: int) -> int:\n    return x + 1\n",
    "a.py": "from lib import helper\n\nA = helper(1)\n",
    "b.py": "from lib import helper\n\nB = helper(2)\n",
    "c.py": "import lib\n\nC = lib.helper(3)\n",
}


async def real_backend(base: Path, kind: str) -> tuple[float, float, float]:
    """(start → first complete references, warm switch p50, same-venv p50) for one backend."""
    root, projects = make_root(base, 2, real_python=True)
    for project in projects:
        for name, text in REAL_FILES.items():
            (project / name).write_text(text)
    start = time.perf_counter()
    client = await Client.start(TYPEMUX, cwd=root, env=typemux_env(
        "typemux", backend=kind, warmup_timeout=10, log_level="warning"))
    await client.initialize(root)
    lib = [p / "lib.py" for p in projects]
    did_open(client, lib[0], REAL_FILES["lib.py"])
    refs = {"textDocument": text_doc(lib[0]), "position": {"line": 0, "character": 5},
            "context": {"includeDeclaration": True}}
    first = float("nan")
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        answer = await client.request("textDocument/references", refs, timeout=120)
        uris = {loc["uri"] for loc in answer.get("result") or []}
        if len(uris) >= 4:  # lib, a, b, c
            first = time.perf_counter() - start
            break
        await asyncio.sleep(0.05)
    did_open(client, lib[1], REAL_FILES["lib.py"])
    hover = [{"textDocument": text_doc(p), "position": {"line": 0, "character": 5}} for p in lib]
    await client.request("textDocument/hover", hover[1], timeout=120)
    await client.request("textDocument/references", {**refs, "textDocument": text_doc(lib[1])},
                         timeout=120)
    switch, same = [], []
    for i in range(40):
        t = time.perf_counter()
        await client.request("textDocument/hover", hover[i % 2])
        switch.append(time.perf_counter() - t)
        t = time.perf_counter()
        await client.request("textDocument/hover", hover[i % 2])
        same.append(time.perf_counter() - t)
    await client.close()
    return first, statistics.median(switch), statistics.median(same)


# ----- main --------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    direct: str
    typemux: str
    target: str = ""
    verdict: str = ""
    before: str = ""


STEPS = ("latency", "loops", "throughput", "references", "document", "burst", "startup",
         "memory")


async def run(quick: bool, real: bool, before: bool, only: set[str]) -> list[Row]:
    rows: list[Row] = []
    n_lat = 500 if quick else 3000
    n_tp = 10_000
    modes = ["before", "typemux"] if before else ["typemux"]

    def want(step: str) -> bool:
        return not only or step in only

    with tempfile.TemporaryDirectory(prefix="typemux-bench-") as tmp:
        base = Path(tmp)

        def step(what: str) -> None:
            print(f"… {what}", file=sys.stderr, flush=True)

        def order(rounds: int) -> list[str]:
            """Interleaved, so that a change of load hits every column alike, and the
            typemux columns swap places every round: measured with the same code in both,
            the one run second came out ~20-40 µs slower (round trip p50)."""
            out: list[str] = []
            for i in range(rounds):
                out += ["direct", *(modes if i % 2 == 0 else modes[::-1])]
            return out

        def pair(direct: str, values: dict[str, str]) -> dict[str, str]:
            return {"direct": direct, "typemux": values["typemux"],
                    "before": values.get("before", "")}

        if want("latency"):
            step("round trip")
            rounds = 2 if quick else 4
            lat: dict[str, list[tuple[float, float]]] = {m: [] for m in ["direct", *modes]}
            for mode in order(rounds):
                lat[mode].append(await latency(base, mode, n_lat))
            p50 = {m: statistics.median(v[0] for v in vs) for m, vs in lat.items()}
            p99 = {m: statistics.median(v[1] for v in vs) for m, vs in lat.items()}
            added = {m: p50[m] - p50["direct"] for m in modes}
            rows.append(Row("hover round trip p50", **pair(us(p50["direct"]), {
                m: f"{us(p50[m])} (added {us(added[m])})" for m in modes}),
                target="added ≤ 100 µs", verdict=ok(added["typemux"] <= 100e-6)))
            rows.append(Row("hover round trip p99", **pair(us(p99["direct"]), {
                m: us(p99[m]) for m in modes})))

        if want("loops"):
            step("event-loop iterations")
            loops = {m: await loops_per_round_trip(base, m, 500) for m in modes}
            rows.append(Row("event-loop iterations per round trip (in typemux)", **pair("", {
                m: f"{loops[m]:.2f}" for m in modes}), target="≤ 2",
                verdict=ok(loops["typemux"] <= 2.05)))

        if want("throughput"):
            step("throughput")
            rounds = 2 if quick else 4
            tps: dict[str, list[tuple[float, int, float]]] = {m: [] for m in ["direct", *modes]}
            for mode in order(rounds):
                tps[mode].append(await throughput(base, mode, n_tp))
            best = {m: max(v) for m, v in tps.items()}
            ratio = {m: best[m][0] / best["direct"][0] for m in modes}
            rows.append(Row(f"pipelined {n_tp} requests (answered)", **pair(
                f"{best['direct'][0]:,.0f} req/s ({best['direct'][1]})",
                {m: f"{best[m][0]:,.0f} req/s ({best[m][1]}), {ratio[m]:.2f}x" for m in modes}),
                target="≥ 0.7 x direct, all answered",
                verdict=ok(ratio["typemux"] >= 0.7 and best["typemux"][1] == n_tp)))
            rows.append(Row("CPU per pipelined request (the backend / typemux process)", **pair(
                us(statistics.median(t[2] for t in tps["direct"])),
                {m: us(statistics.median(t[2] for t in tps[m])) for m in modes})))

        if want("references"):
            step("large answers")
            for count, label in ((1000, "1,000"), (7000, "7,000 (~0.9 MB)")):
                n = 20 if quick else 60
                times: dict[str, list[float]] = {m: [] for m in ["direct", *modes]}
                for mode in order(2):
                    times[mode].append(await references(base, mode, count, n))
                p50 = {m: statistics.median(v) for m, v in times.items()}
                rows.append(Row(f"references answer of {label} locations, round trip p50",
                                **pair(ms(p50["direct"]), {
                                    m: f"{ms(p50[m])} (added {ms(p50[m] - p50['direct'])})"
                                    for m in modes})))

        if want("document"):
            step("4 MB document")
            size = 4 * 2**20
            big = {m: await big_document(base, m, size) for m in ["direct", *modes]}
            rows.append(Row("4 MB didOpen + didChange → answer", **pair(ms(big["direct"]), {
                m: f"{ms(big[m])} (added {ms(big[m] - big['direct'])})" for m in modes})))

        if want("burst"):
            step("diagnostics burst")
            n_burst = 10_000
            bursts = {m: await burst(base, m, n_burst) for m in ["direct", *modes]}
            rows.append(Row(f"burst of {n_burst} publishDiagnostics, one uri (delivered)", **pair(
                f"{ms(bursts['direct'][0])} ({bursts['direct'][1]})",
                {m: f"{ms(bursts[m][0])} ({bursts[m][1]})" for m in modes}),
                target="the last one delivered", verdict=ok(bursts["typemux"][2])))

        if want("startup"):
            step("start → initialize")
            starts = {m: await startup(base, m, 3 if quick else 7) for m in ["direct", *modes]}
            rows.append(Row("process start → initialize answered", **pair(ms(starts["direct"]), {
                m: ms(starts[m]) for m in modes}), target="≤ 100 ms",
                verdict=ok(starts["typemux"] <= 0.1)))

        if want("memory"):
            step("memory")
            mem = {m: await memory(base, m, 8, 2000) for m in modes}
            rows.append(Row("typemux RSS: idle / 8 backends + 2,000 docs", **pair("", {
                m: f"{mem[m][0]:.1f} MB / {mem[m][1]:.1f} MB" for m in modes}),
                target="≤ 50 MB", verdict=ok(mem["typemux"][1] <= 50)))

        if real:
            for kind in ("pyright", "ty", "pyrefly"):
                step(f"real {kind}")
                if shutil.which(f"{kind}-langserver" if kind == "pyright" else kind) is None:
                    rows.append(Row(f"{kind}: not installed", "", ""))
                    continue
                first, switch, same = await real_backend(base, kind)
                rows.append(Row(f"{kind}: typemux start → complete references", "", ms(first)))
                rows.append(Row(f"{kind}: hover, warm switch / same venv (p50)", "",
                                f"{ms(switch)} / {ms(same)}"))
    return rows


def ok(good: bool) -> str:
    return "✅" if good else "❌"


def render(rows: list[Row], quick: bool, real: bool, before: str | None) -> str:
    cpu = platform.processor() or platform.machine()
    load = f", load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    head = [
        f"typemux benchmark — {time.strftime('%Y-%m-%d %H:%M')}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs ({cpu}){load}, "
        f"{'quick' if quick else 'full'}{' +real' if real else ''}",
        "",
    ]
    if before is None:
        head += ["| measurement | direct | through typemux | target | result |",
                 "|---|---|---|---|---|"]
        body = [f"| {r.name} | {r.direct} | {r.typemux} | {r.target} | {r.verdict} |"
                for r in rows]
    else:
        head += [f"| measurement | direct | typemux {before} (before) | typemux (this tree) "
                 "| target | result |", "|---|---|---|---|---|---|"]
        body = [f"| {r.name} | {r.direct} | {r.before} | {r.typemux} | {r.target} | {r.verdict} |"
                for r in rows]
    return "\n".join(head + body) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--real", action="store_true", help="also pyright, ty and pyrefly")
    parser.add_argument("--before", metavar="REV", help="also typemux as of git revision REV")
    parser.add_argument("--only", nargs="+", choices=STEPS, default=[], help="these steps only")
    ns = parser.parse_args(argv)
    os.environ["PATH"] = f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="typemux-before-") as old:
        if ns.before:
            archive = subprocess.run(["git", "archive", ns.before, "src"], cwd=ROOT,
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
            SOURCES["before"] = Path(old) / "src"
        rows = asyncio.run(run(ns.quick, ns.real, bool(ns.before), set(ns.only)))
    report = render(rows, ns.quick, ns.real, ns.before)
    print(report)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

