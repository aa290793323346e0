"""A missing real backend fails the run: setup installs all four, so a skip would hide it."""

from __future__ import annotations

import pytest

from real import conftest
from real.conftest import ALLOW_MISSING, KINDS, require_backend


@pytest.fixture
def missing(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(conftest.COMMANDS, "ty", "typemux-no-such-backend")
    monkeypatch.delenv(ALLOW_MISSING, raising=False)
    monkeypatch.delenv("CI", raising=False)
    return "ty"


def test_a_missing_backend_fails(missing: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        require_backend(missing)


def test_a_developer_may_opt_into_skipping(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_MISSING, "1")
    with pytest.raises(pytest.skip.Exception):
        require_backend(missing)


def test_ci_ignores_the_opt_in(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_MISSING, "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_backend(missing)


@pytest.mark.parametrize("kind", KINDS)
def test_every_real_backend_is_installed(kind: str) -> None:
    require_backend(kind)
