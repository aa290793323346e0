"""Settings: one pydantic-settings model, layered from CLI, environment and a TOML file.

The model is the single source of truth: flags, environment names, the generated
docs/configuration.md and the error texts are all derived from its fields.
pydantic-settings' own environment reading is switched off because typemux has to know
where every value came from (two env spellings, a config file, the CLI) to say so in
errors and in `typemux doctor`; `load_settings` does the layering and hands the winning
values to the model, which validates them.

The serve path does not import this module (pydantic costs ~100 ms of start-up): it loads
settings with `fast_config.load_serve_settings`, which validates from `settings_table.py`,
generated from this model by `python -m typemux.settings_gen`, and comes back here whenever
it is unsure. After changing a field, run that command (a test fails until you do).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from typemux.fast_config import (
    ENV_PREFIX,
    LEGACY_ENV_PREFIX,
    BadValue,
    ConfigError,
    add_cli_options,
    cli_values,
    default_config_path,
    env_names,
    flag_name,
    gather,
    split_paths,
)
from typemux.settings_methods import SettingsMethods

__all__ = ["ENV_PREFIX", "FIELDS", "LEGACY_ENV_PREFIX", "ConfigError", "LoadedSettings",
           "Settings", "add_cli_options", "allowed", "cli_values", "default_config_path",
           "default_text", "env_names", "field_metavar", "flag_name", "load_settings",
           "split_paths"]

BackendName = Literal["pyright", "basedpyright", "ty", "pyrefly", "generic"]
LogLevel = Literal["debug", "info", "warning", "error"]
IdleCloseClients = Literal["auto", "all"]


def _seconds(default: float, description: str, *, positive: bool = False) -> Any:
    return Field(default, description=description, allow_inf_nan=False,
                 json_schema_extra={"unit": "seconds"},
                 gt=0 if positive else None, ge=None if positive else 0)


class Settings(SettingsMethods, BaseSettings):
    """typemux settings; build them with `load_settings` to get provenance and our errors."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    backend: BackendName = Field(
        "pyright",
        description="Type checker to run per venv; becomes `generic` when only "
                    "`backend_command` is given.",
    )
    backend_command: str | None = Field(
        None,
        description="Command line of the backend language server (shell syntax), "
                    "overriding the backend's own command.",
        json_schema_extra={"allowed": "a non-empty command line in shell syntax",
                           "doc_type": "command line"},
    )
    max_backends: int = Field(
        8, ge=1, description="Most backend processes alive at once; an idle one (least "
                             "recently used first) is stopped to make room. When all are "
                             "busy a new venv's requests wait for one to go idle, at most "
                             "10 s before the least recently used busy one is stopped.")
    backend_ttl: float = _seconds(
        1800, "Stop a backend idle for this long (the diagnostics of documents still open "
              "stand; the next message about one restarts it); 0 = never.")
    warmup_timeout: float = _seconds(
        2, "Hold requests to a starting backend until it is ready, at most this long; "
           "0 = no holding.")
    fanout_timeout: float = _seconds(
        5, "Wait this long for every backend's part of a workspace-wide request, then "
           "answer with what arrived; 0 = wait for all.")
    handshake_timeout: float = _seconds(
        10, "A backend that has not answered `initialize` within this long is given up.",
        positive=True)
    hang_timeout: float = _seconds(
        60, "A backend that has had requests pending and sent nothing at all (no answer, log "
            "or progress) for this long is taken for hung: its requests are answered with an "
            "error and it is restarted; 0 = never.")
    max_message_size: int = Field(
        67108864, ge=1024, description="Largest LSP message accepted, in bytes.",
        json_schema_extra={"unit": "bytes"})
    max_memory_mb: int = Field(
        0, ge=0, description="Budget for the total RSS of all backends (each with its process "
                          "tree), in MB: over it, the least recently used backends are "
                          "stopped, idle ones first, always keeping the most recently used "
                          "one (the diagnostics of documents still open stand); 0 = off.",
        json_schema_extra={"unit": "MB"})
    prewarm: list[Path] = Field(
        default_factory=list,
        description="Extra venvs, or project directories (whose environment any discovery "
                    "rule finds), whose backends start in the background right after "
                    "`initialize`.",
        json_schema_extra={
            "allowed": f"paths separated by '{os.pathsep}' or ',', or a JSON array of strings",
            "doc_type": "list of paths",
        },
    )
    environments: dict[str, str] = Field(
        default_factory=dict,
        description="Explicit environments: project folder glob → environment path. Checked "
                    "before every other discovery rule (see docs/environments.md); `*` stays "
                    "within one path segment, `**` spans several, `~` is expanded; a relative "
                    "environment path is taken from the project folder.",
        json_schema_extra={
            "allowed": "a table of glob = path strings (a JSON object outside the config file)",
            "doc_type": "table of strings",
        },
    )
    document_idle_close: float = _seconds(
        300, "Close, in its backend, a document with no message about it for this long "
             "(the client keeps it open; typemux re-opens it when needed); 0 = never. "
             "Which clients it applies to: `document_idle_close_clients`.")
    document_idle_close_clients: IdleCloseClients = Field(
        "auto",
        description="Whose open documents `document_idle_close` closes. `auto`: a client "
                    "that never closes documents itself (no `clientInfo` name, as Claude "
                    "Code, or a name containing \"claude\"), until it closes one; an editor "
                    "keeps its open tabs live in the backend (their diagnostics follow "
                    "changes in the modules they import). `all`: every client. Documents "
                    "typemux opened itself are closed for every client.")
    backend_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per backend kind, the settings tree typemux merges into its answers to "
                    "that backend's `workspace/configuration` questions (see docs/backends.md).",
        json_schema_extra={
            "allowed": "a table per backend kind (pyright, basedpyright, ty, pyrefly, generic) "
                       "of settings, or the same as a JSON object",
            "doc_type": "table",
        },
    )
    log_file: Path | None = Field(
        None, description="Append logs to this file instead of stderr.",
        json_schema_extra={"allowed": "a file path", "doc_type": "path"})
    log_level: LogLevel = Field("info", description="Least severe log level written.")
    trace_dir: Path | None = Field(
        None, description="Write every message of every stream (client and each backend) "
                          "to a JSON-lines file in this directory, one file per typemux "
                          "process; read it with `typemux trace`.",
        json_schema_extra={"allowed": "a directory path", "doc_type": "path"})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @field_validator("backend", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("max_backends", "max_message_size", "max_memory_mb", "backend_ttl",
                     "document_idle_close",
                     "warmup_timeout", "fanout_timeout", "handshake_timeout", "hang_timeout",
                     mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        # pydantic's lax mode would take TOML `true` as 1.
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        return value.strip() if isinstance(value, str) else value

    @field_validator("backend_command")
    @classmethod
    def _splittable(cls, value: str | None) -> str | None:
        if value is not None and not shlex.split(value):
            raise ValueError("empty command")
        return value

    @field_validator("prewarm", mode="before")
    @classmethod
    def _path_list(cls, value: Any) -> Any:
        return split_paths(value) if isinstance(value, str) else value

    @field_validator("environments", mode="before")
    @classmethod
    def _json_table(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("prewarm")
    @classmethod
    def _expand_all(cls, value: list[Path]) -> list[Path]:
        return [p.expanduser() for p in value]

    @field_validator("backend_settings", mode="before")
    @classmethod
    def _settings_json(cls, value: Any) -> Any:
        value = json.loads(value) if isinstance(value, str) else value
        if isinstance(value, dict):
            unknown = set(value) - set(get_args(BackendName))
            if unknown:
                raise ValueError(f"unknown backend kind {', '.join(sorted(unknown))}")
        return value

    @field_validator("log_file")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="before")
    @classmethod
    def _derive_backend(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("backend_command") is not None \
                and data.get("backend") is None:
            return {**data, "backend": "generic"}
        return data


# ----- field metadata ------------------------------------------------------------------------
FIELDS: tuple[str, ...] = tuple(Settings.model_fields)


def _extra(name: str) -> dict[str, Any]:
    extra = Settings.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _bound(name: str) -> str:
    for m in Settings.model_fields[name].metadata:
        if isinstance(m, annotated_types.Ge):
            return f" >= {m.ge}"
        if isinstance(m, annotated_types.Gt):
            return f" > {m.gt}"
    return ""


def allowed(name: str) -> str:
    """What a valid value of setting `name` looks like, for messages and docs."""
    extra = _extra(name)
    if "allowed" in extra:
        return str(extra["allowed"])
    ann = Settings.model_fields[name].annotation
    if get_origin(ann) is Literal:
        return "one of " + ", ".join(get_args(ann))
    if extra.get("unit") == "seconds":
        return "a number of seconds" + _bound(name)
    if ann is int:
        return "an integer" + _bound(name)
    return str(ann)


def default_text(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ----- loading -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    sources: dict[str, str]  # field -> "cli" | "env NAME" | "config /abs/path" | "default" | ...
    config_file: Path | None  # the file that was read, None when there was none


def _invalid(name: str, value: Any, source: str) -> str:
    where = f"cli {flag_name(name)}" if source == "cli" else source
    return f"invalid setting {name} = {value!r} (from {where}): must be {allowed(name)}"


def load_settings(cli: Mapping[str, Any] | None = None, *, env: Mapping[str, str] | None = None,
                  config_path: Path | str | None = None) -> LoadedSettings:
    """Settings from CLI > TYPEMUX_* > TYPEMUX_CC_* > config file > defaults.

    `cli` holds raw flag values (see `cli_values`); `env` defaults to os.environ;
    `config_path` is `--config` (must exist) or None for the default location (optional).
    """
    env = os.environ if env is None else env
    try:
        gathered = gather(cli, env, config_path)
    except BadValue as exc:
        raise ConfigError(_invalid(exc.name, cli[exc.name] if cli else None, "cli")) from None
    raw, sources = gathered.values, gathered.sources
    config_file = gathered.config_file

    try:
        settings = Settings(**raw)

    except ValidationError as exc:
        lines: list[str] = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            if name not in raw:
                lines.append(f"invalid settings: {err['msg']}")
                continue
            line = _invalid(name, raw[name], sources[name])
            if line not in lines:
                lines.append(line)
        raise ConfigError("\n".join(lines)) from None

    if settings.backend == "generic" and sources["backend"] == "default":
        sources["backend"] = "derived from backend_command"
    return LoadedSettings(settings=settings, sources=sources, config_file=config_file)


# ----- CLI -----------------------------------------------------------------------------------
def field_metavar(name: str) -> str:
    """The metavar of setting `name`'s flag (stored in settings_table for the serve path)."""
    ann = Settings.model_fields[name].annotation
    if get_origin(ann) is Literal:
        return "{" + ",".join(get_args(ann)) + "}"
    if _extra(name).get("unit") == "seconds":
        return "SECONDS"
    if ann is int:
        return "N"
    if ann is bool:
        return "{true,false}"
    if name == "backend_command":
        return "CMD"
    return "PATH" if ann in (Path, Path | None, list[Path]) else "VALUE"
