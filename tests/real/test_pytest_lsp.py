"""typemux driven by a third-party client: pytest-lsp's LanguageClient (pygls).

Our own test client shares assumptions with typemux's authors; pygls does not. It parses
every message into lsprotocol types (a malformed answer fails here), and pytest-lsp checks
server->client traffic against the capabilities the client declared: a
`workspace/configuration` or `window/workDoneProgress/create` sent to a client that did not
declare it raises an LspSpecificationWarning, which these tests turn into failures.

Backends: ty (real and starts in milliseconds) and, for the Claude Code profile, all four
(pyright's `references` creates work-done progress and it asks for configuration; pyrefly
registers capabilities).
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import converters, types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from real.conftest import KINDS, process_tree, real_env, require_backend, still_running
from real.monorepo import Monorepo, Project, position_of
from support.client import CLAUDE_CODE_CAPABILITIES, uri

pytestmark = [
    pytest.mark.real,
    pytest.mark.filterwarnings("error::pytest_lsp.checks.LspSpecificationWarning"),
]

Start = Callable[..., Awaitable[LanguageClient]]


def claude_code_capabilities() -> types.ClientCapabilities:
    """Claude Code's profile: no workspace.configuration, no window.workDoneProgress."""
    caps: types.ClientCapabilities = converters.get_converter().structure(
        CLAUDE_CODE_CAPABILITIES, types.ClientCapabilities
    )
    assert caps.window is None or not caps.window.work_done_progress
    assert caps.workspace is not None and not caps.workspace.configuration
    return caps


@pytest_asyncio.fixture
async def start() -> AsyncIterator[Start]:
    """Start typemux (python -m typemux) under a pytest-lsp client and initialize it."""
    clients: list[LanguageClient] = []

    async def start_client(
        root: Path, *, backend: str = "ty", capabilities: types.ClientCapabilities | None = None
    ) -> LanguageClient:
        require_backend(backend)
        config = ClientServerConfig(
            server_command=[sys.executable, "-m", "typemux"],
            server_env=real_env(backend=backend, log_level="debug"),
        )
        client: LanguageClient = await config.start()  # type: ignore[assignment]
        clients.append(client)
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities or client_capabilities("neovim"),
                root_uri=uri(root),
                workspace_folders=[types.WorkspaceFolder(uri=uri(root), name=root.name)],
            )
        )
        return client

    yield start_client
    for client in clients:
        server = client._server  # pytest-lsp keeps the server process here
        tree = process_tree(server.pid) if server is not None else []
        await client.shutdown_session()
        await client.stop()
        assert server is None or server.returncode == 0
        assert still_running(tree) == []
        assert client.error is None, client.error


def open_document(client: LanguageClient, path: Path) -> str:
    doc = uri(path)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=doc, language_id="python", version=1, text=path.read_text()
            )
        )
    )
    return doc


def position(path: Path, needle: str, offset: int = 1) -> types.Position:
    pos = position_of(path, needle)
    return types.Position(line=pos["line"], character=pos["character"] + offset)


def hover_text(hover: types.Hover | None) -> str:
    assert hover is not None
    contents: Any = hover.contents
    return contents.value if hasattr(contents, "value") else str(contents)


async def test_hover_reaches_the_documents_own_backend(start: Start, real_monorepo: Monorepo) -> None:
    client = await start(real_monorepo.root)
    for project in real_monorepo.projects:
        doc = open_document(client, project.main)
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=doc),
                position=position(project.main, "compute_total("),
            )
        )
        assert "compute_total" in hover_text(hover)


async def test_definition_resolves_within_each_project(start: Start, real_monorepo: Monorepo) -> None:
    client = await start(real_monorepo.root)
    for project in real_monorepo.projects:
        doc = open_document(client, project.main)
        result = await client.text_document_definition_async(
            types.DefinitionParams(
                text_document=types.TextDocumentIdentifier(uri=doc),
                position=position(project.main, "compute_total("),
            )
        )
        assert result is not None
        items = result if isinstance(result, list) else [result]
        targets = [getattr(i, "uri", None) or getattr(i, "target_uri", "") for i in items]
        assert any(t == uri(project.util) for t in targets), targets


async def test_diagnostics_show_each_project_its_own_venv(start: Start, real_monorepo: Monorepo) -> None:
    client = await start(real_monorepo.root)
    for project in real_monorepo.projects:
        doc = open_document(client, project.main)
        deadline = time.monotonic() + 30
        while not _mentions(client, doc, project.foreign_module) and time.monotonic() < deadline:
            await client.wait_for_notification("textDocument/publishDiagnostics")
        assert _mentions(client, doc, project.foreign_module)
        assert not _mentions(client, doc, project.own_module)


def _mentions(client: LanguageClient, doc: str, module: str) -> bool:
    return any(module in d.message for d in client.diagnostics.get(doc, []))


async def test_document_without_venv_gets_an_error_that_says_why(
    start: Start, tmp_path: Path
) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / ".git").mkdir()  # a repository boundary: the search for a venv stops here
    script = loose / "script.py"
    script.write_text("value = 1\n")
    client = await start(loose)
    doc = open_document(client, script)
    with pytest.raises(JsonRpcException) as caught:
        await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=doc),
                position=types.Position(line=0, character=1),
            )
        )
    message = str(caught.value)
    assert "typemux:" in message and "venv" in message, message


@pytest.mark.parametrize("backend", KINDS)
async def test_claude_code_profile_gets_references_without_config_or_progress_requests(
    start: Start, real_monorepo: Monorepo, backend: str
) -> None:
    """pyright asks for configuration and creates progress for references, pyrefly registers
    capabilities; a client that declared none of that must see none of it (pytest-lsp would
    warn, and the warning is an error)."""
    client = await start(real_monorepo.root, backend=backend,
                         capabilities=claude_code_capabilities())
    project: Project = real_monorepo.a
    doc = open_document(client, project.main)
    locations = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=types.TextDocumentIdentifier(uri=doc),
            position=position(project.main, "compute_total("),
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert locations is not None
    assert {loc.uri.rsplit("/", 1)[-1] for loc in locations} >= {"main.py", "other.py", "util.py"}
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=doc))
    )
    assert symbols
    assert client.progress_reports == {}
