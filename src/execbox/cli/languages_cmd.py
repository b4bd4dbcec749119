"""`execbox languages [--json] [--all]`: the languages this host offers, with versions;
``--all`` also lists the ones whose toolchain is missing, and why."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("languages", help="list the languages this host offers",
                       description=__doc__)
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include unavailable languages")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from execbox.languages.registry import Registry  # the registry reads data files

    registry = Registry.load()
    available = registry.available()
    missing = registry.missing()
    if args.json:
        rows = [{"name": lang.name, "version": lang.version, "aliases": list(lang.aliases),
                 "compiled": lang.compiled, "extensions": list(lang.extensions)}
                for lang in available]
        if args.all:
            print(json.dumps({"available": rows, "missing": missing}, indent=2))
        else:
            print(json.dumps(rows, indent=2))
        return 0
    for lang in available:
        kind = "compiled" if lang.compiled else "interpreted"
        print(f"{lang.name:12} {lang.version:14} {kind:12} {', '.join(lang.aliases)}")
    if args.all:
        for name, why in sorted(missing.items()):
            print(f"{name:12} {'-':14} {'missing':12} {why}")
    elif missing:
        print(f"({len(missing)} more without a toolchain here: execbox languages --all)")
    return 0
