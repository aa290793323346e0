"""docs/configuration.md is generated from the Settings model and must not go stale."""

from __future__ import annotations

from pathlib import Path

from typemux.config import FIELDS, env_names, flag_name, load_settings
from typemux.config_docs import configuration_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_configuration_doc_is_current() -> None:
    expected = configuration_markdown()
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert actual == expected, (
        "docs/configuration.md is stale; regenerate it with "
        "`python -m typemux.settings_gen`"
    )


def test_generated_doc_lists_every_setting_with_flag_and_env_names() -> None:
    text = configuration_markdown()
    for name in FIELDS:
        new, old = env_names(name)
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`{flag_name(name)}`" in row
        assert f"`{new}`" in row
        assert f"`{old}`" in row


def test_generated_doc_shows_precedence_and_config_location() -> None:
    text = configuration_markdown()
    assert "## Precedence" in text
    assert "$XDG_CONFIG_HOME/typemux/config.toml" in text
    assert "~/.config/typemux/config.toml" in text
    assert "```toml" in text


def test_example_toml_is_a_valid_config_giving_the_defaults(tmp_path: Path) -> None:
    text = configuration_markdown()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "config.toml"
    path.write_text(block)
    loaded = load_settings(env={"HOME": str(tmp_path)}, config_path=path)
    assert loaded.settings == load_settings(env={"HOME": str(tmp_path / "none")}).settings
