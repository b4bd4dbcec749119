"""What every cgroup driver offers: the records and the protocols the sandbox core calls.

Kept apart from ``__init__`` so that ``v1`` and ``v2`` can import these without a cycle
(``__init__`` imports both drivers for :func:`execbox.sandbox.cgroups.detect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CgroupStats:
    """What one sandbox's cgroup used, read once when a run ends."""

    cpu_usage_ns: int  # total CPU time of the group
    memory_peak_bytes: int  # v1 memory.max_usage_in_bytes ; v2 memory.peak (0 if absent)
    memory_current_bytes: int
    oom_kills: int  # v1: memory.oom_control "oom_kill N" ; v2: memory.events "oom_kill N"
    pids_max_hits: int  # pids.events "max N" (both versions; 0 if file absent)


class Cgroup(Protocol):
    """One sandbox's cgroup (on v1 it spans a directory in several hierarchies)."""

    name: str

    def enter_files(self) -> list[str]:
        """Absolute paths a single-threaded freshly forked child writes b"0" to, to move in.

        v1: the ``tasks`` file of each hierarchy (moves only the calling thread and skips the
        global threadgroup rwsem: 0.26 ms against 6 ms for ``cgroup.procs`` on v1 hosts).
        v2: ``[<dir>/cgroup.procs]``.
        """
        ...

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        """Memory limit with no swap, and the pids limit."""
        ...

    def cpu_usage_ns(self) -> int:
        """CPU time used so far; cheap, polled during a run."""
        ...

    def memory_usage_bytes(self) -> int:
        """Memory charged to the group now."""
        ...

    def reset_peak(self) -> None:
        """Restart the peak-memory watermark (a no-op where the kernel cannot)."""
        ...

    @property
    def peak_resettable(self) -> bool:
        """reset_peak really restarts the watermark: the group can serve a later sandbox
        (leases.py) without that sandbox's peak being an earlier one's."""
        ...

    def stats(self) -> CgroupStats:
        """Everything the group used, for the run's result."""
        ...

    def procs(self) -> list[int]:
        """Every pid in the group."""
        ...

    def kill_all(self) -> None:
        """SIGKILL everything in the group until it is empty (bounded time)."""
        ...

    def remove(self) -> None:
        """kill_all, then remove every directory of the group; idempotent."""
        ...


class CgroupDriver(Protocol):
    """Creates and finds sandbox cgroups under one parent group."""

    version: int  # 1 or 2

    def create(self, name: str) -> Cgroup:
        """A new empty group; a leftover of that name is killed and removed first."""
        ...

    def open(self, name: str) -> Cgroup | None:
        """The existing group of that name, or None."""
        ...

    def names(self) -> list[str]:
        """Names of the child groups under the parent (for leftover sweeps)."""
        ...

    def problems(self) -> list[str]:
        """Prepare the parent group and say what stops this driver from working ([] = fine)."""
        ...


@dataclass(frozen=True, slots=True)
class CgroupSettings:
    """Where execbox puts its cgroups. Passed in; nothing reads a global."""

    # A group name under the process's own cgroup (v1: in each hierarchy), or an absolute
    # cgroup path (as seen in this process's cgroup namespace) if it starts with "/".
    parent: str = "execbox"
    version: str = "auto"  # "auto" | "1" | "2"
    root: str = "/sys/fs/cgroup"  # only cgroup mounts at or below this path are used
    mountinfo_path: str = "/proc/self/mountinfo"
    proc_cgroup_path: str = "/proc/self/cgroup"
