"""From the facts of one run to exactly one status (pure functions, no kernel needed).

Precedence, first match wins:
    setup failed / stuck          internal_error
    output over the cap           output_limit (limit=output)
    the cgroup's OOM killer fired memory_limit
    wall clock ran out            time_limit (limit=wall_time)
    ended by its client           signaled (SIGKILL; an interactive run's client left/idled)
    CPU over the limit / SIGXCPU  time_limit (limit=cpu_time)
    init vanished without report  internal_error
    died by SIGSYS                blocked_syscall (the seccomp filter killed it)
    died by SIGXFSZ               output_limit (limit=file_size)
    died by another signal        signaled
    non-zero exit                 runtime_error
    otherwise                     ok
"""

from __future__ import annotations

import os
import signal
from typing import Any

from execbox.sandbox import protocol
from execbox.sandbox.supervisor import RawOutcome
from execbox.types import LimitKind, Limits, StageResult, Status

ENDED_BY_CLIENT = "ended by its client"  # an interactive run's client left or idled


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def decide(raw: RawOutcome, limits: Limits) -> StageResult:
    frames = raw.frames
    error = frames.first(protocol.ERROR)
    exited = frames.first(protocol.EXIT)
    stats = raw.stats
    result = StageResult(
        status=Status.OK,
        stdout=bytes(raw.stdout),
        stderr=bytes(raw.stderr),
        stdout_truncated=raw.stdout_truncated,
        stderr_truncated=raw.stderr_truncated,
    )
    _measure(result, raw, exited)
    if stats is not None and stats.pids_max_hits > 0:
        result.limits_hit.append(LimitKind.PROCESSES)

    if error is not None:
        return _internal(result, f"sandbox setup failed at {error.get('stage')}: "
                                 f"{error.get('message')}")
    if raw.killed_for == "setup":
        return _internal(result, "sandbox setup timed out")
    if raw.stuck:
        return _internal(result, "sandbox did not die after SIGKILL")
    if raw.killed_for == "output":
        return _limited(result, Status.OUTPUT_LIMIT, LimitKind.OUTPUT)
    if stats is not None and stats.oom_kills > 0:
        return _limited(result, Status.MEMORY_LIMIT, LimitKind.MEMORY)
    if raw.killed_for == "wall":
        return _limited(result, Status.TIME_LIMIT, LimitKind.WALL_TIME)
    if raw.killed_for == "client":
        result.status = Status.SIGNALED
        result.signal = "SIGKILL"
        result.message = ENDED_BY_CLIENT
        return result
    wait_status = int(exited["wait_status"]) if exited is not None else None
    sig = os.WTERMSIG(wait_status) if wait_status is not None and os.WIFSIGNALED(
        wait_status) else None
    if (raw.killed_for == "cpu" or result.cpu_time_ms > limits.cpu_time_ms
            or sig in (signal.SIGXCPU,)):
        return _limited(result, Status.TIME_LIMIT, LimitKind.CPU_TIME)
    if wait_status is None:
        return _internal(result, "the sandbox's init died without reporting")
    if sig is not None:
        result.signal = signal_name(sig)
        if sig == signal.SIGSYS:
            result.status = Status.BLOCKED_SYSCALL
        elif sig == signal.SIGXFSZ:
            return _limited(result, Status.OUTPUT_LIMIT, LimitKind.FILE_SIZE)
        else:
            result.status = Status.SIGNALED
        return result
    result.exit_code = os.WEXITSTATUS(wait_status)
    result.status = Status.OK if result.exit_code == 0 else Status.RUNTIME_ERROR
    return result


def _measure(result: StageResult, raw: RawOutcome, exited: dict[str, Any] | None) -> None:
    """Times and memory: the init's rusage when it reported, the cgroup's otherwise."""
    stats = raw.stats
    maxrss_kb = 0
    if exited is not None:
        result.wall_time_ms = int(exited["wall_ns"]) // 1_000_000
        result.cpu_time_ms = int(exited["cpu_ns"]) // 1_000_000
        maxrss_kb = int(exited["maxrss_kb"])
    else:
        started = raw.started_at if raw.started_at is not None else raw.ended_at
        result.wall_time_ms = int((raw.ended_at - started) * 1000)
        cpu_ns = raw.cpu_ns
        if stats is not None and raw.started_at is not None:
            cpu_ns = max(cpu_ns, stats.cpu_usage_ns - raw.cpu_baseline_ns)
        result.cpu_time_ms = cpu_ns // 1_000_000
    # The cgroup's peak is what the limit enforces. ru_maxrss is only a fallback: the
    # program is posix_spawned (vfork), and its maxrss starts at the init's shared mm.
    if stats is not None:
        result.memory_kb = max(stats.memory_peak_bytes - raw.memory_baseline, 0) // 1024
    else:
        result.memory_kb = maxrss_kb


def _limited(result: StageResult, status: Status, limit: LimitKind) -> StageResult:
    result.status = status
    result.limit = limit
    if limit not in result.limits_hit:
        result.limits_hit.insert(0, limit)
    return result


def _internal(result: StageResult, message: str) -> StageResult:
    result.status = Status.INTERNAL_ERROR
    result.message = message
    return result
