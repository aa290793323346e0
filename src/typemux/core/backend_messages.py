"""Backend → client: answers, notifications and the backends' own requests (sans-IO).

The shape: this module handles answers itself (its one job) and hands every other step to
the component that owns its data, each given here for exactly that step:

- `lifecycle`: the handshake answer, a settled request (what waited behind it goes), and the
  warm-up signals in notifications (`Lifecycle.observe`: the kind's detector and the
  generic end-of-progress rule, with the kind the lifecycle already holds);
- `server_requests`: the backends' requests, and `$/progress` of the tokens they created
  there (made proxy-unique, dropped when the client takes no progress);
- `cancels` and `targets`: an answer ends a cancel deadline or fills a fan-out share, and
  names the backend whose items a later `*/resolve` goes to;
- `capabilities`: what the first handshake teaches;
- `diagnostics` (core/diagnostics.py): publishDiagnostics, from the document's own venv's
  backend only, through document sync.

It reads no kind flag and no document store; the one piece of another component's data
read here is the client's capabilities that `server_requests` keeps, for the first
handshake's learning. No new aggregate holds the others: the router builds these parts
and passes each one.
"""

from __future__ import annotations

from collections.abc import Callable

from typemux import jsonrpc
from typemux.core import resolve_tags
from typemux.core.actions import Action, ToClient
from typemux.core.cancels import Cancels
from typemux.core.capabilities import Capabilities
from typemux.core.diagnostics import Diagnostics
from typemux.core.lifecycle import INIT_ID, Lifecycle
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession
from typemux.core.targets import RequestTargets


class BackendMessages:
    def __init__(self, lifecycle: Lifecycle, server_requests: ServerRequests, cancels: Cancels,
                 targets: RequestTargets, capabilities: Capabilities, diagnostics: Diagnostics,
                 log: Callable[..., None]) -> None:
        self.lifecycle = lifecycle
        self.server_requests = server_requests
        self.cancels = cancels
        self.targets = targets
        self.capabilities = capabilities
        self.diagnostics = diagnostics
        self._log = log

    def message(self, backend: BackendSession, msg: jsonrpc.Message, raw: bytes | None,
                now: float) -> list[Action]:
        """A message from live `backend`."""
        method = msg.get("method")
        if method is None:
            return self._response(backend, msg, raw, now)
        backend.last_output_at = now  # life (so is an answer, to a pending request only)
        if "id" in msg:
            return self.server_requests.from_backend(backend, msg, now)
        out = self.lifecycle.observe(backend, msg, now)
        if method == "$/progress":
            progress = self.server_requests.progress(backend, msg)
            if progress is not None:
                return out + progress
        elif method == "textDocument/publishDiagnostics":
            return out + self.diagnostics.publish(backend, msg, raw)
        out.append(ToClient(msg, raw))
        return out

    def _response(self, backend: BackendSession, msg: jsonrpc.Message, raw: bytes | None,
                  now: float) -> list[Action]:
        request_id = msg.get("id")
        key = (type(request_id) is str, request_id)  # jsonrpc.id_key, inline: every answer
        flight = backend.in_flight.pop(key, None)
        if flight is None:
            if key == jsonrpc.id_key(INIT_ID) and backend.is_creating():
                out = self.lifecycle.handshake_done(backend, msg, now)
                return out + self.capabilities.learn(backend, msg, self.server_requests.caps)
            self._log("unmatched_response_dropped", session=backend.session, id=msg.get("id"))
            return []
        backend.last_output_at = now
        self.cancels.answered(key)
        out = self.lifecycle.settled(backend, key, now)
        if flight.fanout:
            return out + self.cancels.collect(key, backend.session, msg)
        self.targets.produced(flight.method, backend.session)
        if flight.method in resolve_tags.PRODUCING_METHODS and "result" in msg:
            tagged = resolve_tags.tag_result(flight.method, msg["result"], backend.session)
            if tagged is not msg["result"]:
                msg, raw = {**msg, "result": tagged}, None
        out.append(ToClient(msg, raw))
        return out
