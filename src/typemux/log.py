"""Logging: JSON lines to a log file or stderr (stdout carries LSP frames only).

One line per event: `{"timestamp", "level", "logger", "event", ...fields}`, plus
`exception` (a traceback) for `exception()` or `exc_info=True`. Stdlib `logging` records of
`typemux.*` loggers are written the same way. This is plain stdlib on purpose: it sits on
the start-up path, where importing structlog cost ~10 ms of the ~70 ms before typemux can
answer `initialize`.

Modules create their loggers at import (`log = get_logger("typemux.proxy")`), before
`configure_logging` runs, and debug events are logged per message: a filtered call is one
integer comparison, and `configure_logging` retargets every logger (level, file) in place.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any, TextIO

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


class _Sink:
    """Writes rendered lines to the current target, stderr by default."""

    def __init__(self) -> None:
        self.file: IO[str] | None = None  # None: sys.stderr as it is at write time
        self.level = logging.INFO
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


_SINK = _Sink()


def _timestamp(now: float) -> str:
    seconds = int(now)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + \
        f".{int((now - seconds) * 1_000_000):06d}Z"


def render(level: str, logger: str, event: str, fields: dict[str, Any],
           exc_text: str | None = None, now: float | None = None) -> str:
    """One JSON log line (without the newline)."""
    line: dict[str, Any] = {"timestamp": _timestamp(time.time() if now is None else now),
                            "level": level, "logger": logger, "event": event}
    line.update(fields)
    if exc_text:
        line["exception"] = exc_text
    return json.dumps(line, default=str, ensure_ascii=False)


def _exc_text(exc_info: Any) -> str | None:
    """The traceback for `exc_info`: True (the exception being handled), an exception, or a
    sys.exc_info() tuple; None when there is none."""
    if isinstance(exc_info, BaseException):
        lines = traceback.format_exception(type(exc_info), exc_info, exc_info.__traceback__)
    elif isinstance(exc_info, tuple) and exc_info and exc_info[0] is not None:
        lines = traceback.format_exception(*exc_info)
    elif exc_info is True and sys.exc_info()[0] is not None:
        lines = traceback.format_exception(*sys.exc_info())
    else:
        return None
    return "".join(lines).rstrip("\n")


class Logger:
    """`log.info("event", key=value, ...)`; exc_info (True, an exception or a sys.exc_info()
    tuple) and stack_info=True as in logging."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: int, label: str, event: str, fields: dict[str, Any],
             exc: Any = False) -> None:
        if level < _SINK.level:
            return
        exc_info = fields.pop("exc_info", exc)
        if fields.pop("stack_info", False):
            fields["stack"] = "".join(traceback.format_stack()[:-2]).rstrip("\n")
        _SINK.msg(render(label, self.name, event, fields, _exc_text(exc_info)))

    def debug(self, event: str, **fields: Any) -> None:
        if _SINK.level <= logging.DEBUG:
            self._log(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, "warning", event, fields)

    warn = warning

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, "error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, "error", event, fields, exc=True)

    def critical(self, event: str, **fields: Any) -> None:
        self._log(logging.CRITICAL, "critical", event, fields)


_loggers: dict[str, Logger] = {}
_state: dict[str, Any] = {"handler": None}


def get_logger(name: str) -> Logger:
    """The logger for component `name`; its events carry `logger=name`."""
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = Logger(name)
    return logger


def configure_logging(level: str, log_file: Path | None) -> None:
    """Send typemux's and stdlib `typemux.*` logging to `log_file` (append) or stderr.

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
    _SINK.level = numeric
    _configure_stdlib(numeric)
    if problem is not None:
        get_logger("typemux.log").warning("log_file_unusable", reason=problem)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        exc_text = None
        if record.exc_info and record.exc_info[0] is not None:
            exc_text = self.formatException(record.exc_info)
        fields: dict[str, Any] = {}
        if record.stack_info:
            fields["stack"] = record.stack_info
        return render(record.levelname.lower(), record.name, record.getMessage(), fields,
                      exc_text, now=record.created)


class _SinkHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _SINK.msg(self.format(record))
        except Exception:
            self.handleError(record)


def _configure_stdlib(level: int) -> None:
    """Route `logging.getLogger("typemux.*")` records through the same renderer and sink."""
    handler = _SinkHandler()
    handler.setFormatter(_JsonFormatter())
    handler.setLevel(level)
    root = logging.getLogger("typemux")
    old = _state["handler"]
    if old is not None:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    _state["handler"] = handler
