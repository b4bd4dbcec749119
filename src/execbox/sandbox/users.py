"""Users: every live sandbox runs as a uid no other live sandbox has.

Parent side: a slot allocator. Slot n means uid/gid ``uid_base + n`` and cgroup
``box-<uid>``; it is held with ``flock`` on ``<lock_dir>/<uid>.lock``. The lock directory is
host-wide (not under a server's state dir), so a uid is held by one live sandbox at a time
across every thread and process of the host — several servers, CLI runs, benchmarks, each
with its own state dir — and a cgroup name is never shared either. A slot whose holder
died is free again (the next holder removes what the dead one left).

Child side: ``become`` drops groups, gid and uid, all three ids at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from execbox.errors import SandboxSetupError
from execbox.locks import try_lock


@dataclass(frozen=True, slots=True)
class Slot:
    index: int
    uid: int
    gid: int
    lock_fd: int

    @property
    def name(self) -> str:
        """Its cgroup's name: by uid, unique on the host as the uid is."""
        return f"box-{self.uid}"


class SlotAllocator:
    def __init__(self, lock_dir: str, count: int, uid_base: int) -> None:
        self._dir = lock_dir
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        self._count = count
        self._uid_base = uid_base
        self._next = 0
        self._mutex = threading.Lock()

    def acquire(self) -> Slot:
        """A free slot, or SandboxSetupError when all are taken."""
        with self._mutex:
            start = self._next
            self._next = (self._next + 1) % self._count
        for step in range(self._count):
            index = (start + step) % self._count
            fd = self._try_lock(index)
            if fd is not None:
                uid = self._uid_base + index
                return Slot(index=index, uid=uid, gid=uid, lock_fd=fd)
        raise SandboxSetupError(f"all {self._count} sandbox slots are in use")

    def release(self, slot: Slot) -> None:
        os.close(slot.lock_fd)  # closing the descriptor drops the flock

    def free_slots(self) -> Iterator[Slot]:
        """Lock, yield and release each slot nobody holds (for sweeping leftovers)."""
        for index in range(self._count):
            fd = self._try_lock(index)
            if fd is None:
                continue
            slot = Slot(index=index, uid=self._uid_base + index, gid=self._uid_base + index,
                        lock_fd=fd)
            try:
                yield slot
            finally:
                self.release(slot)

    def _try_lock(self, index: int) -> int | None:
        return try_lock(os.path.join(self._dir, f"{self._uid_base + index}.lock"))


def become(uid: int, gid: int) -> None:
    """Child side: no supplementary groups, then gid, then uid (real, effective, saved)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
