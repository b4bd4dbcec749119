"""`execbox` entry point: one sub-command per module, settings built here and passed down."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from execbox import __version__
from execbox.cli import bench_cmd, doctor_cmd, exec_cmd, languages_cmd, run_cmd, serve_cmd
from execbox.errors import ConfigError, ExecboxError

EX_USAGE = 64


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execbox", description="Run untrusted code fast, behind layers of isolation.")
    parser.add_argument("--version", action="version", version=f"execbox {__version__}")
    parser.add_argument("--state-dir", default="/run/execbox",
                        help="slot locks and sandbox mount points (default: /run/execbox)")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor_cmd.add_parser(sub)
    exec_cmd.add_parser(sub)
    run_cmd.add_parser(sub)
    languages_cmd.add_parser(sub)
    serve_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"execbox: {exc}", file=sys.stderr)
        return EX_USAGE
    except ExecboxError as exc:
        print(f"execbox: {exc}", file=sys.stderr)
        return 70
    return code


if __name__ == "__main__":
    sys.exit(main())
