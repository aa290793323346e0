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


def test_an_exit_code_that_stands_for_a_signal_says_which_keeping_the_code() -> None:
    # pyright's Python wrapper exits with node's returncode -9: 256 - 9
    assert describe_end(False, 247, []) == (
        "exited with code 247 (likely a wrapper reporting signal 9, SIGKILL)")
    # a shell exits 128 + N
    assert describe_end(True, 137, ["Killed"]) == (
        "closed its stdout and exited with code 137 (likely a wrapper reporting signal 9, "
        "SIGKILL); its last stderr lines: Killed")
    assert describe_end(False, 139, []).endswith("(likely a wrapper reporting signal 11, SIGSEGV)")
    assert describe_end(False, 241, []).endswith("(likely a wrapper reporting signal 15, SIGTERM)")


def test_an_ordinary_exit_code_names_no_signal() -> None:
    # plain failures; 255 is exit(-1); 145 would be SIGCHLD, which ends no process
    for code in (0, 1, 2, 3, 127, 128, 145, 192, 255):
        assert describe_end(False, code, []) == f"exited with code {code}"
