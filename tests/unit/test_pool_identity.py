"""runtime/identity.py: the runtime looks at pooled venvs for the core, at most once a second."""

from __future__ import annotations

from pathlib import Path

from typemux.backends.base import ReadinessDetector
from typemux.core.pool import BackendPool
from typemux.core.session import BackendSession, State
from typemux.runtime.identity import IdentityChecks
from typemux.venv import VenvIdentity, venv_identity


def venv(root: Path, name: str) -> Path:
    path = root / name / ".venv"
    path.mkdir(parents=True)
    (path / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return path


def test_each_pooled_venv_is_looked_at_once_a_second_and_a_new_one_at_once(tmp_path: Path) -> None:
    a, b = venv(tmp_path, "a"), venv(tmp_path, "b")
    identity_a = venv_identity(a)
    assert identity_a is not None
    pool = BackendPool(8, 0)
    pool.add(BackendSession(1, a, None, ReadinessDetector(), 0.0))
    seen: list[tuple[Path, VenvIdentity | None, float]] = []
    checks = IdentityChecks()
    assert checks.run(pool, lambda v, i, t: seen.append((v, i, t)), 10.0) == 1
    assert checks.run(pool, lambda v, i, t: seen.append((v, i, t)), 10.5) == 0
    pool.add(BackendSession(2, b, None, ReadinessDetector(), 10.6))
    assert checks.run(pool, lambda v, i, t: seen.append((v, i, t)), 10.6) == 1  # b, at once
    (a / "pyvenv.cfg").unlink()
    assert checks.run(pool, lambda v, i, t: seen.append((v, i, t)), 11.0) == 0  # gone: again soon
    assert checks.run(pool, lambda v, i, t: seen.append((v, i, t)), 11.4) == 0
    assert checks.run(pool, lambda v, i, t: seen.append((v, i, t)), 11.5) == 1  # still gone
    assert seen == [(a, identity_a, 10.0), (b, venv_identity(b), 10.6), (a, None, 11.5)]


def test_a_venv_missing_for_a_moment_while_it_is_rebuilt_is_reported_rebuilt_not_removed(
    tmp_path: Path,
) -> None:
    """`rm -rf .venv && uv venv`: a check between the two must not report it removed (its
    backend's requests would fail for want of a venv, black-box pass 6, G3)."""
    a = venv(tmp_path, "a")
    pool = BackendPool(8, 0)
    pool.add(BackendSession(1, a, None, ReadinessDetector(), 0.0))
    seen: list[VenvIdentity | None] = []
    checks = IdentityChecks()
    checks.run(pool, lambda v, i, t: seen.append(i), 10.0)
    (a / "pyvenv.cfg").unlink()
    checks.run(pool, lambda v, i, t: seen.append(i), 11.0)
    (a / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.12\n")
    checks.run(pool, lambda v, i, t: seen.append(i), 11.5)
    assert len(seen) == 2 and seen[1] is not None and seen[1] != seen[0]


def test_a_removed_venv_reported_by_the_runtime_stops_its_backend(tmp_path: Path) -> None:
    a = venv(tmp_path, "a")
    backend = BackendSession(1, a, None, ReadinessDetector(), 0.0)
    backend.state = State.READY
    pool = BackendPool(8, 0)
    pool.add(backend)
    checks = IdentityChecks()
    checks.run(pool, lambda v, i, t: backend.identity_reported(i), 1.0)
    assert pool.decide(1.0).stop == []
    (a / "pyvenv.cfg").unlink()
    checks.run(pool, lambda v, i, t: backend.identity_reported(i), 2.0)
    assert pool.decide(2.0).stop == []  # looked at again MISSING_GRACE later
    checks.run(pool, lambda v, i, t: backend.identity_reported(i), 2.5)
    assert pool.decide(2.5).stop == [(backend, "its venv was removed")]
