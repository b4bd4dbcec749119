"""A fake cgroupfs for tests that need no root: plain files laid out as the kernel does.

:class:`FakeKernel` builds the tree, this process's own groups and the /proc files, and
plays the kernel through the :class:`CgroupFs` seam: mkdir adds control files, writes to
``cgroup.procs``/``tasks`` move pids, ``cgroup.subtree_control`` obeys the no-internal-
processes rule, ``cgroup.kill``/kill() end pids, rmdir refuses busy groups, v1 keeps
memsw >= limit. Every call is logged in ``log`` for tests of the order of operations.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

from execbox.sandbox.cgroups.base import CgroupSettings
from execbox.sandbox.cgroups.fs import CgroupFs

_UNLIMITED = "9223372036854771712"
_V1_FILES = {
    "memory": {
        "memory.limit_in_bytes": _UNLIMITED,
        "memory.usage_in_bytes": "0",
        "memory.max_usage_in_bytes": "0",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0",
    },
    "pids": {"pids.max": "max", "pids.current": "0", "pids.events": "max 0"},
    "cpuacct": {"cpuacct.usage": "0"},
    "cpu": {"cpu.shares": "1024"},
    "freezer": {"freezer.state": "THAWED"},
}
_V2_FILES = {
    "memory": {
        "memory.current": "0",
        "memory.max": "max",
        "memory.peak": "0",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0",
    },
    "pids": {"pids.max": "max", "pids.current": "0", "pids.events": "max 0"},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100"},
}
_V2_CORE = {
    "cgroup.subtree_control": "",
    "cgroup.events": "populated 0\nfrozen 0",
    "cgroup.kill": "",
    "cgroup.type": "domain",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0",
}


@dataclass
class _Mount:
    point: str
    version: int
    controllers: tuple[str, ...]
    real_root: bool  # False: a container's group mounted as "/" (the v2 rule applies there)


def _put(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text + "\n" if text else "")


def _get(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


def _oserror(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


@dataclass
class FakeKernel(CgroupFs):
    """A fake cgroupfs under ``base`` (the tree at ``base``/cgroup, the /proc files beside)."""

    base: str
    swap: bool = True  # swap accounting: memory.memsw.* (v1), memory.swap.max (v2)
    log: list[tuple[str, str]] = field(default_factory=list)
    immortal: set[int] = field(default_factory=set)  # pids kill() cannot end
    _mounts: list[_Mount] = field(default_factory=list)
    _proc: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"{self.base}/cgroup"

    def settings(self, **overrides: str) -> CgroupSettings:
        """Settings pointing at this tree; writes the mountinfo and /proc/self/cgroup files."""
        lines = []
        for i, m in enumerate(self._mounts):
            fstype = "cgroup" if m.version == 1 else "cgroup2"
            opts = ",".join(("rw", *m.controllers))
            point = m.point.replace("\\", "\\134").replace(" ", "\\040")
            lines.append(f"{40 + i} 30 0:{40 + i} / {point} rw,relatime - {fstype} x {opts}")
        _put(f"{self.base}/mountinfo", "\n".join(["30 1 0:5 / / rw - ext4 /dev/vda rw", *lines]))
        _put(f"{self.base}/proc-cgroup", "\n".join(self._proc))
        values = {"root": self.root, "mountinfo_path": f"{self.base}/mountinfo"}
        values |= {"proc_cgroup_path": f"{self.base}/proc-cgroup", **overrides}
        return CgroupSettings(**values)

    def mount_v1(self, *controllers: str, own: str = "/") -> str:
        """Mount a v1 hierarchy of ``controllers`` and put this process in ``own``."""
        return self._mount(1, controllers, own, ",".join(controllers), True)

    def mount_v2(
        self, *controllers: str, own: str = "/", at: str = "", real_root: bool = True
    ) -> str:
        """Mount cgroup2 offering ``controllers`` at ``root``/``at``; this process in ``own``."""
        return self._mount(2, controllers, own, at, real_root)

    def _mount(
        self, version: int, controllers: tuple[str, ...], own: str, at: str, real_root: bool
    ) -> str:
        point = f"{self.root}/{at}".rstrip("/")
        os.makedirs(point, exist_ok=True)
        mount = _Mount(point, version, controllers, real_root)
        self._mounts.append(mount)
        if version == 1:
            self._fill(point, mount, ("cgroup.procs", "tasks"), root=True)
        else:
            _put(f"{point}/cgroup.controllers", " ".join(controllers))
            for name in ("cgroup.procs", "cgroup.subtree_control", "cpu.stat"):
                _put(f"{point}/{name}", _V2_CORE.get(name, ""))
        self._proc.append(
            f"{len(self._proc) + 1 if version == 1 else 0}:"
            f"{','.join(controllers) if version == 1 else ''}:{own}"
        )
        own_dir = point
        for part in own.strip("/").split("/") if own.strip("/") else []:
            own_dir += "/" + part
            if not os.path.isdir(own_dir):
                self.mkdir(own_dir)
        self.add_procs(own_dir, os.getpid())
        return point

    def _at(self, path: str) -> _Mount:
        found = [m for m in self._mounts if path == m.point or path.startswith(m.point + "/")]
        return max(found, key=lambda m: len(m.point))  # the innermost mount holding path

    def _fill(self, d: str, m: _Mount, core: tuple[str, ...], *, root: bool = False) -> None:
        for name in core:
            _put(f"{d}/{name}", _V2_CORE.get(name, ""))
        for c in m.controllers if m.version == 1 else _get(f"{d}/cgroup.controllers").split():
            files = (_V1_FILES if m.version == 1 else _V2_FILES).get(c, {})
            if self.swap and c == "memory":
                swap = "memory.memsw.limit_in_bytes" if m.version == 1 else "memory.swap.max"
                files = {**files, swap: _UNLIMITED if m.version == 1 else "max"}
            for name, text in files.items():
                skip = root and name in ("pids.max", "pids.events")  # as on a real root
                if not skip and not os.path.exists(f"{d}/{name}"):
                    _put(f"{d}/{name}", text)

    def pids_of(self, d: str) -> list[int]:
        return [int(p) for p in _get(f"{d}/cgroup.procs").split()]

    def add_procs(self, d: str, *pids: int) -> None:
        """Put ``pids`` in the group ``d`` (taken out of any other group of its hierarchy)."""
        for pid in pids:
            self._move(self._at(d), d, pid)

    def _groups(self, m: _Mount) -> list[str]:
        """Every group of the hierarchy ``m`` (not of another one mounted inside it)."""
        return [here for here, _, _ in os.walk(m.point) if self._at(here) is m]

    def _move(self, m: _Mount, d: str, pid: int) -> None:
        for here in self._groups(m):
            self._set_pids(m, here, [p for p in self.pids_of(here) if p != pid])
        self._set_pids(m, d, [*self.pids_of(d), pid])

    def _set_pids(self, m: _Mount, d: str, pids: list[int]) -> None:
        _put(f"{d}/cgroup.procs", "\n".join(map(str, pids)))
        if m.version == 1:
            _put(f"{d}/tasks", "\n".join(map(str, pids)))
        elif os.path.exists(f"{d}/cgroup.events"):
            _put(f"{d}/cgroup.events", f"populated {int(bool(pids))}\nfrozen 0")

    def mkdir(self, path: str) -> None:
        self.log.append(("mkdir", path))
        m = self._at(path)
        os.mkdir(path)
        if m.version == 1:
            self._fill(path, m, ("cgroup.procs", "tasks"))
            return
        parent = os.path.dirname(path)
        _put(f"{path}/cgroup.controllers", _get(f"{parent}/cgroup.subtree_control").strip())
        self._fill(path, m, ("cgroup.procs", *_V2_CORE))

    def rmdir(self, path: str) -> None:
        self.log.append(("rmdir", path))
        if not os.path.isdir(path):
            raise _oserror(errno.ENOENT, path)
        with os.scandir(path) as entries:
            if any(e.is_dir() for e in entries) or self.pids_of(path):
                raise _oserror(errno.EBUSY, path)
        for name in os.listdir(path):
            os.unlink(f"{path}/{name}")
        os.rmdir(path)

    def kill(self, pid: int) -> None:
        self.log.append(("kill", str(pid)))
        groups = [(m, here) for m in self._mounts for here in self._groups(m)]
        if not any(pid in self.pids_of(here) for _, here in groups):
            raise _oserror(errno.ESRCH, str(pid))
        if pid not in self.immortal:
            for m, here in groups:
                self._set_pids(m, here, [p for p in self.pids_of(here) if p != pid])

    def write(self, path: str, data: str) -> None:
        self.log.append(("write", f"{path}={data}"))
        if not os.path.isfile(path):
            raise _oserror(errno.ENOENT, path)
        m, d, name = self._at(path), os.path.dirname(path), os.path.basename(path)
        if name in ("cgroup.procs", "tasks"):
            real_root = d == m.point and m.real_root
            if m.version == 2 and not real_root and _get(f"{d}/cgroup.subtree_control").strip():
                raise _oserror(errno.EBUSY, path)
            self._move(m, d, int(data) or os.getpid())
        elif name == "cgroup.subtree_control":
            self._subtree(m, d, data)
        elif name == "cgroup.kill":
            for pid in self.pids_of(d):
                self.kill(pid)
        elif name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
            limit, memsw = f"{d}/memory.limit_in_bytes", f"{d}/memory.memsw.limit_in_bytes"
            new_limit = int(data) if path == limit else int(_get(limit))
            if os.path.exists(memsw) and new_limit > int(data if path == memsw else _get(memsw)):
                raise _oserror(errno.EINVAL, path)
            _put(path, data)
        else:
            _put(path, data)

    def _subtree(self, m: _Mount, d: str, data: str) -> None:
        offered = _get(f"{d}/cgroup.controllers").split()
        enabled = _get(f"{d}/cgroup.subtree_control").split()
        for token in data.split():
            if token[1:] not in offered:
                raise _oserror(errno.ENOENT, f"{d}/cgroup.subtree_control")
        if not (d == m.point and m.real_root) and self.pids_of(d):
            raise _oserror(errno.EBUSY, f"{d}/cgroup.subtree_control")
        for token in data.split():
            c = token[1:]
            enabled = [x for x in enabled if x != c] + ([c] if token[0] == "+" else [])
        _put(f"{d}/cgroup.subtree_control", " ".join(enabled))
        with os.scandir(d) as entries:
            for child in [e.path for e in entries if e.is_dir()]:
                _put(f"{child}/cgroup.controllers", " ".join(enabled))
                self._fill(child, m, ())
