"""Command line: `typemux` (the LSP server on stdio), `typemux doctor`, `typemux status`,
`typemux trace`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from typemux import __version__


def _parser() -> argparse.ArgumentParser:
    from typemux.config import add_cli_options

    parser = argparse.ArgumentParser(
        prog="typemux",
        description="LSP proxy: one Python type checker per virtualenv, on stdio.",
    )
    parser.add_argument("--version", action="version", version=f"typemux {__version__}")
    add_cli_options(parser)
    sub = parser.add_subparsers(dest="command")
    doctor = sub.add_parser("doctor", help="check the setup and explain every setting")
    doctor.add_argument("--json", action="store_true", help="print JSON")
    add_cli_options(doctor, suppress_defaults=True)
    status = sub.add_parser("status", help="show the live backend pools of running typemux processes")
    status.add_argument("--json", action="store_true", help="print JSON")
    sub.add_parser("serve", help="run the LSP server on stdio (the default)")
    _add_trace_parser(sub)
    return parser


def _add_trace_parser(sub: Any) -> None:
    trace = sub.add_parser("trace", help="show a traffic trace written with --trace-dir")
    trace.add_argument("target", nargs="?", type=Path, metavar="FILE|DIR",
                       help="a trace file, or a directory (its newest trace); default: trace_dir")
    trace.add_argument("--all", dest="every", action="store_true",
                       help="every trace in DIR, oldest first")
    trace.add_argument("--session", type=int, help="only backend session N (as in typemux status)")
    trace.add_argument("--method", help="only messages whose method (or whose request's) contains this")
    trace.add_argument("--full", action="store_true", help="print each message in full")
    trace.add_argument("--json", action="store_true", help="print the matching JSON lines")


def main(argv: Sequence[str] | None = None) -> int:
    from typemux.config import ConfigError, cli_values, load_settings

    parser = _parser()
    ns = parser.parse_args(argv)
    if ns.command == "status":
        from typemux.status import run_status

        return run_status(as_json=ns.json)
    if ns.command == "trace":
        from typemux.trace_view import run_trace

        return run_trace(ns.target, every=ns.every, session=ns.session, method=ns.method,
                         as_json=ns.json, full=ns.full)
    try:
        loaded = load_settings(cli_values(ns), config_path=ns.config)
    except ConfigError as exc:
        print(f"typemux: {exc}", file=sys.stderr)  # stdout-ok: stderr, before any LSP stream exists
        return 2
    if ns.command == "doctor":
        from typemux.doctor import run_doctor

        return run_doctor(loaded, as_json=ns.json)
    from typemux.log import configure_logging
    from typemux.runtime.proxy import serve

    settings = loaded.settings
    configure_logging(settings.log_level, settings.log_file)
    return asyncio.run(serve(settings))
