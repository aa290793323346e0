"""What typemux tells the client it offers: its own document sync, and for an unknown
(generic) server no more than nearly every server offers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from typemux import jsonrpc
from typemux.backends import capabilities_cache, client_capabilities, get_kind
from typemux.backends.base import BackendKind
from unit.test_router import Harness, make_project, to_client

OWN_SYNC_CHANGE = 2  # typemux keeps every text and converts edits per backend


def _answer(tmp_path: Path, kind: BackendKind) -> dict[str, Any]:
    h = Harness(tmp_path, kind=kind)
    (answer,) = [m for m in to_client(h.initialize()) if m.get("id") == 0]
    caps: dict[str, Any] = answer["result"]["capabilities"]
    return caps


@pytest.mark.parametrize("declared", [0, 1, 2, {"openClose": False, "change": 1},
                                      {"change": 0}, {"openClose": True}, None])
def test_the_initialize_answer_advertises_typemuxs_own_document_sync(
        tmp_path: Path, declared: Any) -> None:
    """Whatever a backend (or a stale cache entry) declared, the client is asked for
    open/close and incremental edits: typemux converts per backend itself."""
    cached = {"hoverProvider": True}
    if declared is not None:
        cached["textDocumentSync"] = declared
    kind = dataclasses.replace(get_kind("generic", ["srv"]),
                               capabilities=client_capabilities(cached))
    sync = _answer(tmp_path, kind)["textDocumentSync"]
    assert sync["openClose"] is True
    assert sync["change"] == OWN_SYNC_CHANGE
    assert sync["save"] in (True, {"includeText": False}, {"includeText": True})


def test_the_answer_is_typemuxs_own_even_from_a_raw_kind_table(tmp_path: Path) -> None:
    kind = BackendKind(name="fake", command=("fake-lsp",), version_command=None,
                       capabilities={"textDocumentSync": 1, "hoverProvider": True})
    sync = _answer(tmp_path, kind)["textDocumentSync"]
    assert sync["change"] == OWN_SYNC_CHANGE and sync["openClose"] is True


def test_save_follows_what_the_kind_declares_or_a_default() -> None:
    wants_text = client_capabilities({"textDocumentSync": {"change": 1, "save": {"includeText": True}}})
    assert wants_text["textDocumentSync"]["save"] == {"includeText": True}
    # typemux itself uses didSave (the buffer equals the disk again), so it always asks for it.
    for declared in (2, {"change": 2}, {"change": 2, "save": False}):
        caps = client_capabilities({"textDocumentSync": declared})
        assert caps["textDocumentSync"]["save"] == {"includeText": False}


def test_the_generic_default_claims_only_what_nearly_every_server_offers() -> None:
    caps = get_kind("generic", ["srv"]).capabilities
    providers = sorted(k for k in caps if k.endswith("Provider"))
    assert providers == ["definitionProvider", "hoverProvider", "referencesProvider"]


def test_the_generic_default_is_what_the_docs_say() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "backends.md").read_text(encoding="utf-8")
    start = docs.index("For a `generic` backend")
    paragraph = docs[start:docs.index("\n- ", start)]
    documented = set(re.findall(r"`(\w+Provider)`", paragraph))
    caps = get_kind("generic", ["srv"]).capabilities
    assert documented == {k for k in caps if k.endswith("Provider")}


def test_the_cache_key_of_a_generic_command_names_its_argv_and_its_files(tmp_path: Path) -> None:
    python = tmp_path / "python3"
    python.write_text("")
    script = tmp_path / "server.py"
    script.write_text("v1")
    key = capabilities_cache.version_key("generic", [str(python), str(script)])
    # another module behind the same interpreter, another subcommand behind the same uvx
    assert capabilities_cache.version_key("generic", [str(python), "-m", "pylsp"]) != key
    assert (capabilities_cache.version_key("generic", [str(python), "-m", "pylsp"])
            != capabilities_cache.version_key("generic", [str(python), "-m", "jedi_language_server"]))
    # the script's identity: same size, new modification time
    script.write_text("v2")
    assert capabilities_cache.version_key("generic", [str(python), str(script)]) != key
    # the interpreter's identity
    again = capabilities_cache.version_key("generic", [str(python), str(script)])
    python.write_text("upgraded")
    assert capabilities_cache.version_key("generic", [str(python), str(script)]) != again


def test_a_provider_the_live_backend_lacks_gets_its_method_not_found(tmp_path: Path) -> None:
    """The answer advertised definition from an old cache entry; the live backend has none:
    the client gets the backend's own -32601, not silence."""
    make_project(tmp_path, "proj-a")
    kind = dataclasses.replace(get_kind("generic", ["srv"]), capabilities=client_capabilities(
        {"hoverProvider": True, "definitionProvider": True}))
    h = Harness(tmp_path, kind=kind)
    h.initialize()
    main = tmp_path / "proj-a/pkg/main.py"
    s = h.start_backend(main)
    request_id, actions = h.request("textDocument/definition", {
        "textDocument": {"uri": main.as_uri()}, "position": {"line": 0, "character": 0}})
    (sent,) = [a for a in actions if getattr(a, "session", None) == s and hasattr(a, "msg")
               and a.msg.get("method") == "textDocument/definition"]
    backend_id = sent.msg["id"]
    answer = h.backend(s, jsonrpc.error(backend_id, jsonrpc.METHOD_NOT_FOUND, "Unhandled method"))
    (reply,) = [m for m in to_client(answer) if m.get("id") == request_id]
    assert reply["error"]["code"] == jsonrpc.METHOD_NOT_FOUND
