"""Namespacing of progress tokens and registration ids per backend session.

Two backends can pick the same token ("pyrefly-progress-1", or ids counting from 0), so
what the client sees is `tmx:<session>:<n|s>:<original>`. The n/s tag keeps whether the
original was a number or a string, so decoding needs no table.
"""

from __future__ import annotations

PREFIX = "tmx:"


def encode(session: int, token: object) -> str:
    tag = "n" if isinstance(token, int) and not isinstance(token, bool) else "s"
    return f"{PREFIX}{session}:{tag}:{token}"


def decode(token: object) -> tuple[int, int | str] | None:
    """(session, original token) for a namespaced token, else None."""
    if not isinstance(token, str) or not token.startswith(PREFIX):
        return None
    parts = token[len(PREFIX) :].split(":", 2)
    if len(parts) != 3 or parts[1] not in ("n", "s"):
        return None
    try:
        session = int(parts[0])
        original: int | str = int(parts[2]) if parts[1] == "n" else parts[2]
    except ValueError:
        return None
    return session, original
