"""What typemux must know about one kind of backend language server.

One small module per kind (pyright.py, basedpyright.py, ty.py, pyrefly.py, generic.py)
builds a `BackendKind`. The router is kind-agnostic: it asks the kind for its command, its
environment, a fresh readiness detector per backend instance, and for the answers to the
backend's `workspace/configuration` questions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class ReadinessDetector:
    """Watches one backend instance's messages to the client while it is Warming.

    `observe` is called with every message the backend sends (notifications and requests,
    after typemux has decoded them, before any rewriting). It returns a short reason string
    (logged, e.g. "log: Found 12 source files") the first time the backend is known to be
    ready, else None. The generic `$/progress` rule lives in the lifecycle (`Lifecycle.observe`),
    not here.
    """

    def observe(self, msg: Mapping[str, Any]) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """What the project's own config files say about the checker, as data.

    The runtime reads the files (`typemux.runtime.project_config.read`, in the backend's
    project folder, not beside its venv: an environment in a tool's cache has no project
    next to it) and hands the result to the core; configuration answers are computed from
    it and never read a file themselves.
    """

    # The project configures this checker itself (ty: ty.toml or [tool.ty]; pyrefly:
    # pyrefly.toml or [tool.pyrefly], up to the repository root).
    own: bool = False
    # pyrefly: no config of its own, but a mypy/pyright one it migrates into its own preset.
    migrated: bool = False
    # pyright and basedpyright: the typeCheckingMode of the project's pyrightconfig.json
    # (for `typemux doctor` only; the backend reads that file itself).
    type_checking_mode: str | None = None


NO_PROJECT_CONFIG = ProjectConfig()


class ConfigurationAnswer(Protocol):
    """(items, venv, client's answer or None, project config) -> one answer per item.

    Pure: `project_config` is what the runtime read of the project's files (for a kind with
    `reads_project_config`); the function reads nothing.
    """

    def __call__(self, items: list[Any], venv: Path, client_result: list[Any] | None,
                 project_config: ProjectConfig = NO_PROJECT_CONFIG, /) -> list[Any]: ...


def null_configuration(items: list[Any], venv: Path, client_result: list[Any] | None,
                       project_config: ProjectConfig = NO_PROJECT_CONFIG, /) -> list[Any]:
    if client_result is not None and len(client_result) == len(items):
        return client_result
    return [None] * len(items)


@dataclass(frozen=True)
class BackendKind:
    name: str
    # argv; argv[0] is resolved from typemux's own PATH, then beside typemux, never the venv's.
    command: tuple[str, ...]
    # argv for `typemux doctor` to print a version; None when the server has no such flag.
    version_command: tuple[str, ...] | None
    # The `capabilities` typemux answers `initialize` with (recorded from the real server).
    capabilities: Mapping[str, Any]
    # Whether requests block inside the server until their answer is complete (ty): such a
    # backend is ready once its handshake is done, with no warm-up gate.
    ready_at_once: bool = False
    readiness: Callable[[], ReadinessDetector] = ReadinessDetector
    # (items, venv, client's answer or None, project config) -> one answer per item,
    # keeping the backend on `venv` where the client left the interpreter unset.
    configuration: ConfigurationAnswer = null_configuration
    # Whether `configuration` depends on the project's own config files: the core then has
    # the runtime read them (`ReadProjectConfig`) before each answer.
    reads_project_config: bool = False
    # Config files (by name, in the backend's project folder) whose change the kind does
    # not ask about again (ty asks for its configuration once): when such a file changes
    # and the answer it gives would differ, typemux restarts the backend, which asks anew.
    config_asked_once: frozenset[str] = frozenset()
    # Whether the end of the first work-done progress a Warming backend starts means it is
    # ready (the generic rule). False for kinds whose start-up progress says nothing about
    # their index (pyrefly's instant "Rechecking 0/0").
    progress_readiness: bool = True
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def environment(self, venv: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The backend's environment: VIRTUAL_ENV and PATH point at `venv`, as all four honour."""
        env = dict(os.environ if base is None else base)
        env.pop("PYTHONHOME", None)
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
        env.update(self.extra_env)
        return env
