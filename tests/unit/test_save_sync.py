"""didSave goes to a backend as its own `textDocumentSync` asks (core/sync_kind.py): not at
all when its options object omits `save` (or says false), as the client sent it when `save`
is true, with the document's text when it asked `includeText: true`. The same holds for a
didSave delivered at once, held while the backend starts or warms up, or held while its
document's environment is asked for; typemux's own note of the save is taken whatever the
backend wants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from typemux.core import sync_kind
from typemux.core.actions import Spawn, ToBackend
from typemux.core.lifecycle import INIT_ID, LifecycleSettings
from typemux.core.router import Router, RouterSettings
from typemux.uris import path_to_uri
from unit.test_document_sync import SyncHarness
from unit.test_router import KIND, hover, make_project

SAVE = "textDocument/didSave"
NO_SAVE = [{"openClose": True, "change": 2}, {"openClose": True, "change": 2, "save": False}, 0]
PLAIN_SAVE = [{"openClose": True, "change": 2, "save": True},
              {"openClose": True, "change": 2, "save": {"includeText": False}}, 2, 1]
WITH_TEXT = {"openClose": True, "change": 2, "save": {"includeText": True}}


@pytest.mark.parametrize(("declared", "expected"), [
    (0, sync_kind.NO_SAVE), (1, sync_kind.SAVE), (2, sync_kind.SAVE),  # pyright: 2
    ({"openClose": True, "change": 2}, sync_kind.NO_SAVE),  # basedpyright: no `save`
    ({"change": 2, "save": False}, sync_kind.NO_SAVE), ({"change": 2, "save": None}, sync_kind.NO_SAVE),
    ({"change": 2, "save": True}, sync_kind.SAVE), ({"change": 2, "save": {}}, sync_kind.SAVE),
    ({"change": 2, "save": {"includeText": False}}, sync_kind.SAVE),  # ty, pyrefly
    ({"change": 2, "save": {"includeText": True}}, sync_kind.SAVE_TEXT),
    # declared nothing, or nothing readable: didSave as it always went
    (None, sync_kind.SAVE), (True, sync_kind.SAVE), ("2", sync_kind.SAVE), (7, sync_kind.SAVE),
    ({"change": 2, "save": "yes"}, sync_kind.SAVE),
])
def test_save_reads_the_declaration_as_lsp_says(declared: Any, expected: str) -> None:
    caps = {} if declared is None else {"textDocumentSync": declared}
    assert sync_kind.save(caps) == expected


class SaveHarness(SyncHarness):
    def client_raw(self, msg: dict[str, Any], raw: bytes) -> list[Any]:
        self.router.client_message(msg, raw, self.now)
        return self.router.take_actions()

    def save(self, path: Path, text: str | None = None) -> list[Any]:
        params: dict[str, Any] = {"textDocument": {"uri": path_to_uri(path)}}
        if text is not None:
            params["text"] = text
        return self.client_raw({"jsonrpc": "2.0", "method": SAVE, "params": params}, b"raw-save")

    def start(self, path: Path, declared: Any, text: str = "x = 1\n") -> int:
        (spawn,) = [a for a in self.open(path, text) if isinstance(a, Spawn)]
        self.handshake(spawn.session, declared)
        return spawn.session

    def handshake(self, session: int, declared: Any) -> list[Any]:
        return self.backend(session, {"jsonrpc": "2.0", "id": INIT_ID, "result": {
            "capabilities": {"textDocumentSync": declared}}})


def saves(actions: list[Any]) -> list[ToBackend]:
    return [a for a in actions if isinstance(a, ToBackend) and a.msg.get("method") == SAVE]


@pytest.fixture
def main(tmp_path: Path) -> Path:
    return tmp_path / "proj-a/pkg/main.py"


@pytest.mark.parametrize("declared", NO_SAVE)
def test_a_backend_that_did_not_ask_for_did_save_gets_none(tmp_path: Path, main: Path,
                                                           declared: Any) -> None:
    h = SaveHarness(tmp_path)
    h.initialize()
    h.start(main, declared)
    assert saves(h.save(main)) == []
    assert saves(h.save(main, "x = 1\n")) == []


@pytest.mark.parametrize("declared", PLAIN_SAVE)
def test_a_backend_that_asked_for_did_save_gets_it_as_the_client_sent_it(
    tmp_path: Path, main: Path, declared: Any
) -> None:
    h = SaveHarness(tmp_path)
    h.initialize()
    session = h.start(main, declared)
    h.change(main, 2, "edited = 1\n")
    (sent,) = saves(h.save(main))
    assert sent.session == session and sent.raw == b"raw-save"  # the raw bytes, not rebuilt
    assert sent.msg["params"] == {"textDocument": {"uri": path_to_uri(main)}}
    (with_text,) = saves(h.save(main, "edited = 1\n"))
    assert with_text.raw == b"raw-save"  # text it did not ask for is left as the client sent it


def test_a_backend_that_declared_nothing_gets_did_save_as_before(tmp_path: Path, main: Path) -> None:
    h = SaveHarness(tmp_path)
    h.initialize()
    session = h.start_backend(main)  # capabilities {}
    (sent,) = saves(h.save(main))
    assert sent.session == session and sent.raw == b"raw-save"


def test_include_text_gets_typemuxs_copy_when_the_client_sent_none(tmp_path: Path, main: Path) -> None:
    h = SaveHarness(tmp_path)
    h.initialize()
    h.start(main, WITH_TEXT, "a = 1\n")
    h.change(main, 2, "a = 2\n")
    (sent,) = saves(h.save(main))
    assert sent.msg["params"] == {"textDocument": {"uri": path_to_uri(main)}, "text": "a = 2\n"}
    assert sent.raw is None  # rebuilt: the bytes the client sent lack the text


def test_include_text_keeps_the_clients_own_text(tmp_path: Path, main: Path) -> None:
    h = SaveHarness(tmp_path)
    h.initialize()
    h.start(main, WITH_TEXT, "a = 1\n")
    (sent,) = saves(h.save(main, "as the client saved it\n"))
    assert sent.msg["params"]["text"] == "as the client saved it\n"
    assert sent.raw == b"raw-save"


def test_the_save_is_noted_even_when_no_backend_takes_it(tmp_path: Path, main: Path) -> None:
    """A saved buffer is clean: the next disk change reaches the backend (core/disk_sync)."""
    h = SaveHarness(tmp_path)
    h.initialize()
    session = h.start(main, NO_SAVE[0])
    h.change(main, 2, "edited = 1\n")
    assert saves(h.save(main)) == []
    changes = [a for a in h.disk(main, "formatted = 1\n")
               if isinstance(a, ToBackend) and a.session == session
               and a.msg.get("method") == "textDocument/didChange"]
    assert [c.msg["params"]["contentChanges"] for c in changes] == [[{"text": "formatted = 1\n"}]]


def held_session(h: SaveHarness, main: Path) -> int:
    """Open `main` (its backend starts), then edit, save and edit it again while it starts."""
    (spawn,) = [a for a in h.open(main, "a = 1\n") if isinstance(a, Spawn)]
    h.change(main, 2, "a = 2\n")
    assert saves(h.save(main)) == []  # held: the backend is starting
    h.change(main, 3, "a = 3\n")
    return spawn.session


@pytest.mark.parametrize("declared", NO_SAVE)
def test_a_held_did_save_is_dropped_when_the_backend_says_it_takes_none(
    tmp_path: Path, main: Path, declared: Any
) -> None:
    h = SaveHarness(tmp_path)
    h.initialize()
    session = held_session(h, main)
    started = h.handshake(session, declared)
    assert saves(started) == []


@pytest.mark.parametrize("declared", PLAIN_SAVE)
def test_a_held_did_save_goes_as_sent_when_the_backend_takes_it(
    tmp_path: Path, main: Path, declared: Any
) -> None:
    h = SaveHarness(tmp_path)
    h.initialize()
    session = held_session(h, main)
    (sent,) = saves(h.handshake(session, declared))
    assert sent.raw == b"raw-save" and "text" not in sent.msg["params"]


def test_a_held_did_save_carries_the_text_of_its_own_moment(tmp_path: Path, main: Path) -> None:
    """Not the text at the handshake: the edit after the save is not in it."""
    h = SaveHarness(tmp_path)
    h.initialize()
    session = held_session(h, main)
    started = h.handshake(session, WITH_TEXT)
    (sent,) = saves(started)
    assert sent.msg["params"]["text"] == "a = 2\n"
    methods = [a.msg.get("method") for a in started if isinstance(a, ToBackend)]
    assert methods.index(SAVE) < len(methods) - 1 and methods[-1] == "textDocument/didChange"


def test_a_did_save_held_while_the_backend_warms_carries_the_text_of_its_moment(
    tmp_path: Path, main: Path
) -> None:
    h = SaveHarness(tmp_path, warmup_timeout=30.0)
    h.initialize()
    session = h.start(main, WITH_TEXT, "a = 1\n")
    h.request("textDocument/definition", hover(main))  # needs the index: held while warming
    assert saves(h.save(main)) == []  # held behind it
    h.change(main, 2, "a = 2\n")
    released = h.backend(session, {"jsonrpc": "2.0", "method": "window/logMessage",
                                   "params": {"type": 3, "message": "ready"}})
    (sent,) = saves(released)
    assert sent.msg["params"]["text"] == "a = 1\n"


@pytest.mark.parametrize("declared", NO_SAVE)
def test_a_warming_backend_that_takes_no_did_save_gets_none_later(
    tmp_path: Path, main: Path, declared: Any
) -> None:
    h = SaveHarness(tmp_path, warmup_timeout=30.0)
    h.initialize()
    session = h.start(main, declared)
    h.request("textDocument/definition", hover(main))
    assert saves(h.save(main)) == []
    released = h.backend(session, {"jsonrpc": "2.0", "method": "window/logMessage",
                                   "params": {"type": 3, "message": "ready"}})
    assert saves(released) == []


class EnvWaitHarness(SaveHarness):
    """Messages about a document whose environment is being asked for are held (core.env_wait)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.lookup.pending_wait = 20.0
        self.router = Router(RouterSettings(LifecycleSettings(
            argv=["/usr/bin/fake-lsp"], warmup_timeout=0.0, pid=4242)), KIND, self.lookup)


@pytest.mark.parametrize(("declared", "expected"), [
    (NO_SAVE[0], []), (PLAIN_SAVE[0], [None]), (WITH_TEXT, ["b = 2\n"])])
def test_a_did_save_released_by_the_environment_wait_follows_the_declaration(
    tmp_path: Path, main: Path, declared: Any, expected: list[str | None]
) -> None:
    make_project(tmp_path, "proj-a")
    h = EnvWaitHarness(tmp_path)
    h.initialize()
    session = h.start(main, declared)  # its backend runs, then a tool is asked about the venv
    h.lookup.asking.add(tmp_path / "proj-a")
    other = tmp_path / "proj-a/pkg/other.py"
    assert h.open(other, "b = 1\n") == []  # held
    assert h.change(other, 2, "b = 2\n") == []
    assert h.save(other) == []
    assert h.change(other, 3, "b = 3\n") == []
    h.lookup.asking.clear()
    h.router.environments_answered(h.now)
    sent = [a for a in saves(h.router.take_actions()) if a.session == session]
    assert [a.msg["params"].get("text") for a in sent] == expected


def test_a_did_save_held_while_waiting_for_a_pool_slot_carries_the_text_of_its_moment(
    tmp_path: Path, main: Path
) -> None:
    h = SaveHarness(tmp_path, max_backends=1)
    h.initialize()
    first = h.start(main, WITH_TEXT)
    busy, _ = h.request("textDocument/hover", hover(main))  # in flight: `first` stays busy
    other = tmp_path / "proj-b/pkg/main.py"
    waiting = h.open(other, "b = 1\n")
    assert not [a for a in waiting if isinstance(a, Spawn)]  # no slot: it waits
    h.change(other, 2, "b = 2\n")
    assert saves(h.save(other)) == []
    h.change(other, 3, "b = 3\n")
    freed = h.backend(first, {"jsonrpc": "2.0", "id": busy, "result": None})
    (spawn,) = [a for a in freed if isinstance(a, Spawn)]  # `first` idle: `other` gets the slot
    (sent,) = saves(h.handshake(spawn.session, WITH_TEXT))
    assert sent.msg["params"]["text"] == "b = 2\n"
