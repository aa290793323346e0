"""Settings: precedence, provenance, parsing and the wording of invalid-value errors."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest

from typemux.config import (
    FIELDS,
    ConfigError,
    LoadedSettings,
    Settings,
    add_cli_options,
    cli_values,
    load_settings,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), **extra}


def _write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "typemux" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _load(home: Path, cli: dict[str, Any] | None = None, **env: str) -> LoadedSettings:
    return load_settings(cli, env=_env(home, **env))


# ----- defaults and precedence ----------------------------------------------------------------
def test_defaults_with_no_sources(home: Path) -> None:
    loaded = _load(home)
    s = loaded.settings
    assert (s.backend, s.backend_command, s.max_backends, s.backend_ttl) == ("pyright", None, 8, 1800)
    assert (s.warmup_timeout, s.fanout_timeout, s.handshake_timeout) == (2, 5, 10)
    assert (s.max_message_size, s.max_memory_mb, s.prewarm) == (67108864, 0, [])
    assert (s.log_file, s.log_level) == (None, "info")
    assert s.command_argv is None
    assert loaded.config_file is None
    assert loaded.sources == {name: "default" for name in FIELDS}


def test_config_file_beats_default(home: Path) -> None:
    path = _write_config(home, "max_backends = 3\n")
    loaded = _load(home)
    assert loaded.settings.max_backends == 3
    assert loaded.sources["max_backends"] == f"config {path}"
    assert loaded.config_file == path


def test_legacy_env_beats_config_file(home: Path) -> None:
    _write_config(home, "max_backends = 3\n")
    loaded = _load(home, TYPEMUX_CC_MAX_BACKENDS="4")
    assert loaded.settings.max_backends == 4
    assert loaded.sources["max_backends"] == "env TYPEMUX_CC_MAX_BACKENDS"


def test_env_beats_legacy_env(home: Path) -> None:
    _write_config(home, "max_backends = 3\n")
    loaded = _load(home, TYPEMUX_CC_MAX_BACKENDS="4", TYPEMUX_MAX_BACKENDS="5")
    assert loaded.settings.max_backends == 5
    assert loaded.sources["max_backends"] == "env TYPEMUX_MAX_BACKENDS"


def test_cli_beats_env(home: Path) -> None:
    _write_config(home, "max_backends = 3\n")
    loaded = _load(home, {"max_backends": "6"}, TYPEMUX_CC_MAX_BACKENDS="4",
                   TYPEMUX_MAX_BACKENDS="5")
    assert loaded.settings.max_backends == 6
    assert loaded.sources["max_backends"] == "cli"


def test_only_the_winning_value_is_validated(home: Path) -> None:
    loaded = _load(home, {"max_backends": "2"}, TYPEMUX_MAX_BACKENDS="zero")
    assert loaded.settings.max_backends == 2


def test_empty_env_var_counts_as_unset(home: Path) -> None:
    loaded = _load(home, TYPEMUX_LOG_FILE="", TYPEMUX_CC_LOG_FILE="/tmp/x.log")
    assert loaded.settings.log_file == Path("/tmp/x.log")
    assert loaded.sources["log_file"] == "env TYPEMUX_CC_LOG_FILE"


def test_sources_label_each_field_independently(home: Path) -> None:
    path = _write_config(home, 'log_level = "debug"\n')
    loaded = _load(home, {"backend": "ty"}, TYPEMUX_BACKEND_TTL="60")
    assert loaded.sources["backend"] == "cli"
    assert loaded.sources["backend_ttl"] == "env TYPEMUX_BACKEND_TTL"
    assert loaded.sources["log_level"] == f"config {path}"
    assert loaded.sources["max_backends"] == "default"


# ----- value parsing ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["backend_ttl", "warmup_timeout", "fanout_timeout",
                                  "handshake_timeout"])
def test_seconds_accept_fractions(home: Path, name: str) -> None:
    loaded = _load(home, **{f"TYPEMUX_{name.upper()}": "0.5"})
    assert getattr(loaded.settings, name) == 0.5


def test_seconds_accept_toml_floats_and_ints(home: Path) -> None:
    _write_config(home, "backend_ttl = 0\nfanout_timeout = 1.25\n")
    s = _load(home).settings
    assert (s.backend_ttl, s.fanout_timeout) == (0, 1.25)


def test_log_level_and_backend_are_case_insensitive(home: Path) -> None:
    s = _load(home, TYPEMUX_LOG_LEVEL="DEBUG", TYPEMUX_BACKEND="BasedPyright").settings
    assert (s.log_level, s.backend) == ("debug", "basedpyright")


def test_backend_command_is_shell_split(home: Path) -> None:
    s = _load(home, {"backend_command": "uvx 'ty' server --flag=\"a b\""}).settings
    assert s.command_argv == ["uvx", "ty", "server", "--flag=a b"]


@pytest.mark.parametrize("source", ["cli", "env", "legacy env", "config"])
def test_backend_command_alone_makes_backend_generic(home: Path, source: str) -> None:
    cli: dict[str, Any] = {}
    env: dict[str, str] = {}
    if source == "cli":
        cli["backend_command"] = "pylsp"
    elif source == "env":
        env["TYPEMUX_BACKEND_COMMAND"] = "pylsp"
    elif source == "legacy env":
        env["TYPEMUX_CC_BACKEND_COMMAND"] = "pylsp"
    else:
        _write_config(home, 'backend-command = "pylsp"\n')
    loaded = _load(home, cli, **env)
    assert loaded.settings.backend == "generic"
    assert loaded.settings.command_argv == ["pylsp"]
    assert loaded.sources["backend"] == "derived from backend_command"


@pytest.mark.parametrize("source", ["cli", "env", "legacy env", "config"])
def test_explicit_backend_is_kept_with_backend_command(home: Path, source: str) -> None:
    cli: dict[str, Any] = {"backend_command": "uvx ty server"}
    env: dict[str, str] = {}
    if source == "cli":
        cli["backend"] = "ty"
    elif source == "env":
        env["TYPEMUX_BACKEND"] = "ty"
    elif source == "legacy env":
        env["TYPEMUX_CC_BACKEND"] = "ty"
    else:
        _write_config(home, 'backend = "ty"\n')
    loaded = _load(home, cli, **env)
    assert loaded.settings.backend == "ty"
    assert loaded.sources["backend"] != "derived from backend_command"


def test_settings_model_derives_generic_too() -> None:
    assert Settings(backend_command="pylsp").backend == "generic"
    assert Settings(backend_command="pylsp", backend="pyright").backend == "pyright"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"/a{os.pathsep}/b", ["/a", "/b"]),
        ("/a,/b, /c", ["/a", "/b", "/c"]),
        ('["/a", "/b,c"]', ["/a", "/b,c"]),
        ("/only", ["/only"]),
    ],
)
def test_prewarm_from_env(home: Path, raw: str, expected: list[str]) -> None:
    s = _load(home, TYPEMUX_PREWARM=raw).settings
    assert s.prewarm == [Path(p) for p in expected]


def test_prewarm_from_repeated_cli_flags(home: Path) -> None:
    parser = argparse.ArgumentParser()
    add_cli_options(parser)
    ns = parser.parse_args(["--prewarm", "/a", "--prewarm", f"/b{os.pathsep}/c"])
    s = load_settings(cli_values(ns), env=_env(home)).settings
    assert s.prewarm == [Path("/a"), Path("/b"), Path("/c")]


def test_prewarm_from_toml_array_is_literal(home: Path) -> None:
    _write_config(home, 'prewarm = ["/a,b", "~/c"]\n')
    s = _load(home).settings
    assert s.prewarm == [Path("/a,b"), Path("~/c").expanduser()]


def test_log_file_expands_user(home: Path) -> None:
    s = _load(home, {"log_file": "~/typemux.log"}).settings
    assert s.log_file == Path("~/typemux.log").expanduser()


# ----- invalid values --------------------------------------------------------------------------
INVALID: list[tuple[str, str, str]] = [
    ("backend", "foo", "one of pyright, basedpyright, ty, pyrefly, generic"),
    ("backend_command", "  ", "non-empty command line"),
    ("backend_command", "uvx 'ty", "non-empty command line"),
    ("max_backends", "0", "an integer >= 1"),
    ("max_backends", "2.5", "an integer >= 1"),
    ("backend_ttl", "-1", "a number of seconds >= 0"),
    ("backend_ttl", "inf", "a number of seconds >= 0"),
    ("warmup_timeout", "soon", "a number of seconds >= 0"),
    ("fanout_timeout", "-0.5", "a number of seconds >= 0"),
    ("handshake_timeout", "0", "a number of seconds > 0"),
    ("max_message_size", "1023", "an integer >= 1024"),
    ("max_memory_mb", "-1", "an integer >= 0"),
    ("prewarm", "[1, 2]", "JSON array of strings"),
    ("prewarm", "[oops", "JSON array of strings"),
    ("log_level", "trace", "one of debug, info, warning, error"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), INVALID)
def test_invalid_env_value_names_setting_source_and_allowed(
        home: Path, name: str, value: str, allowed: str) -> None:
    var = f"TYPEMUX_{name.upper()}"
    with pytest.raises(ConfigError) as info:
        _load(home, **{var: value})
    msg = str(info.value)
    assert msg.startswith(f"invalid setting {name} = {value!r} (from env {var}): must be ")
    assert allowed in msg
    assert "validation error" not in msg.lower()  # never pydantic's own dump


@pytest.mark.parametrize(("name", "value", "allowed"), INVALID)
def test_invalid_cli_value_names_the_flag(
        home: Path, name: str, value: str, allowed: str) -> None:
    given: Any = [value] if name == "prewarm" else value
    with pytest.raises(ConfigError) as info:
        _load(home, {name: given})
    msg = str(info.value)
    flag = "--" + name.replace("_", "-")
    assert f"invalid setting {name} = " in msg
    assert f"(from cli {flag})" in msg
    assert allowed in msg


def test_invalid_legacy_env_value_names_the_legacy_variable(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"\(from env TYPEMUX_CC_BACKEND_TTL\)"):
        _load(home, TYPEMUX_CC_BACKEND_TTL="never")


def test_invalid_config_value_names_the_file(home: Path) -> None:
    path = _write_config(home, 'backend = "foo"\n')
    with pytest.raises(ConfigError) as info:
        _load(home)
    assert str(info.value) == (
        f"invalid setting backend = 'foo' (from config {path}): must be one of "
        "pyright, basedpyright, ty, pyrefly, generic")


def test_toml_boolean_is_not_a_number(home: Path) -> None:
    _write_config(home, "max_backends = true\n")
    with pytest.raises(ConfigError, match="invalid setting max_backends = True"):
        _load(home)


def test_every_invalid_setting_is_reported(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(home, TYPEMUX_MAX_BACKENDS="0", TYPEMUX_LOG_LEVEL="loud")
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any("max_backends" in line for line in lines)
    assert any("log_level" in line for line in lines)


# ----- config file -----------------------------------------------------------------------------
def test_config_keys_accept_dashes(home: Path) -> None:
    _write_config(home, 'max-backends = 2\nlog-level = "warning"\n')
    s = _load(home).settings
    assert (s.max_backends, s.log_level) == (2, "warning")


def test_unknown_config_key_is_an_error_naming_key_and_file(home: Path) -> None:
    path = _write_config(home, "max_backend = 2\n")
    with pytest.raises(ConfigError) as info:
        _load(home)
    assert "'max_backend'" in str(info.value)
    assert str(path) in str(info.value)


def test_bad_toml_names_the_file_and_the_error(home: Path) -> None:
    path = _write_config(home, "max_backends = = 2\n")
    with pytest.raises(ConfigError) as info:
        _load(home)
    msg = str(info.value)
    assert str(path) in msg
    assert "line 1" in msg  # from tomllib's own message


def test_explicit_config_path_is_used_over_default(home: Path, tmp_path: Path) -> None:
    _write_config(home, "max_backends = 3\n")
    other = tmp_path / "other.toml"
    other.write_text("max_backends = 7\n")
    loaded = load_settings(env=_env(home), config_path=other)
    assert loaded.settings.max_backends == 7
    assert loaded.config_file == other
    assert loaded.sources["max_backends"] == f"config {other}"


def test_missing_explicit_config_is_an_error(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"config file {missing} does not exist"):
        load_settings(env=_env(home), config_path=missing)


def test_xdg_config_home_is_preferred(home: Path, tmp_path: Path) -> None:
    _write_config(home, "max_backends = 3\n")
    xdg = tmp_path / "xdg"
    (xdg / "typemux").mkdir(parents=True)
    (xdg / "typemux" / "config.toml").write_text("max_backends = 9\n")
    loaded = load_settings(env=_env(home, XDG_CONFIG_HOME=str(xdg)))
    assert loaded.settings.max_backends == 9
    assert loaded.config_file == xdg / "typemux" / "config.toml"


def test_missing_default_config_is_fine(home: Path, tmp_path: Path) -> None:
    loaded = load_settings(env=_env(home, XDG_CONFIG_HOME=str(tmp_path / "none")))
    assert loaded.config_file is None


# ----- CLI ---------------------------------------------------------------------------------------
def test_cli_flags_pass_raw_strings_and_only_given_ones(home: Path) -> None:
    parser = argparse.ArgumentParser()
    add_cli_options(parser)
    ns = parser.parse_args(["--max-backends", "3", "--backend-command", "pylsp",
                            "--log-level", "DEBUG"])
    assert cli_values(ns) == {"max_backends": "3", "backend_command": "pylsp",
                              "log_level": "DEBUG"}
    assert ns.config is None
    s = load_settings(cli_values(ns), env=_env(home)).settings
    assert (s.max_backends, s.backend, s.log_level) == (3, "generic", "debug")


def test_every_field_has_a_flag() -> None:
    parser = argparse.ArgumentParser()
    add_cli_options(parser)
    flags = {opt for action in parser._actions for opt in action.option_strings}
    for name in FIELDS:
        assert "--" + name.replace("_", "-") in flags
    assert "--config" in flags


def test_config_flag_gives_a_path() -> None:
    parser = argparse.ArgumentParser()
    add_cli_options(parser)
    assert parser.parse_args(["--config", "/x/c.toml"]).config == Path("/x/c.toml")


def test_suppressed_defaults_leave_parent_values() -> None:
    parser = argparse.ArgumentParser()
    add_cli_options(parser)
    sub = parser.add_subparsers(dest="command")
    add_cli_options(sub.add_parser("doctor"), suppress_defaults=True)
    ns = parser.parse_args(["--max-backends", "3", "doctor", "--backend", "ty"])
    assert cli_values(ns) == {"max_backends": "3", "backend": "ty"}


# ----- the serve path's loader (fast_config, no pydantic) ----------------------------------------
SERVE_CASES: list[tuple[dict[str, Any], dict[str, str], str]] = [
    ({}, {}, ""),
    ({}, {"TYPEMUX_MAX_BACKENDS": "4", "TYPEMUX_BACKEND_TTL": "0.5"}, ""),
    ({}, {"TYPEMUX_MAX_BACKENDS": " 4 ", "TYPEMUX_WARMUP_TIMEOUT": ".5",
          "TYPEMUX_FANOUT_TIMEOUT": "7.", "TYPEMUX_HANDSHAKE_TIMEOUT": "+3"}, ""),
    ({}, {"TYPEMUX_LOG_LEVEL": "DEBUG", "TYPEMUX_BACKEND": " BasedPyright "}, ""),
    ({}, {"TYPEMUX_CC_BACKEND_COMMAND": "uvx 'ty' server --flag=\"a b\""}, ""),
    ({}, {"TYPEMUX_PREWARM": f"/a{os.pathsep}/b, ~/c"}, ""),
    ({}, {"TYPEMUX_PREWARM": '["/a", "/b,c"]', "TYPEMUX_LOG_FILE": "~/typemux.log"}, ""),
    ({}, {}, 'backend = "ty"\nbackend-command = "ty server"\nmax_backends = 3\n'
             "backend_ttl = 0\nfanout_timeout = 1.25\nprewarm = [\"/a,b\", \"~/c\"]\n"),
    ({"max_backends": "6", "prewarm": ["/a", f"/b{os.pathsep}/c"], "log_file": "/tmp/t.log"},
     {"TYPEMUX_MAX_BACKENDS": "5"}, "max_backends = 3\n"),
    ({"backend_command": "pylsp"}, {}, ""),
    ({"max_memory_mb": "0", "max_message_size": "1024"}, {}, ""),
]


@pytest.mark.parametrize(("cli", "env", "config"), SERVE_CASES)
def test_serve_loader_takes_the_fast_path_and_agrees_with_pydantic(
        home: Path, cli: dict[str, Any], env: dict[str, str], config: str) -> None:
    from typemux.fast_config import fast_settings, from_model, gather, load_serve_settings

    if config:
        _write_config(home, config)
    full = _env(home, **env)
    expected = from_model(load_settings(cli, env=full).settings)
    # no NeedsPydantic: these plain values never reach pydantic on the serve path
    assert fast_settings(dict(gather(cli, full, None).values)) == expected
    assert load_serve_settings(cli, env=full) == expected


@pytest.mark.parametrize(("name", "value", "allowed"), INVALID)
def test_serve_loader_reports_invalid_values_as_pydantic_words_them(
        home: Path, name: str, value: str, allowed: str) -> None:
    from typemux.fast_config import load_serve_settings

    env = _env(home, **{f"TYPEMUX_{name.upper()}": value})
    with pytest.raises(ConfigError) as fast:
        load_serve_settings(env=env)
    with pytest.raises(ConfigError) as full:
        load_settings(env=env)
    assert str(fast.value) == str(full.value)
    assert allowed in str(fast.value)


def test_serve_loader_reports_cli_and_config_file_problems(home: Path) -> None:
    from typemux.fast_config import load_serve_settings

    with pytest.raises(ConfigError, match=r"\(from cli --prewarm\)"):
        load_serve_settings({"prewarm": ["[oops"]}, env=_env(home))
    path = _write_config(home, "max_backend = 2\n")
    with pytest.raises(ConfigError, match="'max_backend'") as info:
        load_serve_settings(env=_env(home))
    assert str(path) in str(info.value)
    _write_config(home, "max_backends = true\n")
    with pytest.raises(ConfigError, match="invalid setting max_backends = True"):
        load_serve_settings(env=_env(home))


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("max_backends", "1_0", 10), ("max_backends", "3.0", 3), ("backend_ttl", "1e3", 1000.0),
])
def test_spellings_only_pydantic_knows_go_through_pydantic(
        home: Path, name: str, value: str, expected: Any) -> None:
    from typemux.fast_config import NeedsPydantic, fast_settings, gather, load_serve_settings

    env = _env(home, **{f"TYPEMUX_{name.upper()}": value})
    with pytest.raises(NeedsPydantic):
        fast_settings(dict(gather(None, env, None).values))
    assert getattr(load_serve_settings(env=env), name) == expected


def test_a_field_kind_the_fast_path_does_not_know_goes_through_pydantic() -> None:
    from typemux.fast_config import NeedsPydantic, _validate
    from typemux.settings_table import FIELDS as SPECS

    spec = SPECS[0]._replace(kind="other")
    with pytest.raises(NeedsPydantic):
        _validate(spec, "pyright")
    with pytest.raises(NeedsPydantic):
        _validate(SPECS[0]._replace(before=("_a_new_validator",)), "pyright")


def test_a_config_file_that_is_not_utf8_is_named_in_a_clear_error(tmp_path: Path) -> None:
    from typemux.fast_config import read_config

    bad = tmp_path / "config.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"is not UTF-8 text"):
        read_config(bad)
