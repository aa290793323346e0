"""Logging: JSON lines to the log file or stderr, never stdout; level filtering; reconfiguring."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from typemux import log as tlog
from typemux.log import configure_logging, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    std = logging.getLogger("typemux")
    level, handlers = std.level, list(std.handlers)
    yield
    configure_logging("info", None)  # closes any test log file
    for h in list(std.handlers):
        if h not in handlers:
            std.removeHandler(h)
    std.setLevel(level)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_log_goes_to_file_and_nothing_to_stdout(tmp_path: Path,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "logs" / "typemux.log"
    configure_logging("info", path)
    get_logger("typemux.test").info("hello", venv="/p/.venv")
    logging.getLogger("typemux.wire").warning("bad frame %d", 7)
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""
    first, second = _lines(path)
    assert first["event"] == "hello"
    assert first["level"] == "info"
    assert first["logger"] == "typemux.test"
    assert first["venv"] == "/p/.venv"
    assert "timestamp" in first
    assert second["event"] == "bad frame 7"
    assert second["level"] == "warning"
    assert second["logger"] == "typemux.wire"
    assert "timestamp" in second


def test_log_file_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "typemux.log"
    path.write_text('{"event": "earlier"}\n')
    configure_logging("info", path)
    get_logger("typemux.test").info("later")
    assert [line["event"] for line in _lines(path)] == ["earlier", "later"]


def test_without_log_file_logs_go_to_stderr_not_stdout(
        capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", None)
    get_logger("typemux.test").warning("to_stderr")
    logging.getLogger("typemux.x").error("stdlib_to_stderr")
    out, err = capfd.readouterr()
    assert out == ""
    events = [json.loads(line)["event"] for line in err.splitlines()]
    assert events == ["to_stderr", "stdlib_to_stderr"]


def test_debug_is_filtered_at_info_level(tmp_path: Path) -> None:
    path = tmp_path / "typemux.log"
    configure_logging("info", path)
    logger = get_logger("typemux.test")
    logger.debug("structlog_debug")
    logging.getLogger("typemux.wire").debug("stdlib_debug")
    logger.info("kept")
    assert [line["event"] for line in _lines(path)] == ["kept"]


def test_debug_is_written_at_debug_level(tmp_path: Path) -> None:
    path = tmp_path / "typemux.log"
    configure_logging("DEBUG", path)
    get_logger("typemux.test").debug("structlog_debug")
    logging.getLogger("typemux.wire").debug("stdlib_debug")
    assert [line["event"] for line in _lines(path)] == ["structlog_debug", "stdlib_debug"]


def test_reconfiguring_retargets_existing_loggers(tmp_path: Path) -> None:
    logger = get_logger("typemux.early")  # created before configuration, like module loggers
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    configure_logging("debug", first)
    logger.debug("one")
    configure_logging("warning", second)
    logger.debug("dropped")
    logger.info("dropped_too")
    logger.warning("two")
    assert [line["event"] for line in _lines(first)] == ["one"]
    assert [line["event"] for line in _lines(second)] == ["two"]


def test_exception_is_logged_with_traceback(tmp_path: Path) -> None:
    path = tmp_path / "typemux.log"
    configure_logging("info", path)
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        get_logger("typemux.test").exception("failed")
    (line,) = _lines(path)
    assert line["level"] == "error"
    assert "RuntimeError: kaput" in line["exception"]


def test_unusable_log_file_falls_back_to_stderr(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    configure_logging("info", blocker / "sub" / "typemux.log")  # parent is a file
    get_logger("typemux.test").info("still_logged")
    out, err = capfd.readouterr()
    assert out == ""
    events = [json.loads(line)["event"] for line in err.splitlines()]
    assert events == ["log_file_unusable", "still_logged"]


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError, match="trace"):
        configure_logging("trace", None)


def test_get_logger_returns_the_same_logger_per_name() -> None:
    assert get_logger("typemux.same") is get_logger("typemux.same")
    assert tlog.get_logger("typemux.same") is not get_logger("typemux.other")


def test_a_line_has_the_fixed_keys_first_then_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "typemux.log"
    configure_logging("info", path)
    get_logger("typemux.test").info("shape", venv=Path("/p/.venv"), n=3)
    text = path.read_text()
    line = json.loads(text)
    assert list(line) == ["timestamp", "level", "logger", "event", "venv", "n"]
    assert line["venv"] == "/p/.venv"  # not JSON-native: written as str()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])


def test_exc_info_may_be_an_exception_outside_its_handler(tmp_path: Path) -> None:
    path = tmp_path / "typemux.log"
    configure_logging("info", path)
    try:
        raise ValueError("from a task")
    except ValueError as exc:
        caught = exc
    get_logger("typemux.test").error("task_failed", exc_info=caught)
    get_logger("typemux.test").error("no_exception", exc_info=False)
    first, second = _lines(path)
    assert "ValueError: from a task" in first["exception"]
    assert "exception" not in second
