"""Start-up latency: spawn -> `initialize` answer, through typemux and direct to a backend.

    .venv/bin/python bench/startup.py [--runs 20] [--backend pyright] [--only NAME ...]
                                      [--src OTHER_CHECKOUT/src]

Each run spawns a fresh process, writes `initialize` at once (as an editor does), and
stops the clock when the answer's last byte has been read. Then the server is shut down
and the next run starts only after it has exited, so runs do not compete for the CPU.
Scenarios:
- `python -c pass`: the interpreter's own floor on this machine;
- typemux in an empty folder (no git, no venv, no config);
- typemux in a git project whose `.venv` it prewarms (the startup fallback venv);
  each with its bytecode cached (as after an install; in a private PYTHONPYCACHEPREFIX)
  and with no bytecode cache (PYTHONDONTWRITEBYTECODE=1: every start compiles typemux);
- ty and pyrefly spoken to directly, for comparison.
Then, in this process (typemux's serve-path modules imported, for a similar size): how long
the event loop is blocked spawning a backend (`/bin/true`) in its own session, with the
`preexec_fn` typemux uses for PR_SET_PDEATHSIG (fork) and without one (vfork/posix_spawn).
Prints p50/p90/min per scenario, in milliseconds. `--src` runs typemux from another
checkout's sources (same interpreter and backends), e.g. for a before/after comparison:
`git archive main | tar -x -C /tmp/typemux-main` then `--src /tmp/typemux-main/src`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent


def _frame(msg: dict[str, object]) -> bytes:
    body = json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _initialize(root: Path) -> bytes:
    return _frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": os.getpid(), "rootUri": root.as_uri(), "rootPath": str(root),
        "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
        "capabilities": {"general": {"positionEncodings": ["utf-16"]}}}})


def _read_answer(fd: int, want_id: int, deadline: float) -> dict[str, object]:
    """Read frames from `fd` until the response with `want_id` is complete."""
    buf = b""
    while time.monotonic() < deadline:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            if len(rest) >= length:
                msg = json.loads(rest[:length])
                buf = rest[length:]
                if msg.get("id") == want_id and "method" not in msg:
                    return dict(msg)
                continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeError("the server closed stdout before answering initialize")
        buf += chunk
    raise TimeoutError("no initialize answer")


def one_run(argv: list[str], *, cwd: Path, env: dict[str, str], lsp: bool = True) -> float:
    """Seconds from spawn to the complete `initialize` answer (to exit for non-LSP argv)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    if not lsp:
        proc.wait(30)
        return time.perf_counter() - start
    try:
        proc.stdin.write(_initialize(cwd))
        proc.stdin.flush()
        _read_answer(proc.stdout.fileno(), 1, time.monotonic() + 30)
        elapsed = time.perf_counter() - start
        proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        proc.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        proc.stdin.flush()
        _read_answer(proc.stdout.fileno(), 2, time.monotonic() + 30)
        proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
        proc.stdin.close()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return elapsed


def typemux_env(backend: str, pycache: Path | None, src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TYPEMUX_")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # every start compiles typemux's sources
    else:
        # Bytecode cached as after an install, kept out of the checkout.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["XDG_CONFIG_HOME"] = "/nonexistent-typemux-bench-config"
    env["TYPEMUX_BACKEND"] = backend
    env["TYPEMUX_LOG_LEVEL"] = "warning"
    # The backends' own commands are found on typemux's PATH.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    return env


def make_project(base: Path) -> Path:
    project = base / "project"
    venv = project / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {BIN}\nversion = 3.11\n")
    (project / "main.py").write_text("def main() -> int:\n    return 1\n")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


def scenarios(base: Path, backend: str, src: Path | None) -> dict[str, Callable[[], float]]:
    empty = base / "empty"
    empty.mkdir()
    project = make_project(base)
    typemux = [str(BIN / "typemux")]
    plain = {k: v for k, v in os.environ.items() if not k.startswith("TYPEMUX_")}
    out: dict[str, Callable[[], float]] = {
        "python -c pass": lambda: one_run([sys.executable, "-c", "pass"], cwd=empty,
                                          env=plain, lsp=False),
    }
    for label, pycache in (("cached bytecode", base / "pycache"), ("no bytecode cache", None)):
        env = typemux_env(backend, pycache, src)
        out[f"typemux, empty folder, {label}"] = \
            lambda env=env: one_run(typemux, cwd=empty, env=env)  # type: ignore[misc]
        out[f"typemux, project prewarming .venv, {label}"] = \
            lambda env=env: one_run(typemux, cwd=project, env=env)  # type: ignore[misc]
    ty = shutil.which("ty", path=str(BIN)) or shutil.which("ty")
    if ty:
        out["ty server (direct)"] = lambda: one_run([ty, "server"], cwd=project, env=plain)
    pyrefly = shutil.which("pyrefly", path=str(BIN)) or shutil.which("pyrefly")
    if pyrefly:
        out["pyrefly lsp (direct)"] = lambda: one_run([pyrefly, "lsp"], cwd=project, env=plain)
    return out


def spawn_cost(runs: int) -> None:
    import asyncio

    import typemux.runtime.proxy  # noqa: F401 - a process of typemux's size forks slower
    from typemux.runtime.descendants import die_with_parent

    class Exited(asyncio.SubprocessProtocol):
        def __init__(self) -> None:
            self.done = asyncio.get_running_loop().create_future()

        def process_exited(self) -> None:
            self.done.set_result(None)

    async def once(preexec: bool) -> float:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        transport, protocol = await loop.subprocess_exec(
            Exited, "/bin/true", stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=die_with_parent if preexec else None)
        elapsed = time.perf_counter() - start
        await protocol.done
        transport.close()
        return elapsed

    async def main() -> None:
        for preexec in (True, False):
            await once(preexec)
            times = [await once(preexec) * 1000 for _ in range(runs)]
            label = "spawn with preexec_fn (fork)" if preexec else "spawn without preexec_fn"
            print(f"{label:56} {statistics.median(times):7.1f} {_pct(times, 0.9):7.1f} "
                  f"{min(times):7.1f}", flush=True)

    asyncio.run(main())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backend", default="pyright")
    parser.add_argument("--only", nargs="*", help="run the scenarios whose name contains one of these")
    parser.add_argument("--src", type=Path, help="run typemux from this src directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="typemux-startup-") as tmp:
        table = scenarios(Path(tmp), args.backend, args.src.resolve() if args.src else None)
        if args.only:
            table = {k: v for k, v in table.items() if any(o in k for o in args.only)}
        print(f"spawn -> initialize answer, {args.runs} runs each, "
              f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"typemux from {args.src or 'this checkout'}; backend for the prewarm: "
              f"{args.backend}; ms from spawn to the answer's last byte")
        print(f"{'scenario':56} {'p50':>7} {'p90':>7} {'min':>7}")
        for name, run in table.items():
            run()  # warm the page cache; not counted
            times = [run() * 1000 for _ in range(args.runs)]
            print(f"{name:56} {statistics.median(times):7.1f} {_pct(times, 0.9):7.1f} "
                  f"{min(times):7.1f}", flush=True)
    if not args.only or any("spawn" in o for o in args.only):
        spawn_cost(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
