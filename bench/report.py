"""The table every benchmark prints: medians, p90 and the ratio to bare, same run."""

from __future__ import annotations

import os
import platform
import statistics


def latency_table(times: dict[tuple[str, str], list[float]], rounds: int) -> None:
    """``times[(program, how)]`` in ms; each program has a ("program", "bare") row."""
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, kernel "
          f"{platform.release()}, {rounds} interleaved rounds, medians")
    width = max(len(how) for _, how in times)
    print(f"{'program':8} {'how':{width}} {'median ms':>10} {'p90 ms':>8} {'x bare':>7}")
    for (prog, how), xs in times.items():
        med = statistics.median(xs)
        base = statistics.median(times[(prog, "bare")])
        p90 = statistics.quantiles(xs, n=10)[-1]
        print(f"{prog:8} {how:{width}} {med:10.2f} {p90:8.2f} {med / base:7.2f}")
