from __future__ import annotations

import os
from pathlib import Path

import pytest

from typemux.uris import path_to_uri, uri_to_path


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///a/b.py", Path("/a/b.py")),
        ("file:///a%20b/c.py", Path("/a b/c.py")),
        ("file://localhost/srv/x.py", Path("/srv/x.py")),
        ("FILE:///upper/scheme.py", Path("/upper/scheme.py")),
        ("file:///caf%C3%A9/%23hash%3F.py", Path("/café/#hash?.py")),
    ],
)
def test_uri_to_path_decodes_file_uris(uri: str, expected: Path) -> None:
    assert uri_to_path(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "untitled:Untitled-1",
        "https://example.com/a.py",
        "file://otherhost/a.py",
        "file:relative/a.py",
        "file:///a%00b.py",
        "not a uri",
        "",
    ],
)
def test_uri_to_path_rejects_non_file_and_malformed(uri: str) -> None:
    assert uri_to_path(uri) is None


def test_path_to_uri_matches_pathlib_as_uri() -> None:
    for p in ["/a/b.py", "/a b/c d.py", "/café/x.py", "/x/#y?.py", "/p%20q"]:
        assert path_to_uri(p) == Path(p).as_uri()
        assert path_to_uri(Path(p)) == Path(p).as_uri()


def test_path_to_uri_absolutises_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert path_to_uri("sub/m.py") == (tmp_path / "sub" / "m.py").as_uri()
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    # a relative path means something else after chdir: no stale cached answer
    assert path_to_uri("sub/m.py") == (other / "sub" / "m.py").as_uri()


def test_round_trip_including_undecodable_bytes() -> None:
    for p in ["/a b/c.py", "/ünï/cödé.py", os.fsdecode(b"/raw/\xff\xfe.py")]:
        assert uri_to_path(path_to_uri(p)) == Path(p)


def test_uri_to_path_tolerates_non_strings() -> None:
    assert uri_to_path({"not": "a uri"}) is None  # type: ignore[arg-type]
    assert uri_to_path(None) is None  # type: ignore[arg-type]
