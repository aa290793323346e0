"""The per-kind knowledge: commands, recorded capabilities, readiness and configuration."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from typemux.backends import KIND_NAMES, get_kind
from typemux.backends.base import BackendKind, ReadinessDetector
from typemux.runtime import project_config

REAL_KINDS = ("pyright", "basedpyright", "ty", "pyrefly")
PYTHON_SECTION_KINDS = ("pyright", "basedpyright", "pyrefly")
ROOT = Path(__file__).resolve().parents[2]


def kind_of(name: str) -> BackendKind:
    return get_kind(name, ["my-server"] if name == "generic" else None)


def log(message: str) -> dict[str, Any]:
    return {"method": "window/logMessage", "params": {"type": 3, "message": message}}


def publish(uri: str) -> dict[str, Any]:
    return {
        "method": "textDocument/publishDiagnostics",
        "params": {"uri": uri, "version": 1, "diagnostics": []},
    }


def progress(kind: str, title: str = "Finding references") -> dict[str, Any]:
    value: dict[str, Any] = {"kind": kind}
    if kind == "begin":
        value["title"] = title
    return {"method": "$/progress", "params": {"token": "tok", "value": value}}


# --- get_kind -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "command", "version"),
    [
        ("pyright", ("pyright-langserver", "--stdio"), ("pyright", "--version")),
        (
            "basedpyright",
            ("basedpyright-langserver", "--stdio"),
            ("basedpyright", "--version"),
        ),
        ("ty", ("ty", "server"), ("ty", "--version")),
        ("pyrefly", ("pyrefly", "lsp"), ("pyrefly", "--version")),
    ],
)
def test_get_kind_gives_default_command_and_version_command(
    name: str, command: tuple[str, ...], version: tuple[str, ...]
) -> None:
    kind = get_kind(name)
    assert kind.name == name
    assert kind.command == command
    assert kind.version_command == version


def test_kind_names_all_resolve() -> None:
    assert {kind_of(name).name for name in KIND_NAMES} == set(KIND_NAMES)


def test_command_override_replaces_default_argv() -> None:
    kind = get_kind("pyright", ["node", "/opt/langserver.index.js", "--stdio"])
    assert kind.command == ("node", "/opt/langserver.index.js", "--stdio")


def test_generic_takes_its_command_and_has_no_version_command() -> None:
    kind = get_kind("generic", ["pylsp", "-v"])
    assert kind.command == ("pylsp", "-v")
    assert kind.version_command is None


@pytest.mark.parametrize("command", [None, []])
def test_generic_without_command_is_rejected(command: list[str] | None) -> None:
    with pytest.raises(ValueError, match="command"):
        get_kind("generic", command)


def test_unknown_kind_is_rejected_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="basedpyright"):
        get_kind("jedi")


def test_string_command_is_rejected_not_split_into_characters() -> None:
    with pytest.raises(TypeError):
        get_kind("generic", "pylsp")


def test_get_kind_imports_only_the_kind_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KIND_NAMES:
        monkeypatch.delitem(sys.modules, f"typemux.backends.{name}", raising=False)
    get_kind("ty")
    assert "typemux.backends.ty" in sys.modules
    assert not {f"typemux.backends.{n}" for n in KIND_NAMES if n != "ty"} & set(sys.modules)


# --- capabilities -----------------------------------------------------------------------


@pytest.mark.parametrize("name", KIND_NAMES)
def test_capabilities_offer_utf16_and_push_diagnostics_only(name: str) -> None:
    caps = kind_of(name).capabilities
    assert caps["positionEncoding"] == "utf-16"
    assert "diagnosticProvider" not in caps
    for provider in ("hoverProvider", "definitionProvider", "referencesProvider"):
        assert caps[provider]


def test_ty_recorded_diagnostic_provider_is_dropped_without_touching_the_record() -> None:
    from typemux.backends import ty

    assert "diagnosticProvider" in ty.RECORDED_CAPABILITIES
    assert "diagnosticProvider" not in get_kind("ty").capabilities


def test_pyright_has_no_implementation_provider_as_recorded() -> None:
    caps = get_kind("pyright").capabilities
    assert "implementationProvider" not in caps
    from typemux.backends import pyright

    assert pyright.RECORDED_CAPABILITIES["textDocumentSync"] == 2
    # the client is told typemux's own sync, which converts edits for pyright
    assert caps["textDocumentSync"]["change"] == 2


@pytest.mark.parametrize("name", ["basedpyright", "ty", "pyrefly"])
def test_other_real_kinds_have_implementation_provider(name: str) -> None:
    assert get_kind(name).capabilities["implementationProvider"]


def test_capabilities_are_not_shared_between_kind_instances() -> None:
    first = get_kind("pyrefly")
    first.capabilities["hoverProvider"] = False  # type: ignore[index]
    assert get_kind("pyrefly").capabilities["hoverProvider"] is True


def test_generic_template_is_conservative() -> None:
    caps = get_kind("generic", ["srv"]).capabilities
    assert caps["textDocumentSync"] == {"openClose": True, "change": 2,
                                        "save": {"includeText": False}}
    assert caps["hoverProvider"] and caps["definitionProvider"] and caps["referencesProvider"]
    assert "completionProvider" not in caps
    assert "implementationProvider" not in caps
    assert "renameProvider" not in caps


def test_pyright_wrapper_cannot_be_made_to_fetch_another_version(tmp_path: Path) -> None:
    env = get_kind("pyright").environment(
        tmp_path / ".venv",
        base={"PATH": "/usr/bin", "PYRIGHT_PYTHON_FORCE_VERSION": "latest"},
    )
    assert env["PYRIGHT_PYTHON_FORCE_VERSION"] == ""
    assert env["VIRTUAL_ENV"] == str(tmp_path / ".venv")


# --- readiness --------------------------------------------------------------------------


def test_only_ty_is_ready_at_once() -> None:
    assert [n for n in KIND_NAMES if kind_of(n).ready_at_once] == ["ty"]


@pytest.mark.parametrize("name", ["pyright", "basedpyright"])
@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("Found 12 source files", "log: Found 12 source files"),
        ("Found 1 source file", "log: Found 1 source file"),
        ("No source files found.", "log: No source files found"),
    ],
)
def test_pyright_family_ready_on_source_enumeration_log(
    name: str, message: str, reason: str
) -> None:
    detector = get_kind(name).readiness()
    assert detector.observe(log(message)) == reason


@pytest.mark.parametrize("name", ["pyright", "basedpyright"])
def test_pyright_family_ready_on_first_publish_diagnostics_once(name: str) -> None:
    detector = get_kind(name).readiness()
    assert detector.observe(publish("file:///p/a.py")) == "first publishDiagnostics"
    assert detector.observe(publish("file:///p/a.py")) is None
    assert detector.observe(log("Found 3 source files")) is None


@pytest.mark.parametrize("name", ["pyright", "basedpyright"])
def test_pyright_family_ignores_unrelated_messages(name: str) -> None:
    detector = get_kind(name).readiness()
    unrelated = [
        log("Pyright language server 1.1.414 starting"),
        log("Server root directory: /p"),
        {"id": 0, "method": "window/workDoneProgress/create", "params": {"token": "t"}},
        progress("begin"),
        progress("end"),
        {"id": 1, "method": "workspace/configuration", "params": {"items": []}},
        {"method": "window/logMessage", "params": None},
    ]
    assert [detector.observe(m) for m in unrelated] == [None] * len(unrelated)
    assert detector.observe(log("Found 2 source files")) == "log: Found 2 source files"


def test_pyrefly_ready_at_third_publish_overall() -> None:
    detector = get_kind("pyrefly").readiness()
    assert detector.observe(publish("file:///p/a.py")) is None
    assert detector.observe(publish("file:///p/b.py")) is None
    assert detector.observe(publish("file:///p/c.py")) == "publishDiagnostics re-published (#3)"
    assert detector.observe(publish("file:///p/a.py")) is None


def test_pyrefly_ready_at_republish_of_same_uri() -> None:
    detector = get_kind("pyrefly").readiness()
    assert detector.observe(publish("file:///p/a.py")) is None
    assert detector.observe(publish("file:///p/a.py")) == "publishDiagnostics re-published (#2)"


def test_pyrefly_ignores_unrelated_messages() -> None:
    detector = get_kind("pyrefly").readiness()
    for msg in (
        progress("begin", "Pyrefly: Rechecking"),
        progress("end"),
        log("starting"),
        {"id": 1, "method": "workspace/semanticTokens/refresh"},
    ):
        assert detector.observe(msg) is None
    assert detector.observe(publish("file:///p/a.py")) is None
    assert detector.observe(publish("file:///p/b.py")) is None


def test_each_backend_gets_a_fresh_detector() -> None:
    kind = get_kind("pyrefly")
    first = kind.readiness()
    first.observe(publish("file:///p/a.py"))
    assert kind.readiness().observe(publish("file:///p/a.py")) is None


def test_generic_detector_never_fires() -> None:
    detector = get_kind("generic", ["srv"]).readiness()
    assert type(detector) is ReadinessDetector
    for msg in (publish("file:///a.py"), log("Found 3 source files"), progress("end")):
        assert detector.observe(msg) is None


# --- configuration ----------------------------------------------------------------------


def make_venv(project: Path) -> Path:
    venv = project / ".venv"
    venv.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return venv


PY = {"section": "python", "scopeUri": "file:///p"}


def without_pyrefly(answer: list[Any]) -> list[Any]:
    """The answer less pyrefly's own subsection (tested on its own below)."""
    return [{k: v for k, v in e.items() if k != "pyrefly"} if isinstance(e, dict) else e
            for e in answer]


@pytest.mark.parametrize("name", PYTHON_SECTION_KINDS)
def test_python_path_filled_when_client_is_silent(name: str, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    answer = without_pyrefly(get_kind(name).configuration([PY, {"section": "python"}], venv, None))
    assert answer == [{"pythonPath": str(venv / "bin" / "python")}] * 2


@pytest.mark.parametrize("name", PYTHON_SECTION_KINDS)
def test_python_path_added_to_client_entry_keeping_the_rest(name: str, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    client_entry = {"analysis": {"typeCheckingMode": "strict"}}
    answer = without_pyrefly(get_kind(name).configuration([PY], venv, [client_entry]))
    assert answer == [
        {"analysis": {"typeCheckingMode": "strict"}, "pythonPath": str(venv / "bin" / "python")}
    ]
    assert client_entry == {"analysis": {"typeCheckingMode": "strict"}}


@pytest.mark.parametrize("name", PYTHON_SECTION_KINDS)
def test_client_python_path_of_another_environment_is_replaced(name: str, tmp_path: Path) -> None:
    # Zed sends its one selected toolchain's interpreter for the whole workspace.
    venv = make_venv(tmp_path)
    answer = without_pyrefly(
        get_kind(name).configuration([PY], venv, [{"pythonPath": "/opt/py/bin/python"}]))
    assert answer == [{"pythonPath": str(venv / "bin" / "python")}]


@pytest.mark.parametrize("name", PYTHON_SECTION_KINDS)
def test_client_python_path_inside_the_venv_is_kept(name: str, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    own = str(venv / "bin" / "python3.11")
    answer = without_pyrefly(get_kind(name).configuration([PY], venv, [{"pythonPath": own}]))
    assert answer == [{"pythonPath": own}]


@pytest.mark.parametrize("name", ["pyright", "basedpyright"])
def test_pyright_family_other_sections_pass_through(name: str, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    items = [{"section": "pyright"}, {"section": "basedpyright"}, {"section": "python.analysis"}]
    assert get_kind(name).configuration(items, venv, None) == [None, None, None]
    client = [{"disableLanguageServices": False}, None, {"diagnosticMode": "openFilesOnly"}]
    assert get_kind(name).configuration(items, venv, client) == client


def test_dotted_python_path_section_gets_the_interpreter(tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    items = [{"section": "python.pythonPath"}]
    assert get_kind("pyright").configuration(items, venv, None) == [str(venv / "bin" / "python")]
    assert get_kind("pyright").configuration(items, venv, ["/x/python"]) == [str(venv / "bin" / "python")]
    own = str(venv / "bin" / "python3")
    assert get_kind("pyright").configuration(items, venv, [own]) == [own]


@pytest.mark.parametrize("name", KIND_NAMES)
def test_item_without_section_gets_client_entry_or_none(name: str, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    items: list[Any] = [{"scopeUri": "file:///p"}, {}]
    assert kind_of(name).configuration(items, venv, None) == [None, None]
    assert kind_of(name).configuration(items, venv, [{"a": 1}, 2]) == [{"a": 1}, 2]


@pytest.mark.parametrize("name", KIND_NAMES)
@pytest.mark.parametrize("client_result", [[], [None, None, None], [{"pythonPath": "/x"}] * 5])
def test_wrong_length_client_answer_is_treated_as_absent(
    name: str, client_result: list[Any], tmp_path: Path
) -> None:
    venv = make_venv(tmp_path)
    items = [PY, {"section": "ty"}]
    answer = kind_of(name).configuration(items, venv, client_result)
    assert len(answer) == len(items)
    assert answer == kind_of(name).configuration(items, venv, None)


def ty_config(tmp_path: Path, client_result: list[Any] | None = None) -> list[Any]:
    venv = tmp_path / ".venv"
    if not venv.exists():
        make_venv(tmp_path)
    items = [{"section": "ty", "scopeUri": tmp_path.as_uri()}, {"section": "python"}]
    # the runtime reads the project's files; the kind answers from what it read
    return get_kind("ty").configuration(items, venv, client_result,
                                        project_config.read("ty", tmp_path))


def test_ty_gets_the_venv_injected_without_project_config(tmp_path: Path) -> None:
    venv = str(tmp_path / ".venv")
    assert ty_config(tmp_path) == [{"configuration": {"environment": {"python": venv}}}, None]


def test_ty_injection_merges_into_client_entry(tmp_path: Path) -> None:
    client = {"diagnosticMode": "workspace", "configuration": {"rules": {"x": "ignore"}}}
    answer = ty_config(tmp_path, [client, {"pythonPath": "/elsewhere"}])
    assert answer[0] == {
        "diagnosticMode": "workspace",
        "configuration": {
            "rules": {"x": "ignore"},
            "environment": {"python": str(tmp_path / ".venv")},
        },
    }
    assert answer[1] == {"pythonPath": "/elsewhere"}
    assert client == {"diagnosticMode": "workspace", "configuration": {"rules": {"x": "ignore"}}}


def test_ty_keeps_the_clients_own_environment(tmp_path: Path) -> None:
    client = {"configuration": {"environment": {"python": "/opt/env"}}}
    assert ty_config(tmp_path, [client, None])[0] == client


def test_ty_not_injected_when_project_has_ty_toml(tmp_path: Path) -> None:
    (tmp_path / "ty.toml").write_text('[environment]\npython = "./other"\n')
    assert ty_config(tmp_path) == [None, None]
    assert ty_config(tmp_path, [{"x": 1}, None]) == [{"x": 1}, None]


@pytest.mark.parametrize(
    "pyproject",
    [
        "[project]\nname = 'p'\n\n[tool.ty.environment]\npython = './other'\n",
        "[tool.ty]\n",
        "[tool.ty\nbroken = ",
    ],
)
def test_ty_not_injected_when_pyproject_configures_ty(pyproject: str, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert ty_config(tmp_path) == [None, None]


def test_ty_injected_when_pyproject_configures_other_tools(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n[tool.tyro]\n")
    assert ty_config(tmp_path)[0] == {
        "configuration": {"environment": {"python": str(tmp_path / ".venv")}}
    }


def test_generic_configuration_is_client_answer_or_nulls(tmp_path: Path) -> None:
    kind = get_kind("generic", ["srv"])
    venv = make_venv(tmp_path)
    assert kind.configuration([PY], venv, None) == [None]
    assert kind.configuration([PY], venv, [{"a": 1}]) == [{"a": 1}]


# --- recorded capabilities still match the installed servers ----------------------------


def load_record_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "record_capabilities", ROOT / "scripts" / "record_capabilities.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.real
@pytest.mark.timeout(60)
async def test_recorded_capabilities_match_installed_servers(tmp_path: Path) -> None:
    script = load_record_script()
    search = script.search_path()
    missing = [n for n in REAL_KINDS if not shutil.which(script.SERVERS[n][0][0], path=search)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    venv = script.make_project(tmp_path)
    for name in REAL_KINDS:
        module = importlib.import_module(f"typemux.backends.{name}")
        result = await script.record(name, venv)
        assert result["capabilities"] == module.RECORDED_CAPABILITIES, name
        assert result.get("serverInfo") == module.SERVER_INFO, name


# --- pyrefly shows type errors without a pyrefly config --------------------------------------


def test_pyrefly_is_asked_for_type_errors_in_an_unconfigured_project(tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    (answer,) = get_kind("pyrefly").configuration([PY], venv, None)
    assert answer["pyrefly"] == {"displayTypeErrors": "force-on", "typeCheckingMode": "default"}


@pytest.mark.parametrize("config", ["pyrefly.toml", "pyproject.toml"])
def test_pyrefly_config_of_the_project_is_left_to_decide(tmp_path: Path, config: str) -> None:
    venv = make_venv(tmp_path)
    (tmp_path / config).write_text("[tool.pyrefly]\n" if config == "pyproject.toml" else "")
    (answer,) = get_kind("pyrefly").configuration([PY], venv, None,
                                                  project_config.read("pyrefly", tmp_path))
    assert "pyrefly" not in answer


def test_pyrefly_keeps_its_migration_of_a_pyright_config(tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    (tmp_path / "pyrightconfig.json").write_text("{}")
    (answer,) = get_kind("pyrefly").configuration([PY], venv, None,
                                                  project_config.read("pyrefly", tmp_path))
    assert answer["pyrefly"] == {"displayTypeErrors": "force-on"}


def test_pyrefly_setting_of_the_client_wins(tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    client = [{"pyrefly": {"displayTypeErrors": "force-off"}}]
    (answer,) = get_kind("pyrefly").configuration([PY], venv, client)
    assert answer["pyrefly"]["displayTypeErrors"] == "force-off"
