"""Users' per-backend settings (`backend_settings` in typemux's config), merged into the
answers typemux gives the backends' `workspace/configuration` questions.

Claude Code cannot pass editor settings to a language server, so typemux answers for it; a
user who wants e.g. pyright in strict mode writes, in config.toml:

    [backend_settings.pyright]
    python.analysis.typeCheckingMode = "strict"

The tree is the one editors keep (VS Code's settings.json, nested by dots). A backend asking
for section "python.analysis" gets typemux's own answer for it with the user's subtree
merged over it; where an editor answered the question itself, the editor's values win.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typemux.backends import item_section
from typemux.backends.base import NO_PROJECT_CONFIG, ProjectConfig


def deep_merge(base: Any, over: Any) -> Any:
    """`over` merged into `base` (objects key by key; anything else: `over` wins)."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(over)


def lookup(tree: Mapping[str, Any], section: str | None) -> Any:
    """The value at dotted `section` of `tree` (None: the whole tree), or None."""
    if section is None:
        return tree or None
    node: Any = tree
    for part in section.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def apply_user_settings(items: list[Any], answers: list[Any], user: Mapping[str, Any],
                        client_answered: bool) -> list[Any]:
    if not user:
        return answers
    merged = list(answers)
    for index, item in enumerate(items):
        value = lookup(user, item_section(item))
        if value is None:
            continue
        current = merged[index]
        if current is None:
            merged[index] = copy.deepcopy(value)
        elif client_answered:
            merged[index] = deep_merge(value, current)
        else:
            merged[index] = deep_merge(current, value)
    return merged


def type_errors_hidden(kind_name: str, venv: Path, user: Mapping[str, Any],
                       project_config: ProjectConfig = NO_PROJECT_CONFIG,
                       project: Path | None = None) -> str | None:
    """Why `kind_name` will report no type errors for the project of `venv` with typemux's
    answers and the user's settings, or None when it will report them (as far as known).
    `project_config` is what the runtime read of the project's files (`project`, by default
    the venv's parent, names them in the reason)."""
    from typemux.backends import get_kind

    project = venv.parent if project is None else project
    if kind_name not in ("pyright", "basedpyright", "pyrefly"):
        return None
    items = [{"section": "python"}, {"section": "python.analysis"}]
    kind = get_kind(kind_name)
    python, analysis = apply_user_settings(
        items, kind.configuration(items, venv, None, project_config), user, False)
    if kind_name == "pyrefly":
        own = project_config.own
        pyrefly = python.get("pyrefly") if isinstance(python, Mapping) else None
        pyrefly = pyrefly if isinstance(pyrefly, Mapping) else {}
        if pyrefly.get("disableTypeErrors") is True or pyrefly.get("displayTypeErrors") == "force-off":
            return "backend_settings turn pyrefly's type errors off (disableTypeErrors/displayTypeErrors)"
        if pyrefly.get("typeCheckingMode") in ("off", "basic") and not own:
            return (f"pyrefly's typeCheckingMode is {pyrefly['typeCheckingMode']!r}: only syntax "
                    "and import errors are shown")
        if not own and pyrefly.get("displayTypeErrors") != "force-on" and not pyrefly.get("typeCheckingMode"):
            return "no pyrefly config covers the project: pyrefly shows no type errors"
        return None
    mode = analysis.get("typeCheckingMode") if isinstance(analysis, Mapping) else None
    if mode == "off":
        return f"{kind_name}'s python.analysis.typeCheckingMode is 'off' in backend_settings"
    if project_config.type_checking_mode == "off":
        return f"{project / 'pyrightconfig.json'} sets typeCheckingMode 'off'"
    return None
