"""`execbox run FILE [FILE...] [--lang L] [--stdin F] [--limit k=v...] [--json]`.

Compiles (inside a sandbox, cached) and runs a program file; the language comes from
``--lang`` or the first file's extension. Prints the program's output, and a one-line
summary on stderr, or the result object with ``--json``; the exit code reflects the status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from execbox.cli.exec_cmd import parse_pairs, read_stdin
from execbox.errors import ConfigError

if TYPE_CHECKING:
    from execbox.languages.registry import Registry
from execbox.runner.compile_cache import CompileCache
from execbox.runner.runner import Runner, RunRequest, RunResult
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings
from execbox.types import EXIT_CODES


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="compile and run a program file in a sandbox",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="the program (first = entry point)")
    p.add_argument("--lang", help="language name or alias (default: from the extension)")
    p.add_argument("--version", dest="lang_version", help="language version prefix, e.g. 3")
    p.add_argument("--stdin", metavar="FILE", help="file to feed as stdin ('-' = this stdin)")
    p.add_argument("--limit", action="append", default=[], metavar="KEY=VALUE",
                   help="a run limit: cpu_time_ms, wall_time_ms, memory_mb, processes, "
                   "output_bytes, file_size_mb")
    p.add_argument("--arg", action="append", default=[], help="an argument for the program")
    p.add_argument("--json", action="store_true", help="print the result object as JSON")
    p.add_argument("--no-cache", action="store_true", help="compile even if cached")
    p.set_defaults(handler=run)


def language_for(registry: Registry, explicit: str | None, path: str) -> str:
    if explicit:
        return explicit
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    for lang in registry.all():
        if ext and ext in lang.extensions:
            return lang.name
    raise ConfigError(f"cannot tell the language of {path!r}: use --lang")


def run(args: argparse.Namespace) -> int:
    from execbox.languages.registry import Registry  # the registry reads data files

    registry = Registry.load()
    files = []
    for path in args.files:
        with open(path, "rb") as f:
            files.append(SandboxFile(os.path.basename(path), f.read()))
    limits = {k: int(v) for k, v in parse_pairs(args.limit, "--limit").items()}
    request = RunRequest(language=language_for(registry, args.lang, args.files[0]),
                         version=args.lang_version, files=tuple(files),
                         stdin=read_stdin(args.stdin), args=tuple(args.arg), limits=limits)
    backend = NamespaceBackend(SandboxSettings(state_dir=args.state_dir))
    cache = None if args.no_cache else CompileCache(os.path.join(args.state_dir, "cache"))
    runner = Runner(backend, registry, cache)
    try:
        result = runner.run(request)
    finally:
        runner.close()
        backend.close()
    return report(result, args.json)


def report(result: RunResult, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return EXIT_CODES[result.status]
    if result.compile is not None and result.status is not result.run_status():
        sys.stderr.buffer.write(result.compile.stdout + result.compile.stderr)
    if result.run is not None:
        sys.stdout.buffer.write(result.run.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(result.run.stderr)
    stage = result.run or result.compile
    detail = stage.summary() if stage else ""
    message = stage.message if stage and stage.message else ""
    print(f"[execbox] {result.language} {result.version}: {result.status.value} ({detail})"
          + (f" {message}" if message else ""), file=sys.stderr)
    return EXIT_CODES[result.status]
