"""Finding a backend's descendants by the mark in their environment (runtime/backend_process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typemux.runtime.descendants import OWNER_ENV, kill_marked, marked_pids, owner_prefix


def fake_proc(root: Path, pid: int, environ: bytes) -> None:
    (root / str(pid)).mkdir()
    (root / str(pid) / "environ").write_bytes(environ)


def test_marked_pids_match_whole_entries(tmp_path: Path) -> None:
    fake_proc(tmp_path, 10, b"A=1\0TYPEMUX_BACKEND_OF=7.ab/1\0B=2\0")
    fake_proc(tmp_path, 11, b"TYPEMUX_BACKEND_OF=7.ab/1\0")
    fake_proc(tmp_path, 12, b"A=1\0TYPEMUX_BACKEND_OF=7.ab/12\0")  # another session
    fake_proc(tmp_path, 13, b"X=TYPEMUX_BACKEND_OF=7.ab/1\0")  # only a value that looks alike
    fake_proc(tmp_path, 14, b"TYPEMUX_BACKEND_OF=8.cd/1\0")  # another typemux
    (tmp_path / "self").mkdir()
    assert sorted(marked_pids(b"TYPEMUX_BACKEND_OF=7.ab/1\0", str(tmp_path))) == [10, 11]
    assert sorted(marked_pids(b"TYPEMUX_BACKEND_OF=7.ab/", str(tmp_path))) == [10, 11, 12]


def test_owner_prefix_names_this_process() -> None:
    prefix = owner_prefix()
    assert prefix.startswith(f"{OWNER_ENV}={os.getpid()}.") and prefix.endswith("/")
    assert owner_prefix() == prefix


def test_kill_marked_kills_a_marked_process_that_left_its_session() -> None:
    mark = f"{OWNER_ENV}=test.{os.getpid()}.{time.monotonic_ns()}/1"
    name, value = mark.split("=", 1)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             env={**os.environ, name: value}, start_new_session=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in marked_pids((mark + "\0").encode()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert kill_marked(mark + "\0") >= 1
        assert child.wait(10) == -signal.SIGKILL
        assert bystander.poll() is None
    finally:
        for proc in (child, bystander):
            proc.kill()
            proc.wait()
