"""typemux's own file watcher: what it watches, and that it runs on a real directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typemux.runtime.watcher import ProjectWatcher, is_watched, outermost, texts_of_open


def test_only_what_a_type_checker_cares_about_is_watched() -> None:
    assert is_watched("/p/pkg/mod.py")
    assert is_watched("/p/pkg/mod.pyi")
    assert is_watched("/p/pyproject.toml")
    assert is_watched("/p/.venv/pyvenv.cfg")
    assert is_watched("/p/.venv/lib/python3.11/site-packages/x/__init__.py")
    assert not is_watched("/p/README.md")
    assert not is_watched("/p/pkg/__pycache__/mod.cpython-311.pyc")
    assert not is_watched("/p/.git/hooks/pre-commit.py")
    assert not is_watched("/p/node_modules/x/y.py")


def test_nested_and_missing_roots_are_dropped(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    roots = [tmp_path / "a" / "b", tmp_path / "a", tmp_path / "c", tmp_path / "missing"]
    assert outermost(roots) == [tmp_path / "a", tmp_path / "c"]


def test_texts_of_open_documents_are_read_and_deletions_reported(tmp_path: Path) -> None:
    kept, gone, other = tmp_path / "kept.py", tmp_path / "gone.py", tmp_path / "other.py"
    kept.write_bytes(b"x = 1\r\n")
    other.write_text("y = 1\n")
    texts = texts_of_open([(kept, 2), (gone, 3), (other, 2)],
                          {kept: "file:///kept", gone: "file:///gone"})
    assert texts == {"file:///kept": "x = 1\r\n", "file:///gone": None}


async def test_changes_under_a_root_arrive_batched_and_a_missing_root_is_no_error(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    main = project / "main.py"
    main.write_text("x = 1\n")
    batches: list[tuple[list[tuple[Path, int]], dict[str, str | None]]] = []
    arrived = asyncio.Event()

    def on_changes(changes: list[tuple[Path, int]], texts: dict[str, str | None]) -> None:
        batches.append((changes, texts))
        arrived.set()

    watcher = ProjectWatcher(on_changes, lambda: {main: "file:///main"})
    watcher.start()
    watcher.set_roots([project, tmp_path / "never-existed"])
    assert watcher.roots == [project]
    try:
        for _ in range(100):  # until the watch is up: a probe write comes through
            main.write_text("x = 2\n")
            (project / "notes.txt").write_text("ignored")
            try:
                await asyncio.wait_for(arrived.wait(), 0.2)
                break
            except TimeoutError:
                continue
        assert batches
        changes, texts = batches[-1]
        assert [p.name for p, _ in changes] == ["main.py"]
        assert texts == {"file:///main": "x = 2\n"}
    finally:
        await watcher.aclose()


def test_a_file_deleted_and_recreated_in_one_batch_is_changed(tmp_path: Path) -> None:
    from typemux.runtime.watcher import settle

    back, gone = tmp_path / "back.py", tmp_path / "gone.py"
    back.write_text("x = 1\n")
    changes, texts = settle({str(back): {3, 1}, str(gone): {1, 3}}, {back: "file:///back"})
    assert changes == [(back, 2), (gone, 3)]
    assert texts == {"file:///back": "x = 1\n"}


def test_the_home_directory_and_root_are_never_watched(tmp_path: Path) -> None:
    assert outermost([Path.home(), Path("/"), tmp_path]) == [tmp_path]
