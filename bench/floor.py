"""What a fresh sandbox costs at the least on this machine, in the same run as bare python3.

    sudo .venv/bin/python bench/floor.py [--count 2000]

Two floors under execbox's template sandboxes, each as machine CPU per iteration
(/proc/stat busy time, 2 processes at once, as fresh_cpu.py's 2 client threads):
- the kernel's: ``floor_ns.c`` (compiled here with gcc) clones a child into new pid,
  mount, net, ipc, uts and cgroup namespaces, builds a read-only root on tmpfs with the
  runtime bound in, drops to another uid and exits — what any sandbox must pay;
- the interpreter's: Debian's python3 with the template's modules loaded forks a child
  that runs hello world and exits (once, and through an intermediate process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
PYFORK = """
import gc, os, sys
sys.path.insert(0, sys.argv[3])
import execbox.sandbox.template  # what a template spawner holds
mode, n = sys.argv[1], int(sys.argv[2])
code = compile("print('hello world')", "main.py", "exec")
null = os.open("/dev/null", os.O_WRONLY)
gc.freeze()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        if mode == "double" and os.fork():
            os._exit(0)
        os.dup2(null, 1)
        exec(code, {"__name__": "__main__"})
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)
"""


def busy() -> int:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def measure(label: str, argv: list[str], iterations: int, env: dict[str, str] | None = None
            ) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    b0, t0 = busy(), time.monotonic()
    procs = [subprocess.Popen(argv, env=env) for _ in range(2)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"{label}: {argv} failed")
    b1, t1 = busy(), time.monotonic()
    total = 2 * iterations
    cpu_ms = (b1 - b0) / hz * 1000 / total
    print(f"{label:52} {total / (t1 - t0):8.1f}/s   machine CPU {cpu_ms:6.3f} ms each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    n = args.count
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SystemExit("needs gcc")
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "floor_ns")
        subprocess.run([gcc, "-O2", "-o", binary, os.path.join(HERE, "floor_ns.c")],
                       check=True)
        os.chdir(tmp)
        no_net = {**os.environ, "NONET": "1"}
        for level, label in ((0, "fork + exit"), (1, "+ namespaces"), (2, "+ read-only root"),
                             (3, "+ uid drop (all)")):
            measure(f"C: {label}", [binary, str(level), str(n)], n)
        measure("C: all, without the network namespace", [binary, "3", str(n)], n, no_net)
        py = ["/usr/bin/python3", "-c", PYFORK]
        measure("python3: fork a warm interpreter, run hello", [*py, "single", str(n // 4),
                                                                SRC], n // 4)
        measure("python3: the same through an intermediate fork",
                [*py, "double", str(n // 4), SRC], n // 4)
        runs = n // 20
        measure("bare python3 -c (the baseline)", ["bash", "-c", f"for i in $(seq {runs}); do "
                "/usr/bin/python3 -c 'print(1)' >/dev/null; done"], runs)


if __name__ == "__main__":
    sys.exit(main())
