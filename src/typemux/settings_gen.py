"""Regenerate what is derived from the Settings model: the serve path's table and the docs.

    python -m typemux.settings_gen          # rewrite src/typemux/settings_table.py and
                                           # docs/configuration.md in a source checkout
    python -m typemux.settings_gen --check  # exit 1 when either is stale

The serve path must start without pydantic (~100 ms of imports), so `typemux.fast_config`
validates from `settings_table.py`, a plain module generated here from the pydantic model.
The model stays the single source of truth: after adding or changing a field, run this.
Kinds the fast path does not know (a new type, a validator it has no twin for) are marked
"other": they still work, through pydantic, whenever such a setting is given a value.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo

from typemux.config import Settings, default_text, field_metavar
from typemux.config_docs import configuration_markdown

PACKAGE = Path(__file__).resolve().parent
TABLE = PACKAGE / "settings_table.py"
DOC = PACKAGE.parent.parent / "docs" / "configuration.md"
COMMAND = "python -m typemux.settings_gen"

_SIMPLE = {int: "int", float: "float", str: "str", bool: "bool", Path: "path"}
_BOUNDS: dict[type, str] = {annotated_types.Ge: "ge", annotated_types.Gt: "gt",
           annotated_types.Le: "le", annotated_types.Lt: "lt"}


def _type_text(ann: Any) -> str:
    """The annotation as source text for the generated dataclass (`Any` when unknown)."""
    if ann is type(None):
        return "None"
    if ann in _SIMPLE:
        return "Path" if ann is Path else ann.__name__
    origin = get_origin(ann)
    if origin is Literal:
        return f"Literal[{', '.join(repr(a) for a in get_args(ann))}]"
    if origin in (Union, types.UnionType):
        parts = [_type_text(a) for a in get_args(ann)]
        return "Any" if "Any" in parts else " | ".join(parts)
    if origin in (list, tuple, dict):
        parts = [_type_text(a) for a in get_args(ann)]
        if "Any" in parts:  # as many arguments as the container takes
            parts = {list: ["Any"], tuple: ["Any", "..."], dict: ["Any", "Any"]}[origin]
        return f"{origin.__name__}[{', '.join(parts)}]"
    return "Any"


def _kind(ann: Any) -> tuple[str, bool, tuple[str, ...]]:
    """(kind, nullable, choices) of an annotation, for the fast loader."""
    nullable = False
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        nullable = len(args) < len(get_args(ann))
        if len(args) != 1:
            return "other", nullable, ()
        ann = args[0]
    if get_origin(ann) is Literal and all(isinstance(a, str) for a in get_args(ann)):
        return "choice", nullable, tuple(get_args(ann))
    if get_origin(ann) is list and get_args(ann) == (Path,):
        return "paths", nullable, ()
    return _SIMPLE.get(ann, "other"), nullable, ()


def _literal(value: Any) -> str | None:
    """Source text for a default value, or None when it has no plain literal."""
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, Path):
        return f"Path({str(value)!r})"
    if isinstance(value, list | tuple):
        items = [_literal(v) for v in value]
        if any(i is None for i in items):
            return None
        text = ", ".join(i for i in items if i is not None)
        return f"[{text}]" if isinstance(value, list) else f"({text}{',' if len(items) == 1 else ''})"
    if isinstance(value, dict):
        pairs = [(_literal(k), _literal(v)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return None


def _validators() -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
    decorators = Settings.__pydantic_decorators__
    before: dict[str, list[str]] = {}
    after: dict[str, list[str]] = {}
    for name, dec in decorators.field_validators.items():
        mode = dec.info.mode
        for field in dec.info.fields:
            target = before if mode in ("before", "plain", "wrap") else after
            # plain/wrap validators replace pydantic's own: the fast path cannot mirror them
            target.setdefault(field, []).append(name if mode in ("before", "after") else "?" + name)
    model = list(decorators.model_validators)
    for kind in ("validators", "root_validators", "field_serializers", "model_serializers"):
        model.extend("?" + n for n in getattr(decorators, kind))
    return before, after, model


def _spec(name: str, field: FieldInfo, before: list[str], after: list[str]) -> str:
    kind, nullable, choices = _kind(field.annotation)
    bounds = []
    for meta in field.metadata:
        op = _BOUNDS.get(type(meta))
        if op is not None:
            bounds.append((op, getattr(meta, op)))
        elif type(meta).__name__ != "AllowInfNan":  # the fast path never accepts inf/nan
            kind = "other"  # a constraint the fast path does not check
    default = field.get_default(call_default_factory=True)
    default_src = _literal(default)
    help_text = f"{field.description} Default: {default_text(name)}."
    return (
        f"    FieldSpec({name!r}, {kind!r}, nullable={nullable!r}, choices={choices!r},\n"
        f"              bounds={tuple(bounds)!r}, before={tuple(before)!r}, "
        f"after={tuple(after)!r},\n"
        f"              default={default_src if default_src is not None else 'NO_LITERAL'},\n"
        f"              metavar={field_metavar(name)!r},\n"
        f"              help={help_text!r}),\n"
    )


def table_source() -> str:
    """The text of src/typemux/settings_table.py."""
    before, after, model = _validators()
    fields = Settings.model_fields
    specs = "".join(_spec(name, f, before.get(name, []), after.get(name, []))
                    for name, f in fields.items())
    attrs = "".join(f"    {name}: {_type_text(f.annotation)}\n" for name, f in fields.items())
    return f'''"""Generated by `{COMMAND}` from the Settings model in config.py; do not edit.

The serve path validates settings from this table without importing pydantic (see
typemux.fast_config); tests/unit/test_settings_table.py fails when it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from typemux.settings_methods import SettingsMethods

NO_LITERAL: Any = object()  # a default only pydantic can build


class FieldSpec(NamedTuple):
    name: str
    kind: str  # choice | int | float | str | bool | path | paths | other
    nullable: bool
    choices: tuple[str, ...]
    bounds: tuple[tuple[str, float], ...]  # (ge | gt | le | lt, limit)
    before: tuple[str, ...]  # field validators run before pydantic's own parsing
    after: tuple[str, ...]
    default: Any
    metavar: str
    help: str


FIELDS: tuple[FieldSpec, ...] = (
{specs})

MODEL_VALIDATORS: tuple[str, ...] = {tuple(model)!r}


@dataclass(frozen=True, slots=True)
class ServeSettings(SettingsMethods):
    """The validated settings, with the same attributes as config.Settings."""

{attrs}'''


def _write(path: Path, text: str, check: bool) -> bool:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if current == text:
        return True
    if not check:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)  # stdout-ok: a developer tool
    return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    if not DOC.parent.is_dir():
        print("typemux.settings_gen: run it in a source checkout", file=sys.stderr)  # stdout-ok
        return 2
    fresh = _write(TABLE, table_source(), check) & _write(DOC, configuration_markdown(), check)
    if check and not fresh:
        print(f"stale; regenerate with `{COMMAND}`", file=sys.stderr)  # stdout-ok
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
