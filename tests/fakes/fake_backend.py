"""A scriptable fake backend: a real pygls LSP server whose behaviour comes from JSON.

Run as ``python fake_backend.py``. Options come from ``$VIRTUAL_ENV/fake-lsp.json`` with the
inline JSON of env ``FAKE_LSP`` merged over it; see tests/support/workspace.py for how tests
write them. Every message is kept as the raw JSON the client sent (pygls' typed parsing is
bypassed), so tests can see exactly what a backend behind typemux received.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import unquote, urlparse

from lsprotocol.types import CANCEL_REQUEST, ResponseError, ResponseErrorMessage
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
)

F = TypeVar("F", bound=Callable[..., Any])
EXIT_CRASH = 3
SYMBOL_KIND_FUNCTION = 12
_EOL = re.compile(r"\r\n|\r|\n")


def load_options() -> dict[str, Any]:
    options: dict[str, Any] = {}
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        path = Path(venv) / "fake-lsp.json"
        if path.is_file():
            options.update(json.loads(path.read_text()))
    inline = os.environ.get("FAKE_LSP")
    if inline:
        options.update(json.loads(inline))
    return options


def project_dir() -> Path:
    venv = os.environ.get("VIRTUAL_ENV")
    return Path(venv).parent if venv else Path.cwd()


def default_name() -> str:
    return project_dir().name if os.environ.get("VIRTUAL_ENV") else "fake"


def _as_set(value: Any) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


def _point(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def _range(line: int = 0, start: int = 0, end: int = 1) -> dict[str, Any]:
    return {"start": _point(line, start), "end": _point(line, end)}


def _units(char: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(char.encode("utf-8"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(char) > 0xFFFF else 1


def position_to_offset(text: str, position: dict[str, Any], encoding: str) -> int:
    """Offset in `text` of an LSP position; out-of-range positions clamp like editors do."""
    line, character = int(position["line"]), int(position["character"])
    offset = 0
    for _ in range(line):
        match = _EOL.search(text, offset)
        if match is None:
            return len(text)
        offset = match.end()
    match = _EOL.search(text, offset)
    line_end = match.start() if match else len(text)
    units = 0
    while offset < line_end and units < character:
        units += _units(text[offset], encoding)
        offset += 1
    return offset


def apply_change(text: str, change: dict[str, Any], encoding: str) -> str:
    if "range" not in change or change["range"] is None:
        return str(change["text"])
    start = position_to_offset(text, change["range"]["start"], encoding)
    end = max(start, position_to_offset(text, change["range"]["end"], encoding))
    return text[:start] + str(change["text"]) + text[end:]


def request(method: str) -> Callable[[F], F]:
    """Mark a request handler; FakeProtocol runs it with the `delays` option applied."""

    def decorate(fn: F) -> F:
        fn.method_name = method  # type: ignore[attr-defined]
        fn.fake_request = True  # type: ignore[attr-defined]
        return fn

    return decorate


async def _value(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def _raise(exc: Exception) -> Any:
    raise exc


async def _delayed(seconds: float, compute: Callable[[], Any]) -> Any:
    await asyncio.sleep(seconds)
    return await _value(compute())


class FakeProtocol(LanguageServerProtocol):
    options: dict[str, Any]
    name: str
    log_file: TextIO | None
    child: subprocess.Popen[bytes] | None

    def setup(self, options: dict[str, Any], child: subprocess.Popen[bytes] | None) -> None:
        self.options = options
        self.name = str(options.get("name") or default_name())
        self.project = project_dir()
        self.child = child
        self.received: list[dict[str, Any]] = []
        self.documents: dict[str, dict[str, Any]] = {}
        self.raw_responses: dict[Any, dict[str, Any]] = {}
        self.encoding = "utf-16"
        self.root_uri: str | None = None
        self.next_request = 0
        self.exit_on = _as_set(options.get("exit_on"))
        self.hang_on = _as_set(options.get("hang_on"))
        self.background: set[asyncio.Task[None]] = set()
        # pygls' own builtins (notebooks, setTrace, workspace folders...) expect typed params;
        # dropping them makes those methods plain unknown ones, as in a minimal real server.
        self.fm.builtin_features.clear()
        for name, attr in vars(FakeProtocol).items():
            if (method := getattr(attr, "method_name", None)) is not None:
                self.fm.add_builtin_feature(method, getattr(self, name))
        log_path = os.environ.get("FAKE_LSP_LOG")
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115

    # ---- raw message intake ---------------------------------------------------------------

    def get_message_type(self, method: str) -> Any:  # type: ignore[override]
        return None

    def get_result_type(self, method: str) -> Any:  # type: ignore[override]
        return None

    def structure_message(self, data: dict[str, Any]) -> Any:
        # json.loads calls this for every nested object too; only envelopes carry "jsonrpc".
        if "jsonrpc" not in data:
            return data
        self._record(data)
        jsonrpc = data["jsonrpc"]
        if "method" in data:
            if "id" in data:
                return JsonRPCRequestMessage(
                    data["id"], data["method"], jsonrpc, data.get("params")
                )
            return JsonRPCNotification(data["method"], jsonrpc, data.get("params"))
        msg_id: Any = data.get("id")
        self.raw_responses[msg_id] = data
        self._result_types.pop(msg_id, None)
        if data.get("error") is not None:
            err = data["error"]
            error = ResponseError(
                int(err.get("code", 0)), str(err.get("message", "")), err.get("data")
            )
            return ResponseErrorMessage(id=msg_id, error=error, jsonrpc=jsonrpc)
        return JsonRPCResponseMessage(msg_id, jsonrpc, data.get("result"))

    def _record(self, data: dict[str, Any]) -> None:
        method = data.get("method", "<response>")
        entry: dict[str, Any] = {"method": method}
        if "id" in data:
            entry["id"] = data["id"]
        if "method" in data:
            entry["params"] = data.get("params")
        elif "error" in data:
            entry["error"] = data["error"]
        else:
            entry["result"] = data.get("result")
        self.received.append(entry)
        if self.log_file is not None:
            # "t": when it arrived, so a test can tell how far apart two messages came
            self.log_file.write(json.dumps({"method": method, "id": data.get("id"),
                                            "t": time.time()}) + "\n")
            self.log_file.flush()
        if method in self.exit_on:
            self.crash()

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not getattr(handler, "fake_request", False):
            super()._execute_handler(msg_id, handler, callback, args, kwargs)
            return
        params = args[0] if args else None
        method = handler.method_name
        delay = self.options.get("delays", {}).get(method)
        if delay:
            coro = _delayed(float(delay), lambda: handler(params))
        else:
            # Computed now, so the answer reflects the documents as of the request's arrival.
            try:
                coro = _value(handler(params))
            except Exception as exc:
                coro = _raise(exc)
        future: Any = asyncio.ensure_future(coro)
        self._request_futures[msg_id] = future  # lets $/cancelRequest cancel it
        future.add_done_callback(callback)

    def handle_message(self, message: Any) -> None:
        if isinstance(message, JsonRPCRequestMessage) and message.method in self.hang_on:
            return
        super().handle_message(message)

    def _handle_notification(self, method_name: str, params: Any) -> None:
        if method_name == CANCEL_REQUEST:
            if self.options.get("ignore_cancel"):
                return  # like a server that finishes whatever it started
            cancelled: Any = (params or {}).get("id")
            self._handle_cancel_notification(cancelled)
            return
        super()._handle_notification(method_name, params)

    # ---- process control ------------------------------------------------------------------

    def crash(self) -> None:
        """Die the way a crashing server does: no answer, no cleanup of children."""
        self._flush()
        os._exit(EXIT_CRASH)

    def graceful_exit(self, code: int) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait(timeout=5)
        self._flush()
        os._exit(code)

    def _flush(self) -> None:
        if self.log_file is not None:
            self.log_file.flush()
        sys.stderr.flush()

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def send_request_raw(self, method: str, params: Any) -> tuple[str, asyncio.Future[Any]]:
        self.next_request += 1
        msg_id = f"fake-{self.next_request}"
        future = self.send_request(method, params, msg_id=msg_id)
        return msg_id, asyncio.wrap_future(future)

    async def answer_of(self, msg_id: str, future: asyncio.Future[Any]) -> dict[str, Any]:
        with contextlib.suppress(JsonRpcException):
            await future
        raw = self.raw_responses.pop(msg_id, {})
        if raw.get("error") is not None:
            return {"error": raw["error"]}
        return {"result": raw.get("result")}

    # ---- lifecycle --------------------------------------------------------------------------

    @lsp_method("initialize")
    async def lsp_initialize(self, params: Any) -> Any:  # type: ignore[override]
        params = params or {}
        delay = float(self.options.get("init_delay", 0)) + float(
            self.options.get("delays", {}).get("initialize", 0)
        )
        if delay:
            await asyncio.sleep(delay)
        init_error = self.options.get("init_error")
        if init_error:
            message = init_error if isinstance(init_error, str) else "fake: initialize failed"
            raise JsonRpcException(message=message, code=-32603)
        self.root_uri = params.get("rootUri")
        offered = ((params.get("capabilities") or {}).get("general") or {}).get(
            "positionEncodings"
        ) or []
        supported = [e for e in offered if e in ("utf-8", "utf-16", "utf-32")]
        self.encoding = supported[0] if supported else "utf-16"
        return {
            "capabilities": self.capabilities(),
            "serverInfo": {"name": "fake-lsp", "version": "1.0"},
        }

    def capabilities(self) -> dict[str, Any]:
        return {
            "positionEncoding": self.encoding,
            # option text_document_sync: what the fake declares (a number or an object);
            # by default what ty and pyrefly declare (didSave wanted, without the text)
            "textDocumentSync": self.options.get(
                "text_document_sync",
                {"openClose": True, "change": 2, "save": {"includeText": False}}),
            "hoverProvider": True,
            "definitionProvider": True,
            "referencesProvider": True,
            "documentSymbolProvider": True,
            "workspaceSymbolProvider": True,
            "completionProvider": {"resolveProvider": True, "triggerCharacters": ["."]},
            "codeLensProvider": {"resolveProvider": True},
            "implementationProvider": True,
            "callHierarchyProvider": True,
            "renameProvider": True,
        }

    @lsp_method("initialized")
    def lsp_initialized(self, *args: Any) -> None:
        opts = self.options
        if opts.get("register_watchers"):
            registration = {
                "id": "FILEWATCHER",
                "method": "workspace/didChangeWatchedFiles",
                "registerOptions": {"watchers": [{"globPattern": "**/*.py"}]},
            }
            self.send_request_raw("client/registerCapability", {"registrations": [registration]})
        sections = opts.get("config_sections")
        if sections:
            items = [{"section": s, "scopeUri": self.root_uri} for s in sections]
            self.send_request_raw("workspace/configuration", {"items": items})
        if "progress_after" in opts:
            self.spawn(self.send_progress(float(opts["progress_after"])))
        if "log_after" in opts:
            self.spawn(self.send_log_message(float(opts["log_after"])))
        if "exit_after" in opts:
            asyncio.get_running_loop().call_later(float(opts["exit_after"]), self.crash)

    async def send_progress(self, after: float) -> None:
        await asyncio.sleep(after)
        token = f"fake-progress-{os.getpid()}"
        msg_id, answer = self.send_request_raw("window/workDoneProgress/create", {"token": token})
        if "error" in await self.answer_of(msg_id, answer):
            return  # real servers skip progress the client refused
        self.notify("$/progress", {"token": token, "value": {"kind": "begin", "title": "Indexing"}})
        await asyncio.sleep(float(self.options.get("progress_duration", 0.05)))
        self.notify("$/progress", {"token": token, "value": {"kind": "end", "message": "done"}})

    async def send_log_message(self, after: float) -> None:
        await asyncio.sleep(after)
        message = self.options.get("log_message", "Found 3 source files")
        self.notify("window/logMessage", {"type": 3, "message": message})

    @request("shutdown")
    def lsp_shutdown(self, params: Any) -> None:  # type: ignore[override]
        self._shutdown = True

    @lsp_method("exit")
    def lsp_exit(self, *args: Any) -> None:  # type: ignore[override]
        self.graceful_exit(0 if self._shutdown else 1)

    # ---- documents --------------------------------------------------------------------------

    @lsp_method("textDocument/didOpen")
    def lsp_text_document__did_open(self, params: Any) -> None:
        doc = params["textDocument"]
        self.documents[doc["uri"]] = {
            "version": doc.get("version"),
            "text": doc.get("text", ""),
            "languageId": doc.get("languageId"),
        }
        self.publish(doc["uri"])

    @lsp_method("textDocument/didChange")
    def lsp_text_document__did_change(self, params: Any) -> None:
        ident = params["textDocument"]
        doc = self.documents.get(ident["uri"])
        if doc is None:
            return
        for change in params.get("contentChanges", []):
            doc["text"] = apply_change(doc["text"], change, self.encoding)
        doc["version"] = ident.get("version")
        self.publish(ident["uri"])

    @lsp_method("textDocument/didClose")
    def lsp_text_document__did_close(self, params: Any) -> None:
        self.documents.pop(params["textDocument"]["uri"], None)

    def publish(self, uri: str) -> None:
        if not self.options.get("publish_on_open", True):
            return
        version = self.documents[uri]["version"]
        diagnostic = {
            "range": _range(),
            "severity": 1,
            "source": self.name,
            "message": f"{self.name}: v{version}",
        }
        self.notify(
            "textDocument/publishDiagnostics",
            {"uri": uri, "version": version, "diagnostics": [diagnostic]},
        )

    # ---- language features ------------------------------------------------------------------

    @request("textDocument/hover")
    def hover(self, params: Any) -> Any:
        uri = params["textDocument"]["uri"]
        doc = self.documents.get(uri)
        if doc is not None:
            value = f"{self.name} {uri} v{doc['version']} len={len(doc['text'])}"
        else:
            # Real backends read unopened files from disk.
            path = Path(unquote(urlparse(uri).path))
            if not path.is_file():
                return None
            value = f"{self.name} {uri} disk len={len(path.read_text(errors='replace'))}"
        return {"contents": {"kind": "plaintext", "value": value}}

    def _location(self, params: Any) -> dict[str, Any]:
        pos = params["position"]
        return {"uri": params["textDocument"]["uri"], "range": {"start": pos, "end": pos}}

    @request("textDocument/definition")
    def definition(self, params: Any) -> Any:
        return self._location(params)

    @request("textDocument/implementation")
    def implementation(self, params: Any) -> Any:
        return self._location(params)

    @request("textDocument/references")
    def references(self, params: Any) -> Any:
        uri = params["textDocument"]["uri"]
        return [{"uri": uri, "range": _range(0)}, {"uri": uri, "range": _range(1)}]

    @request("textDocument/rename")
    def rename(self, params: Any) -> Any:
        pos = params["position"]
        edit = {"range": {"start": pos, "end": pos}, "newText": params["newName"]}
        return {"changes": {params["textDocument"]["uri"]: [edit]}}

    @request("textDocument/documentSymbol")
    def document_symbol(self, params: Any) -> Any:
        return [
            {
                "name": f"{self.name}_symbol",
                "kind": SYMBOL_KIND_FUNCTION,
                "range": _range(),
                "selectionRange": _range(),
            }
        ]

    @request("workspace/symbol")
    def workspace_symbol(self, params: Any) -> Any:
        uri = (self.project / f"{self.name}.py").as_uri()
        return [
            {
                "name": f"{self.name}_sym",
                "kind": SYMBOL_KIND_FUNCTION,
                "location": {"uri": uri, "range": _range()},
            }
        ]

    @request("textDocument/completion")
    def completion(self, params: Any) -> Any:
        item = {"label": f"{self.name}_item", "data": {"backend": self.name}}
        return {"isIncomplete": False, "items": [item]}

    @request("completionItem/resolve")
    def completion_resolve(self, params: Any) -> Any:
        return {**params, "detail": f"{self.name} resolved"}

    @request("textDocument/codeLens")
    def code_lens(self, params: Any) -> Any:
        return [{"range": _range(), "data": {"backend": self.name}}]

    @request("codeLens/resolve")
    def code_lens_resolve(self, params: Any) -> Any:
        return {**params, "command": {"title": self.name, "command": ""}}

    @request("textDocument/prepareCallHierarchy")
    def prepare_call_hierarchy(self, params: Any) -> Any:
        pos = params["position"]
        return [
            {
                "name": f"{self.name}_fn",
                "kind": SYMBOL_KIND_FUNCTION,
                "uri": params["textDocument"]["uri"],
                "range": {"start": pos, "end": pos},
                "selectionRange": {"start": pos, "end": pos},
                "data": {"backend": self.name},
            }
        ]

    @request("callHierarchy/incomingCalls")
    def incoming_calls(self, params: Any) -> Any:
        return []

    @request("callHierarchy/outgoingCalls")
    def outgoing_calls(self, params: Any) -> Any:
        return []

    # ---- test hooks -------------------------------------------------------------------------

    @request("fake/received")
    def fake_received(self, params: Any) -> Any:
        return self.received

    @request("fake/documents")
    def fake_documents(self, params: Any) -> Any:
        return {
            uri: {"version": d["version"], "text": d["text"]} for uri, d in self.documents.items()
        }

    @request("fake/env")
    def fake_env(self, params: Any) -> Any:
        return {
            "VIRTUAL_ENV": os.environ.get("VIRTUAL_ENV"),
            "PATH": os.environ.get("PATH"),
            "cwd": os.getcwd(),
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "argv": sys.argv,
            "name": self.name,
            "child_pid": self.child.pid if self.child is not None else None,
            "options": self.options,
        }

    @request("fake/serverRequest")
    async def fake_server_request(self, params: Any) -> Any:
        msg_id, answer = self.send_request_raw(params["method"], params.get("params"))
        return await self.answer_of(msg_id, answer)

    @request("fake/notify")
    def fake_notify(self, params: Any) -> Any:
        self.notify(params["method"], params.get("params"))
        return None

    @request("fake/flood")
    def fake_flood(self, params: Any) -> Any:
        """`count` publishDiagnostics round-robin over `uris`, each padded to about `size`
        bytes, `version` = message index; answered once all are written (and `done_file`
        created, if given). Returns each uri's last version."""
        uris = list(params["uris"])
        padding = "x" * max(0, int(params.get("size", 0)) - 200)
        last: dict[str, int] = {}
        for i in range(int(params["count"])):
            uri = uris[i % len(uris)]
            diagnostic = {"range": _range(), "severity": 2, "source": self.name,
                          "message": f"flood {i} {padding}"}
            self.notify("textDocument/publishDiagnostics",
                        {"uri": uri, "version": i, "diagnostics": [diagnostic]})
            last[uri] = i
        if params.get("done_file"):
            Path(params["done_file"]).write_text("done")
        return last

    @request("fake/exit")
    def fake_exit(self, params: Any) -> Any:
        self.crash()

    @request("fake/sleep")
    async def fake_sleep(self, params: Any) -> Any:
        await asyncio.sleep(float((params or {}).get("seconds", 0)))
        return None


class FakeServer(LanguageServer):
    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls would tell the client via window/showMessage; a fake must not add traffic.
        logging.getLogger("fake").warning("server error: %s", error)


def startup_side_effects(
    options: dict[str, Any],
) -> tuple[bytearray, subprocess.Popen[bytes] | None]:
    for i in range(int(options.get("stderr_noise", 0))):
        sys.stderr.write(f"fake-lsp noise line {i} {'x' * 60}\n")
    sys.stderr.flush()
    memory = bytearray(int(float(options.get("memory_mb", 0)) * 1024 * 1024))
    if memory:
        memory[::4096] = b"\x01" * len(range(0, len(memory), 4096))  # touch every page
    child = None
    if options.get("spawn_child"):
        child = subprocess.Popen(
            ["sleep", "1000"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return memory, child


def main() -> None:
    # Keep the protocol stream private: anything printed by accident goes to stderr.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    options = load_options()
    _memory, child = startup_side_effects(options)
    server = FakeServer("fake-lsp", "1.0", protocol_cls=FakeProtocol)
    protocol = server.protocol
    assert isinstance(protocol, FakeProtocol)
    protocol.setup(options, child)
    server.start_io(stdin=sys.stdin.buffer, stdout=protocol_out)
    protocol.graceful_exit(0)  # stdin reached EOF


if __name__ == "__main__":
    main()
