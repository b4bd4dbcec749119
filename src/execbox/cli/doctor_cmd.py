"""`execbox doctor`: which isolation layers this host supports, and why one cannot be used.

Exit code 0 when every required layer works (then a real sandbox is built and run as the
last check), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from execbox.errors import ExecboxError
from execbox.sandbox.host import Check, run_checks
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxSettings, SandboxSpec
from execbox.types import Status


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check what this host supports", description=__doc__)
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(handler=run)


def sandbox_selftest(settings: SandboxSettings) -> Check:
    try:
        backend = NamespaceBackend(settings)
    except ExecboxError as exc:
        return Check("sandbox", False, str(exc))
    try:
        result = backend.run(SandboxSpec(argv=("/bin/sh", "-c", "echo ok")))
    finally:
        backend.close()
    ok = result.status is Status.OK and result.stdout == b"ok\n"
    return Check("sandbox", ok, f"a full sandbox ran /bin/sh: {result.summary()}"
                 + (f" ({result.message})" if result.message else ""))


def languages_check() -> Check:
    from execbox.languages.registry import Registry

    registry = Registry.load()
    missing = registry.missing()
    detail = f"{len(registry.available())} available"
    if missing:
        detail += "; missing: " + "; ".join(f"{n} ({why})" for n, why in sorted(missing.items()))
    return Check("languages", not missing, detail, required=False)


def run(args: argparse.Namespace) -> int:
    settings = SandboxSettings(state_dir=args.state_dir)
    checks = run_checks(settings.cgroup)
    checks.append(languages_check())
    if all(c.ok for c in checks if c.required):
        checks.append(sandbox_selftest(settings))
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "no  ")
            print(f"[{mark}] {c.name:16} {c.detail}")
    failed = [c for c in checks if c.required and not c.ok]
    if not args.json:
        print("\nall required layers work" if not failed else
              f"\n{len(failed)} required layer(s) unavailable: the sandbox will not start")
    return 1 if failed else 0
