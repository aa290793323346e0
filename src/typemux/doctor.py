"""`typemux doctor`: check the setup and say where every setting came from.

Each check is one line: ok, warn (works, but worth knowing) or FAIL (typemux cannot work
like this), with the reason on that line. Exit 0 when nothing failed, else 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from typemux import __version__, jsonrpc
from typemux.backends import get_kind
from typemux.backends.base import BackendKind
from typemux.backends.locate import CommandNotFound, install_hint, locate_command, resolve_command
from typemux.backends.settings import type_errors_hidden
from typemux.config import FIELDS, LoadedSettings
from typemux.envs.resolver import mapping_miss
from typemux.runtime import project_config
from typemux.venv import VenvResolver, git_toplevel
from typemux.wire.endpoint import EOF, NEED_DATA, Endpoint, Incoming, Malformed
from typemux.wire.framing import DEFAULT_MAX_SIZE

Status = Literal["ok", "warn", "fail", "info"]
VERSION_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 5.0


@dataclass
class Check:
    name: str
    status: Status
    text: str


class SmokeError(Exception):
    pass


def _setting_json(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_setting_json(v) for v in value]
    return value


def _version(argv: list[str]) -> str:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=VERSION_TIMEOUT, check=False)
    out = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    if proc.returncode != 0:
        raise SmokeError(f"'{' '.join(argv)}' exited with {proc.returncode}: "
                         f"{out[-1] if out else 'no output'}")
    return out[0] if out else "(no output)"


# ----- smoke start ---------------------------------------------------------------------------
class _Peer:
    """Just enough of an LSP client to take a backend through initialize and shutdown."""

    def __init__(self, proc: asyncio.subprocess.Process, kind: BackendKind, venv: Path,
                 project: Path) -> None:
        self.proc = proc
        self.kind = kind
        self.venv = venv
        self.project = project
        self.endpoint = Endpoint(DEFAULT_MAX_SIZE)

    def send(self, msg: jsonrpc.Message) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.writelines(Endpoint.frame(msg))

    async def response(self, request_id: str) -> jsonrpc.Message:
        """The answer to `request_id`, answering the backend's own requests meanwhile
        (a backend waiting for its configuration answer would never finish starting)."""
        assert self.proc.stdout is not None
        while True:
            event = self.endpoint.next_event()
            if event is NEED_DATA:
                data = await self.proc.stdout.read(65536)
                self.endpoint.receive_data(data)
                continue
            if event is EOF:
                raise SmokeError(f"it closed its stdout (exit code {await self.proc.wait()})")
            if isinstance(event, Malformed):
                if event.stage == "frame":
                    raise SmokeError(f"it broke the LSP framing ({event.reason})")
                if event.stage == "json":
                    raise SmokeError(f"it sent a body that is not JSON ({event.reason})")
                continue
            assert isinstance(event, Incoming)
            msg = event.msg
            if "method" not in msg and msg.get("id") == request_id:
                return msg
            if "method" in msg and "id" in msg:
                self.send(jsonrpc.result(msg["id"], self._answer(msg)))

    def _answer(self, msg: jsonrpc.Message) -> Any:
        if msg["method"] == "workspace/configuration":
            items = (msg.get("params") or {}).get("items") or []
            return self.kind.configuration(list(items), self.venv, None,
                                           project_config.read(self.kind.name, self.project))
        return None


async def smoke_start(argv: list[str], kind: BackendKind, venv: Path | None, cwd: Path,
                      timeout: float, project: Path | None = None) -> dict[str, Any]:
    """Start the backend as typemux would, initialize → shutdown → exit, timed."""
    root = project or (venv.parent if venv is not None else cwd)
    env = kind.environment(venv) if venv is not None else {**os.environ, **kind.extra_env}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=env, cwd=str(root), start_new_session=True)
    peer = _Peer(proc, kind, venv if venv is not None else root / ".venv", root)
    try:
        params = {
            "processId": os.getpid(),
            "clientInfo": {"name": "typemux doctor", "version": __version__},
            "rootUri": root.as_uri(), "rootPath": str(root),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": {"general": {"positionEncodings": ["utf-16"]}},
        }
        peer.send(jsonrpc.request("doctor:initialize", "initialize", params))
        try:
            init = await asyncio.wait_for(peer.response("doctor:initialize"), timeout)
        except TimeoutError:
            raise SmokeError(f"no initialize answer within {timeout:g} s "
                             "(handshake_timeout)") from None
        init_seconds = time.monotonic() - started
        if "error" in init:
            raise SmokeError(f"initialize failed: {(init.get('error') or {}).get('message')}")
        result = init.get("result")
        info = result.get("serverInfo") if isinstance(result, dict) else None
        server: dict[str, Any] = info if isinstance(info, dict) else {}
        peer.send(jsonrpc.notification("initialized", {}))
        t = time.monotonic()
        peer.send(jsonrpc.request("doctor:shutdown", "shutdown"))
        try:
            await asyncio.wait_for(peer.response("doctor:shutdown"), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            raise SmokeError(f"no shutdown answer within {SHUTDOWN_TIMEOUT:g} s") from None
        shutdown_seconds = time.monotonic() - t
        peer.send(jsonrpc.notification("exit"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), SHUTDOWN_TIMEOUT)
        return {
            "initialize_seconds": round(init_seconds, 3),
            "shutdown_seconds": round(shutdown_seconds, 3),
            "server": " ".join(str(server.get(k)) for k in ("name", "version") if server.get(k)),
            "exit_code": proc.returncode,
        }
    finally:
        # Its own process group: a node child (pyright) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


_FOUND = {"path": "as given", "PATH": "on PATH", "beside typemux": "beside typemux, in its own environment"}


# ----- environment discovery -----------------------------------------------------------------
ASK_WAIT = 20.0


def environment_report(resolver: VenvResolver, cwd: Path) -> dict[str, Any]:
    """Which environment serves files in `cwd`, by which rule, and what every rule saw in
    each folder of the walk. The doctor may wait for a tool's answer; the server never does."""
    reports = resolver.explain(cwd)
    if resolver.asker is not None and any(
            s.verdict is not None and "pending" in s.verdict.saw for r in reports for s in r.seen):
        resolver.asker.wait(ASK_WAIT)
        reports = resolver.explain(cwd)
    found = reports[-1].found if reports else None
    return {
        "environment": str(found.path) if found else None,
        "project": str(found.project) if found else None,
        "rule": found.rule if found else None,
        "mapping_miss": mapping_miss(reports[-1]) if reports else None,
        "folders": [{
            "path": r.path,
            "rules": [{"rule": s.rule.name, "looks_for": s.rule.looks_for,
                       "saw": s.verdict.saw if s.verdict else None,
                       "found": s.verdict.env if s.verdict else None} for s in r.seen],
        } for r in reports],
    }


def render_environment(env: dict[str, Any]) -> list[str]:
    lines = ["", "environment discovery (from the cwd up; rules in order):"]
    for entry in env["folders"]:
        lines.append(f"  {entry['path']}")
        for rule in entry["rules"]:
            if rule["saw"] is not None:
                mark = "found" if rule["found"] else "  -  "
                lines.append(f"    {mark} {rule['rule'].ljust(10)} {rule['saw']}")
        idle = [r["rule"] for r in entry["rules"] if r["saw"] is None]
        if idle:
            lines.append(f"      -   nothing here for: {', '.join(idle)}")
    if env["environment"]:
        lines.append(f"  => {env['environment']} (rule {env['rule']}, project {env['project']})")
    else:
        lines.append("  => no environment for files here")
    return lines


# ----- report --------------------------------------------------------------------------------
def collect(loaded: LoadedSettings, cwd: Path) -> dict[str, Any]:
    settings = loaded.settings
    checks: list[Check] = []
    report: dict[str, Any] = {
        "version": __version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "config_file": str(loaded.config_file) if loaded.config_file else None,
        "settings": {name: {"value": _setting_json(getattr(settings, name)),
                            "source": loaded.sources.get(name, "default")} for name in FIELDS},
        "cwd": str(cwd),
    }
    kind = get_kind(settings.backend, settings.command_argv)
    argv = list(settings.command_argv or kind.command)
    backend: dict[str, Any] = {"kind": kind.name, "command": argv, "resolved": None, "found": None,
                               "version": None, "smoke": None}
    report["backend"] = backend
    try:
        located = locate_command(argv)
        resolved: list[str] | None = located.argv
        backend["resolved"], backend["found"] = located.argv, located.where
        checks.append(Check("backend command", "ok",
                            f"{' '.join(located.argv)} (found {_FOUND[located.where]})"))
    except CommandNotFound as exc:
        resolved = None
        hint = ("check backend_command" if settings.backend_command is not None else
                f"install it beside typemux: {install_hint(kind.name)}; or set backend_command")
        checks.append(Check("backend command", "fail", f"{exc}; {hint}"))

    if settings.backend_command is None and kind.version_command is not None:
        try:
            version_argv = resolve_command(list(kind.version_command))
            backend["version"] = _version(version_argv)
            checks.append(Check("backend version", "ok", backend["version"]))
        except (CommandNotFound, SmokeError, OSError, subprocess.TimeoutExpired) as exc:
            checks.append(Check("backend version", "warn", f"unknown: {exc}"))

    top = git_toplevel(cwd)
    report["git_toplevel"] = str(top) if top else None
    checks.append(Check("git toplevel", "info", str(top) if top else "none (not in a git work tree)"))
    resolver = VenvResolver(environments=settings.environments)
    report["environment"] = environment_report(resolver, cwd)
    env = report["environment"]
    checks.append(Check("environment", "ok" if env["environment"] else "warn",
                        f"{env['environment']} (rule {env['rule']}, project {env['project']})"
                        if env["environment"] else
                        f"none for files here: the {env['mapping_miss']} (an explicit mapping "
                        "is final: no other rule is tried)" if env["mapping_miss"] else
                        "none for files here: no rule found an environment (see the "
                        "environment discovery section)"))
    checks.extend(prewarm_checks(settings.prewarm, resolver))
    fallback = resolver.fallback(cwd)
    report["fallback_venv"] = str(fallback.path) if fallback else None
    checks.append(Check("fallback venv", "ok" if fallback else "warn",
                        str(fallback.path) if fallback else
                        "none: no environment at the git toplevel or in the cwd; documents "
                        "outside a project with an environment get an error until one exists"))

    if fallback is not None:
        hidden = type_errors_hidden(kind.name, fallback.path,
                                    settings.backend_settings.get(kind.name, {}),
                                    project_config.read(kind.name, fallback.project),
                                    fallback.project)
        checks.append(Check("type errors", "warn" if hidden else "ok",
                            f"{hidden}; see docs/backends.md" if hidden else
                            f"{kind.name} reports type errors for {fallback.project}"))

    if resolved is not None:
        venv = fallback.path if fallback else None
        where = str(venv) if venv else f"{cwd} (no venv)"
        try:
            smoke = asyncio.run(smoke_start(resolved, kind, venv, cwd, settings.handshake_timeout,
                                            fallback.project if fallback else None))
            backend["smoke"] = {"ok": True, "where": where, **smoke}
            server = f" by {smoke['server']}" if smoke["server"] else ""
            checks.append(Check("smoke start", "ok",
                                f"initialize answered{server} in {smoke['initialize_seconds']:.2f} s, "
                                f"shutdown in {smoke['shutdown_seconds']:.2f} s ({where})"))
        except (SmokeError, OSError) as exc:
            backend["smoke"] = {"ok": False, "where": where, "error": str(exc)}
            checks.append(Check("smoke start", "fail", f"{' '.join(resolved)} in {where}: {exc}"))
    report["checks"] = [asdict(c) for c in checks]
    report["ok"] = not any(c.status == "fail" for c in checks)
    return report


def prewarm_checks(entries: list[Path], resolver: VenvResolver) -> list[Check]:
    """One line per `prewarm` entry, resolved as the server resolves it."""
    from typemux.runtime.prewarm import prewarm_target

    checks = []
    for entry in entries:
        target = prewarm_target(entry, resolver)
        checks.append(Check("prewarm", "ok", f"{entry}: {target[0]}") if target is not None else
                      Check("prewarm", "warn", f"{entry}: not an environment, nor a project "
                                               "folder with one; the server skips it"))
    return checks


_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "info": "    "}


def render(report: dict[str, Any]) -> str:
    lines = [
        f"typemux {report['version']}",
        f"python  {report['python']['version']} ({report['python']['executable']})",
        f"os      {report['os']}",
        f"cwd     {report['cwd']}",
        f"config  {report['config_file'] or 'none'}",
        "",
        "settings:",
    ]
    width = max(len(n) for n in report["settings"])
    for name, entry in report["settings"].items():
        value = entry["value"]
        shown = "none" if value is None else (json.dumps(value) if isinstance(value, list) else str(value))
        lines.append(f"  {name.ljust(width)} = {shown}  ({entry['source']})")
    lines += ["", f"backend: {report['backend']['kind']}"]
    for check in report["checks"]:
        lines.append(f"  {_MARK[check['status']]} {check['name'].ljust(16)} {check['text']}")
    if "environment" in report:
        lines += render_environment(report["environment"])
    lines += ["", "everything needed works" if report["ok"] else
              "typemux cannot work like this: see the FAIL lines above"]
    return "\n".join(lines)


def run_doctor(loaded: LoadedSettings, as_json: bool, *, cwd: Path | None = None) -> int:
    report = collect(loaded, cwd or Path.cwd())
    print(json.dumps(report, indent=2) if as_json else render(report))  # stdout-ok: the doctor command, not the server
    return 0 if report["ok"] else 1
