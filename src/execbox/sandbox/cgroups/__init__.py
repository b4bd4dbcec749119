"""Per-sandbox cgroups: memory (no swap), pids and CPU accounting, and kill-by-cgroup.

Two sibling drivers behind one protocol: :mod:`.v1` (a directory per hierarchy) and
:mod:`.v2` (the unified hierarchy). :func:`detect` picks the one this host can run.
"""

from __future__ import annotations

from execbox.errors import ConfigError, SandboxUnavailable
from execbox.sandbox.cgroups import v1, v2
from execbox.sandbox.cgroups.base import (
    Cgroup,
    CgroupDriver,
    CgroupSettings,
    CgroupStats,
)
from execbox.sandbox.cgroups.fs import CgroupFs
from execbox.sandbox.cgroups.mountinfo import read_mounts, read_own
from execbox.sandbox.cgroups.v1 import V1Cgroup, V1Driver
from execbox.sandbox.cgroups.v2 import V2Cgroup, V2Driver

__all__ = [
    "Cgroup",
    "CgroupDriver",
    "CgroupFs",
    "CgroupSettings",
    "CgroupStats",
    "V1Cgroup",
    "V1Driver",
    "V2Cgroup",
    "V2Driver",
    "detect",
]


def detect(settings: CgroupSettings, fs: CgroupFs | None = None) -> CgroupDriver:
    """The driver for the cgroups mounted at or below ``settings.root``, parent prepared.

    "auto" takes v2 when a cgroup2 mount offers memory, pids and cpu (a pure v2 host, or a
    hybrid one whose unified mount has them), else v1 when memory, pids and cpuacct v1
    hierarchies are mounted (any co-mounts). The chosen driver's problems() must be empty:
    it creates the parent group (v2: enables the controllers down to it, which may move
    this process into a leaf group). Raises SandboxUnavailable listing, for each version
    tried, what is missing and why; ConfigError for a bad ``settings.version`` or parent.
    ``fs`` replaces the kernel for tests.
    """
    if settings.version not in ("auto", "1", "2"):
        raise ConfigError(f"cgroup version must be auto, 1 or 2, not {settings.version!r}")
    mounts = read_mounts(settings.mountinfo_path, settings.root)
    own = read_own(settings.proc_cgroup_path)
    problems: list[str] = []
    for version in ("2", "1") if settings.version == "auto" else (settings.version,):
        built = (
            v2.build(settings, mounts, own, fs)
            if version == "2"
            else v1.build(settings, mounts, own, fs)
        )
        found = built if isinstance(built, list) else built.problems()
        if not found and not isinstance(built, list):
            return built
        problems += [f"cgroup v{version}: {p}" for p in found]
    raise SandboxUnavailable(problems)
