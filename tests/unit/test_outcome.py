"""Facts → exactly one status, by the documented precedence."""

import signal

import pytest

from execbox.sandbox import protocol
from execbox.sandbox.cgroups import CgroupStats
from execbox.sandbox.outcome import decide
from execbox.sandbox.supervisor import RawOutcome
from execbox.types import LimitKind, Limits, Status

LIMITS = Limits(cpu_time_ms=1000)


def raw(wait_status=None, *, error=None, killed_for=None, oom=0, pids_hits=0, cpu_ns=5_000_000,
        started=True):
    frames = protocol.FrameReader()
    if started:
        frames.frames.append((protocol.STARTED, {"pid": 2}))
    if error:
        frames.frames.append((protocol.ERROR, error))
    if wait_status is not None:
        frames.frames.append((protocol.EXIT, {"wait_status": wait_status, "cpu_ns": cpu_ns,
                                              "maxrss_kb": 900, "wall_ns": 7_000_000,
                                              "files": []}))
    r = RawOutcome(frames=frames, killed_for=killed_for, started_at=1.0 if started else None,
                   ended_at=1.5)
    r.stats = CgroupStats(cpu_usage_ns=0, memory_peak_bytes=4 << 20, memory_current_bytes=0,
                          oom_kills=oom, pids_max_hits=pids_hits)
    return r


def exited(code):
    return code << 8


def killed(sig):
    return int(sig)


def test_ok_and_measurements():
    r = decide(raw(exited(0)), LIMITS)
    assert r.status is Status.OK and r.exit_code == 0
    assert (r.cpu_time_ms, r.wall_time_ms, r.memory_kb) == (5, 7, 4096)  # cgroup peak


def test_runtime_error_keeps_the_code():
    r = decide(raw(exited(3)), LIMITS)
    assert (r.status, r.exit_code) == (Status.RUNTIME_ERROR, 3)


@pytest.mark.parametrize("sig,status", [(signal.SIGSEGV, Status.SIGNALED),
                                        (signal.SIGABRT, Status.SIGNALED),
                                        (signal.SIGSYS, Status.BLOCKED_SYSCALL)])
def test_signals(sig, status):
    r = decide(raw(killed(sig)), LIMITS)
    assert r.status is status and r.signal == sig.name


def test_file_size_is_an_output_limit():
    r = decide(raw(killed(signal.SIGXFSZ)), LIMITS)
    assert (r.status, r.limit) == (Status.OUTPUT_LIMIT, LimitKind.FILE_SIZE)


def test_cpu_over_limit_even_if_it_finished():
    r = decide(raw(exited(0), cpu_ns=1_200_000_000), LIMITS)
    assert (r.status, r.limit) == (Status.TIME_LIMIT, LimitKind.CPU_TIME)


def test_sigxcpu_is_time_limit():
    r = decide(raw(killed(signal.SIGXCPU)), LIMITS)
    assert (r.status, r.limit) == (Status.TIME_LIMIT, LimitKind.CPU_TIME)


def test_precedence_output_then_memory_then_wall():
    assert decide(raw(killed_for="output", oom=1), LIMITS).status is Status.OUTPUT_LIMIT
    r = decide(raw(killed_for="wall", oom=1), LIMITS)
    assert (r.status, r.limit) == (Status.MEMORY_LIMIT, LimitKind.MEMORY)
    r = decide(raw(killed_for="wall"), LIMITS)
    assert (r.status, r.limit) == (Status.TIME_LIMIT, LimitKind.WALL_TIME)


def test_setup_error_is_internal():
    r = decide(raw(error={"stage": "mounts", "errno": 1, "message": "PermissionError"},
                   started=False), LIMITS)
    assert r.status is Status.INTERNAL_ERROR and "mounts" in (r.message or "")


def test_init_vanishing_is_internal():
    r = decide(raw(None), LIMITS)
    assert r.status is Status.INTERNAL_ERROR


def test_processes_limit_is_recorded():
    r = decide(raw(exited(1), pids_hits=3), LIMITS)
    assert r.status is Status.RUNTIME_ERROR and LimitKind.PROCESSES in r.limits_hit
