"""Client messages held while a tool is asked for their document's environment (sans-IO).

Discovery never waits for a tool: `poetry env info -p` runs on a thread (envs.ask) and the
lookup reports the project's environment as pending meanwhile (`VenvLookup.pending`). A
message about a document whose environment is pending would get the "no environment" error
although the answer is a fraction of a second away (Poetry answers in ~0.7 s), so it is held
here instead, with every later message about the same document (their order is kept), until
the tool has answered or `pending_wait` seconds have passed (the tool's own timeout and a
margin: by then it has answered or been given up). Messages about other documents go on
meanwhile. This only keeps the messages: what goes on is returned, in order, and the router
hands it on through its usual path.
"""

from __future__ import annotations

from typemux.core.ports import VenvLookup
from typemux.documents import DocumentStore
from typemux.jsonrpc import Message, id_key, text_document_uri
from typemux.uris import uri_to_path

Held = tuple[Message, bytes | None]  # a client message and its raw body


class EnvWait:
    def __init__(self, documents: DocumentStore, lookup: VenvLookup) -> None:
        """A lookup whose `pending_wait` is 0 (it never asks a tool) never makes anything
        wait."""
        self.documents = documents
        self.lookup = lookup
        self.wait = lookup.pending_wait  # read once: a message with a URI asks it
        self._held: list[tuple[str, Message, bytes | None]] = []
        self._deadlines: dict[str, float] = {}  # uri -> when its messages go on anyway
        self._expired: set[str] = set()  # held to their deadline: not held again

    def hold(self, msg: Message, raw: bytes | None, now: float) -> tuple[bool, list[Held]]:
        """Whether `msg` is held (True: the caller does nothing more with it now), and the
        held messages that go on before it: before shutdown or exit, all of them."""
        if msg.get("method") in ("shutdown", "exit"):
            return False, self.release(now, everything=True)
        uri = text_document_uri(msg.get("params"))
        if uri is None:
            return False, []
        if uri not in self._deadlines:
            if not self._pending(uri):
                return False, []
            self._deadlines[uri] = now + self.wait
        self._held.append((uri, msg, raw))
        return True, []

    def withdraw(self, request_id: object) -> bool:
        """The client cancelled request `request_id`: True when it was held here (it is
        dropped, and the caller answers it as cancelled); the messages held with it stay."""
        key = id_key(request_id)
        for index, (_, msg, _) in enumerate(self._held):
            if "method" in msg and "id" in msg and id_key(msg["id"]) == key:
                del self._held[index]
                return True
        return False

    def holds(self, uri: str) -> bool:
        """Whether messages about `uri` are held (a later one must wait behind them)."""
        return uri in self._deadlines

    def _pending(self, uri: str) -> bool:
        if self.wait <= 0 or uri in self._expired:
            return False
        doc = self.documents.get(uri)
        if doc is not None and doc.venv is not None:
            return False
        path = uri_to_path(uri)
        if path is None or self.lookup.find(path) is not None:
            return False
        return self.lookup.pending(path)

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def release(self, now: float, *, everything: bool = False) -> list[Held]:
        """The held messages, in their order, whose document's environment is no longer
        pending or whose deadline has passed (all of them with `everything`); they are
        no longer held."""
        if not self._held:
            return []
        ready: set[str] = set()
        for uri, deadline in list(self._deadlines.items()):
            if everything or now >= deadline:
                self._expired.add(uri)
                ready.add(uri)
                continue
            path = uri_to_path(uri)
            if path is None or self.lookup.find(path) is not None or not self.lookup.pending(path):
                ready.add(uri)
        if not ready:
            return []
        for uri in ready:
            del self._deadlines[uri]
        going = [(msg, raw) for uri, msg, raw in self._held if uri in ready]
        self._held = [item for item in self._held if item[0] not in ready]
        return going

    def answered(self) -> None:
        """A tool answered: a later question about the same document may be waited for."""
        self._expired.clear()
