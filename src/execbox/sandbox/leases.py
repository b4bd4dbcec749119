"""Slots a backend keeps between sandboxes, each with its cgroup, emptied and ready.

A slot (a uid and the cgroup named after it, see :mod:`.users`) used to be locked, its
cgroup made, limited, and removed again for every sandbox: on a cgroup v1 host that is a
directory in three or four hierarchies, each created and destroyed by the kernel (and its
workers) — about 0.3 to 0.5 ms of the machine per sandbox. A lease keeps the slot's lock
and its cgroup after a sandbox: once that sandbox's init has been reaped, every process of
it is gone (the cgroup is checked empty, and emptied by SIGKILL if it is not, exactly as
before its removal), and the next sandbox of this backend enters the same group. What a
group keeps from one sandbox to the next is handled where it is read: the peak-memory
watermark is reset for each run (as for a reused sandbox), its event counters (OOM kills,
pids-limit hits) are read when the lease comes back and subtracted, and limits are written
only when they differ from the ones in force.

At most ``keep`` leases wait; a slot beyond that, one whose group will not empty, or one
whose group's peak cannot be reset (cgroup v2: ``memory.peak`` is reset only through the
descriptor written to, since Linux 6.12, and read-only before) is given back as before:
group removed, lock released. ``close`` removes every waiting group:
nothing outlives the backend.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from execbox.errors import SandboxSetupError
from execbox.sandbox.cgroups import Cgroup, CgroupDriver, CgroupStats
from execbox.sandbox.users import Slot, SlotAllocator

# Limits under which a sandbox could not even be built (the init and a preloaded program
# before the order): a lease whose last run set lower ones gets the build's caps again.
_BUILD_MEMORY = 64 << 20
_BUILD_PIDS = 4


@dataclass(slots=True)
class Lease:
    slot: Slot
    cgroup: Cgroup
    limits: tuple[int, int] | None = None  # (memory bytes, pids) in force; None: unknown
    base: CgroupStats | None = None  # the group's counters when this sandbox got it

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        """The run's limits, written only if others are in force."""
        if self.limits != (memory_bytes, pids):
            self.limits = None  # unknown until the write is done (it may fail half-way)
            self.cgroup.set_limits(memory_bytes, pids)
            self.limits = (memory_bytes, pids)

    def set_build_limits(self, memory_bytes: int, pids: int) -> None:
        """Before an order (nothing of a request runs yet): whatever is in force will do
        unless it is too low to build with; then the given caps."""
        if (self.limits is None or self.limits[0] < min(memory_bytes, _BUILD_MEMORY)
                or self.limits[1] < min(pids, _BUILD_PIDS)):
            self.set_limits(memory_bytes, pids)


class Leases:
    def __init__(self, slots: SlotAllocator, cgroups: CgroupDriver, keep: int = 32) -> None:
        self._slots = slots
        self._cgroups = cgroups
        self._keep = keep
        self._idle: list[Lease] = []
        self._lock = threading.Lock()

    def take(self) -> Lease:
        """A waiting lease, else a new slot with a new group (SandboxSetupError if none)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        slot = self._slots.acquire()
        try:
            return Lease(slot, self._cgroups.create(slot.name))
        except BaseException:
            self._slots.release(slot)
            raise

    def give_back(self, lease: Lease) -> None:
        """After the sandbox's init was reaped: empty the group and keep it for the next
        sandbox, or remove it and free the slot. Raises what removing it raised."""
        if not lease.cgroup.peak_resettable:  # its next sandbox would get this one's peak
            self.drop(lease)
            return
        try:
            lease.cgroup.kill_all()
            lease.base = lease.cgroup.stats()
        except SandboxSetupError:
            self.drop(lease)
            raise
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(lease)
                return
        self.drop(lease)

    def drop(self, lease: Lease) -> None:
        """Remove the group (killing what is in it) and free the slot, come what may."""
        try:
            lease.cgroup.remove()
        finally:
            self._slots.release(lease.slot)

    def close(self) -> None:
        """Remove every waiting group and free its slot."""
        with self._lock:
            idle, self._idle = self._idle, []
        errors = []
        for lease in idle:
            try:
                self.drop(lease)
            except SandboxSetupError as exc:
                errors.append(str(exc))
        if errors:
            raise SandboxSetupError("; ".join(errors))
