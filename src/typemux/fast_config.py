"""Settings on the serve path, without pydantic: layering, flags, and a fast validation.

Importing pydantic and building the Settings model costs ~100 ms, most of typemux's start-up.
So `load_serve_settings` validates from `settings_table` (generated from the model by
`python -m typemux.settings_gen`) and accepts only values whose meaning is plain: a number
written as digits, a known choice, a path. Whenever it is unsure (an invalid value, a
spelling it does not parse itself, a kind of field it does not know), it hands the same
inputs to `config.load_settings`, which either accepts them or raises the ConfigError that
names the setting, its source and what is allowed. So the fast path never accepts what
pydantic would refuse, and errors have one author.

The layering itself (CLI > TYPEMUX_* > TYPEMUX_CC_* > config file > default, with sources)
lives here and is shared by both paths.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typemux.settings_table import FIELDS, MODEL_VALIDATORS, NO_LITERAL, FieldSpec, ServeSettings
from typemux.xdg import base_dir

if TYPE_CHECKING:
    import argparse

    from typemux.config import Settings

ENV_PREFIX = "TYPEMUX_"
LEGACY_ENV_PREFIX = "TYPEMUX_CC_"
NAMES: tuple[str, ...] = tuple(spec.name for spec in FIELDS)
_SPECS = {spec.name: spec for spec in FIELDS}


class ConfigError(Exception):
    """A setting or the config file is invalid; str() is the message shown to the user."""


class BadValue(Exception):
    """A raw value that cannot even be layered (a --prewarm list that does not split)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NeedsPydantic(Exception):
    """The fast path cannot decide on a value; the pydantic path must."""


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_names(name: str) -> tuple[str, str]:
    return ENV_PREFIX + name.upper(), LEGACY_ENV_PREFIX + name.upper()


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


# ----- layering ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawSettings:
    values: dict[str, Any]  # the winning raw value of each setting that was given
    sources: dict[str, str]  # field -> "cli" | "env NAME" | "config /abs/path" | "default"
    config_file: Path | None  # the file that was read, None when there was none


def default_config_path(env: Mapping[str, str]) -> Path:
    return base_dir(env, "XDG_CONFIG_HOME", ".config") / "typemux" / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a config file

    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in config {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 text (byte {exc.start}); TOML files "
                          "must be UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in _SPECS:
            raise ConfigError(f"unknown setting {key!r} in config {path} "
                              f"(known: {', '.join(NAMES)})")
        if name in out:
            raise ConfigError(f"setting {name} is given twice in config {path}")
        out[name] = value
    return out


def gather(cli: Mapping[str, Any] | None, env: Mapping[str, str],
           config_path: Path | str | None) -> RawSettings:
    """The winning raw value of every setting, and where it came from.

    Raises ConfigError for a missing --config or a bad config file, BadValue for a CLI
    list that does not split.
    """
    if config_path is not None:
        path = Path(config_path).expanduser().absolute()
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory; give the config.toml file")
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        config_file: Path | None = path
    else:
        path = default_config_path(env).absolute()
        config_file = path if path.is_file() else None
    file_values = read_config(config_file) if config_file is not None else {}

    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec in FIELDS:
        name = spec.name
        new, old = env_names(name)
        if cli is not None and cli.get(name) is not None:
            value: Any = cli[name]
            if spec.kind == "paths" and isinstance(value, list | tuple):
                # each --prewarm may itself hold several paths
                try:
                    value = [p for item in value for p in split_paths(str(item))]
                except ValueError:
                    raise BadValue(name) from None
            raw[name], sources[name] = value, "cli"
        elif env.get(new):  # an empty variable counts as unset
            raw[name], sources[name] = env[new], f"env {new}"
        elif env.get(old):
            raw[name], sources[name] = env[old], f"env {old}"
        elif name in file_values:
            raw[name], sources[name] = file_values[name], f"config {config_file}"
        else:
            sources[name] = "default"
    return RawSettings(raw, sources, config_file)


# ----- the fast validation -------------------------------------------------------------------
def _ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _plain_int(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return _ascii_digits(body)


def _plain_decimal(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    whole, dot, frac = body.partition(".")
    if not dot:
        return _ascii_digits(whole)
    return (whole == "" or _ascii_digits(whole)) and (frac == "" or _ascii_digits(frac)) \
        and (whole + frac) != ""


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise NeedsPydantic
    return value.strip() if isinstance(value, str) else value


def _path_list(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return split_paths(value)
    except ValueError:
        raise NeedsPydantic from None


def _splittable(value: Any) -> Any:
    if value is not None:
        try:
            if not shlex.split(value):
                raise NeedsPydantic
        except ValueError:
            raise NeedsPydantic from None
    return value


def _expand_all(value: Any) -> Any:
    return [p.expanduser() for p in value]


def _expand(value: Any) -> Any:
    return value.expanduser() if value is not None else None


# Twins of config.Settings' validators, by name; a validator without a twin sends its field
# to pydantic.
_BEFORE: dict[str, Callable[[Any], Any]] = {
    "_lower": _lower, "_no_bool": _no_bool, "_path_list": _path_list}
_AFTER: dict[str, Callable[[Any], Any]] = {
    "_splittable": _splittable, "_expand_all": _expand_all, "_expand": _expand}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _parse(spec: FieldSpec, value: Any) -> Any:
    kind = spec.kind
    if kind == "choice" and isinstance(value, str) and value in spec.choices:
        return value
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _plain_int(value):
            return int(value)
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and math.isfinite(value):
            return float(value)
        if isinstance(value, str) and _plain_decimal(value):
            return float(value)
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
    if kind == "path" and isinstance(value, str) and value:
        return Path(value)
    if kind == "paths" and isinstance(value, list) \
            and all(isinstance(p, str) and p for p in value):
        return [Path(p) for p in value]
    raise NeedsPydantic


_CHECKS: dict[str, Callable[[Any, float], bool]] = {
    "ge": lambda v, limit: v >= limit, "gt": lambda v, limit: v > limit,
    "le": lambda v, limit: v <= limit, "lt": lambda v, limit: v < limit}


def _validate(spec: FieldSpec, value: Any) -> Any:
    for name in spec.before:
        value = _BEFORE.get(name, _refuse)(value)
    value = _parse(spec, value)
    for op, limit in spec.bounds:
        if not _CHECKS[op](value, limit):
            raise NeedsPydantic
    for name in spec.after:
        value = _AFTER.get(name, _refuse)(value)
    return value


def _refuse(value: Any) -> Any:
    raise NeedsPydantic


def _derive_backend(raw: dict[str, Any]) -> dict[str, Any]:
    if raw.get("backend_command") is not None and raw.get("backend") is None:
        return {**raw, "backend": "generic"}
    return raw


_MODEL: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "_derive_backend": _derive_backend}


def fast_settings(raw: dict[str, Any]) -> ServeSettings:
    """Settings from layered raw values; NeedsPydantic when the fast path cannot decide."""
    for name in MODEL_VALIDATORS:
        model_validator = _MODEL.get(name)
        if model_validator is None:
            raise NeedsPydantic
        raw = model_validator(raw)
    values: dict[str, Any] = {}
    for spec in FIELDS:
        if spec.name in raw:
            values[spec.name] = _validate(spec, raw[spec.name])
        elif spec.default is NO_LITERAL:
            raise NeedsPydantic
        else:
            default = spec.default
            values[spec.name] = type(default)(default) if isinstance(default, list | dict) \
                else default
    return ServeSettings(**values)


def from_model(settings: Settings) -> ServeSettings:
    return ServeSettings(**{spec.name: getattr(settings, spec.name) for spec in FIELDS})


def load_serve_settings(cli: Mapping[str, Any] | None = None, *,
                        env: Mapping[str, str] | None = None,
                        config_path: Path | str | None = None) -> ServeSettings:
    """The settings `typemux` serves with, validated as config.load_settings would.

    Raises ConfigError (from the pydantic path) for anything invalid.
    """
    env = os.environ if env is None else env
    try:
        return fast_settings(dict(gather(cli, env, config_path).values))
    except (NeedsPydantic, BadValue):
        pass
    from typemux.config import load_settings  # pydantic: decides, and words any error

    return from_model(load_settings(cli, env=env, config_path=config_path).settings)


# ----- CLI -----------------------------------------------------------------------------------
def add_cli_options(parser: argparse.ArgumentParser, *, suppress_defaults: bool = False) -> None:
    """One --kebab-case flag per setting plus --config; values stay raw strings.

    With suppress_defaults an absent flag leaves the namespace alone, so a subcommand's
    parser does not overwrite what the main parser already parsed.
    """
    import argparse

    default: Any = argparse.SUPPRESS if suppress_defaults else None
    group = parser.add_argument_group("settings (also TYPEMUX_<NAME> env vars or config.toml)")
    group.add_argument("--config", type=Path, default=default, metavar="PATH",
                       help="config file (default: $XDG_CONFIG_HOME/typemux/config.toml)")
    for spec in FIELDS:
        help_text = spec.help.replace("%", "%%")
        if spec.kind == "paths":
            group.add_argument(flag_name(spec.name), dest=spec.name, action="append",
                               default=default, metavar=spec.metavar,
                               help=help_text + " Repeatable.")
        else:
            group.add_argument(flag_name(spec.name), dest=spec.name, default=default,
                               metavar=spec.metavar, help=help_text)


def cli_values(ns: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags in `ns` (absent flags left out)."""
    return {name: getattr(ns, name) for name in NAMES if getattr(ns, name, None) is not None}
