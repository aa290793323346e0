from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typemux import documents
from typemux.documents import DocumentStore, EditError, TextDocument, apply_change


def edit(sl: int, sc: int, el: int, ec: int, text: str) -> dict[str, Any]:
    return {
        "range": {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}},
        "text": text,
    }


# --- apply_change -------------------------------------------------------------------------


def test_insert_in_middle_of_line() -> None:
    assert apply_change("hello\nworld\n", edit(1, 0, 1, 0, "big ")) == "hello\nbig world\n"


def test_delete_within_line() -> None:
    assert apply_change("abcdef", edit(0, 1, 0, 4, "")) == "aef"


def test_replace_across_lines() -> None:
    text = "one\ntwo\nthree\n"
    assert apply_change(text, edit(0, 2, 2, 3, "X")) == "onXee\n"


def test_insert_at_end_of_document_after_trailing_newline() -> None:
    assert apply_change("a\n", edit(1, 0, 1, 0, "b")) == "a\nb"


def test_full_replacement_without_range() -> None:
    assert apply_change("old", {"text": "new"}) == "new"
    assert apply_change("old", {"text": "new", "range": None}) == "new"


def test_range_length_is_ignored() -> None:
    change = edit(0, 0, 0, 1, "Z") | {"rangeLength": 99}
    assert apply_change("abc", change) == "Zbc"


def test_emoji_before_position_counts_two_utf16_units() -> None:
    # "😀" is one code point but two UTF-16 units: character 3 is right after "a😀"
    assert apply_change("a😀bc", edit(0, 3, 0, 4, "X")) == "a😀Xc"
    assert apply_change("😀😀\n😀x", edit(1, 2, 1, 3, "y")) == "😀😀\n😀y"


def test_bmp_non_ascii_counts_one_unit() -> None:
    assert apply_change("éà", edit(0, 1, 0, 2, "x")) == "éx"


def test_position_inside_surrogate_pair_is_an_error() -> None:
    with pytest.raises(EditError):
        apply_change("a😀b", edit(0, 2, 0, 2, "x"))
    with pytest.raises(EditError):
        apply_change("a😀b", edit(0, 0, 0, 2, "x"))


def test_crlf_is_one_line_break() -> None:
    text = "ab\r\ncd\r\nef"
    assert apply_change(text, edit(1, 0, 1, 2, "XY")) == "ab\r\nXY\r\nef"
    # past the end of line 0 clamps to before "\r\n", never between "\r" and "\n"
    assert apply_change(text, edit(0, 5, 0, 9, "!")) == "ab!\r\ncd\r\nef"
    assert apply_change(text, edit(2, 1, 2, 1, "_")) == "ab\r\ncd\r\ne_f"


def test_lone_cr_is_a_line_break() -> None:
    text = "ab\rcd\ref"
    assert apply_change(text, edit(2, 0, 2, 1, "E")) == "ab\rcd\rEf"
    assert apply_change(text, edit(1, 9, 1, 9, "!")) == "ab\rcd!\ref"


def test_mixed_line_endings() -> None:
    text = "a\nb\r\nc\rd"
    for line, expected in enumerate(
        ["Xa\nb\r\nc\rd", "a\nXb\r\nc\rd", "a\nb\r\nXc\rd", "a\nb\r\nc\rXd"]
    ):
        assert apply_change(text, edit(line, 0, line, 0, "X")) == expected


def test_character_past_line_end_clamps() -> None:
    assert apply_change("abc\ndef", edit(0, 100, 0, 100, "!")) == "abc!\ndef"
    assert apply_change("abc\ndef", edit(1, 1, 1, 100, "")) == "abc\nd"


def test_line_past_the_end_clamps_to_the_end_of_the_document() -> None:
    # As vscode-languageserver-textdocument does: the edit lands at the end, nothing is lost.
    assert apply_change("a\nb", edit(2, 0, 2, 0, "x")) == "a\nbx"
    assert apply_change("a\nb", edit(99, 7, 120, 0, "Z")) == "a\nbZ"
    assert apply_change("a\nb", edit(0, 0, 5, 0, "x")) == "x"
    assert apply_change("a\nb\n", edit(1, 1, 9, 0, "!")) == "a\nb!"


def test_start_after_end_is_swapped() -> None:
    assert apply_change("abc\ndef", edit(1, 0, 0, 2, "x")) == "abxdef"
    assert apply_change("abc", edit(0, 2, 0, 1, "x")) == "axc"


def test_negative_positions_clamp_to_zero() -> None:
    assert apply_change("ab\ncd", edit(-1, 0, 0, 1, "x")) == "xb\ncd"
    assert apply_change("ab\ncd", edit(1, -3, 1, 1, "x")) == "ab\nxd"


def test_store_keeps_the_editors_text_after_an_edit_past_the_end() -> None:
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, "x = 1\n")
    assert store.change("file:///a.py", 2, [edit(99, 0, 99, 0, "y = 2\n")])
    assert (doc.text, doc.desynced) == ("x = 1\ny = 2\n", False)
    assert store.change("file:///a.py", 3, [edit(0, 0, 0, 0, "# top\n")])
    assert doc.text == "# top\nx = 1\ny = 2\n"


@pytest.mark.parametrize(
    "change",
    [
        edit(0, 0, 0, 1, 5),  # type: ignore[arg-type]
        {"range": {"start": {"line": 0, "character": 0}}, "text": "x"},
        {
            "range": {"start": {"line": "0", "character": 0}, "end": {"line": 0, "character": 0}},
            "text": "x",
        },
        {
            "range": {"start": {"line": True, "character": 0}, "end": {"line": 1, "character": 0}},
            "text": "x",
        },
        {
            "range": {"start": {"line": 0.0, "character": 0}, "end": {"line": 0, "character": 0}},
            "text": "x",
        },
        {"range": [0, 0], "text": "x"},
        {"range": None},
        "not a change",
    ],
)
def test_malformed_changes_are_edit_errors(change: Any) -> None:
    with pytest.raises(EditError):
        apply_change("a\nb\n", change)


def test_edit_error_is_a_value_error() -> None:
    assert issubclass(EditError, ValueError)


def test_long_document_lines_near_the_end() -> None:
    lines = [f"line {i} é😀" for i in range(20000)]
    text = "\r\n".join(lines)
    out = apply_change(text, edit(19999, 0, 19999, 4, "LINE"))
    assert out.endswith("\r\nLINE 19999 é😀")
    assert out.count("\r\n") == 19999


# A reference model: split into lines the slow obvious way and count UTF-16 units by hand.
def _reference(text: str, change: dict[str, Any]) -> str:
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]

    def offset(line: int, char: int) -> int:
        if line >= len(starts):
            return len(text)
        start = starts[line]
        end = start
        while end < len(text) and text[end] not in "\r\n":
            end += 1
        units = 0
        i = start
        while i < end and units < char:
            units += 2 if ord(text[i]) > 0xFFFF else 1
            i += 1
        if units > char:
            raise EditError
        return i

    r = change["range"]
    start = (r["start"]["line"], r["start"]["character"])
    end = (r["end"]["line"], r["end"]["character"])
    if start > end:
        start, end = end, start
    a = offset(*start)
    b = offset(*end)
    new: str = change["text"]
    return text[:a] + new + text[b:]


_texts = st.lists(st.sampled_from(["a", "é", "😀", "\n", "\r", "\r\n", " "]), max_size=30).map(
    "".join
)


@settings(max_examples=300, deadline=None)
@given(
    text=_texts,
    new=_texts,
    pos=st.tuples(*[st.integers(0, 8)] * 4),
)
def test_matches_reference_model(text: str, new: str, pos: tuple[int, int, int, int]) -> None:
    change = edit(*pos, new)
    try:
        expected: str | None = _reference(text, change)
    except EditError:
        expected = None
    # tiny chunks exercise the chunked line counting, including "\r\n" split by a boundary
    for chunk in (1, 2, 3, documents._CHUNK):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(documents, "_CHUNK", chunk)
            if expected is None:
                with pytest.raises(EditError):
                    apply_change(text, change)
            else:
                assert apply_change(text, change) == expected


def _reference_store_run(text: str, changes: list[dict[str, Any]]) -> str | None:
    for change in changes:
        try:
            text = _reference(text, change)
        except EditError:
            return None
    return text


@settings(max_examples=300, deadline=None)
@given(
    text=_texts.map(lambda t: t * 3),
    steps=st.lists(st.tuples(st.tuples(*[st.integers(0, 5)] * 4), _texts), min_size=1, max_size=10),
)
def test_store_edit_sequences_match_reference_model(
    text: str, steps: list[tuple[tuple[int, int, int, int], str]]
) -> None:
    # the store reuses line positions between edits; any sequence must give the same text
    # (ranges are generated ordered so that sequences mostly get past their first edits)
    changes = [
        edit(line, char, line + span, end_char + (char if not span else 0), new)
        for (line, char, span, end_char), new in steps
    ]
    expected = _reference_store_run(text, changes)
    for chunk in (1, 3, documents._CHUNK):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(documents, "_CHUNK", chunk)
            store = DocumentStore()
            doc = store.open("file:///s.py", "python", 0, text)
            results = [store.change("file:///s.py", i, [c]) for i, c in enumerate(changes)]
            if expected is None:
                assert results[-1] is False and doc.desynced
            else:
                assert all(results)
                assert doc.text == expected


def test_store_sees_lone_cr_joining_a_following_newline() -> None:
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, "a\rb")
    assert store.change("file:///a.py", 2, [edit(1, 0, 1, 0, "\n")])  # "a\r\nb": one break
    assert store.change("file:///a.py", 3, [edit(1, 0, 1, 0, "X")])
    assert doc.text == "a\r\nXb"


def test_store_edits_bottom_to_top_and_back() -> None:
    lines = [f"l{i}" for i in range(3000)]
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, "\n".join(lines))
    changes = [edit(i, 0, i, 0, ">") for i in range(2999, -1, -7)]
    changes += [edit(i, 1, i, 1, "<") for i in range(0, 3000, 11)]
    assert store.change("file:///a.py", 2, changes)
    for i in range(2999, -1, -7):
        lines[i] = ">" + lines[i]
    for i in range(0, 3000, 11):
        lines[i] = lines[i][:1] + "<" + lines[i][1:]
    assert doc.text == "\n".join(lines)


def test_store_ignores_hint_when_text_was_replaced_outside() -> None:
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, "a\nb\nc\nd")
    assert store.change("file:///a.py", 2, [edit(3, 0, 3, 0, "D")])
    doc.text = "x\ny"
    assert store.change("file:///a.py", 3, [edit(1, 0, 1, 0, "Y")])
    assert doc.text == "x\nYy"


# --- DocumentStore ------------------------------------------------------------------------


def test_open_get_close_and_container_protocol() -> None:
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, "x = 1\n")
    assert isinstance(doc, TextDocument)
    assert store.get("file:///a.py") is doc
    assert "file:///a.py" in store and "file:///b.py" not in store
    assert len(store) == 1 and list(store) == [doc]
    assert store.close("file:///a.py") is doc
    assert store.close("file:///a.py") is None
    assert len(store) == 0 and store.get("file:///a.py") is None


def test_reopen_replaces_document() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "old")
    doc = store.open("file:///a.py", "python", 7, "new")
    assert store.get("file:///a.py") is doc
    assert (doc.version, doc.text, len(store)) == (7, "new", 1)


def test_change_applies_all_in_order_and_sets_version() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "abc")
    ok = store.change("file:///a.py", 2, [edit(0, 3, 0, 3, "d"), edit(0, 0, 0, 1, "A")])
    doc = store.get("file:///a.py")
    assert ok and doc is not None
    assert (doc.text, doc.version, doc.desynced) == ("Abcd", 2, False)


def test_change_with_null_version_keeps_version() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 4, "a")
    assert store.change("file:///a.py", None, [{"text": "b"}])
    doc = store.get("file:///a.py")
    assert doc is not None and (doc.version, doc.text) == (4, "b")


def test_change_unknown_uri_is_false() -> None:
    assert DocumentStore().change("file:///nope.py", 1, [{"text": "x"}]) is False


def test_bad_edit_desyncs_updates_version_and_stops() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "abc")
    ok = store.change(
        "file:///a.py", 2, [edit(0, 0, 0, 0, "1"), {"range": None}, edit(0, 0, 0, 0, "2")]
    )
    doc = store.get("file:///a.py")
    assert ok is False and doc is not None
    assert doc.desynced is True
    assert doc.version == 2
    assert doc.text == "1abc"  # the change after the bad one was not applied
    # later incremental edits on stale text are skipped too
    assert store.change("file:///a.py", 3, [edit(0, 0, 0, 0, "z")]) is False
    assert (doc.text, doc.version, doc.desynced) == ("1abc", 3, True)


def test_full_replacement_resyncs() -> None:
    store = DocumentStore()
    store.open("file:///a.py", "python", 1, "abc")
    store.change("file:///a.py", 2, [edit(0, 0, 0, 0, 5)])  # type: ignore[arg-type]
    assert store.change("file:///a.py", 3, [{"text": "fresh"}, edit(0, 0, 0, 0, ">")]) is True
    doc = store.get("file:///a.py")
    assert doc is not None and (doc.text, doc.desynced) == (">fresh", False)


def test_in_venv_returns_docs_of_that_venv_in_open_order() -> None:
    store = DocumentStore()
    v1, v2 = Path("/p1/.venv"), Path("/p2/.venv")
    docs = [store.open(f"file:///d{i}.py", "python", 1, "") for i in range(5)]
    for doc, venv in zip(docs, [v1, v2, v1, None, v1], strict=True):
        doc.venv = venv
    assert store.in_venv(v1) == [docs[0], docs[2], docs[4]]
    assert store.in_venv(v2) == [docs[1]]
    assert store.in_venv(Path("/p3/.venv")) == []
    # re-opening moves a document to the end of the open order
    again = store.open("file:///d0.py", "python", 2, "")
    again.venv = v1
    assert store.in_venv(v1) == [docs[2], docs[4], again]
