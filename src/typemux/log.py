"""Logging: structlog JSON lines to a log file or stderr (stdout carries LSP frames only).

Modules create their loggers at import (`log = get_logger("typemux.proxy")`), before
`configure_logging` runs, and debug events are logged per message. So `get_logger` hands
out real filtering bound loggers (no lazy proxy, which costs microseconds per call), and
`configure_logging` retargets them in place: the output goes through a sink whose stream
can be swapped, and the level lives in the logger's class (structlog's
`make_filtering_bound_logger`, whose filtered methods do nothing), which is swapped too.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import IO, Any, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


class _Sink:
    """The wrapped logger: writes rendered lines to the current target, stderr by default."""

    def __init__(self) -> None:
        self.file: IO[str] | None = None  # None: sys.stderr as it is at write time
        self._lock = threading.Lock()

    @property
    def stream(self) -> TextIO | IO[str]:
        return self.file if self.file is not None else sys.stderr

    def msg(self, message: str) -> None:
        with self._lock:
            stream = self.stream
            try:
                stream.write(message + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # a full disk or a closed stream must not take the proxy down

    debug = info = warning = warn = error = critical = exception = fatal = failure = msg
    err = log = msg


def _json(obj: Any, **_: Any) -> str:
    return json.dumps(obj, default=str, ensure_ascii=False)


_FIRST = ("timestamp", "level", "logger", "event")


def _order(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Put the fixed keys first so log lines are easy to scan."""
    head = {k: event_dict.pop(k) for k in _FIRST if k in event_dict}
    head.update(event_dict)
    return head


_SINK = _Sink()
_PROCESSORS: list[Processor] = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
    _order,
    structlog.processors.JSONRenderer(serializer=_json),
]
_state: dict[str, Any] = {
    "cls": structlog.make_filtering_bound_logger(logging.INFO),
    "handler": None,
}
_loggers: dict[str, FilteringBoundLogger] = {}


def _sink_factory(*_: Any) -> WrappedLogger:
    return _SINK


def _apply_structlog() -> None:
    structlog.configure(
        processors=_PROCESSORS,
        wrapper_class=_state["cls"],
        logger_factory=_sink_factory,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> FilteringBoundLogger:
    """The logger for component `name`; its events carry `logger=name`."""
    logger = _loggers.get(name)
    if logger is None:
        cls = _state["cls"]
        logger = cls(_SINK, _PROCESSORS, {"logger": name})
        _loggers[name] = logger
    return logger


def configure_logging(level: str, log_file: Path | None) -> None:
    """Send structlog and stdlib `typemux.*` logging to `log_file` (append) or stderr.

    Safe to call again: the previous file is closed and every logger follows the new level.
    """
    numeric = LEVELS.get(level.lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    problem: str | None = None
    new_file: IO[str] | None = None
    if log_file is not None:
        try:
            log_file.expanduser().parent.mkdir(parents=True, exist_ok=True)
            new_file = log_file.expanduser().open("a", buffering=1, encoding="utf-8")
        except OSError as exc:
            problem = f"cannot open log file {log_file}: {exc.strerror or exc}; logging to stderr"
    old_file, _SINK.file = _SINK.file, new_file
    if old_file is not None:
        old_file.close()

    cls = structlog.make_filtering_bound_logger(numeric)
    _state["cls"] = cls
    for logger in _loggers.values():
        # Same slots layout for every filtering class, so the level changes in place.
        logger.__class__ = cls
    _apply_structlog()
    _configure_stdlib(numeric)
    if problem is not None:
        get_logger("typemux.log").warning("log_file_unusable", reason=problem)


def _configure_stdlib(level: int) -> None:
    """Route `logging.getLogger("typemux.*")` records through the same renderer and sink."""
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _PROCESSORS[-1]],
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_PROCESSORS[:-1]],
    )
    handler = _SinkHandler()
    handler.setFormatter(formatter)
    handler.setLevel(level)
    root = logging.getLogger("typemux")
    old = _state["handler"]
    if old is not None:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    _state["handler"] = handler


class _SinkHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _SINK.msg(self.format(record))
        except Exception:
            self.handleError(record)


# Until configure_logging runs: info and above to stderr, never the structlog default (stdout).
_apply_structlog()
