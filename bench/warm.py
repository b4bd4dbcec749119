"""Warm pool vs bare subprocess.run, interleaved in one run (issue: warm pool).

    sudo .venv/bin/python bench/warm.py [--rounds 60] [--seconds 10]

Latency: Python hello world and a precompiled C hello through the runner with a warm pool
(max uses 1: every run gets a fresh sandbox), against bare `subprocess.run` of the same
programs, interleaved round by round. Throughput: sustained runs per second with 2 client
threads for `seconds`, sandboxed vs bare. Memory: PSS and RSS of a warm Python sandbox
(its init plus the preloaded interpreter).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable

from execbox.bench.memory import memory_of, pids_of_uid
from execbox.languages.registry import Registry
from execbox.pool import PoolSettings, WarmPool
from execbox.runner.compile_cache import CompileCache
from execbox.runner.runner import Runner, RunnerSettings, RunRequest
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import Status
from report import latency_table

PY_CODE = b"print('hello world')\n"
C_CODE = b'#include <stdio.h>\nint main(void){puts("hello world");return 0;}\n'


def throughput(fn: Callable[[], None], seconds: float, threads: int = 2) -> float:
    count = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        while time.monotonic() < stop:
            fn()
            with lock:
                count[0] += 1

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return count[0] / (time.monotonic() - t0)


def make_runner(backend: NamespaceBackend, registry: Registry, cache_dir: str,
                mode: str, max_uses: int = 1) -> Runner:
    runner = Runner(backend, registry, CompileCache(cache_dir), settings=RunnerSettings(
        zygote_mode=mode))
    runner.pool = WarmPool(backend, PoolSettings(min_warm=2, max_size=8, max_uses=max_uses),
                           {k: v for k, v in runner.flavors().items()
                            if k in ("python:run", "c:run", "c:compile")})
    runner.pool.wait_warm(30)
    return runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    backend = NamespaceBackend(SandboxSettings())
    registry = Registry.load()
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        runners = {"exec": make_runner(backend, registry, cache, "exec"),
                   "fork": make_runner(backend, registry, cache, "fork"),
                   "exec, 20 uses": make_runner(backend, registry, cache, "exec", 20)}
        py = RunRequest("python", (SandboxFile("main.py", PY_CODE),))
        c = RunRequest("c", (SandboxFile("main.c", C_CODE),))
        for runner in runners.values():
            first = runner.run(c)  # compiles once; later runs hit the cache
            assert first.status is Status.OK, first
        # the bare baseline runs the same program, compiled in a sandbox as well
        c_binary = os.path.join(tmp, "hello")
        compiled = backend.run(SandboxSpec(argv=("/usr/bin/gcc", "-o", "hello", "main.c"),
                                           files=(SandboxFile("main.c", C_CODE),),
                                           collect=("hello",)))
        with open(c_binary, "wb") as f:
            f.write(compiled.files["hello"])
        os.chmod(c_binary, 0o755)
        python = registry.get("python").run[0]

        def sandboxed(runner: Runner, request: RunRequest) -> Callable[[], None]:
            def go() -> None:
                r = runner.run(request)
                if r.status is not Status.OK:
                    raise SystemExit(f"run failed: {r.as_json()}")
            return go

        def bare_python() -> None:
            subprocess.run([python, "-c", PY_CODE.decode()], check=True, capture_output=True)

        cases: dict[tuple[str, str], tuple[Callable[[], object], Runner | None]] = {
            ("python", "bare"): (bare_python, None),
            ("python", "warm exec"): (sandboxed(runners["exec"], py), runners["exec"]),
            ("python", "warm fork"): (sandboxed(runners["fork"], py), runners["fork"]),
            ("python", "exec x20"): (sandboxed(runners["exec, 20 uses"], py),
                                     runners["exec, 20 uses"]),
            ("c", "bare"): (lambda: subprocess.run([c_binary], check=True,
                                                   capture_output=True), None),
            ("c", "warm"): (sandboxed(runners["exec"], c), runners["exec"]),
        }
        times: dict[tuple[str, str], list[float]] = {k: [] for k in cases}
        for _ in range(3):
            for fn, _runner in cases.values():
                fn()
        for _ in range(args.rounds):
            for key, (fn, _runner) in cases.items():
                for each in runners.values():  # a warm run's latency, not a refill backlog
                    assert each.pool is not None
                    each.pool.wait_warm(5, settled=True)
                time.sleep(0.002)
                t0 = time.perf_counter()
                fn()
                times[key].append((time.perf_counter() - t0) * 1000)
        memory = {}
        for mode, runner in list(runners.items())[:2]:
            assert runner.pool is not None
            runner.pool.wait_warm(10)
            box = runner.pool._states["python:run"].warm[0]
            memory[mode] = memory_of(pids_of_uid(box.uid))
        rates = {"bare": throughput(bare_python, args.seconds)}
        for mode, runner in runners.items():
            rates[mode] = throughput(sandboxed(runner, py), args.seconds)
        for runner in runners.values():
            runner.close()
    backend.close()
    latency_table(times, args.rounds)
    print(f"throughput, python hello, 2 client threads, {args.seconds:g} s each "
          "(max uses 1 unless said):")
    for how, rate in rates.items():
        print(f"  {how:14} {rate:7.1f} runs/s  {rate / rates['bare']:5.2f}x bare")
    for mode, m in memory.items():
        print(f"warm python sandbox ({mode}): PSS {m.pss_kib / 1024:.1f} MiB, "
              f"RSS {m.rss_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
