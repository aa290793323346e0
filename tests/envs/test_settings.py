"""The `environments` setting: a TOML table in the config file, JSON elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from typemux.config import ConfigError, load_settings


def test_config_file_table(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[environments]\n"~/mono/services/*" = "~/envs/services"\n"**/legacy" = ".venv38"\n')
    loaded = load_settings(env={}, config_path=config)
    assert loaded.settings.environments == {"~/mono/services/*": "~/envs/services",
                                            "**/legacy": ".venv38"}
    assert loaded.sources["environments"] == f"config {config}"


def test_environment_variable_and_flag_take_json(tmp_path: Path) -> None:
    loaded = load_settings({"environments": '{"**/a": "/e/a"}'},
                           env={"TYPEMUX_ENVIRONMENTS": '{"**/b": "/e/b"}'})
    assert loaded.settings.environments == {"**/a": "/e/a"}
    assert load_settings(env={"TYPEMUX_ENVIRONMENTS": '{"**/b": "/e/b"}'}).settings.environments \
        == {"**/b": "/e/b"}


@pytest.mark.parametrize("value", ['["x"]', "{not json", '{"a": 1}'])
def test_invalid_values_name_the_setting(value: str) -> None:
    with pytest.raises(ConfigError, match=r"invalid setting environments .*TYPEMUX_ENVIRONMENTS"):
        load_settings(env={"TYPEMUX_ENVIRONMENTS": value})
