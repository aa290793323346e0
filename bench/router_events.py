"""The sans-IO router alone: events per second on the short path (no process, no pipe).

    .venv/bin/python bench/router_events.py [--rounds N]

Two venvs, one open document in each. Per round: a didChange and a hover per document and
the backend's answers (hover result, publishDiagnostics), through `client_message`,
`backend_message` and `take_actions`, as the proxy feeds them. Prints the events handled
per second and the CPU time per event (the best of 7 runs: the machine is shared, and the
least disturbed run is the closest to the code's own cost). The venv lookup is the real
resolver over a temporary tree (with its cache), as at run time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.core.actions import Spawn, ToBackend
from typemux.core.lifecycle import INIT_ID, LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.uris import path_to_uri
from typemux.venv import VenvResolver

KIND = BackendKind(name="bench", command=("bench-lsp",), version_command=None,
                   capabilities={"hoverProvider": True}, readiness=ReadinessDetector)


def tree(root: Path) -> list[Path]:
    (root / ".git").mkdir()
    files = []
    for name in ("a", "b"):
        (root / name / ".venv").mkdir(parents=True)
        (root / name / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
        path = root / name / "main.py"
        path.write_text("x = 1\n")
        files.append(path)
    return files


def run(rounds: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        files = tree(Path(tmp).resolve())
        router = Router(RouterSettings(LifecycleSettings(argv=["bench-lsp"], warmup_timeout=0.0)),
                        KIND, VenvResolver())
        now = 1.0
        router.client_message({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                               "params": {"capabilities": {}}}, None, now)
        router.client_message({"jsonrpc": "2.0", "method": "initialized", "params": {}}, None, now)
        uris = [path_to_uri(p) for p in files]
        session_of: dict[str, int] = {}
        for uri in uris:
            router.client_message({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                "textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                 "text": "x = 1\n"}}}, None, now)
            (spawn,) = [a for a in router.take_actions() if isinstance(a, Spawn)]
            session_of[uri] = spawn.session
            router.backend_message(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                   "result": {"capabilities": {}}}, None, now)
        router.take_actions()
        events = 0
        next_id = 1
        start = time.process_time()
        for version in range(2, rounds + 2):
            now += 0.001
            for uri in uris:
                session = session_of[uri]
                change: dict[str, Any] = {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"range": {"start": {"line": 0, "character": 4},
                                                  "end": {"line": 0, "character": 5}},
                                        "text": str(version % 10)}]}}
                router.client_message(change, None, now)
                next_id += 1
                router.client_message({"jsonrpc": "2.0", "id": next_id, "method": "textDocument/hover",
                                       "params": {"textDocument": {"uri": uri},
                                                  "position": {"line": 0, "character": 0}}}, None, now)
                sent = router.take_actions()
                assert any(isinstance(a, ToBackend) and a.msg.get("id") == next_id for a in sent)
                router.backend_message(session, {"jsonrpc": "2.0", "id": next_id,
                                                 "result": {"contents": "int"}}, None, now)
                router.backend_message(session, {"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                                                 "params": {"uri": uri, "diagnostics": []}}, None, now)
                router.take_actions()
                router.next_deadline()
                events += 4
        return events, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5000)
    args = parser.parse_args()
    runs = [run(args.rounds) for _ in range(7)]
    seconds = min(s for _, s in runs)
    events = runs[0][0]
    print(f"router short path: {events} events in {seconds:.3f} s CPU (best of 7): "
          f"{events / seconds:,.0f} events/s, {seconds / events * 1e6:.2f} µs/event")


if __name__ == "__main__":
    main()
