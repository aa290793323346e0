"""typemux with each real backend (pyright, basedpyright, ty, pyrefly) on a real monorepo.

One typemux per kind drives one scripted session over both projects (a module-scoped
fixture: real backends cost seconds to start); the tests then each check one property of
what that session recorded. Timings are printed (run with -s), never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio

from real.conftest import (
    KINDS,
    process_tree,
    require_backend,
    start_real_typemux,
    still_running,
)
from real.monorepo import Monorepo, Project, position_of
from support.client import LspClient, Message, uri

pytestmark = pytest.mark.real

SESSION_TIMEOUT = 150.0
DIAGNOSTICS_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0

Location = tuple[str, int, int, int, int]


@dataclass
class Run:
    """What one scripted session through typemux saw, step by step."""

    kind: str
    init: Message | None = None
    timings: dict[str, float] = field(default_factory=dict)
    first_refs: dict[str, set[Location]] = field(default_factory=dict)
    settled_refs: dict[str, set[Location]] = field(default_factory=dict)
    answers: dict[str, Message] = field(default_factory=dict)
    diagnostics: dict[str, list[Message]] = field(default_factory=dict)
    backends_after_first: set[int] = field(default_factory=set)
    backends_after_both: set[int] = field(default_factory=set)
    backends_after_switch: set[int] = field(default_factory=set)
    rss_mb: dict[str, float] = field(default_factory=dict)
    tree_before_shutdown: list[str] = field(default_factory=list)
    leftovers: list[str] | None = None
    exit_code: int | None = None
    protocol_errors: list[str] = field(default_factory=list)
    error: BaseException | None = None
    stderr_tail: str = ""

    def check(self) -> None:
        """Fail with the session's error (and typemux's log tail) if the script broke off."""
        if self.error is not None:
            raise AssertionError(
                f"{self.kind} session failed: {self.error!r}\n--- typemux stderr tail ---\n"
                f"{self.stderr_tail}"
            ) from self.error


def _locations(response: Message) -> set[Location]:
    result = response.get("result") or []
    return {
        (
            loc["uri"].rsplit("/", 1)[-1],
            loc["range"]["start"]["line"],
            loc["range"]["start"]["character"],
            loc["range"]["end"]["line"],
            loc["range"]["end"]["character"],
        )
        for loc in result
    }


def _text_position(path: Any, needle: str, occurrence: int = 0, offset: int = 1) -> Message:
    pos = position_of(path, needle, occurrence)
    return {"textDocument": {"uri": uri(path)}, "position": {**pos, "character": pos["character"] + offset}}


def _call_of_compute_total(project: Project) -> Message:
    return _text_position(project.main, "compute_total(", 0)


def _mentions(module: str) -> Callable[[Message], bool]:
    def predicate(msg: Message) -> bool:
        return any(module in d.get("message", "") for d in msg["params"]["diagnostics"])

    return predicate


def _for_uri(doc_uri: str, then: Callable[[Message], bool] | None = None) -> Callable[[Message], bool]:
    def predicate(msg: Message) -> bool:
        return msg["params"]["uri"] == doc_uri and (then is None or then(msg))

    return predicate


def _backends(client: LspClient) -> dict[int, tuple[str, list[psutil.Process]]]:
    """typemux's backend processes: pid of each direct child started for a venv (it has
    VIRTUAL_ENV, which typemux's own helpers do not) -> (project name, its whole tree)."""
    found: dict[int, tuple[str, list[psutil.Process]]] = {}
    try:
        children = psutil.Process(client.pid).children(recursive=False)
    except psutil.NoSuchProcess:
        return found
    for child in children:
        try:
            venv = child.environ().get("VIRTUAL_ENV")
            if venv:
                found[child.pid] = (Path(venv).parent.name, [child, *child.children(recursive=True)])
        except psutil.Error:
            continue
    return found


def _backend_roots(client: LspClient) -> set[int]:
    return set(_backends(client))


def _rss_by_backend(client: LspClient) -> dict[str, float]:
    rss: dict[str, float] = {}
    for project, tree in _backends(client).values():
        with contextlib.suppress(psutil.Error):
            rss[project] = sum(p.memory_info().rss for p in tree) / 2**20
    return rss


async def _open_project(client: LspClient, run: Run, project: Project, label: str) -> None:
    """didOpen main.py, fire references at once, and wait for both them and the diagnostics."""
    since = len(client.notifications)
    started = time.perf_counter()
    doc = await client.did_open(project.main)
    refs_id = client.send_request("textDocument/references", {
        **_call_of_compute_total(project), "context": {"includeDeclaration": True}})

    async def diagnostics() -> None:
        await client.wait_notification(
            "textDocument/publishDiagnostics",
            _for_uri(doc, _mentions(project.foreign_module)),
            DIAGNOSTICS_TIMEOUT,
            since=since,
        )
        run.timings[f"{label}: didOpen to unresolved-import diagnostics"] = (
            time.perf_counter() - started
        )

    async def references() -> None:
        refs = await client.response(refs_id, REQUEST_TIMEOUT)
        run.timings[f"{label}: first references after didOpen"] = time.perf_counter() - started
        run.answers[f"{label}:first-references"] = refs
        run.first_refs[project.name] = _locations(refs)

    await asyncio.gather(diagnostics(), references())


async def _query(client: LspClient, run: Run, key: str, method: str, params: Message) -> float:
    started = time.perf_counter()
    run.answers[key] = await client.request(method, params, timeout=REQUEST_TIMEOUT)
    return time.perf_counter() - started


async def _script(client: LspClient, run: Run, repo: Monorepo) -> None:
    a, b = repo.a, repo.b
    started = time.perf_counter()
    run.init = await client.initialize(repo.root)
    run.timings["initialize answer"] = time.perf_counter() - started

    await _open_project(client, run, a, "project-a (cold)")
    run.backends_after_first = _backend_roots(client)
    await _open_project(client, run, b, "project-b (cold)")
    run.backends_after_both = _backend_roots(client)

    # Back to project-a: its backend is warm, nothing may start.
    run.timings["project-a warm hover (switch back)"] = await _query(
        client, run, "a:hover", "textDocument/hover", _text_position(a.main, "describe"))
    for project in (a, b):
        tag = project.name[-1]
        await _query(client, run, f"{tag}:definition", "textDocument/definition",
                     _call_of_compute_total(project))
        pos = position_of(project.main, "compute_total(")
        await _query(client, run, f"{tag}:completion", "textDocument/completion", {
            "textDocument": {"uri": uri(project.main)},
            "position": {"line": pos["line"], "character": pos["character"] + len("compute_total")},
        })
        await _query(client, run, f"{tag}:documentSymbol", "textDocument/documentSymbol",
                     {"textDocument": {"uri": uri(project.main)}})
        if tag == "b":
            await _query(client, run, "b:hover", "textDocument/hover",
                         _text_position(b.main, "describe"))
        run.timings[f"{project.name} settled references"] = await _query(
            client, run, f"{tag}:settled-references", "textDocument/references",
            {**_call_of_compute_total(project), "context": {"includeDeclaration": True}})
        run.settled_refs[project.name] = _locations(run.answers[f"{tag}:settled-references"])

    run.backends_after_switch = _backend_roots(client)
    run.rss_mb = _rss_by_backend(client)
    for project in (a, b):
        doc = uri(project.main)
        run.diagnostics[project.name] = [
            n for n in client.notifications
            if n["method"] == "textDocument/publishDiagnostics" and n["params"]["uri"] == doc
        ]

    tree = process_tree(client.pid)
    run.tree_before_shutdown = [f"{p.pid} {p.name()}" for p in tree]
    started = time.perf_counter()
    run.exit_code = await client.shutdown_and_exit(timeout=REQUEST_TIMEOUT)
    run.timings["shutdown + exit until typemux is gone"] = time.perf_counter() - started
    run.leftovers = still_running(tree)
    run.protocol_errors = list(client.protocol_errors)


def _report(run: Run) -> None:
    print(f"\n== typemux + {run.kind} ==")
    for name, seconds in run.timings.items():
        print(f"  {name:<50} {seconds * 1000:8.0f} ms")
    for venv, mb in sorted(run.rss_mb.items()):
        print(f"  RSS of the backend for {venv:<26} {mb:8.0f} MB")


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    require_backend(name)
    return name


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def run(kind: str, real_monorepo: Monorepo) -> Run:
    result = Run(kind)
    client = await start_real_typemux(real_monorepo.root, kind)
    try:
        await asyncio.wait_for(_script(client, result, real_monorepo), SESSION_TIMEOUT)
    except BaseException as exc:  # recorded; each test re-raises it through Run.check
        result.error = exc
    finally:
        result.stderr_tail = client.stderr_text()[-4000:]
        await client.aclose()
    _report(result)
    return result


def test_initialize_answers_with_the_kinds_capabilities(run: Run) -> None:
    run.check()
    assert run.init is not None
    caps = run.init["result"]["capabilities"]
    assert caps["positionEncoding"] == "utf-16"
    assert caps["hoverProvider"] and caps["referencesProvider"]


@pytest.mark.parametrize("project", ["project-a", "project-b"])
def test_venv_only_import_resolves_only_in_its_own_project(run: Run, project: str) -> None:
    run.check()
    own, foreign = ("alpha_only", "beta_only") if project == "project-a" else (
        "beta_only", "alpha_only")
    publishes = run.diagnostics[project]
    assert publishes, f"no diagnostics for {project}/main.py"
    last = [d["message"] for d in publishes[-1]["params"]["diagnostics"]]
    assert any(foreign in m for m in last), last
    assert not any(own in m for m in last), last


@pytest.mark.parametrize("project", ["project-a", "project-b"])
def test_first_references_after_did_open_are_complete(run: Run, project: str) -> None:
    run.check()
    first, settled = run.first_refs[project], run.settled_refs[project]
    files = {loc[0] for loc in first}
    assert {"main.py", "other.py", "util.py"} <= files, first
    assert first == settled


@pytest.mark.parametrize("query", ["hover", "definition", "completion", "documentSymbol"])
@pytest.mark.parametrize("tag", ["a", "b"])
def test_queries_answer(run: Run, query: str, tag: str) -> None:
    run.check()
    response = run.answers[f"{tag}:{query}"]
    assert "error" not in response, response
    assert response["result"], response


def test_definition_lands_in_the_projects_own_util(run: Run) -> None:
    run.check()
    for tag, pkg in (("a", "pkg_a"), ("b", "pkg_b")):
        result = run.answers[f"{tag}:definition"]["result"]
        if isinstance(result, dict):  # a single Location is a valid answer too
            result = [result]
        targets = [t.get("uri") or t.get("targetUri") for t in result]
        assert any(t.endswith(f"/project-{tag}/{pkg}/util.py") for t in targets), targets


def test_switching_projects_starts_nothing_new(run: Run) -> None:
    run.check()
    assert len(run.backends_after_first) == 1, run.backends_after_first
    assert len(run.backends_after_both) == 2, run.backends_after_both
    assert run.backends_after_switch == run.backends_after_both


def test_no_process_remains_after_shutdown(run: Run) -> None:
    run.check()
    assert run.exit_code == 0
    assert run.tree_before_shutdown, "no backend process was seen before shutdown"
    assert run.leftovers == [], run.leftovers


def test_stdout_carried_only_lsp_frames(run: Run) -> None:
    run.check()
    assert run.protocol_errors == []
