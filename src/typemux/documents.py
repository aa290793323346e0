"""Open documents and their LSP content changes.

The proxy keeps its own copy of every open document so that a backend started later (or
restarted) can be given the current text in a replayed didOpen. Positions are LSP positions:
(line, character) with the character counted in UTF-16 code units, and "\\n", "\\r\\n" and
"\\r" all ending a line.

Positions outside the text clamp as in the reference implementation
(vscode-languageserver-textdocument): a line past the end means the end of the document, a
character past the end of its line means the line's end, negative numbers mean 0, and a range
whose start is after its end is swapped. Only a change that cannot be read at all (no text,
positions that are not integers, a position inside a surrogate pair) is an EditError.

Edits must stay cheap on large files, so nothing here splits the whole text into lines: line
starts are found by counting line breaks chunk by chunk (C-speed str.count), and only the
affected line is converted to UTF-16.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DocumentStore", "EditError", "TextDocument", "apply_change"]

_CHUNK = 1 << 14
_EOL = re.compile(r"\r\n|\r|\n")


class EditError(ValueError):
    """A content change that cannot be applied to the text."""


def _int_field(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    # bool is an int subclass but never a valid position.
    if not isinstance(value, int) or isinstance(value, bool):
        raise EditError(f"position {key} is not an integer: {value!r}")
    return max(value, 0)


def _position(range_: Mapping[str, Any], key: str) -> tuple[int, int]:
    pos = range_.get(key)
    if not isinstance(pos, Mapping):
        raise EditError(f"range.{key} is not a position: {pos!r}")
    return _int_field(pos, "line"), _int_field(pos, "character")


def _eol_count(text: str, start: int, end: int, has_cr: bool) -> int:
    n = text.count("\n", start, end)
    if has_cr:
        cr = text.count("\r", start, end)
        if cr:
            n += cr - text.count("\r\n", start, end)
    return n


def _skip_lines(text: str, pos: int, count: int, has_cr: bool) -> int:
    """The start of the line `count` lines below the line starting at `pos`; -1 when the
    document has fewer lines."""
    if pos < 0:
        return -1
    size = len(text)
    while count:
        end = min(pos + _CHUNK, size)
        # Never cut a "\r\n" in two: both halves would count as a line break.
        if end < size and text[end - 1] == "\r" and text[end] == "\n":
            end += 1
        found = _eol_count(text, pos, end, has_cr)
        if found >= count:
            for match in _EOL.finditer(text, pos, end):
                count -= 1
                if not count:
                    return match.end()
        if end >= size:
            return -1
        count -= found
        pos = end
    return pos


def _back_lines(text: str, pos: int, count: int, has_cr: bool) -> int:
    """The start of the line `count` lines above the line starting at `pos` (which exists)."""
    need = count + 1  # the target starts where the line break before it ends
    while pos > 0:
        low = max(pos - _CHUNK, 0)
        if low > 0 and text[low - 1] == "\r" and text[low] == "\n":
            low -= 1
        found = _eol_count(text, low, pos, has_cr)
        if found >= need:
            ends = [match.end() for match in _EOL.finditer(text, low, pos)]
            return ends[-need]
        need -= found
        pos = low
    return 0


# (line, offset where that line starts, whether the text may hold "\r") for one text value:
# lets the next edit count lines from the previous one instead of from the top.
_Hint = tuple[int, int, bool]


def _line_start(text: str, line: int, hint: _Hint | None, has_cr: bool) -> int:
    if hint is None or line < hint[0] - line:
        return _skip_lines(text, 0, line, has_cr)
    if line >= hint[0]:
        return _skip_lines(text, hint[1], line - hint[0], has_cr)
    return _back_lines(text, hint[1], hint[0] - line, has_cr)


def _line_end(text: str, start: int) -> int:
    nl = text.find("\n", start)
    limit = len(text) if nl < 0 else nl
    cr = text.find("\r", start, limit)
    return limit if cr < 0 else cr


def _utf16_index(prefix: str, units: int) -> int:
    """Code points of `prefix` covering `units` UTF-16 units (clamped to its length).

    `prefix` holds at most `units` code points, so the work is bounded by the position.
    """
    if prefix.isascii():
        return len(prefix)
    try:
        encoded = prefix.encode("utf-16-le")
    except UnicodeEncodeError:
        return _utf16_index_slow(prefix, units)
    cut = units * 2
    if cut >= len(encoded):
        return len(prefix)
    if 0xDC00 <= int.from_bytes(encoded[cut : cut + 2], "little") <= 0xDFFF:
        raise EditError("position is inside a surrogate pair")
    return len(encoded[:cut].decode("utf-16-le"))


def _utf16_index_slow(prefix: str, units: int) -> int:
    # Lone surrogates in the text: count by hand, each is one unit.
    seen = 0
    for index, char in enumerate(prefix):
        if seen == units:
            return index
        seen += 2 if ord(char) > 0xFFFF else 1
        if seen > units:
            raise EditError("position is inside a surrogate pair")
    return len(prefix)


def _offset(text: str, line_start: int, character: int) -> int:
    if line_start < 0:  # a line past the last one: the end of the document
        return len(text)
    line_end = _line_end(text, line_start)
    stop = min(line_end, line_start + character)
    return line_start + _utf16_index(text[line_start:stop], character)


def apply_change(text: str, change: Mapping[str, Any]) -> str:
    """`text` after one TextDocumentContentChangeEvent; EditError when it does not apply."""
    return _apply(text, change, None)[0]


def _apply(text: str, change: Mapping[str, Any], hint: _Hint | None) -> tuple[str, _Hint | None]:
    if not isinstance(change, Mapping):
        raise EditError(f"content change is not an object: {change!r}")
    new_text = change.get("text")
    if not isinstance(new_text, str):
        raise EditError("content change has no text")
    range_ = change.get("range")
    if range_ is None:
        return new_text, None
    if not isinstance(range_, Mapping):
        raise EditError(f"range is not an object: {range_!r}")
    start = _position(range_, "start")
    end = _position(range_, "end")
    if start > end:
        start, end = end, start
    # Knowing there is no "\r" saves two counts per chunk in the usual "\n"-only file.
    has_cr = hint[2] if hint is not None else "\r" in text
    start_line = _line_start(text, start[0], hint, has_cr)
    end_line = _skip_lines(text, start_line, end[0] - start[0], has_cr)
    begin = _offset(text, start_line, start[1])
    finish = _offset(text, end_line, end[1])
    result = "".join((text[:begin], new_text, text[finish:]))
    if start_line < 0:
        return result, None
    # Lines up to the edit's first line keep their starts, except when a lone "\r" just
    # before that line now meets a "\n" and becomes one "\r\n" line break.
    if start_line and result[start_line - 1] == "\r" and result.startswith("\n", start_line):
        return result, None
    return result, (start[0], start_line, has_cr or "\r" in new_text)


@dataclass(slots=True)
class TextDocument:
    uri: str
    language_id: str
    version: int
    text: str
    desynced: bool = False
    venv: Path | None = None
    project: Path | None = None  # the project `venv` serves (None: the venv's parent)
    changed: int = 0  # the store's `edits` when its text last changed or it was opened


class DocumentStore:
    """Open documents by URI, in the order they were (last) opened."""

    def __init__(self) -> None:
        self._docs: dict[str, TextDocument] = {}
        self._hints: dict[str, tuple[str, _Hint]] = {}
        # Counts opens and edits; each document keeps the count of its last one, so a
        # request marked with it (`mark`) can tell whether its document changed since (a
        # closed document is simply gone, a reopened one has a new count).
        self.edits = 0

    def open(self, uri: str, language_id: str, version: int, text: str) -> TextDocument:
        # pop first so that a re-open moves the document to the end of the open order
        self._docs.pop(uri, None)
        self._hints.pop(uri, None)
        self.edits += 1
        doc = TextDocument(uri=uri, language_id=language_id, version=version, text=text,
                           changed=self.edits)
        self._docs[uri] = doc
        return doc

    def change(self, uri: str, version: int | None, changes: Sequence[Mapping[str, Any]]) -> bool:
        """Apply `changes` in order; False when the document is unknown or out of sync.

        After a failed edit the text is stale, so later incremental edits are skipped; a full
        replacement (a change without a range) brings the document back in sync.
        """
        doc = self._docs.get(uri)
        if doc is None:
            return False
        if version is not None:
            doc.version = version
        text = doc.text
        saved = self._hints.pop(uri, None)
        # a hint is only good for the very text value it was computed on
        hint = saved[1] if saved is not None and saved[0] is text else None
        for change in changes:
            if doc.desynced:
                if isinstance(change, Mapping) and change.get("range") is None:
                    new_text = change.get("text")
                    if isinstance(new_text, str):
                        text = new_text
                        doc.desynced = False
                continue
            try:
                text, hint = _apply(text, change, hint)
            except EditError:
                doc.desynced = True
                hint = None
        doc.text = text
        self.edits += 1
        doc.changed = self.edits
        if hint is not None:
            self._hints[uri] = (text, hint)
        return not doc.desynced

    def replace(self, doc: TextDocument, text: str) -> None:
        """`doc` has a new text (read from disk: a document typemux opened itself)."""
        self._hints.pop(doc.uri, None)
        doc.text = text
        self.edits += 1
        doc.changed = self.edits

    def close(self, uri: str) -> TextDocument | None:
        self._hints.pop(uri, None)
        return self._docs.pop(uri, None)

    def mark(self, uri: str) -> int:
        """Where document `uri` stands now, for `changed_since` (0: it is not open)."""
        doc = self._docs.get(uri)
        return doc.changed if doc is not None else 0

    def changed_since(self, uri: str, mark: int) -> bool:
        """Whether document `uri` was edited, closed or (re)opened since `mark(uri)` was
        `mark`; one that was not open then has changed only if it is open now."""
        doc = self._docs.get(uri)
        if mark == 0:
            return doc is not None
        return doc is None or doc.changed != mark

    def get(self, uri: str) -> TextDocument | None:
        return self._docs.get(uri)

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[TextDocument]:
        return iter(list(self._docs.values()))

    def __contains__(self, uri: object) -> bool:
        return uri in self._docs

    def in_venv(self, venv: Path) -> list[TextDocument]:
        return [doc for doc in self._docs.values() if doc.venv == venv]
