"""The trace writer (runtime/trace.py) and the reader behind `typemux trace` (trace_view.py)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from typemux.cli import main
from typemux.runtime.trace import NoTrace, Trace, open_trace
from typemux.trace_view import show, trace_files
from typemux.wire.streams import Incoming, Malformed


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_records_carry_the_bytes_that_travelled_and_the_session_venv(tmp_path: Path) -> None:
    trace = open_trace(tmp_path / "t", pid=42)
    assert isinstance(trace, Trace) and trace.path.name.startswith("typemux-42-")
    raw = b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"keep":null,"unknown":[1]}}'
    trace.from_client(Incoming(json.loads(raw), raw))
    trace.to_backend(3, Path("/p/.venv"), json.loads(raw), raw)
    trace.from_backend(3, {"jsonrpc": "2.0", "id": 1, "result": None}, None)
    trace.to_client({"jsonrpc": "2.0", "id": 1, "result": None}, None)
    trace.from_client(Malformed(-32700, "not JSON", None))
    trace.close()
    assert trace.path.stat().st_mode & 0o777 == 0o600  # it holds the documents' text
    got = lines(trace.path)
    assert [r["direction"] for r in got] == [
        "client->typemux", "typemux->backend", "backend->typemux", "typemux->client",
        "client->typemux"]
    assert got[0]["message"] == {"jsonrpc": "2.0", "id": 1, "method": "x",
                                 "params": {"keep": None, "unknown": [1]}}
    assert raw in trace.path.read_bytes()  # embedded as it was, not re-encoded
    assert [r["session"] for r in got] == [None, 3, 3, None, None]
    assert [r["venv"] for r in got] == [None, "/p/.venv", "/p/.venv", None, None]
    assert got[4]["message"] == {"typemux_malformed": "not JSON"}


def test_a_multi_line_body_is_re_encoded_to_keep_one_record_per_line(tmp_path: Path) -> None:
    trace = open_trace(tmp_path)
    raw = b'{\n  "jsonrpc": "2.0",\n  "method": "initialized"\n}'
    trace.from_client(Incoming(json.loads(raw), raw))
    trace.close()
    assert lines(trace.path)[0]["message"] == {"jsonrpc": "2.0", "method": "initialized"}


async def test_writes_are_buffered_and_flushed_soon_after(tmp_path: Path) -> None:
    trace = open_trace(tmp_path)
    trace.to_client({"jsonrpc": "2.0", "method": "m"}, None)
    assert trace.path.read_bytes() == b""  # still in the buffer: no disk write per message
    for _ in range(100):
        await asyncio.sleep(0.05)
        if trace.path.read_bytes():
            break
    assert lines(trace.path)[0]["message"] == {"jsonrpc": "2.0", "method": "m"}
    trace.close()


def test_off_or_unusable_directory_gives_a_no_op_trace(tmp_path: Path) -> None:
    assert isinstance(open_trace(None), NoTrace)
    blocker = tmp_path / "file"
    blocker.write_text("")
    trace = open_trace(blocker / "sub")  # a directory under a file cannot be made
    assert isinstance(trace, NoTrace)
    trace.to_client({"jsonrpc": "2.0", "method": "m"}, None)  # and does nothing


def test_a_write_error_turns_the_trace_off_instead_of_failing(tmp_path: Path) -> None:
    trace = open_trace(tmp_path)
    assert trace._file is not None
    trace._file.close()  # what a vanished disk looks like to the writer
    trace.to_client({"jsonrpc": "2.0", "method": "m"}, None)  # raises inside: caught
    assert trace._file is None  # off: the next messages cost nothing
    trace.to_client({"jsonrpc": "2.0", "method": "m"}, None)
    trace.close()


def test_reader_pairs_responses_with_requests_per_stream(tmp_path: Path) -> None:
    records = [
        {"time": 1.0, "direction": "client->typemux", "session": None, "venv": None,
         "message": {"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover"}},
        {"time": 1.1, "direction": "typemux->backend", "session": 1, "venv": "/a/.venv",
         "message": {"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover"}},
        {"time": 1.2, "direction": "backend->typemux", "session": 1, "venv": "/a/.venv",
         "message": {"jsonrpc": "2.0", "id": 7, "result": None}},
        # Same id on the client stream, for a request typemux itself sent to the client.
        {"time": 1.25, "direction": "client->typemux", "session": None, "venv": None,
         "message": {"jsonrpc": "2.0", "id": 7, "result": None}},
        {"time": 1.3, "direction": "typemux->client", "session": None, "venv": None,
         "message": {"jsonrpc": "2.0", "id": 7, "result": None}},
    ]
    path = tmp_path / "typemux-1-x.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"truncated', "utf-8")
    out = io.StringIO()
    assert show(trace_files(tmp_path), out, method="hover") == 4
    text = out.getvalue()
    assert "-- session s1: /a/.venv" in text
    assert text.count("result  textDocument/hover #7") == 2
    out = io.StringIO()
    assert show([path], out, session=1, as_json=True) == 2


def test_cli_trace_without_a_target_or_setting_says_what_to_give(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TYPEMUX_TRACE_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["trace"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "TYPEMUX_TRACE_DIR" in captured.err
    assert main(["trace", str(tmp_path / "missing")]) == 1


def _write_trace(path: Path, count: int) -> None:
    record = {"time": 1.0, "direction": "client->typemux", "session": None, "venv": None,
              "message": {"jsonrpc": "2.0", "method": "x/y", "params": {"pad": "p" * 100}}}
    path.write_text((json.dumps(record) + "\n") * count, "utf-8")


@pytest.mark.parametrize("before", [True, False], ids=["flag-before", "flag-after"])
def test_cli_trace_reads_trace_dir_given_as_a_flag_before_or_after_the_subcommand(
    before: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    monkeypatch.delenv("TYPEMUX_TRACE_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    _write_trace(tmp_path / "typemux-1-a.jsonl", 3)
    flag = ["--trace-dir", str(tmp_path)]
    assert main([*flag, "trace"] if before else ["trace", *flag]) == 0
    assert capsys.readouterr().out.count("notify  x/y") == 3


def test_cli_trace_of_a_file_that_is_not_a_trace_says_so_and_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\n", "utf-8")
    assert main(["trace", str(other)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "not a typemux trace" in captured.err
    empty = tmp_path / "typemux-1-new.jsonl"  # a trace just opened, nothing written yet
    empty.write_text("", "utf-8")
    assert main(["trace", str(empty)]) == 0


def test_malformed_client_input_shows_as_malformed_with_its_reason(tmp_path: Path) -> None:
    trace = Trace(tmp_path / "typemux-1-x.jsonl")
    trace.from_client(Malformed(-32700, "body is not JSON", None))
    trace.close()
    out = io.StringIO()
    assert show([trace.path], out) == 1
    assert "malformed" in out.getvalue() and "body is not JSON" in out.getvalue()
    assert "result" not in out.getvalue()


@pytest.mark.parametrize("count", [3, 20_000], ids=["fits-a-buffer", "many-buffers"])
def test_cli_trace_into_a_closed_pipe_exits_quietly(count: int, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    _write_trace(tmp_path / "typemux-1-a.jsonl", count)
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    try:
        proc = subprocess.run([sys.executable, "-m", "typemux", "trace", str(tmp_path)],
                              stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert b"BrokenPipe" not in proc.stderr and b"Traceback" not in proc.stderr
    assert proc.stderr == b""
