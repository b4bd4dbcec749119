"""cgroup v1: a sandbox's group is one directory in each hierarchy it needs.

Required: memory, pids, cpuacct. Optional: freezer (kill_all freezes first when it is
mounted). Controllers co-mounted in one hierarchy (``cpu,cpuacct``, or any other
combination) share a directory, which is then entered and removed once.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from contextlib import suppress

from execbox.errors import SandboxSetupError
from execbox.sandbox.cgroups.base import CgroupSettings, CgroupStats
from execbox.sandbox.cgroups.fs import (
    CgroupFs,
    ControlFiles,
    check_name,
    child_dirs,
    failure,
    kill_pid,
    kill_until_empty,
    make_dir,
    make_dirs,
    read_int,
    read_keyed,
    read_pids,
    read_text,
    remove_dir,
    wait_until,
    write,
)
from execbox.sandbox.cgroups.mountinfo import Mount, OwnCgroups, v1_parent_dir

REQUIRED = ("memory", "pids", "cpuacct")
OPTIONAL = ("freezer",)
# A file each controller puts in every non-root group: proof the controller is there.
_PROOF = {
    "memory": "memory.limit_in_bytes",
    "pids": "pids.max",
    "cpuacct": "cpuacct.usage",
    "freezer": "freezer.state",
}


class V1Cgroup:
    """One sandbox's directories, by controller."""

    def __init__(self, name: str, dirs: Mapping[str, str], fs: CgroupFs, timeout: float) -> None:
        self.name = name
        self._dirs = dict(dirs)
        self._unique = list(dict.fromkeys(self._dirs.values()))
        self._fs = fs
        self._timeout = timeout
        self._files = ControlFiles()  # the group is kept across sandboxes on v1 (leases.py)

    @property
    def dirs(self) -> dict[str, str]:
        """controller -> this group's directory in that controller's hierarchy."""
        return dict(self._dirs)

    @property
    def swap_limited(self) -> bool:
        """True when swap accounting exists, so set_limits also caps memory+swap."""
        return os.path.exists(self._file("memory", "memory.memsw.limit_in_bytes"))

    def _file(self, controller: str, name: str) -> str:
        return f"{self._dirs[controller]}/{name}"

    def enter_files(self) -> list[str]:
        return [f"{d}/tasks" for d in self._unique]

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        if memory_bytes < 1 or pids < 1:
            raise ValueError(f"limits must be positive: memory {memory_bytes}, pids {pids}")
        value = str(memory_bytes)
        limit = self._file("memory", "memory.limit_in_bytes")
        memsw = self._file("memory", "memory.memsw.limit_in_bytes")
        if not os.path.exists(memsw):
            write(self._fs, limit, value)
        else:
            # The kernel keeps memsw >= limit (EINVAL otherwise): from the unlimited default
            # the limit goes first; raising a lower earlier limit needs memsw first.
            try:
                self._fs.write(limit, value)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise failure(f"write {value!r} to", limit, e) from e
                write(self._fs, memsw, value)
                write(self._fs, limit, value)
            else:
                write(self._fs, memsw, value)
        write(self._fs, self._file("pids", "pids.max"), str(pids))

    def cpu_usage_ns(self) -> int:
        return read_int(self._file("cpuacct", "cpuacct.usage"), self._files.read_text)

    def memory_usage_bytes(self) -> int:
        return read_int(self._file("memory", "memory.usage_in_bytes"), self._files.read_text)

    def reset_peak(self) -> None:
        write(self._fs, self._file("memory", "memory.max_usage_in_bytes"), "0")

    @property
    def peak_resettable(self) -> bool:
        return True

    def stats(self) -> CgroupStats:
        return CgroupStats(
            cpu_usage_ns=self.cpu_usage_ns(),
            memory_peak_bytes=read_int(self._file("memory", "memory.max_usage_in_bytes"),
                                       self._files.read_text),
            memory_current_bytes=self.memory_usage_bytes(),
            oom_kills=read_keyed(self._file("memory", "memory.oom_control"), "oom_kill",
                                 optional=True, read=self._files.read_text),
            pids_max_hits=read_keyed(self._file("pids", "pids.events"), "max", optional=True,
                                     read=self._files.read_text),
        )

    def procs(self) -> list[int]:
        """Every pid in the group, in any of its hierarchies (a half-done attach included)."""
        pids: set[int] = set()
        for d in self._unique:
            # opened anew each time: a v1 pid list read through a kept descriptor is the
            # one built at its first read (the kernel caches it per open file)
            pids.update(read_pids(f"{d}/cgroup.procs"))
        return sorted(pids)

    def _kill_each(self, pids: list[int]) -> None:
        for pid in pids:
            kill_pid(self._fs, pid)

    def kill_all(self) -> None:
        if not self.procs():  # the usual case: the sandbox's init already took all down
            return
        freezer = self._dirs.get("freezer")
        if freezer is not None and os.path.isdir(freezer):
            # Frozen, nothing can fork between reading the list and the kills.
            state = f"{freezer}/freezer.state"
            write(self._fs, state, "FROZEN")
            try:
                # A task in uninterruptible sleep can hold FREEZING; the loop below then
                # finishes the job, so the freeze wait is short.
                wait_until(lambda: read_text(state).strip() == "FROZEN", self._timeout / 4)
                self._kill_each(self.procs())
            finally:
                write(self._fs, state, "THAWED")
        kill_until_empty(", ".join(self._unique), self.procs, self._kill_each, self._timeout)

    def remove(self) -> None:
        self.kill_all()
        self._files.close()
        for d in self._unique:
            remove_dir(self._fs, d, self._timeout)


class V1Driver:
    """Sandbox groups under one parent directory per hierarchy."""

    version: int = 1

    def __init__(
        self,
        parents: Mapping[str, str],
        *,
        fs: CgroupFs | None = None,
        timeout: float = 2.0,
    ) -> None:
        """``parents``: controller -> the parent group's directory in its hierarchy (memory,
        pids and cpuacct; freezer if used); ``timeout``: seconds kill_all and remove may take.
        """
        absent = [c for c in REQUIRED if c not in parents]
        if absent:
            raise ValueError(f"no parent directory for the {', '.join(absent)} hierarchy")
        self._parents = dict(parents)
        self._fs = fs or CgroupFs()
        self._timeout = timeout

    @property
    def parent_dirs(self) -> dict[str, str]:
        return dict(self._parents)

    def _group(self, name: str) -> V1Cgroup:
        dirs = {c: f"{p}/{check_name(name)}" for c, p in self._parents.items()}
        return V1Cgroup(name, dirs, self._fs, self._timeout)

    def create(self, name: str) -> V1Cgroup:
        leftover = self.open(name)
        if leftover is not None:
            leftover.remove()
        group = self._group(name)
        made: list[str] = []
        try:
            for d in dict.fromkeys(group.dirs.values()):
                make_dir(self._fs, d)
                made.append(d)
        except BaseException:
            for d in made:
                with suppress(SandboxSetupError):  # the first error is the one to report
                    remove_dir(self._fs, d, self._timeout)
            raise
        return group

    def open(self, name: str) -> V1Cgroup | None:
        group = self._group(name)
        return group if any(os.path.isdir(d) for d in group.dirs.values()) else None

    def names(self) -> list[str]:
        found: set[str] = set()
        for parent in set(self._parents.values()):
            found.update(child_dirs(parent))
        return sorted(found)

    def problems(self) -> list[str]:
        """Create the parent directories if needed; report what is missing or unwritable."""
        problems: list[str] = []
        for controller, parent in self._parents.items():
            try:
                make_dirs(self._fs, parent)
            except SandboxSetupError as e:  # names the path and the errno
                problems.append(str(e))
                continue
            proof = _PROOF.get(controller)
            if proof and not os.path.exists(f"{parent}/{proof}"):
                problems.append(f"{parent} has no {proof}: no {controller} controller there")
            if not os.access(f"{parent}/tasks", os.W_OK):
                problems.append(f"cannot write {parent}/tasks: [EACCES] run as root or delegate")
        return list(dict.fromkeys(problems))  # co-mounted controllers share a parent


def build(
    settings: CgroupSettings, mounts: list[Mount], own: OwnCgroups, fs: CgroupFs | None = None
) -> V1Driver | list[str]:
    """A driver for the v1 hierarchies mounted here, or what is missing for one."""
    parents: dict[str, str] = {}
    missing: list[str] = []
    for controller in REQUIRED + OPTIONAL:
        try:
            parents[controller] = v1_parent_dir(settings, mounts, own, controller)
        except LookupError as e:
            if controller in REQUIRED:  # an optional one (freezer) is left out
                missing.append(str(e))
    return missing or V1Driver(parents, fs=fs)
