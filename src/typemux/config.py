"""Settings: one pydantic-settings model, layered from CLI, environment and a TOML file.

The model is the single source of truth: flags, environment names, the generated
docs/configuration.md and the error texts are all derived from its fields.
pydantic-settings' own environment reading is switched off because typemux has to know
where every value came from (two env spellings, a config file, the CLI) to say so in
errors and in `typemux doctor`; `load_settings` does the layering and hands the winning
values to the model, which validates them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

BackendName = Literal["pyright", "basedpyright", "ty", "pyrefly", "generic"]
LogLevel = Literal["debug", "info", "warning", "error"]

ENV_PREFIX = "TYPEMUX_"
LEGACY_ENV_PREFIX = "TYPEMUX_CC_"


class ConfigError(Exception):
    """A setting or the config file is invalid; str() is the message shown to the user."""


def _seconds(default: float, description: str, *, positive: bool = False) -> Any:
    return Field(default, description=description, allow_inf_nan=False,
                 json_schema_extra={"unit": "seconds"},
                 gt=0 if positive else None, ge=None if positive else 0)


class Settings(BaseSettings):
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
        8, ge=1, description="Most backend processes alive at once; the least recently "
                             "used one is stopped to make room.")
    backend_ttl: float = _seconds(
        1800, "Stop a backend idle for this long; 0 = never.")
    warmup_timeout: float = _seconds(
        2, "Hold requests to a starting backend until it is ready, at most this long; "
           "0 = no holding.")
    fanout_timeout: float = _seconds(
        5, "Wait this long for every backend's part of a workspace-wide request, then "
           "answer with what arrived; 0 = wait for all.")
    handshake_timeout: float = _seconds(
        10, "A backend that has not answered `initialize` within this long is given up.",
        positive=True)
    max_message_size: int = Field(
        67108864, ge=1024, description="Largest LSP message accepted, in bytes.",
        json_schema_extra={"unit": "bytes"})
    max_memory_mb: int = Field(
        0, ge=0, description="Budget for the total RSS of all backends (each with its process "
                          "tree), in MB: over it, the least recently used backends are "
                          "stopped, idle ones first, always keeping the most recently used "
                          "one; 0 = off.",
        json_schema_extra={"unit": "MB"})
    prewarm: list[Path] = Field(
        default_factory=list,
        description="Extra venvs (or project directories holding a .venv) whose backends "
                    "start in the background right after `initialize`.",
        json_schema_extra={
            "allowed": f"paths separated by '{os.pathsep}' or ',', or a JSON array of strings",
            "doc_type": "list of paths",
        },
    )
    document_idle_close: float = _seconds(
        300, "Close, in its backend, a document with no message about it for this long "
             "(the client keeps it open; typemux re-opens it when needed); 0 = never.")
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
                     "warmup_timeout", "fanout_timeout", "handshake_timeout", mode="before")
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

    @property
    def command_argv(self) -> list[str] | None:
        """backend_command split like a shell would, or None when not given."""
        return shlex.split(self.backend_command) if self.backend_command is not None else None


def split_paths(text: str) -> list[str]:
    """`a:b`, `a,b` or a JSON array of strings -> list of non-empty entries."""
    text = text.strip()
    if text.startswith("["):
        items = json.loads(text)  # ValueError on bad JSON -> a validation error
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError("not a JSON array of strings")
        return [i for i in items if i]
    parts = text.replace(os.pathsep, ",").split(",")
    return [p.strip() for p in parts if p.strip()]


# ----- field metadata ------------------------------------------------------------------------
FIELDS: tuple[str, ...] = tuple(Settings.model_fields)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_names(name: str) -> tuple[str, str]:
    return ENV_PREFIX + name.upper(), LEGACY_ENV_PREFIX + name.upper()


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


def doc_type(name: str) -> str:
    extra = _extra(name)
    if "doc_type" in extra:
        return str(extra["doc_type"])
    ann = Settings.model_fields[name].annotation
    if get_origin(ann) is Literal:
        return " \\| ".join(get_args(ann))
    unit = extra.get("unit")
    base = "integer" if ann is int else "number"
    if unit == "seconds":
        return "seconds" + _bound(name)
    return f"{base}{_bound(name)}" + (f" ({unit})" if unit else "")


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


def default_config_path(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):  # the XDG spec says relative values are ignored
        base = Path(xdg)
    else:
        home = env.get("HOME")
        base = (Path(home) if home else Path.home()) / ".config"
    return base / "typemux" / "config.toml"


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in config {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in Settings.model_fields:
            raise ConfigError(f"unknown setting {key!r} in config {path} "
                              f"(known: {', '.join(FIELDS)})")
        if name in out:
            raise ConfigError(f"setting {name} is given twice in config {path}")
        out[name] = value
    return out


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
    if config_path is not None:
        path = Path(config_path).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        config_file: Path | None = path
    else:
        path = default_config_path(env).absolute()
        config_file = path if path.is_file() else None
    file_values = _read_config(config_file) if config_file is not None else {}

    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in FIELDS:
        new, old = env_names(name)
        if cli is not None and cli.get(name) is not None:
            value: Any = cli[name]
            if name == "prewarm" and isinstance(value, list | tuple):
                # each --prewarm may itself hold several paths
                try:
                    value = [p for item in value for p in split_paths(str(item))]
                except ValueError:
                    raise ConfigError(_invalid(name, cli[name], "cli")) from None
            raw[name], sources[name] = value, "cli"
        elif env.get(new):  # an empty variable counts as unset
            raw[name], sources[name] = env[new], f"env {new}"
        elif env.get(old):
            raw[name], sources[name] = env[old], f"env {old}"
        elif name in file_values:
            raw[name], sources[name] = file_values[name], f"config {config_file}"
        else:
            sources[name] = "default"

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
def add_cli_options(parser: argparse.ArgumentParser, *, suppress_defaults: bool = False) -> None:
    """One --kebab-case flag per setting plus --config; values stay raw strings.

    With suppress_defaults an absent flag leaves the namespace alone, so a subcommand's
    parser does not overwrite what the main parser already parsed.
    """
    default: Any = argparse.SUPPRESS if suppress_defaults else None
    group = parser.add_argument_group("settings (also TYPEMUX_<NAME> env vars or config.toml)")
    group.add_argument("--config", type=Path, default=default, metavar="PATH",
                       help="config file (default: $XDG_CONFIG_HOME/typemux/config.toml)")
    for name in FIELDS:
        field = Settings.model_fields[name]
        help_text = f"{field.description} Default: {default_text(name)}.".replace("%", "%%")
        if name == "prewarm":
            group.add_argument(flag_name(name), dest=name, action="append", default=default,
                               metavar="PATH", help=help_text + " Repeatable.")
        else:
            group.add_argument(flag_name(name), dest=name, default=default,
                               metavar=_metavar(name), help=help_text)


def _metavar(name: str) -> str:
    ann = Settings.model_fields[name].annotation
    if get_origin(ann) is Literal:
        return "{" + ",".join(get_args(ann)) + "}"
    if _extra(name).get("unit") == "seconds":
        return "SECONDS"
    if ann is int:
        return "N"
    return "CMD" if name == "backend_command" else "PATH"


def cli_values(ns: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags in `ns` (absent flags left out)."""
    return {name: getattr(ns, name) for name in FIELDS if getattr(ns, name, None) is not None}


# ----- docs ----------------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        return "[]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def configuration_markdown() -> str:
    """The text of docs/configuration.md, generated from the Settings model."""
    rows = ["| Setting | CLI flag | Environment | Type | Default | Description |",
            "|---|---|---|---|---|---|"]
    for name in FIELDS:
        new, old = env_names(name)
        desc = (Settings.model_fields[name].description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | `{flag_name(name)}` | `{new}`, `{old}` | {doc_type(name)} "
                    f"| `{default_text(name)}` | {desc} |")
    example = []
    for name in FIELDS:
        value = Settings.model_fields[name].get_default(call_default_factory=True)
        if value is None:
            sample = {"backend_command": '"uvx ty server"', "log_file": '"~/typemux.log"'}
            example.append(f"# {name} = {sample.get(name, '')}")
        else:
            example.append(f"{name} = {_toml_value(value)}")
    parts = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m typemux.config > docs/configuration.md`; do not edit. -->",
        "",
        "Every setting can be given as a command-line flag, an environment variable or a key in",
        "the config file. An invalid value stops typemux at startup with a message naming the",
        "setting, where the value came from and what is allowed. `typemux doctor` shows each",
        "setting's value and source.",
        "",
        "## Settings",
        "",
        *rows,
        "",
        "Seconds accept fractions (`0.5`). `backend_command` is split like a shell command line;",
        "given without an explicit `backend` (from any source) the backend is `generic`.",
        "`prewarm` from the CLI or the environment is a list of paths separated by `"
        + os.pathsep + "` or `,`,",
        "or a JSON array (`[\"/a/.venv\", \"/b\"]`); `--prewarm` can be repeated. In the config",
        "file it is a TOML array. An empty environment variable counts as unset.",
        "",
        "## Precedence",
        "",
        "Highest first:",
        "",
        "1. command-line flag (`--max-backends 4`)",
        "2. environment variable `TYPEMUX_<NAME>` (`TYPEMUX_MAX_BACKENDS=4`)",
        "3. environment variable `TYPEMUX_CC_<NAME>` (the typemux-cc spelling, accepted too)",
        "4. config file",
        "5. default",
        "",
        "## Config file",
        "",
        "`--config PATH` if given (the file must exist); otherwise",
        "`$XDG_CONFIG_HOME/typemux/config.toml`, or `~/.config/typemux/config.toml` when",
        "`XDG_CONFIG_HOME` is unset. A missing default file is fine. Keys are the setting names",
        "(dashes are accepted for underscores); an unknown key is an error. Example with the",
        "defaults:",
        "",
        "```toml",
        *example,
        "```",
        "",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(configuration_markdown())
