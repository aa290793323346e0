"""A model-based test of the Router: random interleavings of client messages, backend
answers, crashes, handshakes, timers and evictions, with the router's invariants checked
after every step.

The model plays the client and every backend. It applies each ToBackend didOpen/didChange/
didClose to its copy of that backend's documents (with typemux.documents, the same edit
rules as an LSP server), and checks:

- every client request is answered exactly once, or is still legitimately pending (in a
  backend's in-flight table, in one of its queues, or in a fan-out); a cancelled request is
  answered within 1 s of its cancel, whatever the backend does;
- per document, each backend receives the client's messages in the client's order, and a
  request reaches its backend when that backend's text of the document is the text the
  client had when it sent the request;
- every spawned session is in the pool or was stopped (a Stop action), and nothing is sent to
  a session after its Stop;
- each live backend's text of each document equals the client's, except for documents whose
  messages are held back behind a waiting request.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from support.venv_lookup import DictLookup
from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.core import ordering
from typemux.core.actions import Exit, PoolChanged, Spawn, Stop, ToBackend, ToClient
from typemux.core.lifecycle import INIT_ID, SHUTDOWN_ID, LifecycleSettings
from typemux.core.ports import VenvIdentity
from typemux.core.router import CANCEL_GRACE, Router, RouterSettings
from typemux.core.session import State
from typemux.core.stopping import SHUTDOWN_ANSWER_GRACE
from typemux.documents import apply_change
from typemux.uris import path_to_uri


class LogReady(ReadinessDetector):
    def observe(self, msg: Any) -> str | None:
        params = msg.get("params") or {}
        if msg.get("method") == "window/logMessage" and "ready" in str(params.get("message")):
            return "log ready"
        return None


KIND = BackendKind(name="model", command=("model-lsp",), version_command=None,
                   capabilities={"hoverProvider": True}, readiness=LogReady)


def _workspace() -> tuple[Path, list[str], Path]:
    """Projects a, b and c have a venv, novenv none: paths only (the lookup is in memory)."""
    root = Path("/model-workspace")
    uris = []
    for name in ("a", "b", "c", "novenv"):
        for doc in ("one.py", "two.py") if name in ("a", "b") else ("one.py",):
            uris.append(path_to_uri(root / name / "pkg" / doc))
    uris.append("untitled:Untitled-1")
    return root, uris, root / "a" / ".venv"


ROOT, URIS, FALLBACK = _workspace()
METHODS = ["textDocument/hover", "textDocument/definition", "textDocument/references",
           "textDocument/completion"]
TEXTS = ["", "x = 1\n", "import os\nvalue = os.sep\n", "a\r\nb\rc\n", "é😀\n\n"]
INSERTS = ["", "z", "\n", "line\n", "😀", "\r\n"]


@dataclass
class Pending:
    method: str
    uri: str | None
    seq: int
    cancelled_at: float | None = None


@dataclass
class BackendModel:
    venv: Path
    stopped: bool = False
    shutdown_at: float | None = None  # when typemux sent it shutdown
    shutdown_answered: bool = False
    init_sent: bool = False
    handshaken: bool = False
    docs: dict[str, str] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)
    last_all: int = -1  # seq of the last workspace-wide request it received
    requests: list[Any] = field(default_factory=list)  # client ids received, not answered yet


class Twin:
    """The router under test, and a twin with the short path off fed the same events (deep
    copies): each batch of actions the two take must be the same, so the short path decides
    only what the long way would. Anything else is read from the router under test."""

    EVENTS = frozenset({"client_message", "backend_message", "backend_spawned",
                        "backend_spawn_failed", "backend_exited", "venv_checked",
                        "memory_sample", "timer", "terminate"})

    def __init__(self, router: Router, twin: Router) -> None:
        twin.short_path = False
        self._router = router
        self._twin = twin

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._router, name)
        if name not in self.EVENTS:
            return value

        def both(*args: Any) -> None:
            copies = copy.deepcopy(args)
            value(*args)
            getattr(self._twin, name)(*copies)
        return both

    def take_actions(self) -> list[Any]:
        actions = self._router.take_actions()
        assert actions == self._twin.take_actions(), "the short path decided otherwise"
        return actions


class RouterMachine(RuleBasedStateMachine):
    MAX_BACKENDS = 2
    WARMUP_TIMEOUT = 2.0

    def __init__(self) -> None:
        super().__init__()
        lifecycle = LifecycleSettings(argv=["/usr/bin/model-lsp"], max_backends=self.MAX_BACKENDS,
                                      backend_ttl=30.0, warmup_timeout=self.WARMUP_TIMEOUT,
                                      handshake_timeout=10.0, pid=1)
        self.lookup = DictLookup(cached=True, ttl=5.0, clock=lambda: self.now)
        self.inodes = itertools.count(1)
        # each venv's pyvenv.cfg identity as the runtime would stat it (None: removed)
        self.venv_ids: dict[Path, VenvIdentity | None] = {}
        for name in ("a", "b", "c"):
            self.venv_ids[self.lookup.add(ROOT / name)] = VenvIdentity(1, next(self.inodes), 0, 0)
        self.checked_at: dict[Path, float] = {}
        router_settings = RouterSettings(lifecycle, fanout_timeout=5.0, fallback_venv=FALLBACK)
        self.router = Twin(Router(router_settings, KIND, self.lookup),
                           Router(router_settings, KIND, self.lookup))
        self.now = 1000.0
        self.seq = itertools.count()
        self.ids = itertools.count(1)
        self.client_docs: dict[str, tuple[str, int]] = {}
        self.pending: dict[Any, Pending] = {}
        self.backends: dict[int, BackendModel] = {}
        self.seq_of: dict[int, int] = {}  # id(message dict) -> client seq
        self.first_backend: dict[Any, int] = {}  # request id -> the session it reached first
        self.sent: list[Any] = []  # keeps client messages alive, so their id()s stay unique
        self.request_text: dict[Any, str | None] = {}
        self.shut_down = False
        self.terminated = self.ending = False
        self.items: list[Any] = []
        self.request_method: dict[Any, str] = {}  # completion items the client received
        self.client_send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                          "params": {"processId": 1, "rootUri": path_to_uri(ROOT), "capabilities": {}}})
        self.client_send({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    # ----- plumbing ----------------------------------------------------------------------
    def client_send(self, msg: dict[str, Any]) -> None:
        seq = next(self.seq)
        self.seq_of[id(msg)] = seq
        self.sent.append(msg)
        if "id" in msg:
            scope = ordering.scope(msg) if msg["method"] != "initialize" else None
            uri = scope if scope not in (None, ordering.ALL) else None
            self.pending[msg["id"]] = Pending(msg["method"], uri, seq)
            self.request_method[msg["id"]] = msg["method"]
            # the text the client had when it asked (None: not open)
            self.request_text[msg["id"]] = self.client_docs[uri][0] if uri in self.client_docs else None
        self.look_at_venvs()
        self.router.client_message(msg, None, self.now)
        self.drain()

    def look_at_venvs(self) -> None:
        """What the runtime does around the core (runtime/identity.py): report each pooled
        venv's identity, at most once a second."""
        venvs = {b.venv for b in self.router.pool}
        self.checked_at = {v: t for v, t in self.checked_at.items() if v in venvs}
        for venv in sorted(venvs):
            last = self.checked_at.get(venv)
            if last is None or self.now - last >= 1.0:
                self.checked_at[venv] = self.now
                self.router.venv_checked(venv, self.venv_ids.get(venv), self.now)

    def drain(self) -> None:
        self.look_at_venvs()
        for action in self.router.take_actions():
            if isinstance(action, ToClient):
                self.to_client(action.msg)
            elif isinstance(action, ToBackend):
                self.to_backend(action.session, action.msg)
            elif isinstance(action, Spawn):
                assert not self.shut_down, "a backend was started after shutdown"
                assert action.session not in self.backends, "a session id was reused"
                self.backends[action.session] = BackendModel(action.venv)
            elif isinstance(action, Stop):
                event("a backend stopped")
                model = self.backends[action.session]
                assert not model.stopped, f"session {action.session} stopped twice"
                model.stopped = True
            else:
                assert isinstance(action, PoolChanged | Exit)

    def to_client(self, msg: dict[str, Any]) -> None:
        if "method" in msg:
            if "id" in msg:  # a backend's question the client does not answer: typemux does
                self.router.client_message({"jsonrpc": "2.0", "id": msg["id"], "result": None},
                                           None, self.now)
            return
        request_id = msg["id"]
        assert request_id in self.pending, f"request {request_id} answered twice or never asked: {msg}"
        if self.pending[request_id].cancelled_at is not None:
            event("a cancelled request answered")
        del self.pending[request_id]
        result = msg.get("result")
        if isinstance(result, dict) and isinstance(result.get("items"), list):
            self.items.extend(result["items"])

    def to_backend(self, session: int, msg: dict[str, Any]) -> None:
        model = self.backends[session]
        assert not model.stopped, f"session {session} got {msg.get('method')} after its Stop"
        method = msg.get("method")
        params = msg.get("params") or {}
        if method == "initialize":
            model.init_sent = True
            return
        if msg.get("id") == SHUTDOWN_ID:
            assert model.shutdown_at is None, f"session {session} got shutdown twice"
            model.shutdown_at = self.now
            return
        if method == "exit":
            assert model.shutdown_at is not None, f"session {session} got exit before shutdown"
            # when typemux itself ends, exit goes at once: it cannot wait for answers then
            assert (model.shutdown_answered or self.ending
                    or self.now >= model.shutdown_at + SHUTDOWN_ANSWER_GRACE), \
                f"session {session} got exit before its shutdown answer or the grace"
            return
        if method is None or method == "initialized":
            return
        seq = self.seq_of.get(id(msg))
        scope = ordering.scope(msg)
        # A request routed again (its backend stopped with its venv) reaches its new backend
        # after what the client sent meanwhile to all backends; its own document's order and
        # text are still checked (typemux answers it ContentModified if that changed).
        first = self.first_backend.setdefault(msg["id"], session) if "id" in msg else session
        routed_again = first != session
        if seq is not None and scope is not None:
            if routed_again and scope != ordering.ALL:
                assert seq > model.last_seq.get(scope, -1), \
                    f"session {session}: {method} for {scope} routed again out of its order"
                model.last_seq[scope] = seq
            elif scope == ordering.ALL:
                assert seq > max([model.last_all, *model.last_seq.values()]), \
                    f"session {session}: workspace request {msg.get('id')} overtook a document message"
                model.last_all = seq
            else:
                assert seq > max(model.last_seq.get(scope, -1), model.last_all), \
                    f"session {session}: {method} for {scope} out of the client's order"
                model.last_seq[scope] = seq
        doc = params.get("textDocument") if isinstance(params, dict) else None
        if method == "textDocument/didOpen":
            assert doc["uri"] not in model.docs, f"session {session}: {doc['uri']} opened twice"
            model.docs[doc["uri"]] = doc["text"]
        elif method == "textDocument/didChange":
            assert doc["uri"] in model.docs, f"session {session}: didChange of a closed {doc['uri']}"
            text = model.docs[doc["uri"]]
            for change in params["contentChanges"]:
                text = apply_change(text, change)
            model.docs[doc["uri"]] = text
        elif method == "textDocument/didClose":
            assert model.docs.pop(doc["uri"], None) is not None, \
                f"session {session}: didClose of a document it does not have"
        elif method == "completionItem/resolve":
            assert params["data"] == {"from": session}, (
                f"session {session} asked to resolve an item of session {params['data']}")
            model.requests.append(msg["id"])
        elif "id" in msg:
            request_id = msg["id"]
            model.requests.append(request_id)
            pending = self.pending.get(request_id)
            if pending is not None and pending.seq < max(model.last_seq.values(), default=-1):
                event("a request reached its backend after later messages for other documents")
            if pending is not None and pending.uri is not None:
                expected = self.request_text[request_id]
                assert model.docs.get(pending.uri) == expected, (
                    f"session {session}: {method} {request_id} reached the backend with text "
                    f"{model.docs.get(pending.uri)!r}, the client sent it about {expected!r}")

    def live(self) -> list[int]:
        """Pooled sessions with a process (a waiting one has none yet)."""
        return [b.session for b in self.router.pool if not b.is_waiting()]

    # ----- client ------------------------------------------------------------------------
    @rule(uri=st.sampled_from(URIS), text=st.sampled_from(TEXTS))
    def open_document(self, uri: str, text: str) -> None:
        if uri in self.client_docs:
            return
        self.client_docs[uri] = (text, 1)
        self.client_send({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}})

    @rule(data=st.data(), pos=st.tuples(*[st.integers(0, 4)] * 4), new=st.sampled_from(INSERTS),
          full=st.booleans())
    def change_document(self, data: st.DataObject, pos: tuple[int, int, int, int], new: str,
                        full: bool) -> None:
        if not self.client_docs:
            return
        uri = data.draw(st.sampled_from(sorted(self.client_docs)))
        text, version = self.client_docs[uri]
        if full:
            change: dict[str, Any] = {"text": new + text}
        else:
            change = {"range": {"start": {"line": pos[0], "character": pos[1]},
                                "end": {"line": pos[2], "character": pos[3]}}, "text": new}
        try:
            text = apply_change(text, change)
        except ValueError:
            return  # a position inside a surrogate pair: no editor sends that
        self.client_docs[uri] = (text, version + 1)
        self.client_send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": version + 1}, "contentChanges": [change]}})

    @rule(data=st.data())
    def close_document(self, data: st.DataObject) -> None:
        if not self.client_docs:
            return
        uri = data.draw(st.sampled_from(sorted(self.client_docs)))
        del self.client_docs[uri]
        self.client_send({"jsonrpc": "2.0", "method": "textDocument/didClose",
                          "params": {"textDocument": {"uri": uri}}})

    @rule(data=st.data())
    def save_document(self, data: st.DataObject) -> None:
        if not self.client_docs:
            return
        uri = data.draw(st.sampled_from(sorted(self.client_docs)))
        self.client_send({"jsonrpc": "2.0", "method": "textDocument/didSave",
                          "params": {"textDocument": {"uri": uri}}})

    @rule(uri=st.sampled_from(URIS), method=st.sampled_from(METHODS))
    def request(self, uri: str, method: str) -> None:
        self.client_send({"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}})

    @precondition(lambda self: bool(self.client_docs))
    @rule(data=st.data(), method=st.sampled_from(METHODS))
    def request_open_document(self, data: st.DataObject, method: str) -> None:
        """Most requests are about a document the client has open (the router's short path
        serves them once its backend is ready)."""
        self.request(data.draw(st.sampled_from(sorted(self.client_docs))), method)

    @rule()
    def workspace_symbol(self) -> None:
        self.client_send({"jsonrpc": "2.0", "id": next(self.ids), "method": "workspace/symbol",
                          "params": {"query": ""}})

    @precondition(lambda self: bool(self.items))
    @rule(data=st.data())
    def resolve(self, data: st.DataObject) -> None:
        item = data.draw(st.sampled_from(self.items))
        self.client_send({"jsonrpc": "2.0", "id": next(self.ids), "method": "completionItem/resolve",
                          "params": item})

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.pending)))
        pending = self.pending[request_id]
        if pending.cancelled_at is None:
            pending.cancelled_at = self.now
        self.client_send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request_id}})

    # ----- backends ----------------------------------------------------------------------
    @precondition(lambda self: any(b.requests for b in self.backends.values()))
    @rule(data=st.data(), error=st.booleans())
    def backend_answers(self, data: st.DataObject, error: bool) -> None:
        """Any request a backend received, also one typemux gave up on (a late answer), from
        a live or a stopped session (a stale one)."""
        session = data.draw(st.sampled_from(sorted(s for s, b in self.backends.items() if b.requests)))
        model = self.backends[session]
        request_id = data.draw(st.sampled_from(model.requests))
        model.requests.remove(request_id)
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error:
            answer["error"] = {"code": -32800, "message": "cancelled by the backend"}
        elif self.request_method.get(request_id) == "textDocument/completion":
            answer["result"] = {"isIncomplete": False, "items": [{"label": "x", "data": {"from": session}}]}
        else:
            answer["result"] = None
        self.router.backend_message(session, answer, None, self.now)
        self.drain()

    @precondition(lambda self: any(b.shutdown_at is not None and not b.shutdown_answered
                                   and not b.stopped for b in self.backends.values()))
    @rule(data=st.data())
    def backend_answers_shutdown(self, data: st.DataObject) -> None:
        session = data.draw(st.sampled_from(sorted(
            s for s, b in self.backends.items()
            if b.shutdown_at is not None and not b.shutdown_answered and not b.stopped)))
        self.backends[session].shutdown_answered = True
        self.router.backend_message(session, {"jsonrpc": "2.0", "id": SHUTDOWN_ID, "result": None},
                                    None, self.now)
        self.drain()

    @precondition(lambda self: any(b.init_sent and not b.handshaken for b in self.backends.values()))
    @rule(data=st.data())
    def handshake(self, data: st.DataObject) -> None:
        session = data.draw(st.sampled_from(sorted(
            s for s, b in self.backends.items() if b.init_sent and not b.handshaken)))
        self.backends[session].handshaken = True
        self.router.backend_spawned(session, 10000 + session)
        self.router.backend_message(session, {"jsonrpc": "2.0", "id": INIT_ID,
                                              "result": {"capabilities": {}}}, None, self.now)
        self.drain()

    @precondition(lambda self: any(b.init_sent and not b.handshaken for b in self.backends.values()))
    @rule()
    def backends_come_up(self) -> None:
        """Every backend that was sent initialize answers it and reports ready (the common
        case, which lets most requests meet a ready backend)."""
        for session in sorted(s for s, b in self.backends.items()
                              if b.init_sent and not b.handshaken and not b.stopped):
            self.backends[session].handshaken = True
            self.router.backend_spawned(session, 10000 + session)
            self.router.backend_message(session, {"jsonrpc": "2.0", "id": INIT_ID,
                                                  "result": {"capabilities": {}}}, None, self.now)
            self.router.backend_message(session, {"jsonrpc": "2.0", "method": "window/logMessage",
                                                  "params": {"type": 3, "message": "ready"}},
                                        None, self.now)
        self.drain()

    @precondition(lambda self: bool(self.live()))
    @rule(data=st.data())
    def backend_ready(self, data: st.DataObject) -> None:
        session = data.draw(st.sampled_from(self.live()))
        self.router.backend_message(session, {"jsonrpc": "2.0", "method": "window/logMessage",
                                              "params": {"type": 3, "message": "ready"}}, None, self.now)
        self.drain()

    @precondition(lambda self: bool(self.backends))
    @rule(data=st.data(), spawn_failed=st.booleans())
    def backend_dies(self, data: st.DataObject, spawn_failed: bool) -> None:
        """A crash of a live backend, a failed spawn, or the exit of a stopped one."""
        session = data.draw(st.sampled_from(sorted(self.backends)))
        if spawn_failed:
            self.router.backend_spawn_failed(session, "no such file", self.now)
        else:
            self.router.backend_exited(session, "exited with code 1", self.now)
        self.drain()

    @rule(present=st.booleans())
    def venv_c_changes(self, present: bool) -> None:
        """Project c's venv is recreated (a new pyvenv.cfg: a new identity) or removed."""
        venv = ROOT / "c" / ".venv"
        self.lookup.venvs.pop(ROOT / "c", None)
        self.venv_ids[venv] = None
        if present:
            self.lookup.add(ROOT / "c")
            self.venv_ids[venv] = VenvIdentity(1, next(self.inodes), 0, 0)

    @precondition(lambda self: len(self.sent) > 25)  # late in a run: it ends the session
    @rule()
    def shutdown(self) -> None:
        self.client_send({"jsonrpc": "2.0", "id": next(self.ids), "method": "shutdown"})
        self.shut_down = True
        assert not self.live(), "a backend outlived shutdown"

    @precondition(lambda self: len(self.sent) > 25)  # late in a run: it ends the session
    @rule(signal_name=st.sampled_from(["SIGTERM", "SIGINT", "SIGHUP"]))
    def signal(self, signal_name: str) -> None:
        """typemux is signalled: every request it has read is answered at once, and so is
        every one it reads later (the invariant below), each exactly once (to_client)."""
        self.ending = True
        self.router.terminate(self.now, signal_name)
        self.drain()
        self.shut_down = self.terminated = True
        assert not self.pending, f"requests unanswered at {signal_name}: {sorted(self.pending)}"

    @precondition(lambda self: len(self.live()) > 1)
    @rule()
    def memory_pressure(self) -> None:
        """Over the memory budget: all but the most recently used backend are evicted."""
        self.router.memory_sample({s: 100 * 2**20 for s in self.live()}, 150 * 2**20, self.now)
        self.drain()

    @rule(seconds=st.sampled_from([0.1, CANCEL_GRACE, 1.0, 2.5, 11.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds
        self.router.timer(self.now)
        self.drain()

    # ----- invariants --------------------------------------------------------------------
    @invariant()
    def every_request_is_answered_or_legitimately_pending(self) -> None:
        if self.terminated:
            assert not self.pending, f"requests unanswered after the signal: {sorted(self.pending)}"
            return
        waiting: set[Any] = set()
        for backend in self.router.pool:
            waiting.update(key[1] for key in backend.in_flight)
            for queue in (backend.creating_queue, backend.warmup_queue):
                waiting.update(item.msg["id"] for item in queue if "id" in item.msg)
        waiting.update(fan.request_id for fan in self.router.fanouts.values())
        lost = set(self.pending) - waiting
        assert not lost, f"requests neither answered nor pending: {lost}"

    @invariant()
    def a_cancelled_request_is_answered_within_a_second(self) -> None:
        late = [i for i, p in self.pending.items()
                if p.cancelled_at is not None and self.now - p.cancelled_at >= 1.0]
        assert not late, f"cancelled requests still unanswered after 1 s: {late}"

    @invariant()
    def every_spawned_session_is_pooled_or_stopped(self) -> None:
        pooled = set(self.live())
        for session, model in self.backends.items():
            leaving = model.stopped or model.shutdown_at is not None
            assert (session in pooled) != leaving, (
                f"session {session}: pooled={session in pooled} stopped={model.stopped} "
                f"shutdown at {model.shutdown_at}")

    @invariant()
    def the_pool_never_has_more_than_max_backends_live(self) -> None:
        assert len(self.live()) <= self.MAX_BACKENDS
        if any(b.is_waiting() for b in self.router.pool):
            event("a venv waits for a slot")

    @invariant()
    def typemux_knows_the_clients_text(self) -> None:
        if self.shut_down:
            return  # after shutdown typemux ignores everything but exit
        for uri, (text, version) in self.client_docs.items():
            doc = self.router.documents.get(uri)
            assert doc is not None and (doc.text, doc.version) == (text, version)
        assert len(self.router.documents) == len(self.client_docs)

    @invariant()
    def each_live_backend_has_the_clients_text(self) -> None:
        for backend in self.router.pool:
            if backend.state not in (State.WARMING, State.READY):
                continue
            assert not backend.creating_queue
            held = {ordering.scope(item.msg) for item in backend.warmup_queue}
            if held:
                event("messages held behind a waiting request")
            if ordering.ALL in held:
                continue
            model = self.backends[backend.session]
            expected = {uri: text for uri, (text, _) in self.client_docs.items()
                        if self.router.documents.get(uri).venv == backend.venv and uri not in held}
            actual = {uri: text for uri, text in model.docs.items() if uri not in held}
            assert actual == expected, f"session {backend.session} ({backend.venv})"

    @invariant()
    def a_document_is_open_in_at_most_one_live_backend(self) -> None:
        """A document that moves (its venv changed) is closed in its old backend: no two
        live backends check the same document (what waits in a warmup queue aside)."""
        holders: dict[str, list[int]] = {}
        for backend in self.router.pool:
            model = self.backends.get(backend.session)
            if model is None or model.stopped:
                continue
            held = {ordering.scope(item.msg) for item in backend.warmup_queue}
            for uri in model.docs:
                if uri not in held and ordering.ALL not in held:
                    holders.setdefault(uri, []).append(backend.session)
        doubled = {uri: sessions for uri, sessions in holders.items() if len(sessions) > 1}
        assert not doubled, f"documents open in two live backends: {doubled}"


class OneBackendNoWarmupMachine(RouterMachine):
    """Every new venv evicts the one backend; backends are ready as soon as they answer
    initialize (no warmup holding)."""

    MAX_BACKENDS = 1
    WARMUP_TIMEOUT = 0.0


MODEL_SETTINGS = settings(max_examples=1000, stateful_step_count=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
RouterMachine.TestCase.settings = MODEL_SETTINGS
OneBackendNoWarmupMachine.TestCase.settings = settings(MODEL_SETTINGS, max_examples=500)
TestRouterMachine = RouterMachine.TestCase
TestOneBackendNoWarmupMachine = OneBackendNoWarmupMachine.TestCase
