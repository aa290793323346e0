"""A hostile LSP backend: plain Python (no pygls), misbehaving on purpose, for tests.

Run as ``python hostile_backend.py``. Options are JSON: ``$VIRTUAL_ENV/hostile-lsp.json``,
with the inline JSON of env ``HOSTILE_LSP`` merged over it. With no option it is a small,
well-behaved server:

- ``initialize`` → capabilities (hover, definition, references, workspace symbols);
  ``shutdown`` → null; ``exit`` → leaves (code 0 after shutdown, else 1).
- ``$/cancelRequest`` of a request it holds (``answer_delay``, ``never_answer``) answers it
  with -32800 at once.
- ``hostile/env`` → ``{"pid", "child_pid", "VIRTUAL_ENV", "options"}``.
- ``hostile/huge`` with ``{"size": N}`` → ``{"text": <N "x">}`` (an answer as large as wanted);
  with ``"request": true`` it first sends typemux a ``workspace/applyEdit`` request of that
  size and answers once that request is answered (``{"answer": <its answer>}``).
- any other request → ``{"echo": method, "venv": <project dir name>, "pid": pid}``.
- notifications are read and ignored (documents are not kept).

Modes (each an option key; combine freely):

``ignore_cancel`` (bool)
    ``$/cancelRequest`` is read and ignored: a held request stays unanswered (or is answered
    normally after ``answer_delay``).
``never_answer`` (list of methods)
    Requests of these methods are never answered (and never produce any output).
``answer_delay`` (seconds)
    Every request other than initialize/shutdown is answered this much later.
``heartbeat`` (seconds)
    While any request is unanswered, send a ``window/logMessage`` every ``heartbeat`` seconds:
    a slow but visibly busy backend.
``flood`` (``{"count": N, "method": M, "size": bytes}``)
    Right after ``initialized``, send N notifications (default ``window/logMessage``, a
    message of ``size`` characters, default 100). The request ``hostile/flood`` with the
    same params floods on demand, then answers.
``stop_reading_after`` (int)
    After this many messages, never read stdin again (the process lives on; the pipe to it
    fills up).
``setsid_child`` (bool)
    At start, fork a child that calls ``setsid()`` (leaving the backend's process group and
    session, so killpg does not reach it) and sleeps for an hour. Its pid is in
    ``hostile/env`` and, with ``pid_dir``, in ``<pid_dir>/<backend pid>.child``.
``wrong_ids`` (bool)
    Every answer carries a wrong id (``<id>-wrong`` for strings, ``id + 1000000`` for numbers).
    ``initialize`` included unless ``wrong_ids`` is ``"after_initialize"``.
``hang_after_initialize`` (bool)
    Answer ``initialize``, then never write anything again (it keeps reading stdin).
``record_dir`` (path)
    Write ``<record_dir>/<pid>.jsonl``: one line per message received
    (``{"method", "id"}``), flushed at once; the file is created at start.
``pid_dir`` (path)
    Write ``<pid_dir>/<pid>.pid`` at start (and the setsid child's pid, see above).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

_HEADER = re.compile(rb"content-length:[ \t]*(\d+)", re.IGNORECASE)
CAPABILITIES = {
    "textDocumentSync": {"openClose": True, "change": 2},
    "hoverProvider": True,
    "definitionProvider": True,
    "referencesProvider": True,
    "workspaceSymbolProvider": True,
}


def load_options() -> dict[str, Any]:
    options: dict[str, Any] = {}
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        path = Path(venv) / "hostile-lsp.json"
        if path.is_file():
            options.update(json.loads(path.read_text()))
    inline = os.environ.get("HOSTILE_LSP")
    if inline:
        options.update(json.loads(inline))
    return options


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    """One framed message, or None at EOF."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is None:
                continue
            break
        match = _HEADER.match(line.strip())
        if match:
            length = int(match.group(1))
    body = stream.read(length)
    if len(body) < length:
        return None
    message = json.loads(body)
    return message if isinstance(message, dict) else {}


def setsid_child() -> int:
    """Fork a child that leaves our session and sleeps; its pid, once it has left."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.write(ready_w, b"1")
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            time.sleep(3600)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    return pid


class Hostile:
    def __init__(self, options: dict[str, Any], out: BinaryIO) -> None:
        self.options = options
        self.out = out
        self.lock = threading.Lock()
        self.silent = False  # hang_after_initialize: nothing is written any more
        self.shutdown = False
        self.held: dict[Any, dict[str, Any]] = {}  # requests not answered yet, by id
        self.child_pid: int | None = None
        self.received = 0
        self.record = None
        venv = os.environ.get("VIRTUAL_ENV", "")
        self.name = os.path.basename(os.path.dirname(venv)) if venv else "hostile"
        record_dir = options.get("record_dir")
        if record_dir:
            self.record = open(Path(record_dir) / f"{os.getpid()}.jsonl", "a")  # noqa: SIM115

    # ----- output --------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        with self.lock:
            if self.silent:
                return
            try:
                self.out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                self.out.flush()
            except (BrokenPipeError, ValueError):
                os._exit(1)

    def answer(self, request_id: Any, result: Any = None, error: dict[str, Any] | None = None,
               *, method: str = "") -> None:
        wrong = self.options.get("wrong_ids")
        if wrong and not (wrong == "after_initialize" and method == "initialize"):
            request_id = f"{request_id}-wrong" if isinstance(request_id, str) else request_id + 1000000
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error is not None:
            message["error"] = error
        else:
            message["result"] = result
        self.send(message)

    def log(self, text: str) -> None:
        self.send({"jsonrpc": "2.0", "method": "window/logMessage",
                   "params": {"type": 4, "message": text}})

    def flood(self, params: dict[str, Any]) -> None:
        method = str(params.get("method", "window/logMessage"))
        text = "x" * int(params.get("size", 100))
        for i in range(int(params.get("count", 1000))):
            if method == "window/logMessage":
                self.send({"jsonrpc": "2.0", "method": method, "params": {"type": 4, "message": f"{i} {text}"}})
            else:
                self.send({"jsonrpc": "2.0", "method": method, "params": {"n": i, "text": text}})

    # ----- input ---------------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if self.record is not None:
            self.record.write(json.dumps({"method": method, "id": message.get("id")}) + "\n")
            self.record.flush()
        if method is None:
            self.answered(message)
            return
        params = message.get("params") or {}
        if "id" not in message:
            self.notification(method, params)
        else:
            self.request(message["id"], method, params)

    def answered(self, message: dict[str, Any]) -> None:
        """An answer to a request of ours: the held request that asked it is answered."""
        for request_id, held in list(self.held.items()):
            if held.get("asked") == message.get("id"):
                del self.held[request_id]
                self.answer(request_id, {"answer": message}, method=held["method"])

    def notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "exit":
            os._exit(0 if self.shutdown else 1)
        elif method == "initialized" and self.options.get("flood"):
            self.flood(dict(self.options["flood"]))
        elif method == "$/cancelRequest" and not self.options.get("ignore_cancel"):
            held = self.held.pop(params.get("id"), None)
            if held is not None:
                self.answer(params.get("id"), error={"code": -32800, "message": "cancelled"},
                            method=held["method"])

    def request(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        if method == "initialize":
            self.answer(request_id, {"capabilities": CAPABILITIES,
                                     "serverInfo": {"name": "hostile", "version": "1"}},
                        method=method)
            if self.options.get("hang_after_initialize"):
                with self.lock:
                    self.silent = True
            return
        if method == "shutdown":
            self.shutdown = True
            self.answer(request_id, None, method=method)
            return
        if method in set(self.options.get("never_answer") or ()):
            self.held[request_id] = {"method": method, "forever": True}
            return
        if method == "hostile/env":
            result: Any = {"pid": os.getpid(), "child_pid": self.child_pid,
                           "VIRTUAL_ENV": os.environ.get("VIRTUAL_ENV"), "options": self.options}
        elif method == "hostile/huge":
            text = "x" * int(params.get("size", 0))
            if params.get("request"):
                self.held[request_id] = {"method": method, "forever": False, "asked": "huge-edit"}
                self.send({"jsonrpc": "2.0", "id": "huge-edit", "method": "workspace/applyEdit",
                           "params": {"label": text, "edit": {}}})
                return
            result = {"text": text}
        elif method == "hostile/flood":
            self.flood(params)
            result = None
        else:
            result = {"echo": method, "venv": self.name, "pid": os.getpid()}
        delay = float(self.options.get("answer_delay", 0))
        if delay <= 0:
            self.answer(request_id, result, method=method)
            return
        self.held[request_id] = {"method": method, "forever": False}

        def later() -> None:
            time.sleep(delay)
            if self.options.get("ignore_cancel"):
                self.held.pop(request_id, None)
                self.answer(request_id, result, method=method)
            elif self.held.pop(request_id, None) is not None:
                self.answer(request_id, result, method=method)

        threading.Thread(target=later, daemon=True).start()

    def heartbeat(self, every: float) -> None:
        while True:
            time.sleep(every)
            if self.held:
                self.log(f"still working on {len(self.held)} request(s)")


def main() -> None:
    options = load_options()
    # Protocol frames only on the real stdout; anything printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    pid_dir = options.get("pid_dir")
    server = Hostile(options, out)
    if options.get("setsid_child"):
        server.child_pid = setsid_child()
        if pid_dir:
            (Path(pid_dir) / f"{os.getpid()}.child").write_text(str(server.child_pid))
    if pid_dir:
        (Path(pid_dir) / f"{os.getpid()}.pid").write_text(str(os.getpid()))
    if options.get("heartbeat"):
        threading.Thread(target=server.heartbeat, args=(float(options["heartbeat"]),),
                         daemon=True).start()
    stdin = sys.stdin.buffer
    stop_after = options.get("stop_reading_after")
    while True:
        if stop_after is not None and server.received >= int(stop_after):
            while True:  # alive, but deaf
                time.sleep(3600)
        message = read_message(stdin)
        if message is None:
            os._exit(0)
        server.received += 1
        server.handle(message)


if __name__ == "__main__":
    main()
