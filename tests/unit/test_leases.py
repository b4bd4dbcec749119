"""Leases (sandbox/leases.py): a slot and its emptied cgroup kept for the next sandbox,
with stand-ins for the cgroup driver (the real groups are tested as root in
tests/integration/test_sandbox_run.py)."""

from __future__ import annotations

import pytest

from execbox.errors import SandboxSetupError
from execbox.sandbox.cgroups import CgroupStats
from execbox.sandbox.leases import Leases
from execbox.sandbox.users import SlotAllocator


class Group:
    def __init__(self, name: str, resettable: bool = True, stuck: bool = False) -> None:
        self.name = name
        self.peak_resettable = resettable
        self.stuck = stuck
        self.removed = False
        self.limits: list[tuple[int, int]] = []
        self.oom_kills = 0

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        self.limits.append((memory_bytes, pids))

    def kill_all(self) -> None:
        if self.stuck:
            raise SandboxSetupError("still holds pids")

    def stats(self) -> CgroupStats:
        return CgroupStats(cpu_usage_ns=0, memory_peak_bytes=0, memory_current_bytes=0,
                           oom_kills=self.oom_kills, pids_max_hits=0)

    def remove(self) -> None:
        self.removed = True


class Driver:
    def __init__(self, **group: bool) -> None:
        self.group = group
        self.made: list[Group] = []

    def create(self, name: str) -> Group:
        self.made.append(Group(name, **self.group))
        return self.made[-1]


def test_a_lease_given_back_serves_the_next_sandbox(tmp_path):
    slots = SlotAllocator(str(tmp_path), 4, 100_000)
    driver = Driver()
    leases = Leases(slots, driver, keep=1)  # type: ignore[arg-type]
    first = leases.take()
    assert first.base is None  # a new group: nothing to subtract
    first.cgroup.oom_kills = 1  # type: ignore[attr-defined]
    leases.give_back(first)
    again = leases.take()
    assert again is first and len(driver.made) == 1
    assert again.base is not None and again.base.oom_kills == 1  # subtracted from its run
    other = leases.take()  # none waiting: a new slot and group
    assert other.slot.uid != first.slot.uid and len(driver.made) == 2
    leases.give_back(again)
    leases.give_back(other)  # beyond keep=1: removed, its slot free again
    assert other.cgroup.removed and not again.cgroup.removed  # type: ignore[attr-defined]
    assert [s.uid for s in slots.free_slots()] == [100_001, 100_002, 100_003]
    leases.close()  # the waiting one goes too
    assert again.cgroup.removed  # type: ignore[attr-defined]
    assert len(list(slots.free_slots())) == 4


def test_limits_are_written_only_when_they_change(tmp_path):
    leases = Leases(SlotAllocator(str(tmp_path), 2, 100_000), Driver())  # type: ignore[arg-type]
    lease = leases.take()
    group = lease.cgroup
    lease.set_build_limits(256 << 20, 65)  # a new group: the caps
    lease.set_limits(128 << 20, 65)  # the run's
    lease.set_build_limits(256 << 20, 65)  # the next build: the run's will do
    lease.set_limits(128 << 20, 65)  # the same run limits again: nothing written
    assert group.limits == [(256 << 20, 65), (128 << 20, 65)]  # type: ignore[attr-defined]
    lease.set_limits(8 << 20, 2)  # a tiny run
    lease.set_build_limits(256 << 20, 65)  # too small to build in: the caps again
    assert group.limits[-2:] == [(8 << 20, 2), (256 << 20, 65)]  # type: ignore[attr-defined]
    leases.close()


@pytest.mark.parametrize("group", [{"resettable": False}, {"stuck": True}])
def test_a_group_that_cannot_serve_again_is_removed(tmp_path, group):
    """cgroup v2's peak cannot be reset for a later sandbox; a group that does not empty
    must not be entered again: both are removed and their slot freed."""
    slots = SlotAllocator(str(tmp_path), 2, 100_000)
    leases = Leases(slots, Driver(**group))  # type: ignore[arg-type]
    lease = leases.take()
    if group.get("stuck"):
        with pytest.raises(SandboxSetupError):
            leases.give_back(lease)
    else:
        leases.give_back(lease)
    assert lease.cgroup.removed  # type: ignore[attr-defined]
    assert len(list(slots.free_slots())) == 2
    assert leases.take() is not lease
