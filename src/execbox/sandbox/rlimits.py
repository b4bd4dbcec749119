"""Resource limits (setrlimit): the per-process backstops beside the cgroup.

Memory is limited by the cgroup, not RLIMIT_AS (which breaks JVMs and lets other allocation
patterns through). RLIMIT_CPU backs up the cgroup CPU poll for a single busy process;
RLIMIT_NPROC counts the sandbox's own uid only, since that uid is unique to it.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from execbox.types import Limits

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Rlimit:
    resource: int
    soft: int
    hard: int


def plan(limits: Limits, open_files: int, stack_mb: int) -> tuple[Rlimit, ...]:
    """Parent side: the rlimits of one run."""
    cpu_s = -(-limits.cpu_time_ms // 1000)  # ceil: the cgroup poll decides to the ms
    stack = (stack_mb or limits.memory_mb) * MIB
    fsize = limits.file_size_mb * MIB
    return (
        Rlimit(resource.RLIMIT_CORE, 0, 0),
        Rlimit(resource.RLIMIT_FSIZE, fsize, fsize),
        Rlimit(resource.RLIMIT_NOFILE, open_files, open_files),
        Rlimit(resource.RLIMIT_STACK, stack, stack),
        Rlimit(resource.RLIMIT_CPU, cpu_s + 1, cpu_s + 2),
        # above the cgroup's pids.max (processes + 1 with the init), so the cgroup refuses
        # first and counts it (pids.events); this stays the backstop
        Rlimit(resource.RLIMIT_NPROC, limits.processes + 2, limits.processes + 2),
        Rlimit(resource.RLIMIT_MSGQUEUE, 0, 0),
        Rlimit(resource.RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024),
    )


def apply(rlimits: tuple[Rlimit, ...]) -> None:
    """Child side."""
    for r in rlimits:
        resource.setrlimit(r.resource, (r.soft, r.hard))
