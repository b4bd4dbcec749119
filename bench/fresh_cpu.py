"""Where fresh-sandbox throughput goes: machine CPU per warm-pool Python run (issue: pool).

    sudo .venv/bin/python bench/fresh_cpu.py [--runs 300] [--threads 2]

For each way of keeping Python warm (the exec zygote; the template sandbox, "fork", the
default: sandbox/template.py) it runs hello
world ``--runs`` times from ``--threads`` threads through the runner with a warm pool of
fresh sandboxes (max uses 1), then prints runs/s and the CPU each run cost: the whole
machine's busy time (/proc/stat), the part inside the sandboxes (the cpuacct cgroup of
execbox's parent, cgroup v1) and this process's own (os.times). Then the same for bare
``python3 -c`` for scale. Every run's output is checked (a failed run is cheap: counting
it would flatter the figure). MODES=fork (or exec) in the environment runs one mode only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
from collections.abc import Callable

from execbox.pool import PoolSettings
from execbox.runner.runner import RunnerSettings, RunRequest
from execbox.sandbox.spec import SandboxFile, SandboxSettings
from execbox.service import Service, ServiceSettings

MODES = os.environ.get("MODES", "exec,fork").split(",")
CODE = b"print('hello world')"
CPUACCT = "/sys/fs/cgroup/cpuacct/execbox/cpuacct.usage"


def busy_jiffies() -> int:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def sandbox_ns() -> int:
    try:
        with open(CPUACCT) as f:
            return int(f.read())
    except OSError:  # cgroup v2 or another parent: not split out
        return 0


def process_s(pid: int) -> float:
    """CPU seconds a live process has used itself (not its children)."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(label: str, run_one: Callable[[], None], runs: int, threads: int,
            template_pid: int = 0) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    b0, s0, t0, w0 = busy_jiffies(), sandbox_ns(), os.times(), time.monotonic()
    p0 = process_s(template_pid)
    workers = [threading.Thread(target=lambda: [run_one() for _ in range(runs // threads)])
               for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    b1, s1, t1, w1 = busy_jiffies(), sandbox_ns(), os.times(), time.monotonic()
    p1 = process_s(template_pid)
    done = runs // threads * threads
    machine = (b1 - b0) / hz * 1000 / done
    sandboxes = (s1 - s0) / 1e6 / done
    own = (t1.user + t1.system - t0.user - t0.system) * 1000 / done
    template = (p1 - p0) * 1000 / done
    print(f"{label:28} {done / (w1 - w0):7.1f} runs/s   CPU per run: machine {machine:5.2f} ms"
          f" = sandboxes {sandboxes:4.2f} + this process {own:4.2f}"
          + (f" + template spawner {template:4.2f}" if template_pid else "")
          + f" + the rest (kernel threads, forks) {machine - sandboxes - own - template:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    request = RunRequest("python", (SandboxFile("main.py", CODE),))
    for mode in MODES:
        service = Service(ServiceSettings(
            warm_languages=("python",), pool=PoolSettings(min_warm=2, max_size=8),
            runner=RunnerSettings(zygote_mode=mode),
            sandbox=SandboxSettings(state_dir="/run/execbox-fresh-cpu")))
        pool = service.runner.pool
        assert pool is not None
        pool.wait_warm(30, settled=True)

        def run_one(s: Service = service) -> None:
            result = s.runner.run(request)
            if result.run is None or result.run.stdout != b"hello world\n":
                raise SystemExit(f"a run failed: {result}")

        templates = list(service.backend._templates.values())
        measure(f"warm pool, {mode} zygote", run_one, args.runs, args.threads,
                templates[0]._proc.pid if templates else 0)
        service.close()
    measure("bare python3 -c", lambda: subprocess.run(
        ["/usr/bin/python3", "-c", CODE.decode()], stdout=subprocess.DEVNULL, check=True),
        args.runs, args.threads)


if __name__ == "__main__":
    main()
