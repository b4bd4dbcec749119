"""`execbox bench`: what each isolation layer costs, against a bare process, measured.

Runs hello world in Python, C and Java at every isolation level (a bare process, the
layers added one at a time, a full cold sandbox, the warm pool with fresh and with reused
sandboxes, the HTTP API) and beside the peers on this host (bubblewrap, unshare + a
cgroup, gVisor if installed), all interleaved in one run. Prints latency (p50/p95/p99)
as a multiple of bare then in ms, throughput at 1, 2, 4 and 16 client threads, memory
per warm sandbox, and the targets met or missed; writes latency.png, index.html,
results.json and report.txt to --out. Progress goes to stderr. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Any

from execbox.errors import ConfigError


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip().lower() for n in text.split(",") if n.strip())


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in text.split(",") if n.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure what isolation costs against a bare process",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds and short throughput cells (Python only): < 2 minutes")
    p.add_argument("--rounds", type=int, help="interleaved latency rounds (default 60, "
                   "quick 15)")
    p.add_argument("--languages", type=_names, metavar="LIST",
                   help="comma-separated, from python,c,java (default: all three)")
    p.add_argument("--levels", type=_names, metavar="LIST",
                   help="only these levels (bare is always added): bare, fork, rlimits, "
                   "namespaces, root, user, seccomp, cgroup, cold, warm, warm-reuse, http, "
                   "bwrap, unshare, gvisor")
    p.add_argument("--seconds", type=float, help="seconds per throughput measurement of one "
                   "level, language and concurrency (default 2, quick 0.4; 0 = none)")
    p.add_argument("--concurrency", type=_ints, metavar="LIST",
                   help="client threads for throughput (default 1,2,4,16)")
    p.add_argument("--max-uses", type=int, default=20,
                   help="runs per sandbox of the reused warm pool (default 20)")
    p.add_argument("--seed", type=int, default=1, help="of the shuffled order (default 1)")
    p.add_argument("--out", default="bench-out", metavar="DIR",
                   help="where latency.png, index.html, results.json and report.txt go "
                   "(default ./bench-out)")
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON instead of the table")
    p.set_defaults(handler=run)


def command_line(args: argparse.Namespace) -> str:
    """The `execbox bench ...` command that reproduces this run."""
    words = ["execbox"]
    if args.state_dir != "/run/execbox":
        words += ["--state-dir", args.state_dir]
    words.append("bench")
    if args.quick:
        words.append("--quick")
    for flag, value in (("--rounds", args.rounds), ("--seconds", args.seconds)):
        if value is not None:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for flag, names in (("--languages", args.languages), ("--levels", args.levels)):
        if names:
            words += [flag, ",".join(names)]
    if args.concurrency:
        words += ["--concurrency", ",".join(map(str, args.concurrency))]
    if args.max_uses != 20:
        words += ["--max-uses", str(args.max_uses)]
    if args.seed != 1:
        words += ["--seed", str(args.seed)]
    if args.out != "bench-out":
        words += ["--out", args.out]
    if args.json:
        words.append("--json")
    return shlex.join(words)


def config_from(args: argparse.Namespace) -> Any:
    from execbox.bench.suite import BenchConfig

    changes: dict[str, Any] = {"state_dir": args.state_dir, "max_uses": args.max_uses,
                               "seed": args.seed}
    if args.rounds is not None:
        changes["rounds"] = args.rounds
    if args.seconds is not None:
        changes["seconds"] = args.seconds
    if args.languages:
        changes["languages"] = args.languages
        if args.quick:
            changes["throughput_languages"] = tuple(
                n for n in args.languages if n == "python") or args.languages[:1]
    if args.levels:
        changes["levels"] = tuple(dict.fromkeys(("bare", *args.levels)))
    if args.concurrency:
        changes["concurrency"] = args.concurrency
    if args.max_uses < 1:
        raise ConfigError("--max-uses must be at least 1")
    return BenchConfig.quick_config(**changes) if args.quick else BenchConfig(**changes)


def run(args: argparse.Namespace) -> int:
    from execbox.bench import chart, report, suite
    from execbox.bench.measure import Progress

    config = config_from(args)
    progress = Progress()
    results = suite.run(config, progress, command=command_line(args))
    text = report.render(results)
    paths, note = chart.write(results, args.out, text)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results.as_json(), f, indent=2)
    with open(os.path.join(args.out, "report.txt"), "w") as f:
        f.write(text)
    if args.json:
        print(json.dumps(results.as_json(), indent=2))
    else:
        sys.stdout.write(text)
    print(f"[bench] wrote {', '.join(paths)} and results.json, report.txt in {args.out}"
          + (f" ({note})" if note else ""), file=sys.stderr)
    return 0
