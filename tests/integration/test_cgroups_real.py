"""The cgroup drivers against the real kernel: forked children in real groups.

Runs whatever this host has: the full driver of each version whose controllers are
mounted (v1 on hybrid hosts, v2 on pure v2 ones), and the v2 core operations (create,
attach, procs, cgroup.kill, remove) on any cgroup2 mount, controllers or not. Every group
and parent it creates is removed in a ``finally``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from execbox.sandbox.cgroups import (
    Cgroup,
    CgroupDriver,
    CgroupSettings,
    V1Driver,
    V2Driver,
    detect,
)
from execbox.sandbox.cgroups.mountinfo import Mount, read_mounts, read_own, v1_mount

pytestmark = pytest.mark.root

MIB = 1024 * 1024
PARENT = f"execbox-itest-{os.getpid()}"


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates cgroups under /sys/fs/cgroup")


def _cgroup2() -> Mount:
    mount = next((m for m in read_mounts("/proc/self/mountinfo", "/sys/fs/cgroup")
                  if m.fstype == "cgroup2"), None)  # fmt: skip
    if mount is None:
        pytest.skip("no cgroup2 filesystem is mounted under /sys/fs/cgroup")
    return mount


def _usable(version: str) -> bool:
    """Whether this host mounts what the full driver of ``version`` needs (read directly)."""
    mounts = read_mounts("/proc/self/mountinfo", "/sys/fs/cgroup")
    if version == "1":
        return all(v1_mount(mounts, c, "/") for c in ("memory", "pids", "cpuacct"))
    mount = next((m for m in mounts if m.fstype == "cgroup2"), None)
    offered = _read(f"{mount.mount_point}/cgroup.controllers") if mount else ""
    return {"memory", "pids", "cpu"} <= set(offered.split())


def _rmdir(path: str) -> None:
    with suppress(FileNotFoundError):
        os.rmdir(path)


def _teardown(driver: CgroupDriver) -> None:
    for name in driver.names():
        group = driver.open(name)
        if group is not None:
            group.remove()
    if isinstance(driver, V1Driver):
        for d in set(driver.parent_dirs.values()):
            _rmdir(d)
    elif isinstance(driver, V2Driver):
        _rmdir(driver.parent_dir)


@pytest.fixture(params=["1", "2"])
def driver(request) -> Iterator[CgroupDriver]:
    _need_root()
    if not _usable(request.param):
        pytest.skip(f"this host mounts no cgroup v{request.param} memory+pids+cpu controllers")
    found = detect(CgroupSettings(parent=PARENT, version=request.param))
    try:
        yield found
    finally:
        _teardown(found)


@contextmanager
def child_in(group: Cgroup, then: Callable[[], None] = lambda: time.sleep(60)) -> Iterator[int]:
    """Fork a child that moves itself in by writing b"0" to every enter file, burns a little
    CPU, says "ok" through a pipe and runs ``then``. Killed and reaped on exit."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            for path in group.enter_files():
                fd = os.open(path, os.O_WRONLY)
                os.write(fd, b"0")
                os.close(fd)
            sum(range(300_000))
            os.write(w, b"ok")
            then()
        except BaseException as e:
            os.write(w, repr(e).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        assert select.select([r], [], [], 10)[0], "the child did not report"
        assert os.read(r, 4096) == b"ok"
        yield pid
    finally:
        os.close(r)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _killed(pid: int) -> bool:
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_a_forked_child_enters_is_counted_killed_and_removed(driver):
    group = driver.create("enter")
    with child_in(group) as pid:
        assert group.procs() == [pid]
        stats = group.stats()
        assert stats.cpu_usage_ns > 0 and stats.memory_current_bytes > 0
        assert group.cpu_usage_ns() > 0 and group.memory_usage_bytes() > 0
        group.kill_all()
        assert group.procs() == []
        assert _killed(pid)
    group.remove()
    assert driver.open("enter") is None and "enter" not in driver.names()
    group.remove()  # idempotent


def test_set_limits_are_applied(driver):
    group = driver.create("limits")
    group.set_limits(64 * MIB, 32)
    if isinstance(driver, V1Driver):
        mem = group.dirs["memory"]  # type: ignore[attr-defined]
        assert _read(f"{mem}/memory.limit_in_bytes") == str(64 * MIB)
        if group.swap_limited:  # type: ignore[attr-defined]
            assert _read(f"{mem}/memory.memsw.limit_in_bytes") == str(64 * MIB)
        assert _read(f"{group.dirs['pids']}/pids.max") == "32"  # type: ignore[attr-defined]
        group.set_limits(128 * MIB, 16)  # raising a limit: memsw must move first
        assert _read(f"{mem}/memory.limit_in_bytes") == str(128 * MIB)
    else:
        d = group.dir  # type: ignore[attr-defined]
        assert _read(f"{d}/memory.max") == str(64 * MIB)
        assert _read(f"{d}/pids.max") == "32"
        if group.swap_limited:  # type: ignore[attr-defined]
            assert _read(f"{d}/memory.swap.max") == "0"


def test_memory_limit_oom_kills_the_child(driver):
    group = driver.create("oom")
    group.set_limits(32 * MIB, 16)
    with child_in(group, lambda: (bytearray(200 * MIB), time.sleep(60))) as pid:
        assert _killed(pid)
    stats = group.stats()
    assert stats.oom_kills >= 1
    assert stats.memory_peak_bytes <= 33 * MIB  # the limit held
    if driver.version == 1:  # (v2: 0 on kernels before 5.19, which lack memory.peak)
        assert stats.memory_peak_bytes > 16 * MIB  # the child got near the limit


def test_pids_limit_stops_forks_and_is_counted(driver):
    group = driver.create("pids")
    group.set_limits(256 * MIB, 4)

    def fork_many() -> None:
        for _ in range(10):
            with suppress(BlockingIOError):
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
        time.sleep(60)

    with child_in(group, fork_many):
        assert _wait(lambda: group.stats().pids_max_hits >= 1)
        assert len(group.procs()) <= 4
        group.kill_all()
        assert group.procs() == []


def test_kill_all_reaches_a_double_forked_daemon(driver):
    group = driver.create("daemon")

    def daemonize() -> None:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        time.sleep(60)

    with child_in(group, daemonize):
        assert _wait(lambda: len(group.procs()) == 2)
        started = time.monotonic()
        group.kill_all()
        assert group.procs() == [] and time.monotonic() - started < 1


def test_create_kills_and_replaces_a_leftover(driver):
    old = driver.create("again")
    with child_in(old) as pid:
        new = driver.create("again")
        assert _killed(pid)
        assert new.procs() == []


def test_v1_reset_peak_and_kill_all_without_freezer(driver):
    if not isinstance(driver, V1Driver):
        pytest.skip("v1 only: v2 reset_peak is a documented no-op")
    group = driver.create("peak")
    r, w = os.pipe()
    with child_in(group, lambda: (bytearray(16 * MIB), os.write(w, b"x"), time.sleep(60))):
        assert select.select([r], [], [], 10)[0]
        assert group.stats().memory_peak_bytes >= 16 * MIB
        os.close(w)
        os.close(r)
    group.reset_peak()
    assert group.stats().memory_peak_bytes < 16 * MIB
    bare = V1Driver({c: d for c, d in driver.parent_dirs.items() if c != "freezer"})
    loose = bare.create("nofreezer")
    with child_in(loose) as pid:
        loose.kill_all()
        assert _killed(pid) and loose.procs() == []
    loose.remove()


def _wait(done: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --- v2 core operations on the real cgroup2 mount, controllers or not ----------------


@pytest.fixture
def bare_v2() -> Iterator[V2Driver]:
    _need_root()
    mount = _cgroup2()
    own = read_own("/proc/self/cgroup").v2 or "/"
    parent = f"{own.rstrip('/')}/{PARENT}-bare"
    driver = V2Driver(mount, own, parent, controllers=())
    try:
        assert driver.problems() == []  # creates the parent
        yield driver
    finally:
        _teardown(driver)


def test_v2_core_operations_on_the_real_cgroup2_mount(bare_v2):
    group = bare_v2.create("core")
    assert os.path.exists(f"{group.dir}/cgroup.kill"), "cgroup.kill needs Linux 5.14+"
    with child_in(group) as pid:
        assert group.procs() == [pid]
        assert group.cpu_usage_ns() > 0
        group.kill_all()  # through cgroup.kill
        assert group.procs() == [] and _killed(pid)
    group.remove()
    assert not os.path.exists(group.dir) and bare_v2.names() == []
    group.remove()


def test_v2_problems_names_the_controllers_a_bare_mount_lacks():
    _need_root()
    mount = _cgroup2()
    if _usable("2"):
        pytest.skip("this cgroup2 mount has memory, pids and cpu")
    problems = V2Driver(mount, "/", f"/{PARENT}-never").problems()
    assert len(problems) == 1 and "lacks the" in problems[0] and "memory" in problems[0]
    assert not os.path.exists(f"{mount.mount_point}/{PARENT}-never")


def test_v2_moves_into_a_supervisor_leaf_to_enable_controllers():
    """go-judge's way around the no-internal-processes rule, on the real kernel: a forked
    child sits in its own group, then enables a controller below it."""
    _need_root()
    mount = _cgroup2()
    own = read_own("/proc/self/cgroup").v2 or "/"
    own_dir = mount.dir_of(own) or ""
    offered = _read(f"{own_dir}/cgroup.subtree_control").split()
    root_owned = own == mount.root and not offered
    if root_owned:
        offered = _read(f"{own_dir}/cgroup.controllers").split()
    if not offered:
        pytest.skip(f"no controller can be enabled below {own_dir} without touching others")
    controller = offered[0]
    box = f"{own.rstrip('/')}/{PARENT}-own"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.mkdir(mount.dir_of(box) or "")
            with open(f"{mount.dir_of(box)}/cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
            driver = V2Driver(mount, box, f"{box}/execbox", controllers=(controller,))
            problems = driver.problems()
            after = read_own("/proc/self/cgroup").v2
            os.write(w, json.dumps({"problems": problems, "own": after}).encode())
        except BaseException as e:
            os.write(w, json.dumps({"problems": [repr(e)], "own": None}).encode())
        finally:
            os._exit(0)
    os.close(w)
    box_dir = mount.dir_of(box) or ""
    try:
        os.waitpid(pid, 0)
        report = json.loads(os.read(r, 65536))
        assert report == {"problems": [], "own": f"{box}/execbox-supervisor"}
        assert controller in _read(f"{box_dir}/execbox/cgroup.controllers").split()
        assert controller in _read(f"{box_dir}/execbox/cgroup.subtree_control").split()
    finally:
        os.close(r)
        for d in (f"{box_dir}/execbox", f"{box_dir}/execbox-supervisor", box_dir):
            _rmdir(d)
        if root_owned:
            with open(f"{own_dir}/cgroup.subtree_control", "w") as f:
                f.write(f"-{controller}")
