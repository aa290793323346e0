"""An async LSP client over a subprocess's stdio, for end-to-end tests.

It frames messages itself (it must not share code with typemux, which it tests), answers
server->client requests through a replaceable callable, and audits the server's stdout:
anything that is not a well-formed frame lands in `protocol_errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Message = dict[str, Any]
_CONTENT_LENGTH = re.compile(rb"content-length:[ \t]*(\d+)[ \t]*$", re.IGNORECASE)
_HEADER = re.compile(rb"^[A-Za-z0-9-]+:[^\r\n]*$")
_HEADER_START = re.compile(rb"content-length:", re.IGNORECASE)


def uri(path: Path) -> str:
    return Path(os.path.abspath(path)).as_uri()


@dataclass(frozen=True)
class JsonRpcError:
    """Returned by an `answer_server_request` callable to answer with an error."""

    code: int
    message: str
    data: Any = None

    def to_json(self) -> Message:
        error: Message = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(eq=False)
class _Waiter:
    kind: str
    method: str
    predicate: Callable[[Message], bool] | None
    since: int
    future: asyncio.Future[Message]

    def offer(self, kind: str, index: int, message: Message) -> None:
        if (
            kind == self.kind
            and index >= self.since
            and message.get("method") == self.method
            and not self.future.done()
            and (self.predicate is None or self.predicate(message))
        ):
            self.future.set_result(message)


class LspClosedError(ConnectionError):
    """The server's stdout closed while a response or notification was awaited."""


Answer = Callable[[Message], Any]


def default_answer(msg: Message) -> Any:
    if msg.get("method") == "workspace/configuration":
        return [None for _ in (msg.get("params") or {}).get("items", [])]
    return None


def CLAUDE_CODE_ANSWER(msg: Message) -> Any:
    """How Claude Code answers a server's requests: `[null]` for workspace/configuration
    (whatever the number of items), -32601 for everything else (registerCapability,
    workDoneProgress/create, applyEdit, ...)."""
    if msg.get("method") == "workspace/configuration":
        return [None]
    return JsonRpcError(-32601, f"Unhandled method {msg.get('method')}")


CLAUDE_CODE_CAPABILITIES: Message = {
    "workspace": {"applyEdit": False, "workspaceFolders": False, "configuration": False},
    "textDocument": {
        "synchronization": {"dynamicRegistration": False, "didSave": True},
        "publishDiagnostics": {"relatedInformation": True, "versionSupport": False},
        "hover": {"contentFormat": ["markdown", "plaintext"]},
        "definition": {"linkSupport": False},
        "references": {},
        "implementation": {"linkSupport": False},
        "documentSymbol": {"hierarchicalDocumentSymbolSupport": True},
        "callHierarchy": {},
    },
    "general": {"positionEncodings": ["utf-16"]},
}

EDITOR_CAPABILITIES: Message = {
    "workspace": {
        "applyEdit": True,
        "workspaceFolders": True,
        "configuration": True,
        "didChangeConfiguration": {"dynamicRegistration": True},
        "didChangeWatchedFiles": {"dynamicRegistration": True, "relativePatternSupport": True},
        "symbol": {"dynamicRegistration": True},
        "semanticTokens": {"refreshSupport": True},
        "codeLens": {"refreshSupport": True},
        "inlayHint": {"refreshSupport": True},
        "diagnostics": {"refreshSupport": True},
    },
    "textDocument": {
        "synchronization": {
            "dynamicRegistration": True,
            "willSave": True,
            "willSaveWaitUntil": True,
            "didSave": True,
        },
        "publishDiagnostics": {
            "relatedInformation": True,
            "versionSupport": True,
            "tagSupport": {"valueSet": [1, 2]},
            "codeDescriptionSupport": True,
            "dataSupport": True,
        },
        "hover": {"dynamicRegistration": True, "contentFormat": ["markdown", "plaintext"]},
        "completion": {
            "dynamicRegistration": True,
            "completionItem": {
                "snippetSupport": True,
                "resolveSupport": {"properties": ["documentation", "detail"]},
            },
        },
        "definition": {"dynamicRegistration": True, "linkSupport": True},
        "references": {"dynamicRegistration": True},
        "implementation": {"dynamicRegistration": True, "linkSupport": True},
        "documentSymbol": {"dynamicRegistration": True, "hierarchicalDocumentSymbolSupport": True},
        "codeLens": {"dynamicRegistration": True},
        "rename": {"dynamicRegistration": True, "prepareSupport": True},
        "callHierarchy": {"dynamicRegistration": True},
        "semanticTokens": {
            "dynamicRegistration": True,
            "requests": {"full": {"delta": True}, "range": True},
            "tokenTypes": ["class", "function", "variable"],
            "tokenModifiers": ["declaration"],
            "formats": ["relative"],
        },
    },
    "window": {"workDoneProgress": True, "showMessage": {}, "showDocument": {"support": True}},
    "general": {"positionEncodings": ["utf-8", "utf-16"]},
}


def encode(message: Message) -> bytes:
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class LspClient:
    """One LSP session with a server process. Use `await LspClient.start(...)`."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid
        self.notifications: list[Message] = []
        self.server_requests: list[Message] = []
        self.received: list[Message] = []
        self.sent: list[Message] = []
        self.protocol_errors: list[str] = []
        # Error responses with "id": null (JSON-RPC's answer to a message whose id is unknown).
        self.null_id_errors: list[Message] = []
        self._reading = asyncio.Event()
        self._reading.set()
        self.answer_server_request: Answer = default_answer
        self._stderr = bytearray()
        self._ids = itertools.count(1)
        self._pending: dict[int | str, asyncio.Future[Message]] = {}
        self._waiters: list[_Waiter] = []
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stdout_task = asyncio.create_task(self._read_stdout())
        self._stderr_task = asyncio.create_task(self._read_stderr())

    @classmethod
    async def start(
        cls, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None
    ) -> LspClient:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def __aenter__(self) -> LspClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- sending ----------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        if not stdin.is_closing():
            stdin.write(data)

    def _send(self, message: Message) -> None:
        self.sent.append(message)
        self.send_raw(encode(message))

    def send_request(self, method: str, params: Any = None) -> int | str:
        request_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        # A request nobody awaits must not warn "exception never retrieved" when the server dies.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending[request_id] = future
        if self._closed:
            future.set_exception(LspClosedError("server closed stdout"))
        message: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        return request_id

    async def response(self, request_id: int | str, timeout: float = 10) -> Message:
        future = self._pending[request_id]
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            if future.done():
                self._pending.pop(request_id, None)

    async def request(self, method: str, params: Any = None, *, timeout: float = 10) -> Message:
        return await self.response(self.send_request(method, params), timeout)

    def notify(self, method: str, params: Any = None) -> None:
        message: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    # ---- waiting ----------------------------------------------------------------------------

    async def wait_notification(
        self,
        method: str,
        predicate: Callable[[Message], bool] | None = None,
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> Message:
        """First notification of `method` (from index `since` on) matching `predicate`,
        including ones that arrived before the call."""

        return await self._wait("notification", method, predicate, since, timeout)

    async def wait_server_request(
        self,
        method: str,
        predicate: Callable[[Message], bool] | None = None,
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> Message:
        """Like `wait_notification`, for server->client requests (already answered)."""
        return await self._wait("request", method, predicate, since, timeout)

    async def _wait(
        self,
        kind: str,
        method: str,
        predicate: Callable[[Message], bool] | None,
        since: int,
        timeout: float,
    ) -> Message:
        history = self.notifications if kind == "notification" else self.server_requests
        for msg in history[since:]:
            if msg.get("method") == method and (predicate is None or predicate(msg)):
                return msg
        if self._closed:
            raise LspClosedError(f"server closed stdout before a {method!r} {kind}")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(kind, method, predicate, since, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no {method!r} {kind} within {timeout}s") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    # ---- LSP conveniences -------------------------------------------------------------------

    async def initialize(
        self,
        root: Path,
        *,
        capabilities: Message | None = None,
        timeout: float = 10,
        **extra: Any,
    ) -> Message:
        """initialize (+ initialized when it succeeded); returns the whole response.

        The Claude Code profile sends no `clientInfo`, as Claude Code 2.1 does not."""
        params: Message = {
            "processId": os.getpid(),
            "rootUri": uri(root),
            "rootPath": str(root),
            "workspaceFolders": [{"uri": uri(root), "name": root.name}],
            "capabilities": EDITOR_CAPABILITIES if capabilities is None else capabilities,
        }
        if capabilities is not CLAUDE_CODE_CAPABILITIES:
            params["clientInfo"] = {"name": "typemux-tests", "version": "0"}
        params.update(extra)
        response = await self.request("initialize", params, timeout=timeout)
        if "result" in response:
            self.notify("initialized", {})
        return response

    async def did_open(
        self,
        path: Path,
        text: str | None = None,
        *,
        version: int = 1,
        language_id: str = "python",
    ) -> str:
        doc_uri = uri(path)
        if text is None:
            text = path.read_text(encoding="utf-8")
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": doc_uri,
                    "languageId": language_id,
                    "version": version,
                    "text": text,
                }
            },
        )
        await self._drain()
        return doc_uri

    def did_change(self, uri: str, version: int, changes: Sequence[Message]) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": list(changes)},
        )

    def did_close(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    async def shutdown_and_exit(self, timeout: float = 10) -> int:
        await self.request("shutdown", timeout=timeout)
        self.notify("exit")
        await self._drain()
        return await self.wait_exit(timeout)

    # ---- process ----------------------------------------------------------------------------

    async def wait_exit(self, timeout: float = 10) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()

    async def terminate(self, timeout: float = 10) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
        return await self.wait_exit(timeout)

    async def aclose(self) -> None:
        """Kill the process if still running and stop the reader tasks."""
        await self.kill()
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        for task in (self._stdout_task, self._stderr_task, *self._tasks):
            task.cancel()
        await asyncio.gather(
            self._stdout_task, self._stderr_task, *self._tasks, return_exceptions=True
        )

    def stderr_text(self) -> str:
        return self._stderr.decode("utf-8", errors="replace")

    async def _drain(self) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(ConnectionError):
                await stdin.drain()

    def pause_reading(self) -> None:
        """Stop reading the server's stdout (its pipe fills up), like a stalled editor."""
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    # ---- receiving --------------------------------------------------------------------------

    async def _read_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        while chunk := await stream.read(65536):
            self._stderr += chunk

    async def _read_stdout(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        buffer = b""
        try:
            while True:
                message, buffer = self._take_frame(buffer)
                if message is not None:
                    self._dispatch(message)
                    continue
                await self._reading.wait()
                chunk = await stream.read(65536)
                if not chunk:
                    break
                buffer += chunk
        finally:
            if buffer.strip():
                self.protocol_errors.append(f"trailing bytes on stdout: {buffer[:200]!r}")
            self._close()

    def _take_frame(self, buffer: bytes) -> tuple[Message | None, bytes]:
        """Cut one frame off `buffer`, recording junk; (None, buffer) when more bytes are needed."""
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return None, buffer
            start = _HEADER_START.search(buffer, 0, end)
            if start is None:
                self.protocol_errors.append(f"junk on stdout: {buffer[: end + 4][:200]!r}")
                buffer = buffer[end + 4 :]
                continue
            if start.start() > 0:
                self.protocol_errors.append(f"junk on stdout: {buffer[: start.start()][:200]!r}")
                buffer = buffer[start.start() :]
                end -= start.start()
            length: int | None = None
            for line in buffer[:end].split(b"\r\n"):
                if not _HEADER.match(line):
                    self.protocol_errors.append(f"bad header line: {line[:200]!r}")
                elif m := _CONTENT_LENGTH.match(line):
                    length = int(m.group(1))
            if length is None:
                self.protocol_errors.append(f"bad Content-Length: {buffer[:end][:200]!r}")
                buffer = buffer[end + 4 :]
                continue
            if len(buffer) < end + 4 + length:
                return None, buffer
            body = buffer[end + 4 : end + 4 + length]
            buffer = buffer[end + 4 + length :]
            try:
                message = json.loads(body)
            except ValueError as exc:
                self.protocol_errors.append(f"invalid JSON body ({exc}): {body[:200]!r}")
                continue
            if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
                self.protocol_errors.append(f"not a JSON-RPC 2.0 message: {body[:200]!r}")
                continue
            return message, buffer

    def _dispatch(self, message: Message) -> None:
        self.received.append(message)
        if "method" in message:
            if "id" in message:
                kind, history = "request", self.server_requests
                task = asyncio.create_task(self._answer(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                kind, history = "notification", self.notifications
            history.append(message)
            for waiter in list(self._waiters):
                waiter.offer(kind, len(history) - 1, message)
            return
        if "id" not in message or ("result" not in message and "error" not in message):
            self.protocol_errors.append(f"malformed message: {message!r}")
            return
        if message["id"] is None and "error" in message:
            self.null_id_errors.append(message)
            return
        future = self._pending.get(message["id"])
        if future is None or future.done():
            self.protocol_errors.append(f"response to unknown id: {message!r}")
            return
        future.set_result(message)

    async def _answer(self, request: Message) -> None:
        try:
            answer = self.answer_server_request(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception as exc:  # a broken answerer must not kill the session
            answer = JsonRpcError(-32603, f"test client answerer failed: {exc!r}")
        reply: Message = {"jsonrpc": "2.0", "id": request["id"]}
        if isinstance(answer, JsonRpcError):
            reply["error"] = answer.to_json()
        else:
            reply["result"] = answer
        self._send(reply)

    def _close(self) -> None:
        self._closed = True
        error = LspClosedError("server closed stdout")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(error)


__all__ = [
    "CLAUDE_CODE_ANSWER",
    "CLAUDE_CODE_CAPABILITIES",
    "EDITOR_CAPABILITIES",
    "JsonRpcError",
    "LspClient",
    "LspClosedError",
    "Message",
    "default_answer",
    "encode",
    "uri",
]
