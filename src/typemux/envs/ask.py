"""Asking an environment tool (`poetry env info -p`), in the background, once per project.

Discovery runs on the event loop's thread, so it never waits for a tool: the first look
starts the question on a daemon thread and reports it pending; later looks use the answer.
Meanwhile the router holds the messages about that project's documents (core.env_wait);
`on_answer` tells the runtime when an answer is in, so that they go on at once.
A missing tool, a failure, a timeout or an answer that is no environment only make the
rule skip. A negative answer is asked again after `retry_seconds`, so that an environment
created later is still found.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from typemux.envs.model import is_env

# At most this many tools run at once: a monorepo of Poetry projects without environments
# must not start one `poetry` per project on a small machine.
MAX_RUNNING = 2
# Variables that make tools report the environment typemux itself runs in.
_DROP = ("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PIPENV_ACTIVE", "POETRY_ACTIVE")


@dataclass(frozen=True, slots=True)
class Answer:
    state: str  # "pending", "answered", or why there is no answer
    path: str | None = None
    at: float = 0.0


class ToolAsker:
    def __init__(self, environ: Mapping[str, str], *, timeout: float = 15.0,
                 retry_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._environ = {k: v for k, v in environ.items() if k not in _DROP}
        self._timeout = timeout
        self._retry = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], Answer] = {}
        self._running: set[subprocess.Popen[bytes]] = set()
        self._slots = threading.BoundedSemaphore(MAX_RUNNING)
        self._closed = False
        self.asked = 0  # questions started, for tests and the bench
        # Called on the tool's thread after each answer (the runtime wakes the router:
        # requests about a project wait for its answer).
        self.on_answer: Callable[[], None] | None = None

    @property
    def timeout(self) -> float:
        """How long one question may take before it counts as unanswered."""
        return self._timeout

    def ask(self, tool: str, argv: list[str], cwd: str) -> Answer:
        key = (" ".join(argv), cwd)
        now = self._clock()
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                fresh = answer.state == "pending" or now - answer.at < self._retry
                if fresh and (answer.path is None or is_env(answer.path)):
                    return answer
            executable = shutil.which(tool, path=self._environ.get("PATH", os.defpath))
            if executable is None:
                answer = Answer(f"{tool} is not on PATH", at=now)
                self._answers[key] = answer
                return answer
            if self._closed:
                return Answer("typemux is stopping", at=now)
            answer = Answer("pending", at=now)
            self._answers[key] = answer
            self.asked += 1
        threading.Thread(target=self._run, args=(key, [executable, *argv[1:]], cwd),
                         name=f"typemux-ask-{tool}", daemon=True).start()
        return answer

    def wait(self, timeout: float) -> None:
        """Block until no question is pending (tests and the bench; never the server)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(a.state == "pending" for a in self._answers.values()):
                    return
            time.sleep(0.02)

    def _run(self, key: tuple[str, str], argv: list[str], cwd: str) -> None:
        with self._slots:
            self._run_one(key, argv, cwd)

    def _run_one(self, key: tuple[str, str], argv: list[str], cwd: str) -> None:
        if self._closed:
            with self._lock:
                self._answers[key] = Answer("typemux is stopping", at=self._clock())
            if self.on_answer is not None:
                self.on_answer()
            return
        try:
            # Its own process group: on a timeout the tool and anything it started go,
            # and nothing is left holding the pipe.
            proc = subprocess.Popen(argv, cwd=cwd, env=self._environ, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as exc:
            answer = Answer(f"could not run: {exc.strerror or exc}")
        else:
            with self._lock:
                self._running.add(proc)
            try:
                stdout, _ = proc.communicate(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.communicate()
                stdout = None
            finally:
                with self._lock:
                    self._running.discard(proc)
            answer = self._answer(proc.returncode, stdout)
        with self._lock:
            self._answers[key] = Answer(answer.state, answer.path, self._clock())
        if self.on_answer is not None:
            self.on_answer()

    def close(self) -> None:
        """typemux is ending: no new questions, and no tool left running behind it."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for proc in running:
            _kill_group(proc)

    def _answer(self, returncode: int, stdout: bytes | None) -> Answer:
        if stdout is None:
            return Answer(f"no answer within {self._timeout:g} s")
        out = os.fsdecode(stdout).strip().splitlines()
        path = out[-1].strip() if out else ""
        if returncode != 0 or not path:
            return Answer(f"exit code {returncode}, no environment")
        if not os.path.isabs(path) or not is_env(path):
            return Answer(f"answered {path!r}, which is no environment")
        return Answer("answered", path=os.path.normpath(path))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
