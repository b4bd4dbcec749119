"""The namespace backend: every layer of DESIGN.md, built per run, from Linux primitives.

Parent side of a run, in order: take a slot (unique uid, cgroup name) → create the cgroup
and set its limits → plan the child (paths resolved, seccomp compiled once per backend)
→ fork the child as pid 1 of a new pid namespace → supervise → tear down (cgroup killed
and removed, slot released) → decide the status.
"""

from __future__ import annotations

import os
from functools import partial

from execbox.errors import SandboxSetupError, SandboxUnavailable
from execbox.sandbox import (
    capabilities,
    child,
    cleanup,
    mounts,
    outcome,
    protocol,
    rlimits,
    seccomp,
)
from execbox.sandbox.cgroups import Cgroup, CgroupDriver, detect
from execbox.sandbox.reaper import Leftover, Reaper
from execbox.sandbox.spawner import Spawner
from execbox.sandbox.spec import SandboxSettings, SandboxSpec
from execbox.sandbox.supervisor import pipes_for_child, supervise
from execbox.sandbox.users import Slot, SlotAllocator
from execbox.types import StageResult

BASE_ENV = {"HOME": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
            "TMPDIR": "/tmp", "USER": "runner", "LOGNAME": "runner"}


class NamespaceBackend:
    name = "namespaces"

    def __init__(self, settings: SandboxSettings,
                 policy: seccomp.SeccompPolicy | None = None) -> None:
        if os.geteuid() != 0:
            raise SandboxUnavailable(["the namespace backend must run as root (it creates "
                                      "namespaces and cgroups, then drops to a sandbox uid)"])
        self.settings = settings
        self._cgroups: CgroupDriver = detect(settings.cgroup)
        problems = self._cgroups.problems()
        if problems:
            raise SandboxUnavailable(problems)
        self._bpf = seccomp.compile_bpf(policy or seccomp.default_policy())
        self._last_cap = capabilities.last_cap()
        self._root_dir = os.path.join(settings.state_dir, "root")
        os.makedirs(self._root_dir, mode=0o755, exist_ok=True)
        self._slots = SlotAllocator(settings.state_dir, settings.slots, settings.uid_base)
        self._spawner = Spawner()
        self._reaper = Reaper()
        cleanup.sweep(self._slots, self._cgroups)

    def close(self) -> None:
        """Wait for pending teardowns, then release the backend's descriptors."""
        self._reaper.drain()
        self._reaper.close()
        self._spawner.close()

    def run(self, spec: SandboxSpec) -> StageResult:
        slot = self._slots.acquire()
        cgroup: Cgroup | None = None
        pidfd: int | None = None
        try:
            cgroup = self._cgroups.create(slot.name)
            limits = spec.limits
            cgroup.set_limits(limits.memory_mb * 1024 * 1024, limits.processes + 1)
            plan = self._plan(spec, slot, tuple(cgroup.enter_files()))
            parent_ends, child_ends = pipes_for_child()
            try:
                _, pidfd = self._spawner.spawn(plan, child_ends)
            except BaseException:
                for fd in (parent_ends.status, parent_ends.stdout, parent_ends.stderr,
                           parent_ends.stdin):
                    os.close(fd)
                raise
            finally:
                for fd in child_ends:
                    os.close(fd)
            raw = supervise(pidfd, parent_ends, spec.stdin, limits, cgroup,
                            self.settings.setup_timeout_ms / 1000)
            raw.stats = cgroup.stats()
        finally:
            if cgroup is not None and pidfd is not None:
                # the init's exit and the cgroup's removal happen off the request path
                self._reaper.submit(Leftover(pidfd, cgroup, partial(self._slots.release, slot)))
            else:
                if cgroup is not None:
                    cgroup.remove()
                self._slots.release(slot)
        result = outcome.decide(raw, limits)
        if spec.collect:
            result.files = _split_files(raw.frames.first(protocol.EXIT), raw.frames.tail)
        return result

    def _plan(self, spec: SandboxSpec, slot: Slot, enter: tuple[str, ...]) -> child.ChildPlan:
        s = self.settings
        root = mounts.plan(self._root_dir, s.runtime_mounts + spec.mounts, s.masked_paths,
                           slot.uid, slot.gid, s.work_dir_mb, s.tmp_mb, s.inodes)
        env = {"PATH": s.path_env, **BASE_ENV, **spec.env}
        return child.ChildPlan(
            argv=spec.argv,
            path=tuple(s.path_env.split(":")),
            env=env,
            cgroup_enter_files=enter,
            hostname=s.hostname,
            root=root,
            files=spec.files,
            rlimits=rlimits.plan(spec.limits, s.open_files, s.stack_mb),
            last_cap=self._last_cap,
            seccomp_bpf=self._bpf,
            collect=spec.collect,
            collect_max_bytes=spec.collect_max_bytes,
        )


def _split_files(exit_frame: dict[str, object] | None, tail: bytes | bytearray,
                 ) -> dict[str, bytes]:
    if exit_frame is None:
        return {}
    files: dict[str, bytes] = {}
    offset = 0
    entries = exit_frame.get("files")
    if not isinstance(entries, list):
        raise SandboxSetupError("malformed files list from the sandbox")
    for name, size in entries:
        files[str(name)] = bytes(tail[offset:offset + int(size)])
        offset += int(size)
    return files
