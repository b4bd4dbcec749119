"""The HTTP service vs the in-process runner vs bare, in one run (issue: the service).

    sudo .venv/bin/python bench/http_api.py [--rounds 60] [--requests 400]

Latency: Python hello world through `POST /v1/execute` on a live `execbox serve` (its own
process, on loopback), through `Runner.run` directly (a service in this process), and bare
`subprocess.run`, interleaved; the HTTP overhead is the difference of the first two
medians. Load: 16 concurrent HTTP clients for `requests` requests, then 16 threads of
bare `subprocess.run`: p50/p95/p99, errors, throughput.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from execbox.pool import PoolSettings
from execbox.runner.runner import RunRequest
from execbox.sandbox.spec import SandboxFile
from execbox.service import Service, ServiceSettings
from execbox.types import Status

CODE = "print('hello world')"


def percentiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=100)
    return f"p50 {statistics.median(xs):7.2f}  p95 {q[94]:7.2f}  p99 {q[98]:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-m", "execbox", "serve", "--port",
                               str(args.port), "--queue", "256"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    service = Service(ServiceSettings(warm_languages=("python",), concurrency=2, queue=64,
                                      pool=PoolSettings(min_warm=4, max_size=16)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{args.port}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pool = service.runner.pool
    assert pool is not None
    pool.wait_warm(30, settled=True)
    python = service.registry.get("python").run[0]
    body = {"language": "python", "code": CODE}
    request = RunRequest("python", (SandboxFile("main.py", CODE.encode()),))
    with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as client:
        def over_http() -> None:
            r = client.post("/v1/execute", json=body)
            if r.status_code != 200 or r.json()["status"] != "ok":
                raise SystemExit(f"HTTP run failed: {r.status_code} {r.text[:300]}")

        def in_process() -> None:
            if service.runner.run(request).status is not Status.OK:
                raise SystemExit("in-process run failed")

        def bare() -> None:
            subprocess.run([python, "-c", CODE], check=True, capture_output=True)

        cases = {"http": over_http, "runner": in_process, "bare": bare}
        times: dict[str, list[float]] = {k: [] for k in cases}
        for fn in cases.values():
            fn()
        for _ in range(args.rounds):
            for name, fn in cases.items():
                pool.wait_warm(5, settled=True)
                time.sleep(0.03)  # the server's pool refills too
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1000)

        def load(fn, n: int) -> tuple[list[float], int, float]:
            lat: list[float] = []
            errors = 0

            def one(_: int) -> None:
                nonlocal errors
                t0 = time.perf_counter()
                try:
                    fn()
                except BaseException:
                    errors += 1
                lat.append((time.perf_counter() - t0) * 1000)

            start = time.perf_counter()
            with ThreadPoolExecutor(16) as ex:
                list(ex.map(one, range(n)))
            return lat, errors, n / (time.perf_counter() - start)

        def http_loaded() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as c:
                r = c.post("/v1/execute", json=body)
                if r.status_code != 200:
                    raise RuntimeError(r.status_code)

        http_lat, http_err, http_rate = load(http_loaded, args.requests)
        bare_lat, bare_err, bare_rate = load(bare, args.requests)
    server.terminate()
    server.wait(30)
    service.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, kernel "
          f"{platform.release()}, {args.rounds} interleaved rounds")
    for name, xs in times.items():
        print(f"  {name:7} {percentiles(xs)}  x bare {med[name] / med['bare']:5.2f}")
    print(f"HTTP overhead over the in-process runner (medians): "
          f"{med['http'] - med['runner']:+.2f} ms")
    print(f"16 concurrent clients, {args.requests} requests each way:")
    print(f"  http  {percentiles(http_lat)}  errors {http_err}  {http_rate:6.1f} req/s")
    print(f"  bare  {percentiles(bare_lat)}  errors {bare_err}  {bare_rate:6.1f} runs/s")


if __name__ == "__main__":
    main()
