"""Environment discovery time per rule, cold and cached (issue: find every project's environment).

    .venv/bin/python bench/discovery.py [--rounds N]

Builds the tests' tool monorepo (one project per rule, real poetry/pdm/hatch/pipenv/uv/
virtualenv under a temporary HOME; conda and pyenv by layout), then for each project times
`VenvResolver.find(<project>/pkg/mod.py)`:

- cold:    a new resolver (no folder cache, no file-content cache), every rule up to the one
           that finds the environment evaluated in each folder;
- re-walk: the folder cache expired (a request more than a second later) but file contents
           cached by stat: the steady state of a busy session;
- cached:  within the folder cache's second: the per-file cache hit of every request.

Also: a project with no environment (every rule, every folder up to the git root), and
`poetry env info -p` asked in the background (time until its answer is usable).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from envs.tool_monorepo import BIN, build_tool_monorepo, tools_available
from typemux.envs.ask import ToolAsker
from typemux.venv import VenvResolver


def _us(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e6:9.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    missing = tools_available()
    if missing:
        sys.exit(f"missing tools: {', '.join(missing)} (pip install -e '.[envtools]')")
    with tempfile.TemporaryDirectory(prefix="typemux-bench-discovery-") as tmp:
        started = time.monotonic()
        repo = build_tool_monorepo(Path(tmp))
        print(f"tool monorepo built in {time.monotonic() - started:.1f} s "
              f"(tools run in parallel): {repo.seconds}")
        bare = repo.root / "bare-app"
        bare.mkdir()
        (bare / "pyproject.toml").write_text('[project]\nname = "bare-app"\nversion = "0"\n')
        cases = [(p.rule, p.name, p.path) for p in repo.projects.values()]
        cases.append(("(none)", "bare-app", bare))

        def resolver(cache_seconds: float = 1.0) -> VenvResolver:
            return VenvResolver(environ=repo.environ, environments=repo.environments,
                                ask_tools=False, cache_seconds=cache_seconds)

        print(f"\nmedian of {rounds} lookups of <project>/pkg/mod.py, microseconds")
        print(f"{'rule':<11} {'project':<12} {'cold':>9} {'re-walk':>9} {'cached':>9}  found")
        for rule, name, path in cases:
            target = path / "pkg" / "mod.py"
            cold = []
            for _ in range(rounds):
                r = resolver()
                t = time.perf_counter()
                found = r.find(target)
                cold.append(time.perf_counter() - t)
            walker = resolver(cache_seconds=0)
            walker.find(target)
            rewalk = []
            for _ in range(rounds):
                t = time.perf_counter()
                walker.find(target)
                rewalk.append(time.perf_counter() - t)
            cached_r = resolver(cache_seconds=3600)
            cached_r.find(target)
            cached = []
            for _ in range(rounds):
                t = time.perf_counter()
                cached_r.find(target)
                cached.append(time.perf_counter() - t)
            assert (found.rule if found else "(none)") == rule, (name, found)
            print(f"{rule:<11} {name:<12} {_us(cold)} {_us(rewalk)} {_us(cached)}  "
                  f"{found.path if found else '-'}")

        poetry_app = repo.projects["poetry-app"].path
        asker = ToolAsker(repo.environ)
        t = time.perf_counter()
        first = asker.ask("poetry", [str(BIN / "poetry"), "env", "info", "-p"], str(poetry_app))
        returned = time.perf_counter() - t
        asker.wait(60)
        answered = time.perf_counter() - t
        t = time.perf_counter()
        again = asker.ask("poetry", [str(BIN / "poetry"), "env", "info", "-p"], str(poetry_app))
        cached_answer = time.perf_counter() - t
        print(f"\npoetry env info -p in the background: ask() returned '{first.state}' in "
              f"{returned * 1e6:.0f} us; answer after {answered:.2f} s; cached answer in "
              f"{cached_answer * 1e6:.1f} us ({again.path})")


if __name__ == "__main__":
    main()
