"""The machine a benchmark ran on: CPU model, cores, kernel, cgroup version, OS."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Machine:
    cpu: str
    cores: int
    kernel: str
    cgroup: str  # "v1", "v2", or "none"
    os: str
    memory_mib: int
    hostname: str

    def describe(self) -> str:
        """One line: what the figures were measured on."""
        return (f"{self.cpu}, {self.cores} cores, {self.memory_mib // 1024} GiB, "
                f"kernel {self.kernel}, cgroup {self.cgroup}, {self.os}")

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model"):
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cgroup_version(mounts: str = "/proc/self/mounts") -> str:
    """"v2" when the unified hierarchy holds the memory controller, "v1" when a v1
    memory hierarchy is mounted, else "none"."""
    v1 = v2_path = None
    try:
        with open(mounts) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4:
                    continue
                if parts[2] == "cgroup2":
                    v2_path = parts[1]
                elif parts[2] == "cgroup" and "memory" in parts[3].split(","):
                    v1 = parts[1]
    except OSError:
        return "none"
    if v2_path is not None:
        try:
            with open(os.path.join(v2_path, "cgroup.controllers")) as f:
                if "memory" in f.read().split():
                    return "v2"
        except OSError:
            pass
    if v1 is not None:
        return "v1"
    return "v2" if v2_path is not None else "none"


def os_name(os_release: str = "/etc/os-release") -> str:
    try:
        with open(os_release) as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def memory_mib(meminfo: str = "/proc/meminfo") -> int:
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def this_machine() -> Machine:
    return Machine(cpu=cpu_model(), cores=os.cpu_count() or 1, kernel=platform.release(),
                   cgroup=cgroup_version(), os=os_name(), memory_mib=memory_mib(),
                   hostname=platform.node())
