"""Prometheus metrics (DESIGN.md, "Observability"), one registry per app, never global.

Runs by language and status, latency (queue wait, the run itself, the whole request),
limits and kills (OOM, timeouts, seccomp), internal errors; and, read when scraped, the
queue and the warm pool.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from execbox.api.afterwards import Afterwards
from execbox.runner.runner import RunResult
from execbox.service import Service
from execbox.types import Status

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter("execbox_runs", "Finished runs", ["language", "status"], registry=r)
        self.queue_wait = Histogram("execbox_queue_wait_seconds", "Wait for a run slot",
                                    buckets=_BUCKETS, registry=r)
        self.run_time = Histogram("execbox_run_seconds", "Compile + run, sandboxes included",
                                  ["language"], buckets=_BUCKETS, registry=r)
        self.setup_time = Histogram(
            "execbox_setup_seconds", "A run's time outside its program (compiler and "
            "program wall times): warm sandbox hand-over or cold setup, files, collection",
            ["language"], buckets=_BUCKETS, registry=r)
        self.limits = Counter("execbox_limits", "Runs stopped by a limit", ["limit"],
                              registry=r)
        self.oom_kills = Counter("execbox_oom_kills", "Runs killed by the memory cgroup",
                                 registry=r)
        self.seccomp_kills = Counter("execbox_seccomp_kills",
                                     "Runs killed by the seccomp filter", registry=r)
        self.internal_errors = Counter("execbox_internal_errors",
                                       "Runs that failed because of execbox", registry=r)
        self.rejected = Counter("execbox_rejected", "Requests refused before running",
                                ["reason"], registry=r)
        r.register(_LiveState(service))
        # runs' metrics and log lines, access lines: once answers are out
        self.afterwards = Afterwards()

    def observe(self, result: RunResult, queued_s: float, ran_s: float) -> None:
        self.runs.labels(result.language, result.status.value).inc()
        self.queue_wait.observe(queued_s)
        self.run_time.labels(result.language).observe(ran_s)
        programs_ms = sum(s.wall_time_ms for s in (result.compile, result.run) if s)
        self.setup_time.labels(result.language).observe(max(ran_s - programs_ms / 1000, 0.0))
        for stage in (result.compile, result.run):
            if stage is None:
                continue
            if stage.limit is not None:
                self.limits.labels(stage.limit.value).inc()
            if stage.status is Status.MEMORY_LIMIT:
                self.oom_kills.inc()
            elif stage.status is Status.BLOCKED_SYSCALL:
                self.seccomp_kills.inc()
            elif stage.status is Status.INTERNAL_ERROR:
                self.internal_errors.inc()

    def render(self) -> bytes:
        self.afterwards.flush()  # every run answered so far is counted
        return generate_latest(self.registry)


class _LiveState(Collector):
    """Gauges read at scrape time: the queue and every warm pool flavor."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def collect(self) -> Iterator[GaugeMetricFamily]:
        scheduler = self._service.scheduler
        yield GaugeMetricFamily("execbox_queue_depth", "Requests waiting for a run slot",
                                value=scheduler.depth)
        yield GaugeMetricFamily("execbox_runs_in_progress", "Runs executing now",
                                value=scheduler.running)
        pool = self._service.runner.pool
        sandboxes = GaugeMetricFamily("execbox_pool_sandboxes", "Warm pool sandboxes",
                                      labels=["flavor", "state"])
        events = GaugeMetricFamily("execbox_pool_events", "Warm pool events since start",
                                   labels=["flavor", "event"])
        if pool is not None:
            for flavor, stats in pool.stats().items():
                for state in ("warm", "busy", "building"):
                    sandboxes.add_metric([flavor, state], stats[state])
                for event in ("built", "build_failures", "hits", "misses", "discarded",
                              "recycled", "reused"):
                    events.add_metric([flavor, event], stats[event])
        yield sandboxes
        yield events


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def lap(self) -> float:
        now = time.monotonic()
        elapsed, self.start = now - self.start, now
        return elapsed
