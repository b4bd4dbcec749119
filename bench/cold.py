"""Cold sandbox vs bare subprocess.run, interleaved in one run (issue: sandbox runtime).

    sudo .venv/bin/python bench/cold.py [--rounds 60]

Each round runs, in turn, every (program, how) pair once; the medians are compared to the
bare baseline measured in the same rounds, so the machine's noise hits both alike.
Programs: `python3 -c 'print(1)'` (Debian's /usr/bin/python3) and a static C hello,
compiled inside a sandbox. A cold run builds everything per run: slot, cgroup, namespaces,
root, seccomp, and tears it all down.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import Limits, Status
from report import latency_table

HELLO_C = b'#include <stdio.h>\nint main(void){puts("hello");return 0;}\n'
PY = ("/usr/bin/python3", "-c", "print(1)")


def compile_hello(backend: NamespaceBackend) -> bytes:
    result = backend.run(SandboxSpec(
        argv=("/usr/bin/gcc", "-O2", "-static", "-o", "hello", "hello.c"),
        files=(SandboxFile("hello.c", HELLO_C),), collect=("hello",),
        limits=Limits(memory_mb=512, cpu_time_ms=20000, wall_time_ms=30000)))
    if result.status is not Status.OK or "hello" not in result.files:
        raise SystemExit(f"compiling hello.c failed: {result.summary()} {result.stderr!r}")
    return result.files["hello"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    backend = NamespaceBackend(SandboxSettings())
    binary = compile_hello(backend)
    with tempfile.TemporaryDirectory() as tmp:
        host_hello = os.path.join(tmp, "hello")
        with open(host_hello, "wb") as f:
            f.write(binary)
        os.chmod(host_hello, 0o755)
        c_spec = SandboxSpec(argv=("./hello",), files=(SandboxFile("hello", binary, True),))
        py_spec = SandboxSpec(argv=PY)

        def sandboxed(spec: SandboxSpec) -> None:
            r = backend.run(spec)
            if r.status is not Status.OK:
                raise SystemExit(f"sandboxed run failed: {r.summary()} {r.message}")

        cases = {
            ("python", "bare"): lambda: subprocess.run(PY, check=True, capture_output=True),
            ("python", "sandbox"): lambda: sandboxed(py_spec),
            ("c", "bare"): lambda: subprocess.run([host_hello], check=True, capture_output=True),
            ("c", "sandbox"): lambda: sandboxed(c_spec),
        }
        times: dict[tuple[str, str], list[float]] = {k: [] for k in cases}
        for _ in range(3):  # warm up caches
            for fn in cases.values():
                fn()
        for _ in range(args.rounds):
            for key, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1000)
    backend.close()
    latency_table(times, args.rounds)


if __name__ == "__main__":
    main()
