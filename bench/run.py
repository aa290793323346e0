"""typemux benchmarks: direct-to-backend vs through typemux, side by side.

    .venv/bin/python bench/run.py [--quick] [--real]

Prints a table and writes bench/results/latest.md. The backend is bench/fast_backend.py
(answers at once), so the "typemux" column minus the "direct" column is the proxy's cost.
--real adds pyright, ty and pyrefly: time to the first complete references after typemux
starts, and a request switching between two warm venvs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
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


def typemux_env(**settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TYPEMUX_")}
    env["XDG_CONFIG_HOME"] = "/nonexistent-typemux-bench-config"
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    for key, value in settings.items():
        env[f"TYPEMUX_{key.upper()}"] = str(value)
    return env


def fast_settings(**extra: Any) -> dict[str, Any]:
    return {"backend_command": " ".join(FAST), "warmup_timeout": 0, "log_level": "warning",
            **extra}


async def open_pair(base: Path, mode: str, **settings: Any) -> tuple[Client, Path]:
    root, projects = make_root(base, 1)
    if mode == "direct":
        env = dict(os.environ, VIRTUAL_ENV=str(projects[0] / ".venv"))
        client = await Client.start(FAST, cwd=projects[0], env=env)
    else:
        client = await Client.start(TYPEMUX, cwd=root, env=typemux_env(**fast_settings(**settings)))
    await client.initialize(root)
    return client, projects[0]


def text_doc(path: Path) -> dict[str, Any]:
    return {"uri": path.as_uri()}


def did_open(client: Client, path: Path, text: str, version: int = 1) -> None:
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": path.as_uri(), "languageId": "python", "version": version, "text": text}})


# ----- measurements ------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    direct: str
    typemux: str
    target: str = ""
    verdict: str = ""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


async def latency(base: Path, mode: str, n: int) -> tuple[float, float]:
    client, project = await open_pair(base, mode)
    doc = project / "main.py"
    did_open(client, doc, doc.read_text())
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 4}}
    for _ in range(200):  # warm up caches and the venv lookup
        await client.request("textDocument/hover", params)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await client.request("textDocument/hover", params)
        samples.append(time.perf_counter() - start)
    await client.close()
    return statistics.median(samples), pct(samples, 0.99)


async def throughput(base: Path, mode: str, n: int) -> tuple[float, int]:
    client, project = await open_pair(base, mode)
    doc = project / "main.py"
    did_open(client, doc, doc.read_text())
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 4}}
    await client.request("textDocument/hover", params)
    start = time.perf_counter()
    futures = [client.send("textDocument/hover", params) for _ in range(n)]
    results = await asyncio.wait_for(asyncio.gather(*futures), 120)
    elapsed = time.perf_counter() - start
    answered = sum(1 for r in results if "result" in r)
    await client.close()
    return n / elapsed, answered


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


async def burst(base: Path, mode: str, n: int) -> tuple[float, int]:
    client, project = await open_pair(base, mode)
    doc = project / "main.py"
    params = {"textDocument": text_doc(doc), "position": {"line": 0, "character": 0}}
    await client.request("textDocument/hover", params)
    before = client.counts.get("textDocument/publishDiagnostics", 0)
    start = time.perf_counter()
    await client.request("bench/burst", {"count": n, "uri": doc.as_uri(),
                                         "textDocument": text_doc(doc)})
    await client.wait_count("textDocument/publishDiagnostics", before + n, timeout=60)
    elapsed = time.perf_counter() - start
    got = client.counts.get("textDocument/publishDiagnostics", 0) - before
    await client.close()
    return elapsed, got


async def startup(base: Path, mode: str, rounds: int) -> float:
    root, projects = make_root(base, 1)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        if mode == "direct":
            env = dict(os.environ, VIRTUAL_ENV=str(projects[0] / ".venv"))
            client = await Client.start(FAST, cwd=projects[0], env=env)
        else:
            client = await Client.start(TYPEMUX, cwd=root, env=typemux_env(**fast_settings()))
        await client.initialize(root)
        samples.append(time.perf_counter() - start)
        await client.close()
    return statistics.median(samples)


async def memory(base: Path, backends: int, documents: int) -> tuple[float, float]:
    root, projects = make_root(base, backends)
    client = await Client.start(TYPEMUX, cwd=root, env=typemux_env(
        **fast_settings(max_backends=backends)))
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
        backend=kind, warmup_timeout=10, log_level="warning"))
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
async def run(quick: bool, real: bool) -> list[Row]:
    rows: list[Row] = []
    n_lat = 500 if quick else 3000
    n_tp = 10_000
    with tempfile.TemporaryDirectory(prefix="typemux-bench-") as tmp:
        base = Path(tmp)

        def step(what: str) -> None:
            print(f"… {what}", file=sys.stderr, flush=True)

        step("round trip")
        d50, d99 = await latency(base, "direct", n_lat)
        t50, t99 = await latency(base, "typemux", n_lat)
        added = t50 - d50
        rows.append(Row("hover round trip p50", us(d50), us(t50),
                        "added ≤ 100 µs", f"added {us(added)} " + ok(added <= 100e-6)))
        rows.append(Row("hover round trip p99", us(d99), us(t99), "", f"added {us(t99 - d99)}"))

        step("throughput")
        rounds = 1 if quick else 3
        d_tp = max([(await throughput(base, "direct", n_tp)) for _ in range(rounds)])
        t_tp = max([(await throughput(base, "typemux", n_tp)) for _ in range(rounds)])
        ratio = t_tp[0] / d_tp[0]
        rows.append(Row(f"pipelined {n_tp} requests (answered)",
                        f"{d_tp[0]:,.0f} req/s ({d_tp[1]})", f"{t_tp[0]:,.0f} req/s ({t_tp[1]})",
                        "≥ 0.9 x direct, all answered",
                        f"{ratio:.2f}x " + ok(ratio >= 0.9 and t_tp[1] == n_tp)))

        step("4 MB document")
        size = 4 * 2**20
        d_big = await big_document(base, "direct", size)
        t_big = await big_document(base, "typemux", size)
        rows.append(Row("4 MB didOpen + didChange → answer", ms(d_big), ms(t_big), "",
                        f"added {ms(t_big - d_big)}"))

        step("diagnostics burst")
        n_burst = 10_000
        d_b = await burst(base, "direct", n_burst)
        t_b = await burst(base, "typemux", n_burst)
        rows.append(Row(f"burst of {n_burst} publishDiagnostics",
                        f"{ms(d_b[0])} ({d_b[1]})", f"{ms(t_b[0])} ({t_b[1]})", "all delivered",
                        f"{d_b[0] / t_b[0]:.2f}x " + ok(t_b[1] == n_burst)))

        step("start → initialize")
        d_s = await startup(base, "direct", 3 if quick else 7)
        t_s = await startup(base, "typemux", 3 if quick else 7)
        rows.append(Row("process start → initialize answered", ms(d_s), ms(t_s), "≤ 100 ms",
                        ok(t_s <= 0.1)))

        step("memory")
        idle, loaded = await memory(base, 8, 2000)
        rows.append(Row("typemux RSS: idle / 8 backends + 2,000 docs", "",
                        f"{idle:.1f} MB / {loaded:.1f} MB", "≤ 50 MB", ok(loaded <= 50)))

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


def render(rows: list[Row], quick: bool, real: bool) -> str:
    cpu = platform.processor() or platform.machine()
    head = [
        f"typemux benchmark — {time.strftime('%Y-%m-%d %H:%M')}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs ({cpu}), "
        f"{'quick' if quick else 'full'}{' +real' if real else ''}",
        "",
        "| measurement | direct | through typemux | target | result |",
        "|---|---|---|---|---|",
    ]
    body = [f"| {r.name} | {r.direct} | {r.typemux} | {r.target} | {r.verdict} |" for r in rows]
    return "\n".join(head + body) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--real", action="store_true", help="also pyright, ty and pyrefly")
    ns = parser.parse_args(argv)
    os.environ["PATH"] = f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    rows = asyncio.run(run(ns.quick, ns.real))
    report = render(rows, ns.quick, ns.real)
    print(report)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

