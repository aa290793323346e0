"""Questions about what the client declared in `initialize`, and the capabilities typemux
declares towards every backend instead."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from typemux.uris import path_to_uri

_REFRESH_CAPS = {
    "workspace/semanticTokens/refresh": ("workspace", "semanticTokens"),
    "workspace/inlayHint/refresh": ("workspace", "inlayHint"),
    "workspace/inlineValue/refresh": ("workspace", "inlineValue"),
    "workspace/codeLens/refresh": ("workspace", "codeLens"),
    "workspace/diagnostic/refresh": ("workspace", "diagnostics"),
    "workspace/foldingRange/refresh": ("workspace", "foldingRange"),
}


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


class ClientCaps:
    def __init__(self, capabilities: Any) -> None:
        self.raw: dict[str, Any] = capabilities if isinstance(capabilities, dict) else {}
        self.configuration = _get(self.raw, "workspace", "configuration") is True
        self.work_done_progress = _get(self.raw, "window", "workDoneProgress") is True
        self.apply_edit = _get(self.raw, "workspace", "applyEdit") is True
        self.show_document = _get(self.raw, "window", "showDocument", "support") is True
        self.watch_files = (
            _get(self.raw, "workspace", "didChangeWatchedFiles", "dynamicRegistration") is True
        )

    def supports_refresh(self, method: str) -> bool:
        path = _REFRESH_CAPS.get(method)
        return path is not None and _get(self.raw, *path, "refreshSupport") is True


def backend_initialize_params(
    client_params: dict[str, Any], project: Path, pid: int
) -> dict[str, Any]:
    """The client's initialize params, as one backend must see them: rooted at its venv's
    project, with typemux's pid, utf-16 only, push diagnostics only, and the capabilities
    typemux itself answers for (configuration, progress, file-watcher registration)."""
    params = dict(client_params)
    uri = path_to_uri(project)
    params["processId"] = pid
    params["rootUri"] = uri
    params["rootPath"] = str(project)
    params["workspaceFolders"] = [{"uri": uri, "name": project.name or "workspace"}]
    caps = copy.deepcopy(params.get("capabilities"))
    if not isinstance(caps, dict):
        caps = {}
    general = caps.setdefault("general", {})
    general["positionEncodings"] = ["utf-16"]
    text_document = caps.setdefault("textDocument", {})
    text_document.pop("diagnostic", None)
    text_document.setdefault("publishDiagnostics", {})
    workspace = caps.setdefault("workspace", {})
    workspace["configuration"] = True
    workspace["workspaceFolders"] = True
    workspace["didChangeWatchedFiles"] = {"dynamicRegistration": True}
    workspace.pop("diagnostics", None)
    caps.setdefault("window", {})["workDoneProgress"] = True
    params["capabilities"] = caps
    return params
