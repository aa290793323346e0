"""The capabilities each installed backend version really advertises, learned and cached.

typemux must answer `initialize` at once (Claude Code shows "server is starting" forever
otherwise), before any backend runs, so it answers from what it knows. Recorded tables
(backends/<kind>.py) drift as backends are upgraded: pyrefly 1.5.0 offers semantic tokens
that the 1.4.1 table lacks. So the first real handshake with each backend version is cached
under $XDG_CACHE_HOME/typemux/capabilities/, and later sessions answer from the cache.

A backend version is named by its whole command line, the resolved executable's real path,
size and modification time (an upgrade replaces the file), and the same for any argument
that names a file (a script run by an interpreter). That costs a few stats at start-up,
where asking the backend for its version would cost a process start. A server fetched or
imported at run time (`uvx ty server`, `python -m pylsp`) keeps its key across versions:
its entry is stale until the first handshake with the new version replaces it (the router
registers what the answer lacked). The client's `textDocumentSync` never comes from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from typemux.xdg import base_dir

FORMAT = 1


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return base_dir(env, "XDG_CACHE_HOME", ".cache") / "typemux" / "capabilities"


def version_key(kind: str, argv: Sequence[str]) -> str | None:
    """The cache key of the backend `argv` runs, or None when its executable is unknown."""
    if not argv:
        return None
    try:
        real = os.path.realpath(argv[0])
        st = os.stat(real)
    except OSError:
        return None
    # A script run by an interpreter (`python server.py`, a generic backend) is part of the
    # version too: every argument naming an existing file counts.
    files = []
    for arg in argv[1:]:
        with contextlib.suppress(OSError, ValueError):
            if os.path.isfile(arg):
                arg_st = os.stat(arg)
                files.append([os.path.realpath(arg), arg_st.st_size, arg_st.st_mtime_ns])
    identity = json.dumps([FORMAT, kind, list(argv), real, st.st_size, st.st_mtime_ns, files])
    return f"{kind}-{hashlib.sha256(identity.encode()).hexdigest()[:20]}"


def load(key: str, directory: Path | None = None) -> dict[str, Any] | None:
    """The backend's own capabilities as cached under `key`, or None."""
    path = (directory or cache_dir()) / f"{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    caps = data.get("capabilities") if isinstance(data, dict) else None
    if not isinstance(caps, dict) or data.get("format") != FORMAT:
        return None
    return caps


def store(key: str, kind: str, argv: Sequence[str], capabilities: Mapping[str, Any],
          server_info: Mapping[str, Any] | None, directory: Path | None = None) -> Path | None:
    """Cache a backend's capabilities (atomically; a failure only costs the cache)."""
    import tempfile  # off typemux's start-up path: this runs once, after a handshake

    directory = directory or cache_dir()
    path = directory / f"{key}.json"
    data = {"format": FORMAT, "kind": kind, "argv": list(argv),
            "server_info": dict(server_info) if server_info else None,
            "capabilities": dict(capabilities)}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if path.is_file() and load(key, directory) == data["capabilities"]:
            return path
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        return None
    return path
