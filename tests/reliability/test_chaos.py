"""Chaos: a mixed editing and query load across 5 venvs with max_backends 3, while backends
are SIGKILLed at random and the pool churns.

While it runs, the process table is sampled every 100 ms: the live backend trees never
exceed max_backends plus a few being stopped, and a tree the pool does not list is gone
within grace + kill + slack. Afterwards every request got exactly one answer, every
backend's copy of every open document equals the client's, typemux's memory stayed bounded
and no process outlives it. The CI variant runs ~15 s; TYPEMUX_CHAOS_SECONDS=60 runs the
long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from conftest import _RUNTIME_DIR, StartTypemux
from support.client import LspClient, LspClosedError, uri
from support.process_table import ProcessSampler
from support.workspace import make_monorepo

SECONDS = float(os.environ.get("TYPEMUX_CHAOS_SECONDS", "15"))
VENVS = 5
MAX_IN_FLIGHT = 16
RSS_GROWTH_LIMIT_MB = 40
MAX_BACKENDS = 3
STOPPING_ALLOWANCE = 3  # trees being stopped (each gone within grace + kill) at one moment
# grace (2 s) + kill wait (2 s) + the state file's lag (a new pid is listed at the next pool
# change or heartbeat, 2 s) + slack for a busy 2-core machine
STOP_LIMIT = 12.0
WORDS = ("alpha", "beta", "gamma", "delta", "x = 1", "def f():", "# é", "pass", "\n")


class Model:
    """The client's view: open documents (text, version) per venv."""

    def __init__(self, projects: list[Path]) -> None:
        self.projects = projects
        self.docs: dict[str, dict[str, Any]] = {}  # uri -> {"text", "version", "project"}
        self.counter = 0


def first_line_len(text: str) -> int:
    return len(text.split("\n", 1)[0])


def backend_pids(typemux_pid: int) -> list[int]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return [p.pid for p in psutil.Process(typemux_pid).children()
                if any("fake_backend" in part for part in _cmdline(p))]
    return []


def _cmdline(proc: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return proc.cmdline()
    return []


async def killer(typemux_pid: int, rng: random.Random, stop: asyncio.Event,
                 kills: list[int]) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(0.2, 0.9))
        pids = backend_pids(typemux_pid)
        if pids and not stop.is_set():
            victim = rng.choice(pids)
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
                kills.append(victim)


def step(client: LspClient, model: Model, rng: random.Random) -> int | str | None:
    """One random client action; returns the id of a request it sent."""
    roll = rng.random()
    open_docs = list(model.docs)
    if roll < 0.15 or not open_docs:
        project = rng.choice(model.projects)
        model.counter += 1
        path = project / f"mod{model.counter}.py"
        text = f"# {path.name}\nvalue = {model.counter}\n"
        doc_uri = uri(path)
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": doc_uri, "languageId": "python", "version": 1, "text": text}})
        model.docs[doc_uri] = {"text": text, "version": 1, "project": project}
        return None
    doc_uri = rng.choice(open_docs)
    doc = model.docs[doc_uri]
    if roll < 0.55:
        doc["version"] += 1
        if rng.random() < 0.1:
            doc["text"] = f"# rewritten v{doc['version']}\n"
            change: dict[str, Any] = {"text": doc["text"]}
        else:
            at = rng.randint(0, first_line_len(doc["text"]))
            word = rng.choice(WORDS)
            change = {"range": {"start": {"line": 0, "character": at},
                                "end": {"line": 0, "character": at}}, "text": word}
            doc["text"] = doc["text"][:at] + word + doc["text"][at:]
        client.did_change(doc_uri, doc["version"], [change])
        return None
    if roll < 0.6:
        client.did_close(doc_uri)
        del model.docs[doc_uri]
        return None
    position = {"line": 0, "character": 0}
    if roll < 0.75:
        return client.send_request("textDocument/hover",
                                   {"textDocument": {"uri": doc_uri}, "position": position})
    if roll < 0.9:
        return client.send_request("textDocument/references", {
            "textDocument": {"uri": doc_uri}, "position": position,
            "context": {"includeDeclaration": True}})
    return client.send_request("workspace/symbol", {"query": ""})


async def backend_view(client: LspClient, project: Path) -> dict[str, Any]:
    """fake/documents of `project`'s backend, retrying while it is restarted or backed off."""
    deadline = time.monotonic() + 60
    while True:
        answer = await client.request("fake/documents", {
            "textDocument": {"uri": uri(project / "main.py")}}, timeout=30)
        if "result" in answer:
            return dict(answer["result"])
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.2)


async def test_chaos_keeps_every_answer_and_every_document(
    tmp_path: Path, start_typemux: StartTypemux
) -> None:
    names = tuple(f"proj{i}" for i in range(VENVS))
    projects = make_monorepo(tmp_path / "mono", names)
    root = tmp_path / "mono"
    client = await start_typemux(root, max_backends=MAX_BACKENDS, log_level="warning",
                                 fanout_timeout=2)
    await client.initialize(root)
    model = Model([projects[n] for n in names])
    rng = random.Random(int(os.environ.get("TYPEMUX_CHAOS_SEED", "1234")))

    # warm up, then take the memory baseline
    for project in model.projects:
        await backend_view(client, project)
    proc = psutil.Process(client.pid)
    rss_start = proc.memory_info().rss
    rss_peak = rss_start

    sampler = ProcessSampler(client.pid, Path(_RUNTIME_DIR) / "typemux" / f"{client.pid}.json",
                             MAX_BACKENDS, STOPPING_ALLOWANCE, STOP_LIMIT)
    sampling = asyncio.create_task(sampler.run())
    stop = asyncio.Event()
    kills: list[int] = []
    killing = asyncio.create_task(killer(client.pid, rng, stop, kills))
    sent: list[int | str] = []
    answers: dict[int | str, dict[str, Any]] = {}
    in_flight: dict[int | str, None] = {}  # insertion-ordered: oldest first
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        request_id = step(client, model, rng)
        if request_id is not None:
            sent.append(request_id)
            in_flight[request_id] = None
        if len(in_flight) >= MAX_IN_FLIGHT:
            oldest = next(iter(in_flight))
            answers[oldest] = await client.response(oldest, timeout=30)
            del in_flight[oldest]
        await asyncio.sleep(0.002)
        if len(sent) % 50 == 0:
            rss_peak = max(rss_peak, proc.memory_info().rss)
    stop.set()
    await killing
    assert client.process.returncode is None, client.stderr_text()[-3000:]
    # The pool settles: whatever was being stopped when the chaos ended is gone in time.
    settled = await sampler.settle()
    sampler.stop()
    await sampling
    assert settled, sampler.violations[-5:]
    print("chaos process table:", sampler.report(), "kills:", len(kills))
    assert sampler.violations == [], sampler.violations[:10]
    assert sampler.samples >= SECONDS * 3  # it really sampled while the chaos ran

    # every request got one answer (a duplicate would show up as a protocol error)
    for request_id in in_flight:
        try:
            answers[request_id] = await client.response(request_id, timeout=30)
        except LspClosedError:
            raise AssertionError(client.stderr_text()[-3000:]) from None
    assert sorted(map(str, answers)) == sorted(map(str, sent))
    assert all(("result" in a) != ("error" in a) for a in answers.values())
    assert client.protocol_errors == []
    assert len(kills) >= SECONDS / 2, kills  # the chaos really happened

    # every backend holds exactly the client's open documents of its venv
    for project in model.projects:
        view = await backend_view(client, project)
        expected = {u: {"version": d["version"], "text": d["text"]}
                    for u, d in model.docs.items() if d["project"] == project}
        assert view == expected, project.name

    rss_peak = max(rss_peak, proc.memory_info().rss)
    assert (rss_peak - rss_start) / 2**20 < RSS_GROWTH_LIMIT_MB

    children = [p for p in proc.children(recursive=True)]
    assert await client.shutdown_and_exit(timeout=30) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in children):
        await asyncio.sleep(0.05)
    assert [p.pid for p in children if _running(p)] == []


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
