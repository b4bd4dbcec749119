"""The cgroup v2 driver, its delegation of controllers and v2 detection, on a fake cgroupfs."""

from __future__ import annotations

import os

import pytest

import execbox.sandbox.cgroups as cgroups
from execbox.errors import SandboxSetupError, SandboxUnavailable
from execbox.sandbox.cgroups import CgroupStats, V1Driver, V2Driver, detect
from execbox.sandbox.cgroups.mountinfo import Mount
from execbox.sandbox.cgroups.testing import FakeKernel

SESSION = "/user.slice/user-0.slice/session-1.scope"
NEEDED = {"memory", "pids", "cpu"}
MIB = 1024 * 1024


@pytest.fixture
def kernel(tmp_path) -> FakeKernel:
    return FakeKernel(str(tmp_path))


def pure_v2(kernel: FakeKernel, own: str = SESSION, **options) -> str:
    """A systemd host: cgroup2 at the root, this process in a session scope."""
    return kernel.mount_v2("cpuset", "cpu", "io", "memory", "pids", own=own, **options)


@pytest.fixture
def driver(kernel) -> V2Driver:
    pure_v2(kernel)
    found = detect(kernel.settings(), fs=kernel)
    assert isinstance(found, V2Driver)
    return found


def enabled(directory: str) -> set[str]:
    with open(f"{directory}/cgroup.subtree_control") as f:
        return set(f.read().split())


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def put(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def writes(kernel: FakeKernel) -> list[str]:
    return [what.replace(kernel.root, "") for op, what in kernel.log if op in ("write", "kill")]


def test_all_is_pinned():
    assert sorted(cgroups.__all__) == [
        "Cgroup", "CgroupDriver", "CgroupFs", "CgroupSettings", "CgroupStats",
        "V1Cgroup", "V1Driver", "V2Cgroup", "V2Driver", "detect",
    ]  # fmt: skip


# --- detection and delegation --------------------------------------------------------


def test_detect_on_pure_v2_enables_controllers_and_moves_into_a_supervisor_leaf(kernel):
    root = pure_v2(kernel)
    driver = detect(kernel.settings(), fs=kernel)
    assert driver.version == 2
    own = root + SESSION
    assert isinstance(driver, V2Driver) and driver.parent_dir == f"{own}/execbox"
    for d in (root, f"{root}/user.slice", f"{root}/user.slice/user-0.slice", own, f"{own}/execbox"):
        assert enabled(d) >= NEEDED, d
    assert kernel.pids_of(f"{own}/execbox-supervisor") == [os.getpid()]
    assert kernel.pids_of(own) == []
    kernel.log.clear()
    assert driver.problems() == []  # idempotent: nothing written again
    assert writes(kernel) == []


def test_detect_in_the_real_root_moves_nothing(kernel):
    root = pure_v2(kernel, own="/")
    driver = detect(kernel.settings(), fs=kernel)
    assert isinstance(driver, V2Driver) and driver.parent_dir == f"{root}/execbox"
    assert kernel.pids_of(root) == [os.getpid()]
    assert not os.path.exists(f"{root}/execbox-supervisor")


def test_detect_in_a_container_root_moves_into_a_leaf(kernel):
    root = pure_v2(kernel, own="/", real_root=False)  # cgroupns: "/" is not the real root
    detect(kernel.settings(), fs=kernel)
    assert kernel.pids_of(f"{root}/execbox-supervisor") == [os.getpid()]
    assert enabled(root) >= NEEDED


def test_detect_explains_the_no_internal_processes_rule_when_others_share_the_group(kernel):
    root = pure_v2(kernel)
    kernel.add_procs(root + SESSION, 4242)
    with pytest.raises(SandboxUnavailable) as caught:
        detect(kernel.settings(), fs=kernel)
    v2 = [p for p in caught.value.problems if p.startswith("cgroup v2:")]
    assert len(v2) == 1
    assert "[EBUSY]" in v2[0] and "[4242]" in v2[0] and "no-internal-processes" in v2[0]
    assert any(p.startswith("cgroup v1: no cgroup v1 hierarchy") for p in caught.value.problems)


def test_an_absolute_parent_under_a_busy_foreign_group_is_not_worked_around(kernel):
    root = pure_v2(kernel)
    kernel.mkdir(f"{root}/busy")
    kernel.add_procs(f"{root}/busy", 4242)
    with pytest.raises(SandboxUnavailable, match=r"busy/cgroup.subtree_control: \[EBUSY\]"):
        detect(kernel.settings(parent="/busy/execbox"), fs=kernel)
    assert kernel.pids_of(root + SESSION) == [os.getpid()]  # this process stayed put


def test_missing_controllers_are_named_with_what_the_mount_offers(kernel):
    kernel.mount_v2("memory", "cpu")
    with pytest.raises(SandboxUnavailable, match=r"lacks the pids controller.*lists: memory cpu"):
        detect(kernel.settings(version="2"), fs=kernel)


def test_a_controller_withheld_by_an_ancestor_is_reported(kernel):
    root = pure_v2(kernel)
    put(f"{root}/cgroup.subtree_control", "cpu memory pids")  # enabled at the root ...
    put(f"{root}/user.slice/cgroup.controllers", "cpu memory")  # ... but pids withheld
    error = r"user.slice/cgroup.subtree_control: \[ENOENT\].*controllers: cpu memory\)"
    with pytest.raises(SandboxUnavailable, match=error):
        detect(kernel.settings(), fs=kernel)


def test_hybrid_host_with_controllers_on_the_unified_mount_uses_v2(kernel):
    kernel.mount_v1("cpuset")
    kernel.mount_v2("memory", "pids", "cpu", at="unified")
    driver = detect(kernel.settings(), fs=kernel)
    assert isinstance(driver, V2Driver)
    assert driver.parent_dir == f"{kernel.root}/unified/execbox"


def test_forced_versions(kernel):
    pure_v2(kernel)
    with pytest.raises(SandboxUnavailable, match="cgroup v1: no cgroup v1 hierarchy with the mem"):
        detect(kernel.settings(version="1"), fs=kernel)
    assert isinstance(detect(kernel.settings(version="2"), fs=kernel), V2Driver)


def test_v2_is_tried_first_but_v1_wins_on_a_bare_unified_mount(kernel):
    for c in ("memory", "pids", "cpuacct"):
        kernel.mount_v1(c)
    kernel.mount_v2(at="unified")
    assert isinstance(detect(kernel.settings(), fs=kernel), V1Driver)


def test_no_cgroup2_line_or_a_hidden_parent(kernel):
    pure_v2(kernel)
    settings = kernel.settings()
    put(settings.proc_cgroup_path, "1:memory:/\n")
    with pytest.raises(SandboxUnavailable, match="has no '0::' line"):
        detect(settings, fs=kernel)
    mount = Mount("/sub", kernel.root, "cgroup2", frozenset())
    with pytest.raises(ValueError, match="hides /elsewhere"):
        V2Driver(mount, "/sub", "/elsewhere", fs=kernel)


# --- one group -----------------------------------------------------------------------


def test_create_enter_files_names_and_open(driver):
    group = driver.create("box")
    assert group.name == "box" and group.dir == f"{driver.parent_dir}/box"
    assert group.enter_files() == [f"{group.dir}/cgroup.procs"]
    assert set(read(f"{group.dir}/cgroup.controllers").split()) >= NEEDED
    assert driver.names() == ["box"]
    assert driver.open("box") is not None and driver.open("other") is None


def test_set_limits_memory_no_swap_and_pids(kernel, driver):
    group = driver.create("box")
    assert group.swap_limited
    group.set_limits(32 * MIB, 10)
    assert read(f"{group.dir}/memory.max") == str(32 * MIB)
    assert read(f"{group.dir}/memory.swap.max") == "0"
    assert read(f"{group.dir}/pids.max") == "10"
    with pytest.raises(ValueError, match="positive"):
        group.set_limits(32 * MIB, 0)


def test_set_limits_without_swap_accounting(kernel):
    kernel.swap = False
    pure_v2(kernel)
    group = detect(kernel.settings(), fs=kernel).create("box")
    assert not group.swap_limited
    group.set_limits(MIB, 3)
    assert not any("swap" in w for w in writes(kernel))
    assert read(f"{group.dir}/memory.max") == str(MIB)


def test_usage_and_stats(driver):
    group = driver.create("box")
    put(f"{group.dir}/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    put(f"{group.dir}/memory.current", "4096\n")
    put(f"{group.dir}/memory.peak", "8192\n")
    put(f"{group.dir}/memory.events", "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
    put(f"{group.dir}/pids.events", "max 5\n")
    assert group.cpu_usage_ns() == 1_500_000
    assert group.memory_usage_bytes() == 4096
    assert group.stats() == CgroupStats(1_500_000, 8192, 4096, 1, 5)
    group.reset_peak()  # a no-op on v2
    assert read(f"{group.dir}/memory.peak") == "8192"
    for name in ("memory.peak", "memory.events", "pids.events"):  # older kernels
        os.unlink(f"{group.dir}/{name}")
    assert group.stats() == CgroupStats(1_500_000, 0, 4096, 0, 0)
    os.unlink(f"{group.dir}/memory.current")
    with pytest.raises(SandboxSetupError, match=r"box/memory.current: \[ENOENT\]"):
        group.memory_usage_bytes()


def test_kill_all_writes_cgroup_kill(kernel, driver):
    group = driver.create("box")
    kernel.add_procs(group.dir, 7001, 7002)
    assert group.procs() == [7001, 7002]
    kernel.log.clear()
    group.kill_all()
    assert writes(kernel)[0].endswith("/box/cgroup.kill=1")
    assert group.procs() == []


def test_kill_all_without_cgroup_kill_kills_each_pid(kernel, driver):
    group = driver.create("box")
    os.unlink(f"{group.dir}/cgroup.kill")  # Linux < 5.14
    kernel.add_procs(group.dir, 7001, 7002)
    kernel.log.clear()
    group.kill_all()
    assert writes(kernel) == ["7001", "7002"] and group.procs() == []


def test_kill_all_gives_up_with_the_pids_left(kernel):
    pure_v2(kernel)
    settings = kernel.settings()
    found = detect(settings, fs=kernel)
    assert isinstance(found, V2Driver)
    mount = Mount("/", kernel.root, "cgroup2", frozenset())
    driver = V2Driver(mount, SESSION, SESSION + "/execbox", fs=kernel, timeout=0.05)
    group = driver.create("box")
    kernel.add_procs(group.dir, 7001)
    kernel.immortal.add(7001)
    with pytest.raises(SandboxSetupError, match=r"box still holds pids \[7001\] after 0.05 s"):
        group.kill_all()


def test_remove_and_create_over_a_leftover(kernel, driver):
    old = driver.create("box")
    kernel.add_procs(old.dir, 7001)
    new = driver.create("box")  # the leftover is killed and removed first
    assert new.procs() == [] and ("kill", "7001") in kernel.log
    new.remove()
    assert not os.path.exists(new.dir) and driver.names() == []
    new.remove()  # idempotent
