"""typemux's own work per hover round trip, without pipes or processes: CPU time per round trip.

    .venv/bin/python bench/proxy_path.py [--round-trips 20000] [--before REV]

The proxy's two callbacks of a round trip are driven directly: a chunk of the client's stdin
holding a hover request (decoded, routed, handed to the backend's writer, written), then a
chunk of the backend's stdout holding its answer (decoded, routed, written to the client).
The transports are in-memory and the backend process is never started, so what is measured
is typemux's code alone: no syscall, no wake-up, no other process on the machine. It is the
figure to compare two versions of that code with; the end-to-end latency (bench/run.py,
bench/python_floor.py) adds the hops and the machine's state around it.

With `--before REV` the same run is made for git revision REV (checked out in a temporary
worktree) in a subprocess, and both are printed, alternating, best of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class _Sink(asyncio.WriteTransport):
    """A write transport that takes everything at once and keeps only a count."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def write(self, data: Any) -> None:
        self.frames += bytes(data).count(b"Content-Length")

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def _measure(round_trips: int) -> float:
    import orjson

    from typemux.backends import get_kind
    from typemux.core.actions import Spawn
    from typemux.core.lifecycle import INIT_ID
    from typemux.fast_config import fast_settings
    from typemux.runtime import proxy as proxy_module
    from typemux.runtime.backend_process import BackendProcess
    from typemux.wire.writer import FrameWriter

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        (root / ".venv").mkdir()
        (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (root / "main.py").write_text("x = 1\n")
        settings = fast_settings({"backend": "generic", "backend_command": "fake-lsp",
                                  "warmup_timeout": 0, "log_level": "warning"})
        proxy = proxy_module.Proxy(settings, get_kind("generic", ["fake-lsp"]), cwd=root)
        client_out = _Sink()
        proxy._client = FrameWriter(name="client", batch=proxy._batch)
        proxy._client.attach(client_out)
        backend_in = _Sink()
        started: list[BackendProcess] = []

        def spawn(action: Spawn) -> None:  # a process that is never started
            proc = BackendProcess(action.session, action.venv, max_message_size=1 << 26,
                                  on_message=proxy._backend_message, on_gone=proxy._backend_gone,
                                  batch=proxy._batch, on_settled=proxy._settle)
            proc._writer.attach(backend_in)
            proxy.processes[action.session] = proc
            proxy.router.backend_spawned(action.session, 4242)
            started.append(proc)

        proxy._spawn = spawn  # type: ignore[method-assign]
        proxy._started_up = True  # no fallback venv, watcher or state file

        def client(msg: dict[str, Any]) -> None:
            proxy._stdin_data(_frame(orjson.dumps(msg)))

        uri = (root / "main.py").as_uri()
        client({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}})
        client({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        client({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}}})
        (proc,) = started
        proc._stdout(_frame(orjson.dumps({"jsonrpc": "2.0", "id": INIT_ID, "result": {
            "capabilities": {"hoverProvider": True, "textDocumentSync": 2}}})))
        requests = [_frame(orjson.dumps({
            "jsonrpc": "2.0", "id": i, "method": "textDocument/hover",
            "params": {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}}))
            for i in range(1, round_trips + 1)]
        answers = [_frame(orjson.dumps({"jsonrpc": "2.0", "id": i, "result": {
            "contents": {"kind": "markdown", "value": "x: int"}}}))
            for i in range(1, round_trips + 1)]
        stdin, stdout = proxy._stdin_data, proc._stdout
        sent_before, answered_before = backend_in.frames, client_out.frames
        start = time.process_time()
        for request, answer in zip(requests, answers, strict=True):
            stdin(request)
            stdout(answer)
        elapsed = time.process_time() - start
        if (backend_in.frames - sent_before, client_out.frames - answered_before) != (
                round_trips, round_trips):
            raise SystemExit(f"not every hover went through ({backend_in.frames - sent_before}, {client_out.frames - answered_before}): the bench no longer drives the "
                             "proxy's short path")
        return elapsed / round_trips


def _one(round_trips: int) -> None:
    print(asyncio.run(_measure(round_trips)))


def _run(src: Path, round_trips: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(src), XDG_CONFIG_HOME="/nonexistent-typemux-bench")
    out = subprocess.run([sys.executable, __file__, "--one", str(round_trips)], env=env,
                         check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="a git revision to compare with")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one)
        return
    sources = {"this checkout": HERE.parent / "src"}
    with tempfile.TemporaryDirectory(prefix="typemux-path-") as tmp:
        if args.before:
            worktree = Path(tmp) / "before"
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach",
                            "-q", str(worktree), args.before], check=True)
            sources = {f"before ({args.before})": worktree / "src", **sources}
        try:
            best: dict[str, float] = {}
            for _ in range(args.rounds):  # alternating, best of each: the machine is shared
                for name, src in sources.items():
                    best[name] = min(best.get(name, 1.0), _run(src, args.round_trips))
        finally:
            if args.before:
                subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force",
                                str(Path(tmp) / "before")], check=False)
    print(f"typemux CPU per hover round trip, both callbacks, no pipes "
          f"({args.round_trips} round trips, best of {args.rounds}):")
    for name, seconds in best.items():
        print(f"  {name:24} {seconds * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
