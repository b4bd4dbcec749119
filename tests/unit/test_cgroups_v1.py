"""The cgroup v1 driver, mount parsing and detection, against a fake cgroupfs (no root)."""

from __future__ import annotations

import errno
import os

import pytest

from execbox.errors import ConfigError, SandboxSetupError, SandboxUnavailable
from execbox.sandbox.cgroups import CgroupFs, CgroupStats, V1Driver, detect
from execbox.sandbox.cgroups.fs import ControlFiles, check_name, read_keyed, remove_dir
from execbox.sandbox.cgroups.mountinfo import (
    Mount,
    parent_path,
    parse_mountinfo,
    parse_proc_cgroup,
    v1_mount,
)
from execbox.sandbox.cgroups.testing import FakeKernel

OWN = "/process_api/abc"
MIB = 1024 * 1024


@pytest.fixture
def kernel(tmp_path) -> FakeKernel:
    base = tmp_path / "fake root"  # a space: mountinfo escapes it as \040
    base.mkdir()
    return FakeKernel(str(base))


def hybrid(kernel: FakeKernel, *, freezer: bool = True, **settings: str):
    """This host's layout: v1 hierarchies, the memory one nested, a bare unified mount."""
    kernel.mount_v1("memory", own=OWN)
    kernel.mount_v1("pids")
    kernel.mount_v1("cpu", "cpuacct")
    if freezer:
        kernel.mount_v1("freezer")
    kernel.mount_v2(at="unified")
    return kernel.settings(**settings)


@pytest.fixture
def driver(kernel) -> V1Driver:
    found = detect(hybrid(kernel), fs=kernel)
    assert isinstance(found, V1Driver)
    return found


def writes(kernel: FakeKernel) -> list[str]:
    return [what.replace(kernel.root, "") for op, what in kernel.log if op in ("write", "kill")]


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def put(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# --- mountinfo and /proc/self/cgroup -------------------------------------------------


def test_parse_mountinfo_keeps_cgroup_mounts_under_root_and_unescapes():
    text = (
        "22 1 8:1 / / rw shared:1 - ext4 /dev/vda rw\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:7 master:2 - cgroup x rw,cpu,cpuacct\n"
        "33 31 0:30 /docker/x /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory\n"
        "34 1 0:31 / /mnt/cg rw - cgroup cgroup rw,pids\n"
        "35 31 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "garbage\n"
    )
    mounts = parse_mountinfo(text, "/sys/fs/cgroup")
    assert [(m.mount_point, m.fstype, m.root) for m in mounts] == [
        ("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "/"),
        ("/sys/fs/cgroup/my mem", "cgroup", "/docker/x"),
        ("/sys/fs/cgroup/unified", "cgroup2", "/"),
    ]
    assert {"cpu", "cpuacct"} <= mounts[0].super_options


def test_parse_proc_cgroup_splits_comounted_and_named_hierarchies():
    own = parse_proc_cgroup("9:name=systemd:/\n3:cpu,cpuacct:/a\n4:memory:/b:c\n0::/u\n")
    assert own.v1 == {"name=systemd": "/", "cpu": "/a", "cpuacct": "/a", "memory": "/b:c"}
    assert own.v2 == "/u"
    assert parse_proc_cgroup("4:memory:/b\n").v2 is None


def test_mount_dir_of_maps_cgroup_paths_through_the_mount_root():
    sub = Mount("/docker/x", "/cg/memory", "cgroup", frozenset({"memory"}))
    assert sub.dir_of("/docker/x/sb/1") == "/cg/memory/sb/1"
    assert sub.dir_of("/docker/x") == "/cg/memory"
    assert sub.dir_of("/docker/xy") is None
    whole = Mount("/", "/cg/memory", "cgroup", frozenset({"memory"}))
    assert whole.dir_of("/") == "/cg/memory"
    assert whole.dir_of("//a/./b") == "/cg/memory/a/b"


def test_v1_mount_prefers_the_mount_that_shows_the_path():
    hidden = Mount("/other", "/cg/a", "cgroup", frozenset({"memory"}))
    shown = Mount("/", "/cg/b", "cgroup", frozenset({"rw", "memory"}))
    assert v1_mount([hidden, shown], "memory", "/x") is shown
    assert v1_mount([hidden, shown], "pids", "/x") is None


def test_parent_path_relative_absolute_and_rejected():
    assert parent_path("/own", "execbox") == "/own/execbox"
    assert parent_path("/", "a/b") == "/a/b"
    assert parent_path("/own", "/abs/p") == "/abs/p"
    for bad in ("", "/", "a/../b", "..", "a\0b"):
        with pytest.raises(ConfigError, match="cgroup parent"):
            parent_path("/own", bad)


# --- detection -----------------------------------------------------------------------


def test_detect_picks_v1_on_a_hybrid_host_and_creates_the_parents(kernel, driver):
    root = kernel.root
    assert driver.version == 1
    assert driver.parent_dirs == {
        "memory": f"{root}/memory{OWN}/execbox",
        "pids": f"{root}/pids/execbox",
        "cpuacct": f"{root}/cpu,cpuacct/execbox",
        "freezer": f"{root}/freezer/execbox",
    }
    assert os.path.exists(f"{root}/pids/execbox/pids.max")
    assert driver.problems() == []  # idempotent


def test_detect_without_freezer_leaves_it_out(kernel):
    driver = detect(hybrid(kernel, freezer=False), fs=kernel)
    assert isinstance(driver, V1Driver)
    assert "freezer" not in driver.parent_dirs


def test_detect_with_comounted_memory_and_pids_enters_that_hierarchy_once(kernel):
    kernel.mount_v1("memory", "pids", own="/m")
    kernel.mount_v1("cpuacct")
    driver = detect(kernel.settings(), fs=kernel)
    group = driver.create("box")
    assert group.enter_files() == [
        f"{kernel.root}/memory,pids/m/execbox/box/tasks",
        f"{kernel.root}/cpuacct/execbox/box/tasks",
    ]


def test_detect_with_an_absolute_parent(kernel):
    driver = detect(hybrid(kernel, parent="/sandboxes/x"), fs=kernel)
    assert isinstance(driver, V1Driver)
    assert driver.parent_dirs["memory"] == f"{kernel.root}/memory/sandboxes/x"


def test_detect_lists_what_is_missing_for_each_version(kernel):
    kernel.mount_v1("pids")
    kernel.mount_v2(at="unified")
    with pytest.raises(SandboxUnavailable) as caught:
        detect(kernel.settings(), fs=kernel)
    assert caught.value.problems[0].startswith("cgroup v2: ")  # v2 is tried first
    text = "\n".join(caught.value.problems)
    assert "cgroup v1: no cgroup v1 hierarchy with the memory controller" in text
    assert "cgroup v1: no cgroup v1 hierarchy with the cpuacct controller" in text
    assert "cgroup v2: the cgroup2 mount at" in text and "lacks the memory, pids, cpu" in text


def test_detect_reports_a_hierarchy_that_hides_this_process(kernel, tmp_path):
    settings = hybrid(kernel)
    pids = kernel.root.replace(" ", "\\040") + "/pids"
    info = read(settings.mountinfo_path).replace(f" / {pids} ", f" /other {pids} ")
    put(settings.mountinfo_path, info)
    with pytest.raises(SandboxUnavailable, match=r"pids hierarchy mounted at .* shows only /other"):
        detect(settings, fs=kernel)


def test_detect_rejects_a_bad_version_and_unreadable_proc_files(kernel):
    settings = hybrid(kernel)
    with pytest.raises(ConfigError, match="auto, 1 or 2"):
        detect(hybrid(kernel, version="3"), fs=kernel)
    missing = kernel.settings(mountinfo_path=f"{kernel.base}/nope")
    with pytest.raises(SandboxUnavailable, match=r"cannot read .*/nope: \[Errno 2\]"):
        detect(missing, fs=kernel)
    assert settings.version == "auto"


def test_problems_names_a_parent_it_cannot_create_and_a_missing_controller(kernel, driver):
    put(f"{kernel.root}/pids/blocker", "")
    broken = V1Driver({**driver.parent_dirs, "pids": f"{kernel.root}/pids/blocker/x"}, fs=kernel)
    assert any("blocker/x: [ENOTDIR]" in p for p in broken.problems())
    os.unlink(driver.parent_dirs["cpuacct"] + "/cpuacct.usage")
    assert driver.problems() == [
        f"{driver.parent_dirs['cpuacct']} has no cpuacct.usage: " "no cpuacct controller there"
    ]
    with pytest.raises(ValueError, match="pids"):
        V1Driver({"memory": "/m", "cpuacct": "/c"})


# --- one group -----------------------------------------------------------------------


def test_create_makes_a_directory_per_hierarchy_and_enter_files_are_tasks(kernel, driver):
    group = driver.create("box")
    assert group.name == "box"
    assert group.enter_files() == [f"{d}/box/tasks" for d in driver.parent_dirs.values()]
    assert all(os.path.isfile(p) for p in group.enter_files())
    assert driver.names() == ["box"]
    assert driver.open("nope") is None


def test_set_limits_memory_before_memsw_then_pids(kernel, driver):
    group = driver.create("box")
    assert group.swap_limited
    group.set_limits(32 * MIB, 10)
    mem = f"/memory{OWN}/execbox/box"
    assert writes(kernel) == [
        f"{mem}/memory.limit_in_bytes={32 * MIB}",
        f"{mem}/memory.memsw.limit_in_bytes={32 * MIB}",
        "/pids/execbox/box/pids.max=10",
    ]
    kernel.log.clear()
    group.set_limits(64 * MIB, 10)  # raising: memsw must go first (EINVAL otherwise)
    assert writes(kernel)[-3:] == [
        f"{mem}/memory.memsw.limit_in_bytes={64 * MIB}",
        f"{mem}/memory.limit_in_bytes={64 * MIB}",
        "/pids/execbox/box/pids.max=10",
    ]
    assert read(f"{kernel.root}{mem}/memory.memsw.limit_in_bytes") == str(64 * MIB)
    with pytest.raises(ValueError, match="positive"):
        group.set_limits(0, 10)


def test_set_limits_without_swap_accounting_and_errors_name_path_and_errno(kernel):
    kernel.swap = False
    group = detect(hybrid(kernel), fs=kernel).create("box")
    assert not group.swap_limited
    group.set_limits(MIB, 5)
    assert not any("memsw" in w for w in writes(kernel))
    os.unlink(group.dirs["pids"] + "/pids.max")
    error = r"write '5' to .*/pids/execbox/box/pids.max: \[ENOENT\]"
    with pytest.raises(SandboxSetupError, match=error):
        group.set_limits(MIB, 5)


def test_usage_stats_and_reset_peak_read_the_kernel_files(driver):
    group = driver.create("box")
    mem, pids, cpu = (group.dirs[c] for c in ("memory", "pids", "cpuacct"))
    put(f"{cpu}/cpuacct.usage", "123456789\n")
    put(f"{mem}/memory.usage_in_bytes", "4096\n")
    put(f"{mem}/memory.max_usage_in_bytes", "8192\n")
    put(f"{mem}/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    put(f"{pids}/pids.events", "max 3\n")
    assert group.cpu_usage_ns() == 123456789
    assert group.memory_usage_bytes() == 4096
    assert group.stats() == CgroupStats(123456789, 8192, 4096, 2, 3)
    group.reset_peak()
    assert read(f"{mem}/memory.max_usage_in_bytes") == "0"
    put(f"{mem}/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n")  # kernel < 4.13
    os.unlink(f"{pids}/pids.events")
    group = driver.open("box")  # a kernel without the file (a handle keeps files open)
    assert group is not None
    assert group.stats() == CgroupStats(123456789, 0, 4096, 0, 0)
    put(f"{cpu}/cpuacct.usage", "lots")
    with pytest.raises(SandboxSetupError, match="cpuacct.usage holds 'lots'"):
        group.cpu_usage_ns()


def test_procs_is_the_union_over_hierarchies(kernel, driver):
    group = driver.create("box")
    kernel.add_procs(group.dirs["memory"], 7001, 7002)
    kernel.add_procs(group.dirs["pids"], 7002, 7003)
    assert group.procs() == [7001, 7002, 7003]


def test_kill_all_freezes_kills_the_listed_pids_then_thaws(kernel, driver):
    group = driver.create("box")
    kernel.add_procs(group.dirs["memory"], 7001, 7002)
    kernel.log.clear()
    group.kill_all()
    state = group.dirs["freezer"].replace(kernel.root, "") + "/freezer.state"
    assert writes(kernel) == [f"{state}=FROZEN", "7001", "7002", f"{state}=THAWED"]
    assert group.procs() == []


def test_kill_all_without_freezer_loops_until_empty_or_gives_up(kernel):
    driver = detect(hybrid(kernel, freezer=False), fs=kernel)
    group = driver.create("box")
    kernel.add_procs(group.dirs["pids"], 7001)
    group.kill_all()
    assert writes(kernel)[-1] == "7001" and group.procs() == []
    stuck = V1Driver(driver.parent_dirs, fs=kernel, timeout=0.05).create("stuck")
    kernel.add_procs(stuck.dirs["memory"], 7002)
    kernel.immortal.add(7002)
    with pytest.raises(SandboxSetupError, match=r"still holds pids \[7002\] after 0.05 s"):
        stuck.kill_all()


def test_remove_kills_removes_every_directory_and_is_idempotent(kernel, driver):
    group = driver.create("box")
    kernel.add_procs(group.dirs["memory"], 7001)
    group.remove()
    assert not any(os.path.exists(d) for d in group.dirs.values())
    assert driver.open("box") is None and driver.names() == []
    group.remove()


def test_remove_gives_up_on_a_group_that_stays_busy(kernel, driver):
    group = driver.create("box")
    kernel.mkdir(group.dirs["pids"] + "/nested")
    error = r"cannot remove the cgroup .*/pids/execbox/box: \[EBUSY\] for 0.02 s"
    with pytest.raises(SandboxSetupError, match=error):
        remove_dir(kernel, group.dirs["pids"], 0.02)


def test_remove_retries_a_briefly_busy_group(tmp_path):
    class BusyOnce(CgroupFs):
        calls = 0

        def rmdir(self, path: str) -> None:
            self.calls += 1
            if self.calls == 1:
                raise OSError(errno.EBUSY, "busy", path)
            super().rmdir(path)

    (tmp_path / "g").mkdir()
    fs = BusyOnce()
    remove_dir(fs, str(tmp_path / "g"), 1.0)
    assert fs.calls == 2 and not (tmp_path / "g").exists()


def test_create_over_a_leftover_kills_and_removes_it_first(kernel, driver):
    old = driver.create("box")
    kernel.add_procs(old.dirs["memory"], 7001)
    new = driver.create("box")
    assert "7001" in writes(kernel) and new.procs() == []
    assert driver.open("box") is not None


def test_create_undoes_its_directories_when_one_hierarchy_fails(kernel, driver):
    kernel.rmdir(driver.parent_dirs["freezer"])
    error = r"create the cgroup .*/freezer/execbox/box: \[ENOENT\]"
    with pytest.raises(SandboxSetupError, match=error):
        driver.create("box")
    assert driver.names() == [] and driver.open("box") is None


def test_names_and_check_name():
    for bad in ("", ".", "..", "a/b", "a\nb", "cgroup.procs", "tasks"):
        with pytest.raises(ValueError, match="bad cgroup name"):
            check_name(bad)
    assert check_name("slot-1") == "slot-1"


def test_read_keyed(tmp_path):
    path = tmp_path / "events"
    path.write_text("max 4\nother 1\n")
    assert read_keyed(str(path), "max") == 4
    assert read_keyed(str(path), "absent", optional=True) == 0
    assert read_keyed(str(tmp_path / "none"), "max", optional=True) == 0
    with pytest.raises(SandboxSetupError, match="has no 'absent' line"):
        read_keyed(str(path), "absent")
    with pytest.raises(SandboxSetupError, match=r"cannot read .*none: \[ENOENT\]"):
        read_keyed(str(tmp_path / "none"), "max")


@pytest.mark.parametrize("size", [0, 10, 65536, 2 * 65536 + 5])
def test_control_files_read_the_whole_text_each_time(tmp_path, size):
    path = tmp_path / "memory.stat"
    path.write_text("x" * size)
    files = ControlFiles()
    try:
        assert files.read_text(str(path)) == "x" * size
        path.write_text("y" * (size // 2 + 1))  # the same file, its text anew
        assert files.read_text(str(path)) == "y" * (size // 2 + 1)
    finally:
        files.close()
