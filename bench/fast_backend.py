"""A minimal, fast fake LSP backend in raw asyncio (no pygls), for benchmarks and chaos tests.

Run as ``python bench/fast_backend.py``. It answers every request at once, so a benchmark
measures the transport and the proxy rather than the server:

- ``initialize`` → a small capability set; ``shutdown`` → null; ``exit`` → leaves.
- ``textDocument/didOpen|didChange|didClose`` keep the documents (full and UTF-16 ranged
  changes), so ``fake/documents`` shows this backend's view of them (same shape as the
  pygls fake in tests/fakes).
- ``bench/burst`` ``{"count": N, "uri": U}`` sends N publishDiagnostics, then answers.
- ``bench/references`` ``{"count": N}`` → N locations (a large answer; encoded once).
- ``fake/env`` → pid, VIRTUAL_ENV; ``fake/exit`` → dies without answering.
- any other request → ``{"echo": <method>, "venv": <VIRTUAL_ENV name>}``.

Env ``FAST_BACKEND_CHILD=1`` makes it start a ``sleep`` child (orphan tests).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from typing import Any

import orjson

_HEADER = re.compile(rb"Content-Length: *([0-9]+)\r\n(?:[^\r\n]+\r\n)*\r\n", re.IGNORECASE)


def take_messages(buf: bytearray) -> list[Any]:
    """Decode and remove every complete frame at the start of `buf` (shared with run.py's
    client, both deliberately independent of typemux's own framing)."""
    messages = []
    pos = 0
    while True:
        match = _HEADER.match(buf, pos)
        if match is None:
            break
        end = match.end() + int(match.group(1))
        if end > len(buf):
            break
        messages.append(orjson.loads(bytes(buf[match.end():end])))
        pos = end
    if pos:
        del buf[:pos]
    return messages
_EOL = re.compile(r"\r\n|\r|\n")
VENV = os.environ.get("VIRTUAL_ENV", "")
NAME = os.path.basename(os.path.dirname(VENV)) if VENV else "fast"
CAPABILITIES = {
    "textDocumentSync": {"openClose": True, "change": 2},
    "hoverProvider": True,
    "definitionProvider": True,
    "referencesProvider": True,
    "documentSymbolProvider": True,
    "workspaceSymbolProvider": True,
}


def _offset(text: str, position: dict[str, Any]) -> int:
    offset = 0
    for _ in range(int(position["line"])):
        match = _EOL.search(text, offset)
        if match is None:
            return len(text)
        offset = match.end()
    match = _EOL.search(text, offset)
    line_end = match.start() if match else len(text)
    units, want = 0, int(position["character"])
    while offset < line_end and units < want:
        units += 2 if ord(text[offset]) > 0xFFFF else 1
        offset += 1
    return offset


def apply_change(text: str, change: dict[str, Any]) -> str:
    rng = change.get("range")
    if rng is None:
        return str(change["text"])
    start = _offset(text, rng["start"])
    end = max(start, _offset(text, rng["end"]))
    return text[:start] + str(change["text"]) + text[end:]


class Backend:
    def __init__(self, out: asyncio.WriteTransport) -> None:
        self.out = out
        self.documents: dict[str, dict[str, Any]] = {}
        self.references: dict[int, bytes] = {}
        self.shutdown = False

    def send(self, msg: dict[str, Any]) -> None:
        body = orjson.dumps(msg)
        self.out.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def handle(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:
            return  # a response to a request we never send
        params = msg.get("params") or {}
        if "id" not in msg:
            self.notification(method, params)
            return
        result: Any
        if method == "initialize":
            result = {"capabilities": CAPABILITIES,
                      "serverInfo": {"name": "fast-backend", "version": "1"}}
        elif method == "shutdown":
            self.shutdown = True
            result = None
        elif method == "bench/burst":
            uri = params.get("uri", "file:///burst.py")
            diag = {"range": {"start": {"line": 0, "character": 0},
                              "end": {"line": 0, "character": 1}},
                    "severity": 2, "message": "burst"}
            for i in range(int(params.get("count", 0))):
                self.send({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics",
                           "params": {"uri": uri, "version": i, "diagnostics": [diag]}})
            result = None
        elif method == "bench/references":
            count = int(params.get("count", 1000))
            body = self.references.get(count)
            if body is None:
                locations = [{"uri": f"file:///home/u/project/src/pkg/module_{i % 60}.py",
                              "range": {"start": {"line": i, "character": 4},
                                        "end": {"line": i, "character": 16}}}
                             for i in range(count)]
                body = self.references[count] = orjson.dumps(locations)
            # Spliced, not re-encoded per request: the bench times the proxy, not this.
            reply = b'{"jsonrpc":"2.0","id":%s,"result":%s}' % (orjson.dumps(msg["id"]), body)
            self.out.write(b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply))
            return
        elif method == "fake/documents":
            result = {u: {"version": d["version"], "text": d["text"]}
                      for u, d in self.documents.items()}
        elif method == "fake/env":
            result = {"pid": os.getpid(), "VIRTUAL_ENV": VENV, "name": NAME}
        elif method == "fake/exit":
            os._exit(3)
        else:
            result = {"echo": method, "venv": NAME}
        self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})

    def notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "textDocument/didOpen":
            doc = params["textDocument"]
            self.documents[doc["uri"]] = {"version": doc.get("version"), "text": doc["text"]}
        elif method == "textDocument/didChange":
            ident = params["textDocument"]
            doc = self.documents.get(ident["uri"])
            if doc is not None:
                for change in params.get("contentChanges", []):
                    doc["text"] = apply_change(doc["text"], change)
                doc["version"] = ident.get("version")
        elif method == "textDocument/didClose":
            self.documents.pop(params["textDocument"]["uri"], None)
        elif method == "exit":
            os._exit(0 if self.shutdown else 1)


class _Reader(asyncio.Protocol):
    def __init__(self, backend: Backend, done: asyncio.Future[None]) -> None:
        self.backend = backend
        self.done = done
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        for msg in take_messages(self.buf):
            self.backend.handle(msg)

    def eof_received(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof_received()


async def main() -> None:
    loop = asyncio.get_running_loop()
    out_transport, _ = await loop.connect_write_pipe(
        asyncio.Protocol, os.fdopen(os.dup(1), "wb", buffering=0))
    os.dup2(2, 1)
    assert isinstance(out_transport, asyncio.WriteTransport)
    backend = Backend(out_transport)
    done: asyncio.Future[None] = loop.create_future()
    await loop.connect_read_pipe(lambda: _Reader(backend, done),
                                 os.fdopen(0, "rb", buffering=0))
    child = None
    if os.environ.get("FAST_BACKEND_CHILD"):
        child = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await done
    if child is not None:
        child.kill()
    sys.exit(0)


if __name__ == "__main__":
    asyncio.run(main())
