"""Fuzzing typemux's stdin: whatever arrives, it stays up, writes only well-formed frames,
answers the next well-formed request, and answers every request exactly once.

One typemux per test function, driven from a private event loop so hypothesis can run its
examples synchronously; after every example a resynchronising tail and a probe request
bring the stream back to a known state.

Exactly-once accounting: every byte written to typemux's stdin is kept; decoding it with
typemux's own message decoder says which requests typemux received and which malformed
inputs it must answer (with their id, or null). The ids of the responses that came back must be
exactly those, as a multiset: a missing one is an unanswered request, an extra one a
double answer. Random input once found two ways typemux lost an answer (a reused in-flight
id, a request without "jsonrpc": "2.0"); each has its own test at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import StartTypemux, typemux_env
from support.client import LspClient, uri
from support.workspace import fake_backend_command, make_monorepo, make_venv
from typemux.wire.endpoint import EOF, NEED_DATA, Endpoint, Incoming, Malformed

MAX_MESSAGE = 4096
# Completes any body still awaited (≤ MAX_MESSAGE) or skipped (oversize ones are drawn ≤
# 3 x MAX_MESSAGE), and overflows any half header into a resync; blanks between frames are
# ignored, so the tail itself is harmless.
RESYNC_TAIL = b" " * (4 * MAX_MESSAGE + 64)
FUZZ_SETTINGS = settings(max_examples=250, deadline=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
UNSAFE_METHODS = {"exit", "shutdown", "initialize"}
ANSWER_TIMEOUT = 30.0


def _key(request_id: Any) -> str:
    return json.dumps(request_id, sort_keys=True)


def owed_answers(stdin: bytes, max_size: int) -> Counter[str]:
    """The ids typemux owes one answer each for, from the bytes it read on stdin: every
    request, and every malformed input (with its id when readable, else null)."""
    decoder = Endpoint(max_size)
    decoder.receive_data(stdin)  # no EOF: typemux's stdin is still open
    owed: Counter[str] = Counter()
    while True:
        item = decoder.next_event()
        if item is NEED_DATA or item is EOF:
            return owed
        if isinstance(item, Incoming):
            if "id" in item.msg and "method" in item.msg:
                owed[_key(item.msg["id"])] += 1
        elif isinstance(item, Malformed):
            owed[_key(item.request_id)] += 1


def requests_with(stdin: bytes, keys: Iterable[str]) -> list[str]:
    """What was sent with one of these ids (for failure messages)."""
    wanted = set(keys)
    decoder = Endpoint(MAX_MESSAGE)
    decoder.receive_data(stdin)
    found: list[str] = []
    while (item := decoder.next_event()) is not NEED_DATA and item is not EOF:
        if isinstance(item, Incoming) and "method" in item.msg and "id" in item.msg \
                and _key(item.msg["id"]) in wanted:
            found.append(repr(item.raw[:300]))
        elif isinstance(item, Malformed) and _key(item.request_id) in wanted:
            found.append(f"malformed: {item.reason}")
    return found


def answered(received: Iterable[dict[str, Any]]) -> Counter[str]:
    return Counter(_key(m["id"]) for m in received if "method" not in m and "id" in m)


def answer_mismatch(owed: Counter[str], got: Counter[str]) -> tuple[Counter[str], Counter[str]]:
    """(unanswered, answered more often than asked)."""
    return owed - got, got - owed


class Session:
    def __init__(self, runner: asyncio.Runner, client: LspClient, doc: str) -> None:
        self.runner = runner
        self.client = client
        self.doc = doc
        self.probes = 0
        self.stdin = bytearray()

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
        # Answers to the fuzz's own requests have ids the harness never awaited: not an
        # error here; check_exactly_once accounts for them.
        errors = [e for e in self.client.protocol_errors if "unknown id" not in e]
        assert errors == []

    def check_exactly_once(self, timeout: float = ANSWER_TIMEOUT) -> None:
        """Every request typemux read got exactly one answer (waiting for late ones)."""
        owed = owed_answers(bytes(self.stdin), MAX_MESSAGE)
        deadline = time.monotonic() + timeout
        while True:
            missing, extra = answer_mismatch(owed, answered(self.client.received))
            if extra or not missing or time.monotonic() > deadline:
                break
            self.run(asyncio.sleep(0.05))
        # One more round trip, so that a second answer on its way has time to show.
        self.probe()
        owed = owed_answers(bytes(self.stdin), MAX_MESSAGE)
        missing, extra = answer_mismatch(owed, answered(self.client.received))
        assert not extra, f"answered more than once: {dict(extra)}"
        problems = [line[:300] for line in self.client.stderr_text().splitlines()
                    if '"level": "error"' in line or "dropped" in line]
        assert not missing, (f"never answered: {requests_with(bytes(self.stdin), missing)}; "
                             f"typemux's errors: {problems[-5:]}")


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    projects = make_monorepo(tmp_path / "mono", ("proj-a",))
    root = projects["proj-a"].parent
    env = typemux_env(backend_command=fake_backend_command(), warmup_timeout=0,
                      max_message_size=MAX_MESSAGE, log_level="warning")
    with asyncio.Runner() as runner:
        client = runner.run(LspClient.start([sys.executable, "-m", "typemux"], cwd=root, env=env))
        # The harness's own ids start far above the fuzz's small integers, so that a fuzz
        # request's late answer is never taken for a probe's.
        client._ids = itertools.count(10**30)
        session_stdin = bytearray()
        send_raw = client.send_raw

        def logged_send_raw(data: bytes) -> None:
            session_stdin.extend(data)
            send_raw(data)

        client.send_raw = logged_send_raw  # type: ignore[method-assign]

        async def setup() -> str:
            await client.initialize(root)
            return await client.did_open(projects["proj-a"] / "main.py")

        session = Session(runner, client, runner.run(setup()))
        session.stdin = session_stdin
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


def test_random_input_gets_exactly_one_answer_per_request(session: Session) -> None:
    @FUZZ_SETTINGS
    @given(st.lists(chunks, min_size=1, max_size=6))
    def example(parts: list[bytes]) -> None:
        for part in parts:
            session.client.send_raw(part)
        session.probe()

    example()
    session.check_output()
    session.check_exactly_once(timeout=10)


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
    session.check_exactly_once()


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
    session.check_exactly_once()


def test_the_accounting_sees_double_and_missing_answers() -> None:
    def request(request_id: Any, method: str = "textDocument/hover") -> bytes:
        return frame(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method}).encode())

    stdin = b"".join([
        request(1), request(1), request("a"),
        frame(json.dumps({"jsonrpc": "2.0", "id": 9, "result": None}).encode()),  # a response
        frame(json.dumps({"jsonrpc": "2.0", "method": "initialized"}).encode()),  # notification
        frame(json.dumps({"jsonrpc": "2.0", "id": 5, "method": 7}).encode()),  # malformed, id 5
        frame(b"\xff\xfe"), b"Content-Length: abc\r\n\r\n",  # malformed, no id: null
    ])
    owed = owed_answers(stdin, MAX_MESSAGE)
    assert owed == Counter({_key(1): 2, _key("a"): 1, _key(5): 1, _key(None): 2})

    def answers(*request_ids: Any) -> list[dict[str, Any]]:
        return [{"jsonrpc": "2.0", "id": i, "result": None} for i in request_ids]

    assert answer_mismatch(owed, answered(answers(1, 1, "a", 5, None, None))) == (
        Counter(), Counter())
    missing, extra = answer_mismatch(owed, answered(answers(1, "a", 5, None, None)))
    assert (missing, extra) == (Counter({_key(1): 1}), Counter())
    missing, extra = answer_mismatch(owed, answered(answers(1, 1, "a", "a", 5, None, None)))
    assert (missing, extra) == (Counter(), Counter({_key("a"): 1}))


async def test_a_reused_in_flight_id_gets_one_answer_per_request(
        tmp_path: Path, start_typemux: StartTypemux) -> None:
    root = tmp_path / "proj"
    make_monorepo(tmp_path, ())  # git init only
    root.mkdir()
    make_venv(root, fake={"delays": {"textDocument/hover": 2}})  # the first stays in flight
    (root / "main.py").write_text("x = 1\n")
    client = await start_typemux(root)
    await client.initialize(root)
    doc = await client.did_open(root / "main.py")
    params = {"textDocument": {"uri": doc}, "position": {"line": 0, "character": 0}}
    for method in ("textDocument/hover", "textDocument/definition"):
        client.send_raw(frame(json.dumps(
            {"jsonrpc": "2.0", "id": 5, "method": method, "params": params}).encode()))
    deadline = time.monotonic() + 10  # the hover is answered after 2 s
    while answered(client.received)[_key(5)] < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # waiting for the answers, at most ANSWER_TIMEOUT
    assert answered(client.received)[_key(5)] == 2


def test_a_request_without_jsonrpc_version_gets_an_answer(session: Session) -> None:
    session.client.send_raw(frame(json.dumps({"id": 77, "method": "custom/thing",
                                              "params": {}}).encode()))
    session.check_exactly_once(timeout=5)  # the fake answers at once when it answers
