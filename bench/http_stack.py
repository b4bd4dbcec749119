"""The HTTP stack alone: `execbox serve`'s app with a backend that runs nothing (issue: the
service).

    sudo .venv/bin/python bench/http_stack.py [--requests 500]

A server process runs the service's real app — gate, validation, scheduler hop to a worker
thread and back, metrics, JSON logs, uvicorn with httptools and uvloop, as `execbox serve`
— whose runner has a FakeBackend (answers at once, no sandbox). A kept-alive `http.client`
connection then times `GET /healthz` and `POST /v1/execute` (Python hello world), and the
server's CPU per request is read from /proc. ``--run-ms 3`` makes each fake run sleep as
long as a warm run takes, so the server's threads go idle between hops: the difference
between the two is what waking them costs on this host.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

SERVER = """
import sys, time, uvicorn
from execbox.api.app import create_app
from execbox.api.logs import configure
from execbox.sandbox.fake import FakeBackend, echo
from execbox.sandbox.spec import SandboxSettings
from execbox.service import Service, ServiceSettings
service = Service(ServiceSettings(warm_languages=(),
                                  sandbox=SandboxSettings(state_dir=sys.argv[2])))
pause = float(sys.argv[3]) / 1000
service.runner.backend = FakeBackend(lambda spec: (time.sleep(pause), echo(spec))[1])
uvicorn.run(create_app(service), host="127.0.0.1", port=int(sys.argv[1]), http="httptools",
            loop="uvloop", log_config=configure(), log_level="info")
"""


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--port", type=int, default=8866)
    parser.add_argument("--run-ms", type=float, default=0.0,
                        help="the fake run sleeps this long (the server's threads idle meanwhile)")
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.port),
                               "/run/execbox-http-stack", str(args.run_ms)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
        deadline = time.monotonic() + 30
        while True:
            try:
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                conn.close()
                time.sleep(0.1)
        body = json.dumps({"language": "python", "code": "print('hello world')"})

        def execute() -> None:
            conn.request("POST", "/v1/execute", body, {"content-type": "application/json"})
            conn.getresponse().read()

        def health() -> None:
            conn.request("GET", "/healthz")
            conn.getresponse().read()

        hz = os.sysconf("SC_CLK_TCK")
        for name, call in (("GET /healthz", health), ("POST /v1/execute (no sandbox)", execute)):
            for _ in range(50):
                call()
            before, times = cpu_ticks(server.pid), []
            for _ in range(args.requests):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1000)
            used = (cpu_ticks(server.pid) - before) / hz * 1000 / args.requests
            print(f"{name:32} p50 {statistics.median(times):6.3f} ms   "
                  f"p99 {statistics.quantiles(times, n=100)[98]:6.3f} ms   "
                  f"server CPU {used:5.3f} ms/request")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
