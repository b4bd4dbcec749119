"""`execbox exec [options] -- ARGV...`: one program in a fresh sandbox, nothing else.

    execbox exec --file hello.py -- /usr/bin/python3 hello.py
    execbox exec --stdin in.txt --limit memory_mb=64 --json -- /bin/cat
    execbox exec --file hello.c --collect hello --out . -- /usr/bin/gcc -o hello hello.c
    execbox exec --file hello -- ./hello

Local files given with ``--file PATH[:NAME]`` are read by this command and handed to the
sandbox as bytes; the sandbox never sees a host path of yours.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from execbox.errors import ConfigError
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import EXIT_CODES, Limits, StageResult


def add_parser(sub: Any) -> None:
    p = sub.add_parser("exec", help="run a command in a fresh sandbox",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", action="append", default=[], metavar="PATH[:NAME]",
                   help="copy a local file into the work dir (/box) as NAME")
    p.add_argument("--stdin", metavar="FILE", help="file to feed as stdin ('-' = this stdin)")
    p.add_argument("--limit", action="append", default=[], metavar="KEY=VALUE",
                   help=f"a limit: {', '.join(Limits().as_dict())}")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--collect", action="append", default=[], metavar="NAME",
                   help="after the run, copy this work-dir file out (links are not followed)")
    p.add_argument("--out", default=".", metavar="DIR",
                   help="where --collect writes (default: current dir; never overwrites)")
    p.add_argument("--json", action="store_true", help="print the result object as JSON")
    p.add_argument("argv", nargs="+", help="the command, e.g. -- /usr/bin/python3 main.py")
    p.set_defaults(handler=run)


def parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} must look like KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def parse_limits(pairs: list[str]) -> Limits:
    raw = parse_pairs(pairs, "--limit")
    try:
        return Limits().merged({k: int(v) for k, v in raw.items()})
    except ValueError as exc:
        raise ConfigError(f"bad --limit: {exc}") from exc


def read_stdin(source: str | None) -> bytes:
    if source is None:
        return b""
    if source == "-":
        return sys.stdin.buffer.read()
    with open(source, "rb") as f:
        return f.read()


def run(args: argparse.Namespace) -> int:
    files = []
    for item in args.file:
        path, _, name = item.partition(":")
        with open(path, "rb") as f:
            files.append(SandboxFile(name or os.path.basename(path), f.read(),
                                     executable=os.access(path, os.X_OK)))
    spec = SandboxSpec(argv=tuple(args.argv), files=tuple(files), stdin=read_stdin(args.stdin),
                       env=parse_pairs(args.env, "--env"), limits=parse_limits(args.limit),
                       collect=tuple(args.collect))
    backend = NamespaceBackend(SandboxSettings(state_dir=args.state_dir))
    try:
        result = backend.run(spec)
    finally:
        backend.close()
    save_collected(result.files, args.out)
    return report(result, args.json)


def save_collected(files: dict[str, bytes], out_dir: str) -> None:
    """Write collected files under out_dir: new files only, no link followed."""
    for name, data in files.items():
        target = os.path.join(out_dir, os.path.basename(name))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def report(result: StageResult, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        sys.stdout.buffer.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(result.stderr)
        if result.message:
            print(f"execbox: {result.message}", file=sys.stderr)
        print(f"[execbox] {result.summary()}", file=sys.stderr)
    return EXIT_CODES[result.status]
