"""Requests of a backend whose venv was removed or rebuilt, routed again (sans-IO).

The runtime looks at each pooled venv (`Router.venv_checked`); when one is gone or replaced,
the lifecycle stops its backend and hands back, as `Resend`s, the requests that backend
still owed the client (in flight or queued). Each goes the long way again, to the backend
that serves its document now (the document moves there first), instead of being answered
-32800. Three rules keep that right:

- The stop, and any start it lets into the pool, come before the requests are routed:
  routing one can stop or start a backend too, and the runtime must see a session's Spawn
  before its Stop.
- A request whose document was edited, closed or reopened after it was sent (each request
  carries where its document stood then: `DocumentStore.mark`) is answered ContentModified
  (-32801): its old backend would have answered it on the text it was asked about, the new
  one would see a later text. The client asks again. A request about a file the client
  never opened (a library file) was about the file on disk: it is routed again.
- A `*/resolve` request is about an item only the backend that produced it knows: it is
  answered -32800, as before requests were routed again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typemux import jsonrpc
from typemux.core import resolve_tags
from typemux.core.actions import Action, Resend, ToClient
from typemux.core.document_routing import DocumentRouting
from typemux.core.document_sync import DocumentSync
from typemux.core.lifecycle import Lifecycle
from typemux.core.ports import VenvIdentity
from typemux.core.targets import RequestTargets


class Rerouting:
    def __init__(self, lifecycle: Lifecycle, docs: DocumentRouting, sync: DocumentSync,
                 targets: RequestTargets, log: Callable[..., None]) -> None:
        self.lifecycle = lifecycle
        self.docs = docs
        self.sync = sync
        self.targets = targets
        self._log = log

    def venv_checked(self, venv: Path, identity: VenvIdentity | None, now: float,
                     ending: bool) -> list[Action]:
        """What the runtime's look at `venv` (None: its pyvenv.cfg is gone) calls for.
        `ending`: typemux is shutting down or exiting (requests are then only cancelled)."""
        actions = self.lifecycle.venv_checked(venv, identity, now)
        if not actions:
            return []
        self.docs.lookup.invalidate()  # a cached answer may still name the venv that went
        out: list[Action] = [action for action in actions if not isinstance(action, Resend)]
        for action in actions:
            if isinstance(action, Resend):
                out.extend(self._route_again(action, now, ending))
        return out

    def _route_again(self, resend: Resend, now: float, ending: bool) -> list[Action]:
        msg = resend.msg
        if ending or msg.get("method") in resolve_tags.RESOLVE_METHODS:
            # A */resolve item belongs to the backend that produced it, which is gone.
            return [ToClient(jsonrpc.cancelled(msg["id"], resend.error))]
        uri = jsonrpc.text_document_uri(msg.get("params"))
        if uri is not None and self.docs.documents.changed_since(uri, resend.mark):
            self._log("request_content_modified", id=msg.get("id"), method=msg.get("method"))
            return [ToClient(jsonrpc.error(
                msg["id"], jsonrpc.CONTENT_MODIFIED,
                f"{jsonrpc.ERROR_PREFIX}{resend.error}, and {uri} changed since the request "
                "was sent: ask again"))]
        self._log("request_routed_again", id=msg.get("id"), method=msg.get("method"))
        out = self.sync.before_request(msg["method"], msg.get("params"), now,
                                       self.docs.find_venv)
        out.extend(self.targets.route(msg, resend.raw, now))
        return out
