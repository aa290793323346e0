"""XDG base directories, as the spec defines them (one rule for config, cache and data)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def base_dir(environ: Mapping[str, str], variable: str, default: str,
             home: str | None = None) -> Path:
    """`$variable` when it is an absolute path (the spec says to ignore relative values),
    else `home/default`, where home is `home`, else `$HOME`, else the user's home."""
    value = environ.get(variable, "").strip()
    if value and os.path.isabs(value):
        return Path(value)
    home = home or environ.get("HOME") or str(Path.home())
    return Path(home) / default
