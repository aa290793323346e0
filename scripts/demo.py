"""A scripted session through typemux with real pyright on a two-project monorepo.

Builds ./demo-monorepo (project-a and project-b, each with its own venv holding a package
only it has), starts the installed `typemux` console script, and plays an editor: open a
file in project-a, ask for references at once, open project-b, switch back. It prints what
went where (which venv's backend answered each request, read from typemux's debug log),
the diagnostics that prove each project sees its own venv, and the timings; then it shuts
typemux down and checks that no process is left. Run it with ./scripts/demo.sh.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

from typemux.wire import codec
from typemux.wire.endpoint import EOF, NEED_DATA, Endpoint, Incoming
from typemux.wire.framing import encode_frame

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo-monorepo"
BIN = Path(sys.executable).parent
Message = dict[str, Any]


def load_generator() -> ModuleType:
    """The test suite's monorepo generator (tests/real/monorepo.py), loaded by path."""
    path = REPO / "tests" / "real" / "monorepo.py"
    spec = importlib.util.spec_from_file_location("demo_monorepo_generator", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Client:
    """Just enough of an LSP client: requests with ids, answers to server requests."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Message]] = {}
        self.notifications: list[tuple[float, Message]] = []
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    def send(self, msg: Message) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(encode_frame(codec.dumps({"jsonrpc": "2.0", **msg})))

    def notify(self, method: str, params: Any = None) -> None:
        # JSON-RPC forbids "params": null; a message without params simply omits the field.
        self.send({"method": method} if params is None else {"method": method, "params": params})

    def request_start(self, method: str, params: Any) -> tuple[int, asyncio.Future[Message]]:
        request_id = next(self.ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        msg: Message = {"id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return request_id, future

    async def request(self, method: str, params: Any) -> tuple[int, Message, float]:
        started = time.perf_counter()
        request_id, future = self.request_start(method, params)
        response = await asyncio.wait_for(future, 60)
        return request_id, response, time.perf_counter() - started

    async def wait_for(self, predicate: Any, timeout: float = 60) -> float:
        """Time at which the first notification matching `predicate` arrived."""
        deadline = time.perf_counter() + timeout
        while True:
            for at, msg in self.notifications:
                if predicate(msg):
                    return at
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("no matching notification")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        endpoint = Endpoint(64 << 20)
        while True:
            data = await self.process.stdout.read(1 << 16)
            endpoint.receive_data(data)
            while (item := endpoint.next_event()) is not NEED_DATA:
                if item is EOF:
                    return
                if not isinstance(item, Incoming):
                    print(f"  !! malformed output from typemux: {item}")
                    continue
                self._handle(item.msg)
            if not data:
                return

    def _handle(self, msg: Message) -> None:
        if "method" in msg and "id" in msg:  # a server->client request
            result: Any = None
            if msg["method"] == "workspace/configuration":
                result = [None for _ in msg.get("params", {}).get("items", [])]
            self.send({"id": msg["id"], "result": result})
        elif "method" in msg:
            self.notifications.append((time.perf_counter(), msg))
            self.changed.set()
        elif (future := self.pending.pop(msg.get("id"), None)) is not None:
            future.set_result(msg)


class Log:
    """typemux's debug log (JSON lines): which backend session got which request."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[Message]:
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        return events

    def answered_by(self, request_id: int) -> str:
        venvs = {e["session"]: e["venv"] for e in self.events() if e.get("event") == "backend_spawn"}
        for event in self.events():
            if (event.get("event") == "proxy_to_backend" and event.get("id") == request_id
                    and event.get("method")):
                venv = Path(venvs.get(event["session"], "?"))
                return f"backend #{event['session']} ({venv.parent.name}/.venv)"
        return "typemux itself"


def uri(path: Path) -> str:
    return path.resolve().as_uri()


def short(u: str) -> str:
    return u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1]


def at(path: Path, gen: ModuleType, needle: str, shift: int = 1) -> Message:
    pos = gen.position_of(path, needle)
    return {"textDocument": {"uri": uri(path)},
            "position": {"line": pos["line"], "character": pos["character"] + shift}}


def describe(method: str, response: Message) -> str:
    if "error" in response:
        return f"error {response['error']['message']}"
    result = response.get("result")
    if method == "textDocument/references":
        files = sorted({short(loc["uri"]) for loc in result or []})
        return f"{len(result or [])} locations in {', '.join(files)}"
    if method == "textDocument/hover" and result:
        value = result["contents"]["value"] if isinstance(result["contents"], dict) else result["contents"]
        return repr(" ".join(str(value).split())[:70])
    return "null" if result is None else "ok"


async def main() -> int:
    gen = load_generator()
    if DEMO.exists():
        shutil.rmtree(DEMO)
    repo = gen.make_real_monorepo(DEMO)
    typemux = shutil.which("typemux", path=str(BIN)) or shutil.which("typemux")
    if typemux is None:
        print("typemux is not installed; run ./scripts/setup.sh first", file=sys.stderr)
        return 2
    log = Log(DEMO / "typemux.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TYPEMUX_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", TYPEMUX_BACKEND="pyright",
               TYPEMUX_LOG_FILE=str(log.path), TYPEMUX_LOG_LEVEL="debug")
    print(f"demo monorepo: {DEMO}\n  project-a/.venv has alpha_only, project-b/.venv has beta_only;"
          f" both main.py import both.\nstarting: {typemux} (backend pyright)\n")

    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        typemux, cwd=DEMO, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    client = Client(process)
    timings: dict[str, float] = {}
    caps = {"workspace": {"configuration": True, "workspaceFolders": True},
            "window": {"workDoneProgress": False},
            "general": {"positionEncodings": ["utf-16"]},
            "textDocument": {"publishDiagnostics": {}, "hover": {"contentFormat": ["markdown"]}}}
    _, init, _ = await client.request("initialize", {
        "processId": os.getpid(), "rootUri": uri(DEMO), "capabilities": caps,
        "workspaceFolders": [{"uri": uri(DEMO), "name": DEMO.name}]})
    timings["initialize answered (from typemux spawn)"] = time.perf_counter() - started
    client.notify("initialized", {})
    print(f"initialize -> {init['result'].get('serverInfo', {}).get('name', 'typemux')}")

    def show(label: str, method: str, request_id: int, response: Message, seconds: float) -> None:
        print(f"  {label:<44} -> {log.answered_by(request_id):<30} {seconds * 1000:6.0f} ms  "
              f"{describe(method, response)}")

    async def open_cold(project: Any, tag: str) -> None:
        doc = uri(project.main)
        t0 = time.perf_counter()
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": doc, "languageId": "python", "version": 1, "text": project.main.read_text()}})
        refs = {**at(project.main, gen, "compute_total("), "context": {"includeDeclaration": True}}
        request_id, future = client.request_start("textDocument/references", refs)
        diag_at = await client.wait_for(lambda m: m["method"] == "textDocument/publishDiagnostics"
                                        and m["params"]["uri"] == doc)
        response = await asyncio.wait_for(future, 60)
        done = time.perf_counter()
        timings[f"{tag}: cold start, didOpen -> first diagnostics"] = diag_at - t0
        timings[f"{tag}: first complete references after didOpen"] = done - t0
        print(f"open {short(doc)} (cold: typemux starts pyright for {project.name}/.venv)")
        show("references sent right after didOpen", "textDocument/references", request_id,
             response, done - t0)

    await open_cold(repo.a, "project-a")
    await open_cold(repo.b, "project-b")

    print("switch back to project-a (warm)")
    request_id, response, seconds = await client.request(
        "textDocument/hover", at(repo.a.main, gen, "describe"))
    timings["project-a: warm switch back, hover latency"] = seconds
    show("hover widget.describe", "textDocument/hover", request_id, response, seconds)
    request_id, response, seconds = await client.request(
        "textDocument/definition", at(repo.a.main, gen, "compute_total("))
    target = (response.get("result") or [{}])[0].get("uri", "?")
    show(f"definition compute_total -> {short(target)}", "textDocument/definition",
         request_id, response, seconds)

    print("\ndiagnostics (each project's main.py imports alpha_only and beta_only):")
    for project in repo.projects:
        doc = uri(project.main)
        last = [m for _, m in client.notifications
                if m["method"] == "textDocument/publishDiagnostics" and m["params"]["uri"] == doc]
        messages = [d["message"] for d in last[-1]["params"]["diagnostics"]] if last else []
        unresolved = [m for m in messages if "alpha_only" in m or "beta_only" in m]
        print(f"  {project.name}/main.py: {unresolved or 'none'}  "
              f"-> {project.own_module} resolves from its own venv")

    tree = psutil.Process(process.pid).children(recursive=True)
    rss = sum(p.memory_info().rss for p in tree if p.is_running()) / 2**20
    print(f"\nprocesses under typemux: {len(tree)} "
          f"({', '.join(sorted({p.name() for p in tree}))}), {rss:.0f} MB RSS in total")
    print("\ntimings:")
    for name, value in timings.items():
        print(f"  {name:<52} {value * 1000:7.0f} ms")

    await client.request("shutdown", None)
    client.notify("exit")
    code = await asyncio.wait_for(process.wait(), 15)
    client.reader.cancel()
    _, alive = psutil.wait_procs(tree, timeout=10)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    print(f"\nshutdown: typemux exit code {code}; processes left: "
          f"{[p.pid for p in alive] or 'none'}")
    return 0 if code == 0 and not alive else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
