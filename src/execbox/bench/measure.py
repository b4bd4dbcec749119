"""Timing: percentiles, interleaved latency rounds, throughput at a concurrency, progress.

Every timed call is ``fn(lane)``: ``lane`` is the index of the client thread (0 when
timing latency), so a level can keep one helper process or one HTTP connection per
client without thread-locals.
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

K = TypeVar("K", bound=Hashable)
Call = Callable[[int], "str | None"]  # None, or a warning the run printed


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by linear interpolation between closest ranks (the
    "inclusive" method: p0 is the minimum, p100 the maximum, p50 the median)."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    xs = sorted(samples)
    rank = (len(xs) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (xs[high] - xs[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """Latency of one (language, level) in ms."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        return cls(n=len(samples), p50=percentile(samples, 50), p95=percentile(samples, 95),
                   p99=percentile(samples, 99), mean=sum(samples) / len(samples),
                   low=min(samples), high=max(samples))

    def as_json(self) -> dict[str, float]:
        return {"n": self.n, "p50": round(self.p50, 4), "p95": round(self.p95, 4),
                "p99": round(self.p99, 4), "mean": round(self.mean, 4),
                "min": round(self.low, 4), "max": round(self.high, 4)}


class Progress:
    """Progress on stderr: one line per step when stderr is not a terminal (at most one
    every ``every_s`` seconds within a phase), an updated line when it is."""

    def __init__(self, stream: TextIO | None = None, every_s: float = 2.0,
                 quiet: bool = False) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._every = every_s
        self._last = 0.0
        self._start = time.monotonic()
        self._quiet = quiet
        self._open = False

    def phase(self, text: str) -> None:
        """A new phase: always shown."""
        self._write(text, force=True)

    def step(self, text: str, done: int, total: int) -> None:
        self._write(f"{text} {done}/{total}", force=done == total)

    def note(self, text: str) -> None:
        self._write(text, force=True)

    def _write(self, text: str, force: bool) -> None:
        if self._quiet:
            return
        now = time.monotonic()
        if not force and not self._tty and now - self._last < self._every:
            return
        self._last = now
        line = f"[bench {now - self._start:6.1f}s] {text}"
        if self._tty:
            self._stream.write("\r\x1b[K" + line)
            self._open = True
            if force:
                self._stream.write("\n")
                self._open = False
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._stream.flush()
            self._open = False


def schedule(keys: Sequence[K], rounds: int, every: Mapping[K, int], seed: int,
             ) -> list[list[K]]:
    """The order of each round: every key whose ``every`` divides the round number (1 if
    absent), shuffled anew each round so that no level always follows the same one."""
    rng = random.Random(seed)  # noqa: S311 - an order, not a secret
    order: list[list[K]] = []
    for r in range(rounds):
        keys_now = [k for k in keys if r % max(every.get(k, 1), 1) == 0]
        rng.shuffle(keys_now)
        order.append(keys_now)
    return order


def interleaved(cases: Mapping[K, Call], rounds: list[list[K]],
                settle: Callable[[K], None], progress: Progress | None = None,
                label: str = "latency",
                ) -> tuple[dict[K, list[float]], dict[K, list[str]], dict[K, list[str]]]:
    """Time each call of the rounds' order: ``settle(key)`` first (untimed), then
    ``cases[key](0)``. A call that raises is an error of its key, not a sample; the
    warnings calls return are kept too. (samples in ms, errors, warnings) per key."""
    samples: dict[K, list[float]] = {k: [] for k in cases}
    errors: dict[K, list[str]] = {k: [] for k in cases}
    warnings: dict[K, list[str]] = {k: [] for k in cases}
    total = sum(len(r) for r in rounds)
    done = 0
    for i, keys in enumerate(rounds):
        for key in keys:
            settle(key)
            t0 = time.perf_counter()
            try:
                warning = cases[key](0)
            except Exception as exc:  # a level's failure is a result of the benchmark
                errors[key].append(f"{type(exc).__name__}: {exc}")
            else:
                samples[key].append((time.perf_counter() - t0) * 1000)
                if warning is not None:
                    warnings[key].append(warning)
            done += 1
        if progress is not None:
            progress.step(f"{label}: round {i + 1}/{len(rounds)}, runs", done, total)
    return samples, errors, warnings


@dataclass(slots=True)
class Throughput:
    """Runs completed by ``concurrency`` client threads in ``seconds`` of wall time."""

    concurrency: int
    runs: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    first_error: str | None = None
    warnings: int = 0  # runs that worked but printed a warning before their output
    first_warning: str | None = None

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else 0.0

    def add(self, other: Throughput) -> None:
        self.runs += other.runs
        self.errors += other.errors
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms
        self.first_error = self.first_error or other.first_error
        self.warnings += other.warnings
        self.first_warning = self.first_warning or other.first_warning

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"concurrency": self.concurrency, "runs": self.runs,
                                  "errors": self.errors, "seconds": round(self.seconds, 4),
                                  "runs_per_s": round(self.rate, 3)}
        if self.latencies_ms:
            out["latency_ms"] = Summary.of(self.latencies_ms).as_json()
        if self.first_error:
            out["first_error"] = self.first_error
        if self.warnings:
            out["warnings"] = self.warnings
            out["first_warning"] = self.first_warning
        return out


def throughput(fn: Call, concurrency: int, seconds: float) -> Throughput:
    """``concurrency`` threads call ``fn(lane)`` back to back until ``seconds`` have
    passed; calls in flight then finish. The rate is runs over the time until the last
    thread is done, so a slow last call counts against it."""
    result = Throughput(concurrency)
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    ends: list[float] = []
    deadline = [0.0]

    def worker(lane: int) -> None:
        runs = errors = warned = 0
        lat: list[float] = []
        first: str | None = None
        first_warning: str | None = None
        start.wait()
        while time.perf_counter() < deadline[0]:
            t0 = time.perf_counter()
            try:
                warning = fn(lane)
            except Exception as exc:
                errors += 1
                first = first or f"{type(exc).__name__}: {exc}"
            else:
                runs += 1
                lat.append((time.perf_counter() - t0) * 1000)
                if warning is not None:
                    warned += 1
                    first_warning = first_warning or warning
        with lock:
            result.runs += runs
            result.errors += errors
            result.latencies_ms += lat
            result.first_error = result.first_error or first
            result.warnings += warned
            result.first_warning = result.first_warning or first_warning
            ends.append(time.perf_counter())

    threads = [threading.Thread(target=worker, args=(lane,), name=f"bench-client-{lane}",
                                daemon=True) for lane in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    result.seconds = max(ends) - t0 if ends else 0.0
    return result
