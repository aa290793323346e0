"""What the router asks the runtime to do. The runtime executes them in order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typemux.jsonrpc import Message


@dataclass(slots=True)
class ToClient:
    msg: Message
    # The original body bytes when the message is forwarded unchanged (saves re-encoding).
    raw: bytes | None = None


@dataclass(slots=True)
class ToBackend:
    session: int
    msg: Message
    raw: bytes | None = None


@dataclass(slots=True)
class Spawn:
    session: int
    venv: Path
    argv: list[str]
    env: dict[str, str]
    cwd: Path


@dataclass(slots=True)
class Stop:
    """End a backend process. Graceful: shutdown/exit were already queued to it, so wait
    `grace` seconds for it to leave before killing its process group."""

    session: int
    graceful: bool
    grace: float = 2.0


@dataclass(slots=True)
class Exit:
    code: int


@dataclass(slots=True)
class PoolChanged:
    """The set of backends or their states changed (the status file is rewritten)."""


@dataclass(slots=True)
class CapabilitiesLearned:
    """The first backend's own `initialize` answer (its capabilities as it sent them): the
    runtime caches them for this backend version, for the next session's answer."""

    capabilities: dict[str, Any]
    server_info: dict[str, Any] | None


@dataclass(slots=True)
class ReadProjectConfig:
    """Read what the files of `project` say about the checker (runtime/project_config.py)
    and hand it back with `Router.project_config_read(ticket, ...)`: a configuration answer
    waits for it, since the core reads no file."""

    ticket: int
    project: Path


@dataclass(slots=True)
class ShareLost:
    """Core-internal, never given to the runtime: the share of fan-out request
    `request_id` sent to backend `session` will never be answered (its backend stopped, or
    it could not be queued). The router consumes it into its fan-out bookkeeping."""

    session: int
    request_id: Any


@dataclass(slots=True)
class BackendReleased:
    """Core-internal, never given to the runtime: backend `session` left the pool (its
    requests were answered). The router has server_requests forget it: the client's later
    answers to its questions are dropped."""

    session: int


@dataclass(slots=True)
class Resend:
    """Core-internal, never given to the runtime: client request `msg` (`raw`) was with a
    backend stopped because its venv was removed or rebuilt; the router routes it anew,
    unless its document changed, closed or opened since (`mark`: `DocumentStore.mark`).
    Anywhere else it is answered -32800 with `error` (the reason), as before."""

    msg: Any
    raw: bytes | None
    error: str
    mark: int = 0


@dataclass(slots=True)
class ConfigStale:
    """Core-internal, never given to the runtime: backend `session` was answered its
    configuration from project files that now say otherwise, and it does not ask again
    (`BackendKind.config_asked_once`). The router restarts it."""

    session: int


Action = (ToClient | ToBackend | Spawn | Stop | Exit | PoolChanged | CapabilitiesLearned
          | ReadProjectConfig | ShareLost | BackendReleased | ConfigStale | Resend)
