"""The short path: the common client request handled in one step (sans-IO).

Most requests an editor or Claude Code sends are about a document the client has open,
whose venv's backend is up and ready. For such a request the long way (core.env_wait,
document sync's before-request, request targets, the lifecycle's ensure, delivery) only
confirms that nothing has to happen first and then records it in flight. `ShortPath`
checks exactly those conditions, cheaply, and hands the request on as it came; whenever one
does not hold it declines, and the router takes the long way.

It decides nothing the long way would not: the model test (tests/model) runs every step on
a twin router with the short path off and checks that both decide the same actions.
"""

from __future__ import annotations

from typemux import jsonrpc
from typemux.core.actions import Action, ToBackend
from typemux.core.document_routing import DocumentRouting
from typemux.core.document_sync import DocumentSync
from typemux.core.env_wait import EnvWait
from typemux.core.owed import OwedAnswers, duplicate_refusal
from typemux.core.session import InFlight
from typemux.jsonrpc import text_document_uri


class ShortPath:
    def __init__(self, docs: DocumentRouting, sync: DocumentSync, env_wait: EnvWait,
                 owed: OwedAnswers) -> None:
        self.docs = docs
        self.sync = sync
        self.env_wait = env_wait
        self.owed = owed
        self.pool = docs.pool

    def request(self, method: str, msg: jsonrpc.Message, raw: bytes | None,
                now: float) -> Action | None:
        """What a request of an initialized, running router becomes in one step: handed to
        its backend (or refused for a pending id); None: it goes the long way."""
        if not method.startswith("textDocument/"):
            return None  # fan-out, resolve, workspace-wide, lifecycle requests
        uri = text_document_uri(msg.get("params"))
        if uri is None or self.env_wait.holds(uri):
            return None
        backend = self.docs.settled(uri)  # open, its venv still found, backend ready
        if backend is None or not self.sync.touch_open(uri, now):
            return None  # idle-closed: the long way re-opens it first
        request_id = msg["id"]
        key = (type(request_id) is str, request_id)  # jsonrpc.id_key, inline
        if not self.owed.owe_key(key):
            return duplicate_refusal(request_id)
        # core.delivery's way for a ready backend (nothing is held), written out: calling
        # delivery.deliver here cost ~0.5 us of the ~2.7 us this takes; the twin router of
        # the model test holds the two to the same actions.
        backend.in_flight[key] = InFlight(method, now, False, msg, raw,
                                          self.docs.documents.mark(uri))
        self.pool.touch(backend, now)
        return ToBackend(backend.session, msg, raw)
