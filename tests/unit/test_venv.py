from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from typemux.venv import Venv, VenvIdentity, VenvResolver, git_toplevel, venv_identity


def make_venv(project: Path) -> Path:
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return venv


def git_init(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)
    return path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def real_tmp(tmp_path: Path) -> Path:
    # tmp_path may itself sit below a symlink (macOS /var); results are real paths
    return Path(os.path.realpath(tmp_path))


def test_finds_venv_of_project_and_project_is_its_parent(real_tmp: Path) -> None:
    venv = make_venv(real_tmp / "proj")
    found = VenvResolver().find(real_tmp / "proj" / "pkg" / "mod.py")
    assert found == Venv(venv)
    assert found is not None and found.project == real_tmp / "proj"


def test_nearest_venv_wins_in_nested_projects(real_tmp: Path) -> None:
    outer = make_venv(real_tmp / "mono")
    inner = make_venv(real_tmp / "mono" / "libs" / "inner")
    resolver = VenvResolver()
    assert resolver.find(real_tmp / "mono" / "libs" / "inner" / "src" / "a.py") == Venv(inner)
    assert resolver.find(real_tmp / "mono" / "libs" / "other" / "b.py") == Venv(outer)
    assert resolver.find(real_tmp / "mono" / "top.py") == Venv(outer)


def test_file_need_not_exist(real_tmp: Path) -> None:
    venv = make_venv(real_tmp / "p")
    assert VenvResolver().find(real_tmp / "p" / "no" / "such" / "file.py") == Venv(venv)


def test_no_venv_is_none(real_tmp: Path) -> None:
    (real_tmp / "bare").mkdir()
    git_init(real_tmp / "bare")
    assert VenvResolver().find(real_tmp / "bare" / "x.py") is None


def test_venv_dir_without_pyvenv_cfg_does_not_count(real_tmp: Path) -> None:
    outer = make_venv(real_tmp / "p")
    (real_tmp / "p" / "sub" / ".venv" / "bin").mkdir(parents=True)
    assert VenvResolver().find(real_tmp / "p" / "sub" / "x.py") == Venv(outer)


def test_git_directory_is_a_boundary(real_tmp: Path) -> None:
    make_venv(real_tmp)  # a venv above the repository must not capture its files
    repo = git_init(real_tmp / "repo")
    resolver = VenvResolver()
    assert resolver.find(repo / "src" / "a.py") is None
    # the boundary directory itself is still checked
    venv = make_venv(repo)
    assert VenvResolver().find(repo / "src" / "a.py") == Venv(venv)


def test_git_file_worktree_is_a_boundary(real_tmp: Path) -> None:
    main = git_init(real_tmp / "main")
    main_venv = make_venv(main)
    subprocess.run(
        [
            "git",
            "-C",
            str(main),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        check=True,
        capture_output=True,
    )
    wt = main / ".worktrees" / "feature"
    subprocess.run(
        ["git", "-C", str(main), "worktree", "add", "-q", str(wt)], check=True, capture_output=True
    )
    assert (wt / ".git").is_file()
    resolver = VenvResolver()
    # the worktree has no venv of its own: the main checkout's venv must not be used
    assert resolver.find(wt / "pkg" / "m.py") is None
    wt_venv = make_venv(wt)
    assert VenvResolver().find(wt / "pkg" / "m.py") == Venv(wt_venv)
    assert VenvResolver().find(main / "m.py") == Venv(main_venv)


def test_plain_git_file_boundary(real_tmp: Path) -> None:
    make_venv(real_tmp)
    inner = real_tmp / "wt"
    inner.mkdir()
    (inner / ".git").write_text("gitdir: /elsewhere/.git/worktrees/wt\n")
    assert VenvResolver().find(inner / "a.py") is None


def test_without_git_walk_goes_up_to_the_root(real_tmp: Path) -> None:
    venv = make_venv(real_tmp / "top")
    deep = real_tmp / "top" / "a" / "b" / "c" / "d"
    assert VenvResolver().find(deep / "x.py") == Venv(venv)


def test_symlinked_workspace_resolves_to_real_paths(real_tmp: Path) -> None:
    repo = git_init(real_tmp / "real" / "repo")
    venv = make_venv(repo)
    (repo / "pkg").mkdir()
    link = real_tmp / "link"
    link.symlink_to(real_tmp / "real")
    found = VenvResolver().find(link / "repo" / "pkg" / "m.py")
    assert found == Venv(venv)
    assert found is not None and found.project == repo


def test_symlinked_file_resolves_to_its_target(real_tmp: Path) -> None:
    venv_a = make_venv(real_tmp / "a")
    make_venv(real_tmp / "b")
    (real_tmp / "a" / "m.py").write_text("")
    (real_tmp / "b" / "alias.py").symlink_to(real_tmp / "a" / "m.py")
    assert VenvResolver().find(real_tmp / "b" / "alias.py") == Venv(venv_a)


def test_venv_created_later_is_found_after_cache_expires(real_tmp: Path) -> None:
    clock = Clock()
    resolver = VenvResolver(cache_seconds=1.0, clock=clock)
    proj = real_tmp / "p"
    (proj / "src").mkdir(parents=True)
    assert resolver.find(proj / "src" / "a.py") is None
    make_venv(proj)
    clock.now += 0.5
    assert resolver.find(proj / "src" / "a.py") is None  # negative answer still cached
    clock.now += 0.6
    assert resolver.find(proj / "src" / "a.py") == Venv(proj / ".venv")


def test_closer_venv_created_later_wins_after_cache_expires(real_tmp: Path) -> None:
    clock = Clock()
    resolver = VenvResolver(cache_seconds=1.0, clock=clock)
    outer = make_venv(real_tmp / "mono")
    pkg = real_tmp / "mono" / "pkg"
    (pkg / "src").mkdir(parents=True)
    assert resolver.find(pkg / "src" / "a.py") == Venv(outer)
    inner = make_venv(pkg)
    clock.now += 1.5
    assert resolver.find(pkg / "src" / "a.py") == Venv(inner)


def test_cache_answers_without_touching_the_disk(real_tmp: Path) -> None:
    clock = Clock()
    resolver = VenvResolver(cache_seconds=5.0, clock=clock)
    venv = make_venv(real_tmp / "p")
    assert resolver.find(real_tmp / "p" / "a.py") == Venv(venv)
    (venv / "pyvenv.cfg").unlink()
    assert resolver.find(real_tmp / "p" / "b.py") == Venv(venv)
    clock.now += 5.0
    assert resolver.find(real_tmp / "p" / "b.py") is None


def test_zero_cache_seconds_always_looks(real_tmp: Path) -> None:
    resolver = VenvResolver(cache_seconds=0)
    (real_tmp / "p").mkdir()
    assert resolver.find(real_tmp / "p" / "a.py") is None
    venv = make_venv(real_tmp / "p")
    assert resolver.find(real_tmp / "p" / "a.py") == Venv(venv)


def test_identity_is_none_without_pyvenv_cfg(real_tmp: Path) -> None:
    assert venv_identity(real_tmp / ".venv") is None


def test_identity_changes_when_pyvenv_cfg_is_rewritten(real_tmp: Path) -> None:
    venv = make_venv(real_tmp)
    cfg = venv / "pyvenv.cfg"
    os.utime(cfg, ns=(1_000_000_000, 1_000_000_000))
    first = venv_identity(venv)
    assert isinstance(first, VenvIdentity)
    assert venv_identity(venv) == first
    cfg.write_text("home = /usr/local/bin\nversion = 3.12.1\n")
    assert venv_identity(venv) != first


def test_identity_changes_when_venv_is_recreated(real_tmp: Path) -> None:
    venv = make_venv(real_tmp)
    os.utime(venv / "pyvenv.cfg", ns=(1_000_000_000, 1_000_000_000))
    first = venv_identity(venv)
    # what `uv sync` does: delete the whole venv and create it again with the same content
    for p in sorted(venv.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    venv.rmdir()
    make_venv(real_tmp)
    second = venv_identity(venv)
    assert second is not None and second != first


def test_git_toplevel_of_subdirectory(real_tmp: Path) -> None:
    repo = git_init(real_tmp / "r")
    (repo / "a" / "b").mkdir(parents=True)
    assert git_toplevel(repo / "a" / "b") == repo
    assert git_toplevel(real_tmp / "missing-dir") is None


def test_git_toplevel_ignores_git_dir_from_environment(
    real_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_init(real_tmp / "r")
    other = git_init(real_tmp / "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    assert git_toplevel(repo) == repo


def test_git_toplevel_walks_up_when_git_is_missing(
    real_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = real_tmp / "r"
    (repo / ".git").mkdir(parents=True)
    (repo / "sub").mkdir()
    monkeypatch.setenv("PATH", str(real_tmp / "empty-bin"))
    assert git_toplevel(repo / "sub") == repo


def test_fallback_prefers_git_toplevel_venv(real_tmp: Path) -> None:
    repo = git_init(real_tmp / "r")
    top_venv = make_venv(repo)
    sub = repo / "services" / "api"
    make_venv(sub)
    assert VenvResolver().fallback(sub) == Venv(top_venv)


def test_fallback_uses_cwd_venv_when_toplevel_has_none(real_tmp: Path) -> None:
    repo = git_init(real_tmp / "r")
    sub = repo / "services" / "api"
    cwd_venv = make_venv(sub)
    assert VenvResolver().fallback(sub) == Venv(cwd_venv)


def test_fallback_skips_directories_between_cwd_and_toplevel(real_tmp: Path) -> None:
    repo = git_init(real_tmp / "r")
    make_venv(repo / "services")
    cwd = repo / "services" / "api"
    cwd.mkdir()
    assert VenvResolver().fallback(cwd) is None


def test_fallback_outside_git_uses_cwd(real_tmp: Path) -> None:
    venv = make_venv(real_tmp / "plain")
    assert VenvResolver().fallback(real_tmp / "plain") == Venv(venv)
    (real_tmp / "none").mkdir()
    assert VenvResolver().fallback(real_tmp / "none") is None


def test_venv_equality_is_the_environment_whatever_rule_or_project_found_it(real_tmp: Path) -> None:
    env = real_tmp / "cache" / "app-py3.11"
    by_poetry = Venv(env, real_tmp / "app", "poetry")
    assert by_poetry == Venv(env)
    assert by_poetry.project == real_tmp / "app"  # not the environment's parent
    assert Venv(env).project == env.parent and Venv(env).rule == ".venv"
