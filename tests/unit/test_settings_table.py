"""The serve path's settings table is generated from the pydantic model and must agree with it.

typemux starts without pydantic: `fast_config` validates from `settings_table.py`, which
`python -m typemux.settings_gen` generates from `config.Settings`. These tests fail when the
table is stale, and when the fast path would ever accept a value differently from pydantic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from typemux import settings_table
from typemux.config import Settings
from typemux.fast_config import NeedsPydantic, _validate, fast_settings, from_model
from typemux.settings_gen import TABLE, table_source
from typemux.settings_methods import SettingsMethods
from typemux.settings_table import FIELDS, ServeSettings


def test_committed_settings_table_is_current() -> None:
    assert Path(settings_table.__file__).resolve() == TABLE
    assert TABLE.read_text(encoding="utf-8") == table_source(), (
        "src/typemux/settings_table.py is stale; regenerate it with "
        "`python -m typemux.settings_gen`"
    )


def test_serve_settings_have_every_field_of_the_model() -> None:
    assert [spec.name for spec in FIELDS] == list(Settings.model_fields)
    assert list(ServeSettings.__dataclass_fields__) == list(Settings.model_fields)


def test_properties_of_the_model_are_shared_with_the_serve_settings() -> None:
    """A property defined on the pydantic model alone would be missing on the serve path."""
    own = {name for name, value in vars(Settings).items()
           if isinstance(value, property) and not hasattr(BaseSettings, name)}
    assert own == set(), f"move {own} to typemux.settings_methods.SettingsMethods"
    shared = {name for name, value in vars(SettingsMethods).items() if isinstance(value, property)}
    for name in shared:
        assert hasattr(ServeSettings, name) and hasattr(Settings, name)


def test_defaults_load_on_the_fast_path() -> None:
    """A field whose default has no plain literal, or a model validator without a twin in
    fast_config, would send every start through pydantic."""
    assert fast_settings({}) == from_model(Settings())


text_values = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"\A\s?[+-]?[0-9]{0,6}(\.[0-9]{0,3})?\s?\Z"),
    st.sampled_from(["pyright", "Ty", " info ", "DEBUG", "generic", "1024", "0", "-0", "inf",
                     "nan", "1e3", "[]", '["/a"]', "/a:/b", "~/x", "", "true", "0x10"]),
)
toml_values = st.one_of(st.booleans(), st.integers(-5, 2**40), st.floats(allow_nan=True),
                        st.lists(st.text(max_size=5), max_size=3), st.text(max_size=8))


def _pydantic(name: str, value: Any) -> Any:
    return getattr(Settings(**{name: value}), name)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.sampled_from(FIELDS), st.one_of(text_values, toml_values))
def test_the_fast_path_accepts_only_what_pydantic_accepts_with_the_same_value(
        spec: Any, value: Any) -> None:
    try:
        fast = _validate(spec, value)
    except NeedsPydantic:
        return  # pydantic decides
    try:
        full = _pydantic(spec.name, value)
    except ValidationError as exc:
        pytest.fail(f"fast path accepted {value!r} for {spec.name}; pydantic refuses: {exc}")
    assert fast == full and type(fast) is type(full), (spec.name, value, fast, full)


def test_model_and_serve_settings_are_separate_classes() -> None:
    assert not issubclass(ServeSettings, BaseModel)
