"""The Claude Code profile against every real backend (pyright, basedpyright, ty, pyrefly).

The client behaves as Claude Code does (late 2026): it declares no workspace configuration,
no workspace folders, no dynamic registration and no work-done progress; it answers
`workspace/configuration` with `[null]` and every other server request with -32601; it never
sends didClose; it asks about files it never opened; and its shell rewrites files on disk
behind typemux's back (no notification at all).

One scripted session per backend (a module-scoped fixture: real backends take seconds to
start) records what happened; each test checks one property. Latencies are printed (-s).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from real.conftest import (
    KINDS,
    process_tree,
    real_env,
    require_backend,
    still_running,
)
from support.client import CLAUDE_CODE_ANSWER, CLAUDE_CODE_CAPABILITIES, LspClient, Message, uri
from typemux.backends import capabilities_cache, client_capabilities, get_kind

pytestmark = pytest.mark.real

SESSION_TIMEOUT = 240.0
WAIT = 60.0
BACKEND_TTL = 12.0
IDLE_CLOSE = 4.0
PUBLISH = "textDocument/publishDiagnostics"

UTIL = '''\
def compute_total(first: int, second: int) -> int:
    return first + second


def helper() -> int:
    return 1
'''
UTIL_WITHOUT_HELPER = '''\
def compute_total(first: int, second: int) -> int:
    return first + second
'''
MAIN = '''\
from pkg.util import compute_total, helper

total: int = compute_total(2, 3)
extra: int = helper()
'''
BROKEN_LINE = 4  # the line a rewrite or an edit appends
MAIN_SHELL_BROKEN = MAIN + 'broken: int = "text"\n'
MAIN_DIRTY = MAIN + 'dirty_marker: int = "dirty"\n'
MAIN_ON_DISK_ONLY = MAIN + "on_disk_only = 1\n"
OTHER = '''\
from pkg.util import compute_total

doubled = compute_total(4, 4)
'''


@dataclass
class Project:
    root: Path
    main: Path
    util: Path
    other: Path


def make_project(root: Path) -> Project:
    import subprocess

    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "util.py").write_text(UTIL)
    (root / "main.py").write_text(MAIN)
    (root / "other.py").write_text(OTHER)
    return Project(root, root / "main.py", root / "pkg" / "util.py", root / "other.py")


def shell_write(path: Path, text: str) -> None:
    """What `sed -i` or a formatter does: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp~")
    tmp.write_text(text)
    tmp.replace(path)


@dataclass
class Run:
    kind: str
    init: Message | None = None
    cache_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    notifications: list[Message] = field(default_factory=list)
    leftovers: list[str] | None = None
    exit_code: int | None = None
    protocol_errors: list[str] = field(default_factory=list)
    error: BaseException | None = None
    stderr_tail: str = ""

    def check(self) -> None:
        if self.error is not None:
            raise AssertionError(
                f"{self.kind} session failed: {self.error!r}\n--- typemux stderr tail ---\n"
                f"{self.stderr_tail}") from self.error


def _errors_at(doc: str, line: int) -> Callable[[Message], bool]:
    def predicate(msg: Message) -> bool:
        return msg["params"]["uri"] == doc and any(
            d["range"]["start"]["line"] == line for d in msg["params"]["diagnostics"])
    return predicate


def _mentions(doc: str, word: str, present: bool = True) -> Callable[[Message], bool]:
    def predicate(msg: Message) -> bool:
        found = any(word in d.get("message", "") for d in msg["params"]["diagnostics"])
        return msg["params"]["uri"] == doc and found == present
    return predicate


def _empty_for(client: LspClient, doc: str, since: int) -> list[Message]:
    return [n for n in client.notifications[since:]
            if n["method"] == PUBLISH and n["params"]["uri"] == doc and not n["params"]["diagnostics"]]


async def _wait_log(client: LspClient, event: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while f'"{event}"' not in client.stderr_text():
        if time.monotonic() > deadline:
            raise TimeoutError(f"typemux never logged {event}")
        await asyncio.sleep(0.1)


async def _script(client: LspClient, run: Run, p: Project) -> None:
    client.answer_server_request = CLAUDE_CODE_ANSWER
    started = time.perf_counter()
    run.init = await client.initialize(p.root, capabilities=CLAUDE_CODE_CAPABILITIES,
                                       workspaceFolders=None)
    run.timings["initialize answer"] = time.perf_counter() - started

    # A file it never opened (routed by path; the backend reads it from disk).
    run.facts["never-opened definition"] = await client.request("textDocument/definition", {
        "textDocument": {"uri": uri(p.other)}, "position": {"line": 2, "character": 12}},
        timeout=WAIT)

    main = await client.did_open(p.main)
    await client.wait_notification(PUBLISH, lambda m: m["params"]["uri"] == main, WAIT)

    # 1. A shell-style rewrite of the open file: the new type error shows, no notification.
    since = len(client.notifications)
    await asyncio.sleep(0.3)  # the watcher's first batch is settled
    written = time.perf_counter()
    shell_write(p.main, MAIN_SHELL_BROKEN)
    await client.wait_notification(PUBLISH, _errors_at(main, BROKEN_LINE), WAIT, since=since)
    run.timings["disk rewrite of the open file -> new diagnostics"] = time.perf_counter() - written

    # 2. A function deleted, on disk, from a module that is not open.
    since = len(client.notifications)
    written = time.perf_counter()
    shell_write(p.util, UTIL_WITHOUT_HELPER)
    await client.wait_notification(PUBLISH, _mentions(main, "helper"), WAIT, since=since)
    run.timings["function deleted in a closed module -> error in the open file"] = (
        time.perf_counter() - written)

    # 3. A dirty buffer is never overridden by the disk.
    since = len(client.notifications)
    client.did_change(main, 2, [{"text": MAIN_DIRTY}])
    await client.wait_notification(PUBLISH, _mentions(main, "dirty"), WAIT, since=since)
    since = len(client.notifications)
    shell_write(p.main, MAIN_ON_DISK_ONLY)
    shell_write(p.util, UTIL)  # written after main.py: its effect proves main.py was seen
    await client.wait_notification(PUBLISH, _mentions(main, "helper", present=False), WAIT, since=since)
    symbols = await client.request("textDocument/documentSymbol",
                                   {"textDocument": {"uri": main}}, timeout=WAIT)
    run.facts["dirty documentSymbol"] = json.dumps(symbols.get("result"))
    run.facts["dirty last publish"] = [n for n in client.notifications
                                       if n["method"] == PUBLISH and n["params"]["uri"] == main][-1]

    # 4. Idle close: typemux closes main.py in the backend; the client sees no "clean".
    # As Claude Code's own edits do: the buffer is written to disk and saved (a dirty
    # buffer is never closed: the backend would read the disk instead).
    shell_write(p.main, MAIN_DIRTY)
    client.notify("textDocument/didSave", {"textDocument": {"uri": main}})
    since = len(client.notifications)
    await _wait_log(client, "documents_idle_closed", IDLE_CLOSE + WAIT)
    await asyncio.sleep(1.0)  # the backend's answer to the close has come and gone
    run.facts["empty publishes after idle close"] = _empty_for(client, main, since)
    hover = await client.request("textDocument/hover", {
        "textDocument": {"uri": main}, "position": {"line": 2, "character": 15}}, timeout=WAIT)
    run.facts["hover after idle close"] = hover

    # 5. Idle-TTL eviction with the document open and in error: no empty publish.
    since = len(client.notifications)
    await _wait_log(client, "backend_evict", BACKEND_TTL + WAIT)
    await asyncio.sleep(1.0)
    run.facts["empty publishes after eviction"] = _empty_for(client, main, since)
    since = len(client.notifications)
    await client.request("textDocument/hover", {
        "textDocument": {"uri": main}, "position": {"line": 2, "character": 15}}, timeout=WAIT)
    republished = await client.wait_notification(PUBLISH, _mentions(main, "dirty"), WAIT,
                                                 since=since)
    run.facts["republished after restart"] = republished

    run.notifications = list(client.notifications)
    tree = process_tree(client.pid)
    run.exit_code = await client.shutdown_and_exit(timeout=WAIT)
    run.leftovers = still_running(tree)
    run.protocol_errors = list(client.protocol_errors)


def _report(run: Run) -> None:
    print(f"\n== Claude Code profile, typemux + {run.kind} ==")
    for name, seconds in run.timings.items():
        print(f"  {name:<64} {seconds * 1000:8.0f} ms")


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    require_backend(name)
    return name


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def run(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    result = Run(kind)
    project = make_project(tmp_path_factory.mktemp(f"claude-{kind}") / "proj")
    env = real_env(backend=kind, log_level="debug", backend_ttl=BACKEND_TTL,
                   document_idle_close=IDLE_CLOSE)
    result.cache_dir = Path(env["XDG_CACHE_HOME"])
    client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=project.root, env=env)
    try:
        await asyncio.wait_for(_script(client, result, project), SESSION_TIMEOUT)
    except BaseException as exc:  # recorded; each test re-raises it through Run.check
        result.error = exc
    finally:
        result.stderr_tail = client.stderr_text()[-6000:]
        result.facts["stderr"] = client.stderr_text()
        await client.aclose()
    _report(result)
    return result


def test_initialize_is_answered_before_any_backend_handshake(run: Run) -> None:
    run.check()
    assert run.init is not None and "result" in run.init
    events = []
    for line in run.facts["stderr"].splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "proxy_to_client" and entry.get("id") == run.init["id"]:
            events.append("initialize answered")
        elif entry.get("event") == "backend_started":
            events.append("backend handshake done")
    assert events[:2] == ["initialize answered", "backend handshake done"], events


def test_a_file_never_opened_is_answered(run: Run) -> None:
    run.check()
    answer = run.facts["never-opened definition"]
    assert "error" not in answer and answer["result"], answer
    assert "pkg/util.py" in json.dumps(answer["result"]), answer


def test_a_shell_rewrite_of_an_open_file_shows_its_type_error(run: Run) -> None:
    run.check()
    assert "disk rewrite of the open file -> new diagnostics" in run.timings


def test_a_function_deleted_on_disk_shows_in_the_file_that_calls_it(run: Run) -> None:
    run.check()
    assert "function deleted in a closed module -> error in the open file" in run.timings


def test_a_dirty_buffer_is_never_overridden(run: Run) -> None:
    run.check()
    symbols = run.facts["dirty documentSymbol"]
    assert "dirty_marker" in symbols and "on_disk_only" not in symbols, symbols
    last = run.facts["dirty last publish"]["params"]["diagnostics"]
    assert any("dirty" in d["message"] for d in last), last


def test_idle_close_is_invisible_to_the_client(run: Run) -> None:
    run.check()
    assert run.facts["empty publishes after idle close"] == []
    hover = run.facts["hover after idle close"]
    assert "error" not in hover and hover["result"], hover


def test_idle_ttl_eviction_never_tells_the_client_a_file_is_clean(run: Run) -> None:
    run.check()
    assert run.facts["empty publishes after eviction"] == []
    assert run.facts["republished after restart"]["params"]["diagnostics"]


def test_no_server_request_reaches_a_client_that_declared_none(run: Run) -> None:
    run.check()
    assert [m for m in run.notifications if m["method"] == "$/progress"] == []


def test_initialize_capabilities_equal_what_the_installed_backend_advertises(run: Run) -> None:
    """The first handshake is cached per backend version; the recorded table must agree
    with it (a drift fails here), and the next session answers from the cache."""
    run.check()
    assert run.cache_dir is not None
    files = list((run.cache_dir / "typemux" / "capabilities").glob(f"{run.kind}-*.json"))
    assert len(files) == 1, files
    learned = capabilities_cache.load(files[0].stem, files[0].parent)
    assert learned is not None
    live = client_capabilities(learned)
    assert get_kind(run.kind).capabilities == live, (
        f"the recorded table of {run.kind} disagrees with the installed backend")
    assert run.init is not None
    assert run.init["result"]["capabilities"] == get_kind(run.kind).capabilities
    answer = asyncio.run(_initialize_only(run.kind, run.cache_dir))
    assert answer == live


async def _initialize_only(kind: str, cache_home: Path) -> Any:
    env = real_env(backend=kind)
    env["XDG_CACHE_HOME"] = str(cache_home)
    client = await LspClient.start([sys.executable, "-m", "typemux"], cwd=cache_home, env=env)
    try:
        response = await client.initialize(cache_home, capabilities=CLAUDE_CODE_CAPABILITIES)
        await client.shutdown_and_exit()
    finally:
        await client.aclose()
    return response["result"]["capabilities"]


def test_no_process_remains_and_stdout_is_clean(run: Run) -> None:
    run.check()
    assert run.exit_code == 0
    assert run.leftovers == [], run.leftovers
    assert run.protocol_errors == []
