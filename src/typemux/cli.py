"""Command line: `typemux` (the LSP server on stdio), `typemux doctor`, `typemux status`,
`typemux trace`.

The serve path is kept short, because editors wait for the `initialize` answer: it never
imports pydantic (settings come from `fast_config`), the doctor or the status code, and
without arguments (how editors start it) it skips argparse too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from typemux import __version__

if TYPE_CHECKING:
    import argparse


def _parser() -> argparse.ArgumentParser:
    import argparse

    from typemux.fast_config import add_cli_options

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
    serve = sub.add_parser("serve", help="run the LSP server on stdio (the default)")
    add_cli_options(serve, suppress_defaults=True)
    _add_trace_parser(sub)
    return parser


def _add_trace_parser(sub: Any) -> None:
    from pathlib import Path

    from typemux.fast_config import add_cli_options

    trace = sub.add_parser("trace", help="show a traffic trace written with --trace-dir")
    trace.add_argument("target", nargs="?", type=Path, metavar="FILE|DIR",
                       help="a trace file, or a directory (its newest trace); default: trace_dir")
    trace.add_argument("--all", dest="every", action="store_true",
                       help="every trace in DIR, oldest first")
    trace.add_argument("--session", type=int, help="only backend session N (as in typemux status)")
    trace.add_argument("--method", help="only messages whose method (or whose request's) contains this")
    trace.add_argument("--full", action="store_true", help="print each message in full")
    trace.add_argument("--json", action="store_true", help="print the matching JSON lines")
    add_cli_options(trace, suppress_defaults=True)  # --trace-dir / --config, as for doctor


def main(argv: Sequence[str] | None = None) -> int:
    from typemux.fast_config import ConfigError, cli_values

    args = list(sys.argv[1:] if argv is None else argv)
    command: str | None = None
    cli: dict[str, Any] = {}
    config = None
    as_json = False
    if args:
        ns = _parser().parse_args(args)
        command, cli, config = ns.command, cli_values(ns), ns.config
        as_json = bool(getattr(ns, "json", False))
        if command == "trace":
            from typemux.trace_view import run_trace

            return run_trace(ns.target, every=ns.every, session=ns.session, method=ns.method,
                             as_json=as_json, full=ns.full, cli=cli, config=config)
    if command == "status":
        from typemux.status import run_status

        return run_status(as_json=as_json)
    if command == "doctor":
        from typemux.config import load_settings
        from typemux.doctor import run_doctor

        try:
            loaded = load_settings(cli, config_path=config)
        except ConfigError as exc:
            print(f"typemux: {exc}", file=sys.stderr)  # stdout-ok: stderr, before any LSP stream exists
            if as_json:  # a script reading stdout still gets a JSON object
                import json

                print(json.dumps({"ok": False, "error": str(exc)}, indent=2))  # stdout-ok: the doctor command
            return 2
        return run_doctor(loaded, as_json=as_json)
    return _serve(cli, config)


def _serve(cli: dict[str, Any], config: Any) -> int:
    import asyncio

    from typemux.fast_config import ConfigError, load_serve_settings

    try:
        settings = load_serve_settings(cli, config_path=config)
    except ConfigError as exc:
        print(f"typemux: {exc}", file=sys.stderr)  # stdout-ok: stderr, before any LSP stream exists
        return 2
    from typemux.log import configure_logging
    from typemux.runtime.proxy import serve

    configure_logging(settings.log_level, settings.log_file)
    return asyncio.run(serve(settings))
