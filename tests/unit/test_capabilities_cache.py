"""Learned capabilities: the cache, the registration of what the answer lacked, and the
forwarding of backends' own registrations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from typemux.backends import capabilities_cache
from typemux.core.actions import CapabilitiesLearned, Spawn
from typemux.core.client_caps import ClientCaps
from typemux.core.lifecycle import INIT_ID
from typemux.core.registrations import ForwardedRegistrations, missing_providers
from unit.test_router import Harness, make_project, to_client


def test_cache_round_trip_is_keyed_by_the_executable(tmp_path: Path) -> None:
    exe = tmp_path / "server"
    exe.write_text("#!/bin/sh\n")
    key = capabilities_cache.version_key("pyrefly", [str(exe), "lsp"])
    assert key is not None and key.startswith("pyrefly-")
    caps = {"hoverProvider": True, "semanticTokensProvider": {"full": True}}
    assert capabilities_cache.store(key, "pyrefly", [str(exe)], caps, {"version": "1.5.0"}, tmp_path)
    assert capabilities_cache.load(key, tmp_path) == caps
    # An upgrade replaces the executable: another key, nothing cached for it yet.
    exe.write_text("#!/bin/sh\n# 1.6\n")
    os.utime(exe, ns=(1, 1))
    assert capabilities_cache.version_key("pyrefly", [str(exe), "lsp"]) != key


def test_cache_ignores_a_missing_executable_and_a_broken_file(tmp_path: Path) -> None:
    assert capabilities_cache.version_key("ty", [str(tmp_path / "nope")]) is None
    (tmp_path / "ty-x.json").write_text("{not json")
    assert capabilities_cache.load("ty-x", tmp_path) is None


def test_cache_dir_follows_xdg_cache_home(tmp_path: Path) -> None:
    assert capabilities_cache.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == (
        tmp_path / "typemux" / "capabilities")
    assert capabilities_cache.cache_dir({"XDG_CACHE_HOME": "rel", "HOME": str(tmp_path)}) == (
        tmp_path / ".cache" / "typemux" / "capabilities")


def test_missing_providers_are_what_the_answer_lacked() -> None:
    answered = {"hoverProvider": True, "textDocumentSync": 2}
    live = {"hoverProvider": True, "semanticTokensProvider": {"full": True}, "textDocumentSync": 1}
    assert missing_providers(answered, live) == {"semanticTokensProvider": {"full": True}}


def _handshake(h: Harness, main: Path, caps: dict[str, Any]) -> list[Any]:
    actions = h.open(main)
    spawn = next(a for a in actions if isinstance(a, Spawn))
    return h.backend(spawn.session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {
        "capabilities": caps, "serverInfo": {"name": "x", "version": "9"}}})


def test_first_handshake_is_learned_and_the_difference_registered(tmp_path: Path) -> None:
    make_project(tmp_path, "proj-a")
    h = Harness(tmp_path)
    h.initialize({"textDocument": {"semanticTokens": {"dynamicRegistration": True}}})
    live = {"hoverProvider": True, "semanticTokensProvider": {"full": True, "legend": {}}}
    actions = _handshake(h, tmp_path / "proj-a/pkg/main.py", live)
    (learned,) = [a for a in actions if isinstance(a, CapabilitiesLearned)]
    assert learned.capabilities == live and learned.server_info == {"name": "x", "version": "9"}
    (register,) = [m for m in to_client(actions) if m.get("method") == "client/registerCapability"]
    (reg,) = register["params"]["registrations"]
    assert reg["method"] == "textDocument/semanticTokens"
    assert reg["registerOptions"]["full"] is True


def test_nothing_is_registered_with_a_client_without_dynamic_registration(tmp_path: Path) -> None:
    make_project(tmp_path, "proj-a")
    h = Harness(tmp_path)
    h.initialize({})
    actions = _handshake(h, tmp_path / "proj-a/pkg/main.py", {"semanticTokensProvider": {"full": True}})
    assert [m for m in to_client(actions) if m.get("method") == "client/registerCapability"] == []


def test_a_backends_configuration_registration_is_forwarded_once() -> None:
    caps = ClientCaps({"workspace": {"didChangeConfiguration": {"dynamicRegistration": True}}})
    forwarded = ForwardedRegistrations()
    params = {"registrations": [
        {"id": "FILEWATCHER", "method": "workspace/didChangeWatchedFiles", "registerOptions": {}},
        {"id": "DID_CHANGE_CONFIGURATION", "method": "workspace/didChangeConfiguration",
         "registerOptions": {"section": "python"}}]}
    request = forwarded.forward(params, caps)
    assert request is not None
    (reg,) = request["params"]["registrations"]
    assert reg["method"] == "workspace/didChangeConfiguration"
    assert reg["registerOptions"] == {"section": "python"}
    assert forwarded.forward(params, caps) is None  # a second pyrefly registers it again
    assert ForwardedRegistrations().forward(params, ClientCaps({})) is None


def test_router_forwards_a_backend_registration_to_a_client_that_takes_it(tmp_path: Path) -> None:
    make_project(tmp_path, "proj-a")
    h = Harness(tmp_path)
    h.initialize({"workspace": {"didChangeConfiguration": {"dynamicRegistration": True}}})
    s = h.start_backend(tmp_path / "proj-a/pkg/main.py")
    actions = h.backend(s, {"jsonrpc": "2.0", "id": 1, "method": "client/registerCapability",
                            "params": {"registrations": [{"id": "DID_CHANGE_CONFIGURATION",
                                       "method": "workspace/didChangeConfiguration"}]}})
    methods = [m.get("method") for m in to_client(actions)]
    assert methods == ["client/registerCapability"]


def test_a_script_argument_is_part_of_the_version(tmp_path: Path) -> None:
    python, script = tmp_path / "python", tmp_path / "server.py"
    python.write_text("")
    script.write_text("v1")
    before = capabilities_cache.version_key("generic", [str(python), str(script)])
    script.write_text("v2 longer")
    assert capabilities_cache.version_key("generic", [str(python), str(script)]) != before
