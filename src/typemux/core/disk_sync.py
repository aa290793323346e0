"""Disk is the truth for clean documents (sans-IO).

Claude Code never closes a document and never reports what its shell did to a file, so an
open document would stay frozen at the text of its didOpen while `git checkout`, `sed -i` or
a formatter rewrote the file. The runtime watches the files and hands their new texts in;
this module decides, per open document, whether the disk may override it:

- clean: the client has not changed it since its open or its last save, or its text equals
  the last disk text typemux knew. Then the disk text replaces it and its backend gets it.
- dirty (an editor's unsaved buffer): never overridden.

A disk sync gives the backend a version the client never sent. Later client versions are
shifted by the same amount (`bump`) so the backend always sees versions increase, and the
versions of published diagnostics are shifted back for the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typemux.documents import EditError, apply_change


@dataclass(slots=True)
class DiskState:
    # True from didOpen or didSave until the next didChange.
    unchanged: bool = True
    # The last text typemux read from the file; None until a change of the file was seen.
    disk_text: str | None = None
    # How far the backend's version of the document runs ahead of the client's.
    bump: int = 0
    # The text the client still has, when typemux gave the backend the disk's since the
    # client's last change: the client's next incremental edit applies to this one.
    client_text: str | None = None


class DiskSync:
    def __init__(self) -> None:
        self._states: dict[str, DiskState] = {}

    def opened(self, uri: str) -> None:
        self._states[uri] = DiskState()

    def changed(self, uri: str) -> None:
        state = self._states.get(uri)
        if state is not None:
            state.unchanged = False

    def saved(self, uri: str) -> None:
        state = self._states.get(uri)
        if state is not None:
            state.unchanged = True

    def closed(self, uri: str) -> None:
        self._states.pop(uri, None)

    def is_clean(self, uri: str, text: str) -> bool:
        state = self._states.get(uri)
        if state is None:
            return True
        return state.unchanged or state.disk_text == text

    def bump(self, uri: str) -> int:
        state = self._states.get(uri)
        return state.bump if state is not None else 0

    def client_text(self, uri: str) -> str | None:
        state = self._states.get(uri)
        return state.client_text if state is not None else None

    def disk_changed(self, uri: str, disk_text: str, text: str) -> bool:
        """The file of open document `uri` now holds `disk_text`; its text is `text`.

        True when the document must follow the disk (it is clean and differs): the caller
        then replaces its text and sends it on with a version one higher (recorded here)."""
        state = self._states.setdefault(uri, DiskState())
        clean = state.unchanged or state.disk_text == text
        state.disk_text = disk_text
        if disk_text == text or not clean:
            return False
        state.bump += 1
        state.unchanged = True
        if state.client_text is None:
            state.client_text = text
        return True

    def client_change(self, msg: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        """`msg` (a didChange) as the backend must get it, or None when the document was
        never disk-synced (the message goes on unchanged): its version shifted, and, when
        the client edits the text it had before a disk sync (an editor reloading the file
        with incremental edits), the edits applied to that text and sent as a full text."""
        item = params.get("textDocument")
        if not isinstance(item, dict):
            return None
        uri = item.get("uri")
        state = self._states.get(uri) if isinstance(uri, str) else None
        if state is None or not state.bump:
            return None
        version = item.get("version")
        if isinstance(version, int) and not isinstance(version, bool):
            item = {**item, "version": version + state.bump}
        params = {**params, "textDocument": item}
        base, state.client_text = state.client_text, None
        changes = params.get("contentChanges")
        if base is not None and isinstance(changes, list) and changes and any(
                isinstance(c, dict) and c.get("range") is not None for c in changes):
            try:
                text = base
                for change in changes:
                    text = apply_change(text, change)
            except EditError:
                # Unreadable against the client's text: give the store (and the backend)
                # that text first, so the edit fails where the client's text is known and
                # the user is told, instead of landing somewhere in the disk's text.
                params["contentChanges"] = [{"text": base}, *changes]
            else:
                params["contentChanges"] = [{"text": text}]
        return {**msg, "params": params}

    def client_diagnostics(self, msg: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        """A backend's publishDiagnostics with its version shifted back to the client's
        numbering, or None when no shift applies."""
        uri = params.get("uri")
        version = params.get("version")
        bump = self.bump(uri) if isinstance(uri, str) else 0
        if not bump or not isinstance(version, int) or isinstance(version, bool):
            return None
        return {**msg, "params": {**params, "version": max(0, version - bump)}}
