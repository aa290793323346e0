"""A project whose environment a tool is still being asked for is reported pending, and
that answer is never cached."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

from envs.layout import venv_at, write
from typemux.venv import VenvResolver


def test_find_reports_pending_until_poetry_answers(tmp_path: Path) -> None:
    tmp = Path(os.path.realpath(tmp_path))
    subprocess.run(["git", "init", "-q", str(tmp / "repo")], check=True)
    project = tmp / "repo" / "p"
    write(project / "pyproject.toml", '[tool.poetry]\nname = "asked"\n')
    (tmp / "home").mkdir()
    env = venv_at(tmp / "somewhere" / "asked-env")
    gate = tmp / "gate"
    script = write(tmp / "bin" / "poetry",
                   f'#!/bin/sh\nwhile [ ! -e "{gate}" ]; do sleep 0.05; done\necho "{env}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    answered = threading.Event()
    r = VenvResolver(environ={"HOME": str(tmp / "home"), "PATH": str(tmp / "bin")},
                     home=tmp / "home", cache_seconds=60)
    assert r.asker is not None
    r.asker.on_answer = answered.set
    file = project / "x.py"
    assert r.find(file) is None and r.pending(file)
    assert r.find(file) is None and r.pending(file)  # still asking: nothing cached
    report = r.explain(project)[0]
    assert any(s.verdict is not None and s.verdict.pending for s in report.seen)
    gate.write_text("")
    assert answered.wait(30)
    found = r.find(file)  # cache_seconds=60: a cached "none" would hide the answer
    assert found is not None and found.path == env and not r.pending(file)
    assert r.asker.asked == 1
