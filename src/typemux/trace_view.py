"""`typemux trace [FILE|DIR]`: the trace files that `trace_dir` makes, one line per message.

A response carries no method, so each is paired with its request (same stream, same id,
opposite direction) to show and filter by the request's method.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

OPPOSITE = {
    "client->typemux": "typemux->client",
    "typemux->client": "client->typemux",
    "typemux->backend": "backend->typemux",
    "backend->typemux": "typemux->backend",
}
SUMMARY = 110


class TraceError(Exception):
    pass


def trace_files(target: Path, *, every: bool = False) -> list[Path]:
    """FILE as given; for a DIR its newest trace (every trace, oldest first, with `every`)."""
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise TraceError(f"{target} is neither a trace file nor a directory")
    files = sorted(target.glob("typemux-*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
    if not files:
        raise TraceError(f"no trace files (typemux-*.jsonl) in {target}")
    return files if every else files[-1:]


def records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the last line of a trace still being written
        if isinstance(record, dict) and isinstance(record.get("message"), dict):
            yield record


def with_methods(items: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Each record with its method: its own, or for a response its request's."""
    requests: dict[tuple[Any, str, str], str] = {}
    for record in items:
        msg = record["message"]
        direction = str(record.get("direction"))
        key_id = json.dumps(msg.get("id"))
        method = msg.get("method")
        if isinstance(method, str):
            if "id" in msg:
                requests[(record.get("session"), direction, key_id)] = method
            yield record, method
        else:
            request_direction = OPPOSITE.get(direction, "")
            yield record, requests.pop((record.get("session"), request_direction, key_id), None)


def _summary(msg: dict[str, Any]) -> str:
    if "error" in msg:
        error = msg["error"] if isinstance(msg["error"], dict) else {}
        return f"error {error.get('code')}: {error.get('message')}"
    if "method" in msg:
        params = msg.get("params")
        doc = params.get("textDocument") if isinstance(params, dict) else None
        if isinstance(doc, dict) and isinstance(doc.get("uri"), str):
            where = str(doc["uri"])
            pos = params.get("position") if isinstance(params, dict) else None
            if isinstance(pos, dict):
                where += f":{pos.get('line', 0) + 1}:{pos.get('character', 0) + 1}"
            return where
        if isinstance(params, dict) and isinstance(params.get("uri"), str):
            count = len(params.get("diagnostics") or [])
            suffix = f" ({count} diagnostics)" if "diagnostics" in params else ""
            return str(params["uri"]) + suffix
        text = json.dumps(params, separators=(",", ":"))
    else:
        text = json.dumps(msg.get("result"), separators=(",", ":"))
    return text if len(text) <= SUMMARY else text[: SUMMARY - 1] + "…"


def render_line(record: dict[str, Any], method: str | None) -> str:
    msg = record["message"]
    stamp = record.get("time")
    when = (time.strftime("%H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"
            if isinstance(stamp, int | float) else "?")
    session = record.get("session")
    stream = "client" if session is None else f"s{session}"
    if "typemux_malformed" in msg:  # client input typemux could not parse (runtime/trace.py)
        return (f"{when}  {record.get('direction', '?'):16}  {stream:>6}  malformed "
                f"{msg['typemux_malformed']}")
    if "method" in msg:
        kind = "request" if "id" in msg else "notify"
    else:
        kind = "error" if "error" in msg else "result"
    ident = f" #{msg['id']}" if "id" in msg else ""
    return (f"{when}  {record.get('direction', '?'):16}  {stream:>6}  {kind:7} "
            f"{method or '?'}{ident}  {_summary(msg)}")


def _check_is_trace(path: Path, f: TextIO) -> None:
    """TraceError unless `path` is empty or holds a trace record (then rewinds `f`)."""
    has_text = False
    for line in f:
        if not line.strip():
            continue
        has_text = True
        if next(records([line]), None) is not None:
            break
    else:
        if has_text:
            raise TraceError(f"{path} is not a typemux trace (no JSON-lines trace records)")
    f.seek(0)


def show(files: list[Path], out: TextIO, *, session: int | None = None,
         method: str | None = None, as_json: bool = False, full: bool = False) -> int:
    """Print the filtered records of `files`; returns how many were shown."""
    shown = 0
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as f:
            _check_is_trace(path, f)
            venvs: dict[int, str] = {}
            if len(files) > 1 and not as_json:
                out.write(f"== {path}\n")
            for record, found in with_methods(records(f)):
                sid = record.get("session")
                if isinstance(sid, int) and isinstance(record.get("venv"), str) and sid not in venvs:
                    venvs[sid] = record["venv"]
                    if not as_json and session in (None, sid):
                        out.write(f"-- session s{sid}: {venvs[sid]}\n")
                if session is not None and sid != session:
                    continue
                if method is not None and (found is None or method not in found):
                    continue
                shown += 1
                if as_json:
                    out.write(json.dumps(record, separators=(",", ":")) + "\n")
                    continue
                out.write(render_line(record, found) + "\n")
                if full:
                    out.write(json.dumps(record["message"], indent=2) + "\n")
    return shown


def run_trace(target: Path | None, *, every: bool, session: int | None, method: str | None,
              as_json: bool, full: bool, cli: dict[str, Any] | None = None,
              config: Path | None = None) -> int:
    """`cli` and `config` are the settings flags given (`--trace-dir`, `--config`)."""
    if target is None:
        from typemux.config import ConfigError, load_settings

        try:
            target = load_settings(cli, config_path=config).settings.trace_dir
        except ConfigError as exc:
            print(f"typemux trace: {exc}", file=sys.stderr)  # stdout-ok: stderr
            return 2
        if target is None:
            print("typemux trace: give a trace FILE or DIR, or set trace_dir "  # stdout-ok: stderr
                  "(--trace-dir or TYPEMUX_TRACE_DIR)", file=sys.stderr)
            return 2
    try:
        files = trace_files(target.expanduser(), every=every)
        show(files, sys.stdout, session=session, method=method, as_json=as_json, full=full)  # stdout-ok: the trace command, not the server
        sys.stdout.flush()  # stdout-ok: a closed pipe shows here, not at interpreter exit
    except TraceError as exc:
        print(f"typemux trace: {exc}", file=sys.stderr)  # stdout-ok: stderr
        return 1
    except BrokenPipeError:  # `typemux trace | head`: the reader has all it wanted
        _silence_stdout()
    return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail loudly."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # stdout-ok: closing down the trace command's output
    os.close(devnull)
