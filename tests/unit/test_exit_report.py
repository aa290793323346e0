from __future__ import annotations

from typemux.runtime.exit_report import STDERR_LINE_MAX, STDERR_LINES, StderrTail, describe_end


def test_the_stderr_tail_keeps_only_the_last_lines_each_cut_short() -> None:
    tail = StderrTail()
    for i in range(10_000):
        tail.feed(b"line %d %s\n" % (i, b"y" * (i % 700)))
    tail.feed(b"\n   \nTraceback: Boom")  # blank lines left out; a last line with no break
    last = tail.last()
    assert len(last) == STDERR_LINES
    assert all(len(line) <= STDERR_LINE_MAX for line in last)
    assert last[-1] == "Traceback: Boom"
    assert last[-2].startswith("line 9999 ")
    assert sum(len(line) for line in last) <= 2100


def test_the_end_names_the_exit_code_or_the_signal() -> None:
    assert describe_end(True, 3, ["bad venv"]) == (
        "closed its stdout and exited with code 3; its last stderr lines: bad venv")
    assert describe_end(False, -11, []) == "was killed by SIGSEGV"
    assert describe_end(True, None, []) == "closed its stdout (the process was still running)"
