"""cgroup v2: a sandbox's group is one directory of the unified hierarchy."""

from __future__ import annotations

import os
from collections.abc import Sequence

from execbox.errors import SandboxSetupError
from execbox.sandbox.cgroups.base import CgroupSettings, CgroupStats
from execbox.sandbox.cgroups.delegate import delegate
from execbox.sandbox.cgroups.fs import (
    CgroupFs,
    check_name,
    child_dirs,
    kill_pid,
    kill_until_empty,
    make_dir,
    read_int,
    read_keyed,
    read_pids,
    read_text,
    remove_dir,
    write,
)
from execbox.sandbox.cgroups.mountinfo import Mount, OwnCgroups, parent_path, v2_mount

REQUIRED = ("memory", "pids", "cpu")


class V2Cgroup:
    """One sandbox's directory."""

    def __init__(self, name: str, directory: str, fs: CgroupFs, timeout: float) -> None:
        self.name = name
        self.dir = directory
        self._fs = fs
        self._timeout = timeout

    @property
    def swap_limited(self) -> bool:
        """True when the kernel has swap accounting, so set_limits also sets swap.max=0."""
        return os.path.exists(f"{self.dir}/memory.swap.max")

    def enter_files(self) -> list[str]:
        return [f"{self.dir}/cgroup.procs"]

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        if memory_bytes < 1 or pids < 1:
            raise ValueError(f"limits must be positive: memory {memory_bytes}, pids {pids}")
        write(self._fs, f"{self.dir}/memory.max", str(memory_bytes))
        if self.swap_limited:
            write(self._fs, f"{self.dir}/memory.swap.max", "0")
        write(self._fs, f"{self.dir}/pids.max", str(pids))

    def cpu_usage_ns(self) -> int:
        return read_keyed(f"{self.dir}/cpu.stat", "usage_usec") * 1000

    def memory_usage_bytes(self) -> int:
        return read_int(f"{self.dir}/memory.current")

    def reset_peak(self) -> None:
        """A no-op. Since Linux 6.12 a write to memory.peak resets the watermark only as seen
        through the descriptor written to, and stats() reads through a fresh one; before
        6.12 the file is read-only. A group serves one run by default and starts at 0."""

    @property
    def peak_resettable(self) -> bool:
        return False  # see reset_peak: a v2 group is not kept for a later sandbox

    def stats(self) -> CgroupStats:
        peak = f"{self.dir}/memory.peak"
        return CgroupStats(
            cpu_usage_ns=self.cpu_usage_ns(),
            memory_peak_bytes=read_int(peak) if os.path.exists(peak) else 0,
            memory_current_bytes=self.memory_usage_bytes(),
            oom_kills=read_keyed(f"{self.dir}/memory.events", "oom_kill", optional=True),
            pids_max_hits=read_keyed(f"{self.dir}/pids.events", "max", optional=True),
        )

    def procs(self) -> list[int]:
        return sorted(read_pids(f"{self.dir}/cgroup.procs"))

    def _kill(self, pids: list[int]) -> None:
        kill_file = f"{self.dir}/cgroup.kill"
        if os.path.exists(kill_file):  # Linux 5.14+: one write kills the whole subtree
            write(self._fs, kill_file, "1")
            return
        for pid in pids:
            kill_pid(self._fs, pid)

    def kill_all(self) -> None:
        kill_until_empty(self.dir, self.procs, self._kill, self._timeout)

    def remove(self) -> None:
        self.kill_all()
        remove_dir(self._fs, self.dir, self._timeout)


class V2Driver:
    """Sandbox groups under one parent group of the unified hierarchy."""

    version: int = 2

    def __init__(
        self,
        mount: Mount,
        own_path: str,
        parent_path: str,
        *,
        controllers: Sequence[str] = REQUIRED,
        fs: CgroupFs | None = None,
        timeout: float = 2.0,
    ) -> None:
        """``own_path``: this process's cgroup; ``parent_path``: the cgroup the sandboxes go
        under (the mount must show it); ``controllers``: what problems() enables down to it;
        ``timeout``: seconds kill_all and remove may take."""
        parent_dir = mount.dir_of(parent_path)
        if parent_dir is None:
            raise ValueError(f"the cgroup2 mount at {mount.mount_point} hides {parent_path}")
        self.parent_dir = parent_dir
        self._mount = mount
        self._own = own_path
        self._parent = parent_path
        self._controllers = tuple(controllers)
        self._fs = fs or CgroupFs()
        self._timeout = timeout

    def _group(self, name: str) -> V2Cgroup:
        return V2Cgroup(name, f"{self.parent_dir}/{check_name(name)}", self._fs, self._timeout)

    def create(self, name: str) -> V2Cgroup:
        leftover = self.open(name)
        if leftover is not None:
            leftover.remove()
        group = self._group(name)
        make_dir(self._fs, group.dir)
        return group

    def open(self, name: str) -> V2Cgroup | None:
        group = self._group(name)
        return group if os.path.isdir(group.dir) else None

    def names(self) -> list[str]:
        return child_dirs(self.parent_dir)

    def problems(self) -> list[str]:
        """Create the parent group and enable the controllers down to it (this may move this
        process into a leaf group, see :mod:`.delegate`); report what stops it."""
        offered_at = f"{self._mount.mount_point}/cgroup.controllers"
        try:
            offered = read_text(offered_at).split()
        except SandboxSetupError as e:
            return [str(e)]
        absent = [c for c in self._controllers if c not in offered]
        if absent:
            return [
                f"the cgroup2 mount at {self._mount.mount_point} lacks the "
                f"{', '.join(absent)} controller(s) ({offered_at} lists: "
                f"{' '.join(offered) or 'none'}); on a hybrid host they are bound to v1"
            ]
        return delegate(self._fs, self._mount, self._own, self._parent, self._controllers)


def build(
    settings: CgroupSettings, mounts: list[Mount], own: OwnCgroups, fs: CgroupFs | None = None
) -> V2Driver | list[str]:
    """A driver for the cgroup2 mount here, or the problems that leave none to build."""
    mount = v2_mount(mounts, settings.root)
    if mount is None:
        return [f"no cgroup2 filesystem is mounted under {settings.root}"]
    if own.v2 is None:
        return [f"{settings.proc_cgroup_path} has no '0::' line for the cgroup2 hierarchy"]
    path = parent_path(own.v2, settings.parent)
    if mount.dir_of(path) is None:
        return [f"the cgroup2 mount at {mount.mount_point} shows only {mount.root}, not {path}"]
    return V2Driver(mount, own.v2, path, fs=fs)
