"""BackendMessages takes only the components whose step a backend message needs.

Warm-up signals belong to the lifecycle (which holds the kind), `$/progress` of a backend's
tokens to server requests (which made them), publishDiagnostics to core/diagnostics.py: the
dispatcher neither holds the kind nor the document store.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from typemux.core.actions import ToClient
from typemux.core.backend_messages import BackendMessages
from typemux.core.client_caps import ClientCaps
from typemux.core.lifecycle import INIT_ID, Lifecycle, LifecycleSettings
from typemux.core.server_requests import ServerRequests
from typemux.core.session import BackendSession
from typemux.documents import DocumentStore
from unit.test_router import KIND
from unit.test_router_components import ROOT, _log


def test_the_constructor_takes_one_component_per_step() -> None:
    params = list(inspect.signature(BackendMessages.__init__).parameters)[1:]
    assert params == ["lifecycle", "server_requests", "cancels", "targets", "capabilities",
                      "diagnostics", "log"]


def warming(progress_readiness: bool = True) -> tuple[Lifecycle, BackendSession]:
    kind = dataclasses.replace(KIND, progress_readiness=progress_readiness)
    lifecycle = Lifecycle(LifecycleSettings(argv=["x"], warmup_timeout=5.0), kind,
                          DocumentStore(), _log)
    lifecycle.client_params = {"capabilities": {}}
    backend, _ = lifecycle.create(ROOT / "a/.venv", 1.0)
    lifecycle.handshake_done(backend, {"jsonrpc": "2.0", "id": INIT_ID,
                                       "result": {"capabilities": {}}}, 1.0)
    assert backend.is_warming()
    return lifecycle, backend


def progress(token: Any, kind: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "$/progress",
            "params": {"token": token, "value": {"kind": kind}}}


def test_the_lifecycle_reads_warm_up_signals_from_notifications() -> None:
    lifecycle, backend = warming()
    backend.progress_tokens.add("t")
    backend.warm_token = "t"
    assert lifecycle.observe(backend, progress("t", "report"), 2.0) == []
    assert lifecycle.observe(backend, progress("other", "end"), 2.0) == []
    assert lifecycle.observe(backend, progress("t", "end"), 2.0)
    assert backend.ready_reason == "progress end"
    assert lifecycle.observe(backend, progress("t", "end"), 3.0) == []  # ready already


def test_the_kinds_detector_comes_first_and_a_kind_may_ignore_progress() -> None:
    lifecycle, backend = warming()
    log = {"jsonrpc": "2.0", "method": "window/logMessage", "params": {"message": "ready"}}
    assert lifecycle.observe(backend, log, 2.0) and backend.ready_reason == "log ready"
    lifecycle, backend = warming(progress_readiness=False)
    backend.progress_tokens.add("t")
    backend.warm_token = "t"
    assert lifecycle.observe(backend, progress("t", "end"), 2.0) == []
    assert backend.is_warming()


def test_server_requests_forward_the_progress_of_the_tokens_a_backend_created() -> None:
    requests = ServerRequests(KIND)
    backend = BackendSession(4, ROOT / "a/.venv", None, KIND.readiness(), 0.0)
    requests.from_backend(backend, {"jsonrpc": "2.0", "id": 1, "method": "window/workDoneProgress/create",
                                    "params": {"token": "t"}}, 0.0)
    assert requests.progress(backend, progress("not ours", "end")) is None
    assert requests.progress(backend, progress("t", "end")) == []  # the client takes none
    requests.caps = ClientCaps({"window": {"workDoneProgress": True}})
    (sent,) = requests.progress(backend, progress("t", "end")) or []
    assert isinstance(sent, ToClient) and sent.msg["params"]["token"] != "t"
    assert sent.msg["params"]["value"] == {"kind": "end"}
