"""Command line: `typemux` (the LSP server on stdio), `typemux doctor`, `typemux status`.

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
    sub.add_parser("serve", help="run the LSP server on stdio (the default)")
    return parser


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
