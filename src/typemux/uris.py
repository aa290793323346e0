"""file: URIs ⇄ filesystem paths (POSIX).

Both directions go through bytes with os.fsencode/os.fsdecode so that any path the OS can
name survives a round trip, the same way pathlib's as_uri encodes it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit

__all__ = ["path_to_uri", "uri_to_path"]


def uri_to_path(uri: str) -> Path | None:
    """The absolute path named by a `file:` URI, or None for other schemes or malformed URIs."""
    # checked before the cache: a non-str from a malformed message may not even be hashable
    if not isinstance(uri, str) or uri[:5].lower() != "file:":
        return None
    return _file_uri_to_path(uri)


@lru_cache(maxsize=4096)
def _file_uri_to_path(uri: str) -> Path | None:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    # A remote host cannot be a local path; "localhost" is the spelled-out local host.
    if parts.netloc.lower() not in ("", "localhost"):
        return None
    raw = unquote_to_bytes(parts.path)
    if not raw.startswith(b"/") or b"\x00" in raw:
        return None
    return Path(os.fsdecode(raw))


@lru_cache(maxsize=4096)
def _absolute_to_uri(path: str) -> str:
    # Path() drops "//", "/./" and trailing slashes, so equal paths give equal URIs.
    return "file://" + quote_from_bytes(os.fsencode(os.fspath(Path(path))))


def path_to_uri(path: Path | str) -> str:
    """A `file:` URI for `path`; relative paths are taken against the current directory."""
    text = os.fspath(path)
    # Only absolute paths are cached: a relative one means something else after a chdir.
    if not text.startswith("/"):
        text = os.path.abspath(text)
    return _absolute_to_uri(text)
