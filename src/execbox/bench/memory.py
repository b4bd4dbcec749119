"""Memory of a warm sandbox: PSS and RSS summed over its processes (its init, and the
preloaded interpreter for a language with a zygote). A warm sandbox's processes are the
ones running as its slot's uid, which no other live sandbox has."""

from __future__ import annotations

import os
from dataclasses import dataclass

from execbox.pool import Flavor
from execbox.sandbox.namespace_backend import NamespaceBackend


@dataclass(frozen=True, slots=True)
class Memory:
    pss_kib: int  # proportional: shared pages divided among their users
    rss_kib: int  # resident: shared pages counted in full
    processes: int

    def as_json(self) -> dict[str, int]:
        return {"pss_kib": self.pss_kib, "rss_kib": self.rss_kib,
                "processes": self.processes}


def memory_of(pids: list[int], proc: str = "/proc") -> Memory:
    pss = rss = 0
    counted = 0
    for pid in pids:
        try:
            with open(f"{proc}/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
            counted += 1
        except OSError:  # gone meanwhile
            pass
    return Memory(pss, rss, counted)


def pids_of_uid(uid: int, proc: str = "/proc") -> list[int]:
    """Processes whose real uid is ``uid``."""
    pids = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            pass
    return pids


def warm_sandbox(backend: NamespaceBackend, flavor: Flavor) -> Memory:
    """Build one warm sandbox of ``flavor``, measure it, throw it away."""
    box = backend.build(flavor.mounts, flavor.caps, flavor.zygote, flavor.inprocess)
    try:
        return memory_of(pids_of_uid(box.uid))
    finally:
        backend.discard(box)
