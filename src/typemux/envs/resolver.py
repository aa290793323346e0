"""Per file: the nearest project and its environment, by the rules in one documented order.

From the file's folder up to its git boundary (the nearest folder holding `.git`, checked
itself), each folder is asked every rule in `RULES` order; the first environment found
wins, with that folder as its project. Answers are cached per folder for a short time
only, so an environment created or removed later is seen; file contents are cached by
their stat, and a tool's answer per project (see `ask`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from typemux.envs.ask import ToolAsker
from typemux.envs.conda import conda, pyenv_virtualenv
from typemux.envs.hatch import hatch
from typemux.envs.local import (
    compile_mapping,
    dot_venv,
    explicit_mapping,
    in_project,
    pdm_python,
    pyright_settings,
    uv_project_environment,
)
from typemux.envs.model import Context, FileCache, Folder, Venv, Verdict
from typemux.envs.pipenv import pipenv
from typemux.envs.poetry import poetry

_CACHE_LIMIT = 8192


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    looks_for: str
    check: Callable[[Folder, Context], Verdict | None]


RULES: tuple[Rule, ...] = (
    Rule("config", "typemux's `environments` setting", explicit_mapping),
    Rule("pyright", "venvPath + venv in pyrightconfig.json or [tool.pyright]", pyright_settings),
    Rule(".venv", ".venv/pyvenv.cfg", dot_venv),
    Rule("in-project", "another folder of the project holding pyvenv.cfg (venv, …)", in_project),
    Rule("uv", "UV_PROJECT_ENVIRONMENT for a uv project (uv.lock or [tool.uv])", uv_project_environment),
    Rule("pdm", ".pdm-python", pdm_python),
    Rule("poetry", "[tool.poetry] or poetry.lock", poetry),
    Rule("hatch", "a pyproject.toml [project] or hatch.toml", hatch),
    Rule("pipenv", "Pipfile", pipenv),
    Rule("conda", "environment.yml's name", conda),
    Rule("pyenv", ".python-version naming a virtualenv", pyenv_virtualenv),
)
RULE_NAMES = tuple(rule.name for rule in RULES)


@dataclass(frozen=True, slots=True)
class Seen:
    rule: Rule
    verdict: Verdict | None  # None: nothing of the rule's kind in the folder


@dataclass(frozen=True, slots=True)
class FolderReport:
    path: str
    seen: tuple[Seen, ...]
    found: Venv | None


def _verdict(rule: Rule, folder: Folder, ctx: Context) -> Verdict | None:
    try:
        return rule.check(folder, ctx)
    except Exception as exc:  # a rule tripping on a strange file must not break routing
        return Verdict(f"skipped: {type(exc).__name__}: {exc}")


def evaluate(folder: Folder, ctx: Context) -> tuple[Venv | None, bool, list[Seen]]:
    """(environment found in `folder`, whether the walk stops here, what each rule saw)."""
    seen: list[Seen] = []
    for rule in RULES:
        verdict = _verdict(rule, folder, ctx)
        seen.append(Seen(rule, verdict))
        if verdict is not None and verdict.env is not None:
            return Venv(Path(verdict.env), Path(folder.path), rule.name), True, seen
        if verdict is not None and (verdict.final or verdict.pending):
            return None, True, seen
    return None, False, seen


class EnvResolver:
    """Finds the environment of a file, caching answers per folder for a short time.

    The answer for a folder does not depend on which file asked (the walk from a folder
    upward and its git boundary are the same for every file below it), so every folder
    visited on a walk is cached with the answer found.
    """

    def __init__(
        self,
        *,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        environments: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        home: str | os.PathLike[str] | None = None,
        ask_tools: bool = True,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        home_dir = os.fspath(home) if home is not None else (env.get("HOME") or os.path.expanduser("~"))
        self._cache_seconds = cache_seconds
        self._clock = clock
        self.asker = ToolAsker(env) if ask_tools else None
        self.ctx = Context(env, os.path.realpath(home_dir), FileCache(), self.asker)
        self.ctx.mapping = compile_mapping(dict(environments or {}), self.ctx)
        self._cache: dict[str, tuple[float, Venv | None]] = {}
        # Per file as given, so the hot path (every request) skips realpath's lstat per
        # path component; same expiry as the folder cache.
        self._files: dict[object, tuple[float, Venv | None]] = {}
        # Files whose last look stopped at a tool's question still in flight.
        self._pending: set[object] = set()

    def find(self, file: Path) -> Venv | None:
        now = self._clock()
        hit = self._files.get(file)
        if hit is not None and now - hit[0] < self._cache_seconds:
            return hit[1]
        venv, pending = self._walk(os.path.dirname(os.path.realpath(file)), now)
        if pending:
            self._pending.add(file)
        elif self._pending:
            self._pending.discard(file)
        if self._cache_seconds > 0 and not pending:
            if len(self._files) >= _CACHE_LIMIT:
                self._files.clear()
            self._files[file] = (now, venv)
        return venv

    @property
    def pending_wait(self) -> float:
        """How long a message about a pending file may wait for the tool's answer: the
        tool's own timeout and a second (by then it has answered or been given up); 0 when
        no tool is ever asked."""
        return 0.0 if self.asker is None else self.asker.timeout + 1.0

    def pending(self, file: Path) -> bool:
        """Whether the last `find(file)` found no environment because a tool asked about
        its project (`poetry env info -p`) has not answered yet (the `VenvLookup` port's
        `pending`: core.env_wait holds the messages about such a file)."""
        return file in self._pending

    def _walk(self, directory: str, now: float) -> tuple[Venv | None, bool]:
        visited: list[str] = []
        found: Venv | None = None
        while True:
            cached = self._cache.get(directory)
            if cached is not None and now - cached[0] < self._cache_seconds:
                found = cached[1]
                break
            visited.append(directory)
            folder = Folder.read(directory, self.ctx.files)
            found, stop, seen = evaluate(folder, self.ctx)
            if seen and seen[-1].verdict is not None and seen[-1].verdict.pending:
                # Not cached: the answer may come any moment. Folders below are cached
                # neither, since their answer is this one.
                return None, True
            if stop or folder.has(".git"):
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        self._remember(visited, now, found)
        return found, False

    def _remember(self, directories: list[str], now: float, found: Venv | None) -> None:
        if self._cache_seconds <= 0 or not directories:
            return
        if len(self._cache) + len(directories) > _CACHE_LIMIT:
            self._cache = {
                d: entry for d, entry in self._cache.items() if now - entry[0] < self._cache_seconds
            }
            if len(self._cache) + len(directories) > _CACHE_LIMIT:
                self._cache.clear()
        for directory in directories:
            self._cache[directory] = (now, found)

    def invalidate(self) -> None:
        """Forget every cached answer (for example after a venv is known to have changed).
        File contents stay cached by their stat, tools' answers by their own expiry."""
        self._cache.clear()
        self._files.clear()

    def close(self) -> None:
        """Stop any tool still being asked (typemux is ending)."""
        if self.asker is not None:
            self.asker.close()

    def at(self, directory: Path) -> Venv | None:
        """The environment found in `directory` itself, without walking."""
        folder = Folder.read(os.path.realpath(directory), self.ctx.files)
        return evaluate(folder, self.ctx)[0]

    def mapping_miss(self, file: Path) -> str | None:
        """What the `environments` setting names for `file` when that is no environment
        (an explicit mapping is final, so it is why no environment was found), else None."""
        reports = self.explain(Path(os.path.dirname(os.path.realpath(file))))
        return mapping_miss(reports[-1]) if reports else None

    def explain(self, directory: Path) -> list[FolderReport]:
        """What every rule saw in each folder from `directory` up to where the walk stops."""
        reports: list[FolderReport] = []
        current = os.path.realpath(directory)
        while True:
            folder = Folder.read(current, self.ctx.files)
            found, stop, seen = evaluate(folder, self.ctx)
            reports.append(FolderReport(current, tuple(seen), found))
            parent = os.path.dirname(current)
            if stop or folder.has(".git") or parent == current:
                return reports
            current = parent


def mapping_miss(report: FolderReport) -> str | None:
    """The config rule's verdict when it stopped the walk at `report`'s folder unfound."""
    if report.found is not None:
        return None
    for seen in report.seen:
        if seen.rule.name == "config" and seen.verdict is not None and seen.verdict.final:
            return seen.verdict.saw
    return None
