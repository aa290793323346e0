"""Fuzzing typemux's stdin: whatever arrives, it stays up, writes only well-formed frames,
and answers the next well-formed request.

One typemux per test function, driven from a private event loop so hypothesis can run its
examples synchronously; after every example a resynchronising tail and a probe request
bring the stream back to a known state.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import typemux_env
from support.client import LspClient, uri
from support.workspace import fake_backend_command, make_monorepo

MAX_MESSAGE = 4096
# Completes any body still awaited (≤ MAX_MESSAGE) or skipped (oversize ones are drawn ≤
# 3 x MAX_MESSAGE), and overflows any half header into a resync; blanks between frames are
# ignored, so the tail itself is harmless.
RESYNC_TAIL = b" " * (4 * MAX_MESSAGE + 64)
FUZZ_SETTINGS = settings(max_examples=250, deadline=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
UNSAFE_METHODS = {"exit", "shutdown", "initialize"}


class Session:
    def __init__(self, runner: asyncio.Runner, client: LspClient, doc: str) -> None:
        self.runner = runner
        self.client = client
        self.doc = doc
        self.probes = 0

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def probe(self) -> None:
        """A well-formed request after the resync tail must be answered."""
        self.probes += 1

        async def go() -> dict[str, Any]:
            self.client.send_raw(RESYNC_TAIL)
            return await self.client.request("textDocument/hover", {
                "textDocument": {"uri": self.doc}, "position": {"line": 0, "character": 0}})

        answer = self.run(go())
        assert answer.get("result") is not None, answer
        assert self.client.process.returncode is None

    def check_output(self) -> None:
        # Answers to the fuzz's own requests have ids the harness never sent: not an error.
        errors = [e for e in self.client.protocol_errors if "unknown id" not in e]
        assert errors == []


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    projects = make_monorepo(tmp_path / "mono", ("proj-a",))
    root = projects["proj-a"].parent
    env = typemux_env(backend_command=fake_backend_command(), warmup_timeout=0,
                      max_message_size=MAX_MESSAGE, log_level="warning")
    with asyncio.Runner() as runner:
        client = runner.run(LspClient.start([sys.executable, "-m", "typemux"], cwd=root, env=env))

        async def setup() -> str:
            await client.initialize(root)
            return await client.did_open(projects["proj-a"] / "main.py")

        session = Session(runner, client, runner.run(setup()))
        session.probe()
        yield session
        runner.run(client.aclose())


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# every JSON type, plus integers beyond 64 bits
ids = json_values | st.integers(min_value=2**63, max_value=2**80)
methods = st.sampled_from([
    "textDocument/hover", "textDocument/definition", "textDocument/references",
    "textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
    "workspace/symbol", "$/cancelRequest", "initialized", "custom/thing", "",
]) | st.text(max_size=30).filter(lambda m: m not in UNSAFE_METHODS)
unknown_uris = st.sampled_from([
    "file:///nonexistent/x.py", "untitled:Untitled-1", "not a uri", "file://", "",
    "file:///%ZZ", "file:///tmp/../../etc/passwd",
]) | st.text(max_size=30)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A JSON-RPC-ish body: right or wrong shapes, ids of every type, unknown documents."""
    msg: dict[str, Any] = {}
    if draw(st.booleans()):
        msg["jsonrpc"] = draw(st.sampled_from(["2.0", "1.0", None, 2]))
    if draw(st.booleans()):
        msg["id"] = draw(ids)
    if draw(st.integers(0, 4)):
        msg["method"] = draw(methods | st.integers())
    if draw(st.booleans()):
        doc = {"uri": draw(unknown_uris), "version": draw(json_values), "text": draw(st.text(max_size=40))}
        msg["params"] = draw(st.sampled_from([
            {"textDocument": doc, "position": {"line": 0, "character": 0}},
            {"textDocument": doc, "contentChanges": draw(json_values)},
            {"id": draw(ids)},
        ]) | json_values)
    if draw(st.integers(0, 5)) == 0:
        msg[draw(st.sampled_from(["result", "error"]))] = draw(json_values)
    return json.dumps(msg).encode()


chunks = st.one_of(
    st.binary(max_size=200),  # random bytes
    messages().map(frame),  # well framed, questionable content
    messages().map(lambda b: frame(b)[: max(1, len(frame(b)) // 2)]),  # truncated frame
    st.binary(min_size=1, max_size=64).map(lambda b: frame(b"\xff\xfe" + b)),  # invalid UTF-8
    st.integers(MAX_MESSAGE + 1, 3 * MAX_MESSAGE).map(  # oversize, body follows
        lambda n: b"Content-Length: %d\r\n\r\n" % n + b"x" * n),
    st.integers(0, MAX_MESSAGE).map(lambda n: b"Content-Length: %d\r\n\r\n" % n),  # body missing
    st.sampled_from([  # header oddities
        b"Content-Length: -1\r\n\r\n", b"Content-Length: abc\r\n\r\n", b"content-length:2\n\n{}",
        b"Content-Length: 99999999999999999999999\r\n\r\n", b"Content-Type: x\r\n\r\n{}",
        b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", b"\r\n\r\n\r\n", b"{}",
        frame(b"[]"), frame(b"null"), frame(b'"x"'), frame(b"[{}]"), frame(b"1e999"),
    ]),
)


def test_random_input_never_stops_typemux(session: Session) -> None:
    @FUZZ_SETTINGS
    @given(st.lists(chunks, min_size=1, max_size=6))
    def example(parts: list[bytes]) -> None:
        for part in parts:
            session.client.send_raw(part)
        session.probe()

    example()
    session.check_output()


def test_requests_for_unknown_documents_get_one_answer_each(session: Session) -> None:
    @settings(max_examples=100, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["textDocument/hover", "textDocument/definition",
                            "textDocument/references", "textDocument/documentSymbol",
                            "callHierarchy/incomingCalls"]),
           unknown_uris)
    def example(method: str, doc_uri: str) -> None:
        params: dict[str, Any] = {"textDocument": {"uri": doc_uri},
                                  "position": {"line": 0, "character": 0}}
        if method.startswith("callHierarchy"):
            params = {"item": {"uri": doc_uri, "name": "f", "kind": 12}}
        answer = session.run(session.client.request(method, params))
        assert ("result" in answer) != ("error" in answer), answer

    example()
    session.probe()
    session.check_output()
    # exactly one answer each: no response arrived for an id twice
    ids_seen = [m["id"] for m in session.client.received if "method" not in m]
    assert len(ids_seen) == len(set(map(json.dumps, ids_seen)))


def test_whole_frame_of_every_id_type_is_answered_or_ignored(session: Session) -> None:
    @FUZZ_SETTINGS
    @given(ids)
    def example(request_id: Any) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "textDocument/hover",
                           "params": {"textDocument": {"uri": uri(Path("/nowhere/x.py"))},
                                      "position": {"line": 0, "character": 0}}}).encode()
        session.client.send_raw(frame(body))
        session.probe()

    example()
    session.check_output()
