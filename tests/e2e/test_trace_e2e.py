"""`trace_dir`: every message of every stream lands in a JSON-lines file; `typemux trace` shows it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import StartTypemux, typemux_env


def read_trace(directory: Path) -> list[dict[str, Any]]:
    files = list(directory.glob("typemux-*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text("utf-8").splitlines()]


def typemux_trace(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "typemux", "trace", *args], env=typemux_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


async def test_trace_records_every_stream_with_time_direction_session_and_venv(
    monorepo: dict[str, Path], start_typemux: StartTypemux, tmp_path: Path
) -> None:
    root = monorepo["proj-a"].parent
    trace_dir = tmp_path / "trace"
    client = await start_typemux(root, trace_dir=trace_dir)
    await client.initialize(root)
    a = await client.did_open(monorepo["proj-a"] / "main.py")
    b = await client.did_open(monorepo["proj-b"] / "main.py")
    pos = {"line": 0, "character": 0}
    ha = await client.request("textDocument/hover", {"textDocument": {"uri": a}, "position": pos})
    hb = await client.request("textDocument/hover", {"textDocument": {"uri": b}, "position": pos})
    assert await client.shutdown_and_exit() == 0
    assert client.protocol_errors == []  # the trace never touched stdout

    records = read_trace(trace_dir)
    assert {r["direction"] for r in records} == {
        "client->typemux", "typemux->client", "typemux->backend", "backend->typemux"}
    assert all(isinstance(r["time"], float) for r in records)
    times = [r["time"] for r in records]
    assert times == sorted(times)
    venvs = {r["session"]: r["venv"] for r in records if r["session"] is not None}
    assert sorted(venvs.values()) == sorted(
        str(monorepo[p].resolve() / ".venv") for p in ("proj-a", "proj-b"))
    assert all(r["venv"] is None for r in records if r["session"] is None)

    # One hover per venv, each: client -> typemux -> its backend -> typemux -> client.
    for uri, answer in ((a, ha), (b, hb)):
        asked = [r for r in records if r["message"].get("method") == "textDocument/hover"
                 and r["message"]["params"]["textDocument"]["uri"] == uri]
        assert [r["direction"] for r in asked] == ["client->typemux", "typemux->backend"]
        session = asked[1]["session"]
        assert venvs[session] == str(Path(uri.removeprefix("file://")).parent.resolve() / ".venv")
        answered = [r for r in records if r["message"].get("id") == answer["id"]
                    and "result" in r["message"]]
        assert [r["direction"] for r in answered] == ["backend->typemux", "typemux->client"]
        assert answered[0]["session"] == session
        assert answered[1]["message"] == answer
    # Both ends of the session's handshake are there.
    assert any(r["direction"] == "typemux->backend" and r["message"].get("method") == "initialize"
               for r in records)
    assert any(r["direction"] == "client->typemux" and r["message"].get("method") == "exit"
               for r in records)


async def test_typemux_trace_prints_filters_by_session_and_method(
    monorepo: dict[str, Path], start_typemux: StartTypemux, tmp_path: Path
) -> None:
    root = monorepo["proj-a"].parent
    trace_dir = tmp_path / "trace"
    client = await start_typemux(root, trace_dir=trace_dir)
    await client.initialize(root)
    a = await client.did_open(monorepo["proj-a"] / "main.py")
    b = await client.did_open(monorepo["proj-b"] / "main.py")
    for uri in (a, b):
        await client.request("textDocument/hover",
                             {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}})
    assert await client.shutdown_and_exit() == 0
    records = read_trace(trace_dir)
    session_a = next(r["session"] for r in records if r["direction"] == "typemux->backend"
                     and r["message"].get("method") == "textDocument/didOpen"
                     and r["message"]["params"]["textDocument"]["uri"] == a)

    everything = typemux_trace(str(trace_dir))
    assert sum(1 for line in everything.splitlines() if not line.startswith("--")) == len(records)

    hovers = typemux_trace(str(trace_dir), "--method", "hover").splitlines()
    hover_lines = [line for line in hovers if not line.startswith("--")]
    # Requests and their results (paired by id): two hovers, each (client in, backend out, backend in, client out).
    assert len(hover_lines) == 8
    assert sum(" result  textDocument/hover #" in line for line in hover_lines) == 4
    assert sum(" request textDocument/hover #" in line for line in hover_lines) == 4

    only_a = typemux_trace(str(trace_dir), "--session", str(session_a), "--json").splitlines()
    assert only_a and all(json.loads(line)["session"] == session_a for line in only_a)
    assert any(a in line for line in only_a) and not any(b in line for line in only_a)
