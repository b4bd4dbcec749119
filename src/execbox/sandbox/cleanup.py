"""Leftovers of a server that was killed mid-run: cgroups of slots nobody holds any more.

Mounts need no sweep: every mount of a sandbox lives in its own mount namespace and goes
with it; processes die with their pid namespace's init. Only cgroups outlive them.
"""

from __future__ import annotations

from execbox.sandbox.cgroups import CgroupDriver
from execbox.sandbox.users import SlotAllocator


def sweep(slots: SlotAllocator, cgroups: CgroupDriver) -> list[str]:
    """Remove the cgroup of every slot that is free; the names removed."""
    existing = set(cgroups.names())
    removed: list[str] = []
    if not existing:
        return removed
    for slot in slots.free_slots():
        if slot.name in existing:
            group = cgroups.open(slot.name)
            if group is not None:
                group.remove()
                removed.append(slot.name)
    return removed
