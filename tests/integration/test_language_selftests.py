"""Every language whose toolchain is installed here passes its self-test in a real sandbox:
compiled (sandboxed, with the compile limits) then run with the self-test's stdin.

Languages without a toolchain are not tested but listed (``execbox languages --all``);
CI installs them all (scripts/setup), so there every language is exercised.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from execbox.languages.registry import Registry
from execbox.runner.runner import Runner, RunRequest
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings
from execbox.types import Status

pytestmark = pytest.mark.root

REGISTRY = Registry.load()
AVAILABLE = [lang.name for lang in REGISTRY.available()]
# Known sandbox problems, by language: remove an entry once the sandbox is fixed.
CASES = AVAILABLE


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    backend = NamespaceBackend(SandboxSettings())
    r = Runner(backend, REGISTRY)  # cold: no pool, no compile cache
    yield r
    r.close()
    backend.close()


def test_missing_toolchains_are_reported() -> None:
    for name, reason in sorted(REGISTRY.missing().items()):
        print(f"{name:12} missing: {reason}")
    assert set(AVAILABLE).isdisjoint(REGISTRY.missing())


@pytest.mark.parametrize("name", CASES)
def test_selftest(runner: Runner, name: str) -> None:
    lang = REGISTRY.get(name)
    test = lang.selftest
    started = time.monotonic()
    result = runner.run(RunRequest(language=name,
                                   files=(SandboxFile(lang.source, test.code.encode()),),
                                   stdin=test.stdin.encode()))
    elapsed = (time.monotonic() - started) * 1000
    compile_ms = result.compile.wall_time_ms if result.compile else 0
    run_ms = result.run.wall_time_ms if result.run else 0
    print(f"{name:12} {lang.version:12} compile {compile_ms:6d} ms  run {run_ms:6d} ms  "
          f"total {elapsed:7.0f} ms")
    details = "\n".join(
        f"{stage}: {r.summary()} {r.message or ''}\nstdout: {r.stdout[-2000:]!r}\n"
        f"stderr: {r.stderr[-2000:]!r}"
        for stage, r in (("compile", result.compile), ("run", result.run)) if r is not None)
    assert result.status is Status.OK, details
    assert result.run is not None
    assert result.run.stdout.decode() == test.expected, details
    assert (result.compile is not None) == lang.compiled
