"""The namespace backend end to end: what a program inside sees, and what the host keeps."""

from __future__ import annotations

import os
import threading
import time

import pytest

from execbox.sandbox.cgroups import CgroupSettings
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.outcome import ENDED_BY_CLIENT
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec, Stop
from execbox.types import LimitKind, Limits, StageResult, Status

pytestmark = pytest.mark.root

SH = "/bin/sh"


@pytest.fixture(scope="module")
def backend():
    b = NamespaceBackend(SandboxSettings())
    yield b
    b.close()


def sh(backend, script, **kw):
    return backend.run(SandboxSpec(argv=(SH, "-c", script), **kw))


def test_files_in_stdin_and_output(backend):
    r = backend.run(SandboxSpec(
        argv=("/usr/bin/python3", "src/main.py"),
        files=(SandboxFile("src/main.py", b"import sys\nprint(sys.stdin.read().upper())"),),
        stdin=b"hello"))
    assert r.status is Status.OK, r
    assert r.stdout == b"HELLO\n"
    assert r.exit_code == 0 and r.cpu_time_ms >= 0 and r.wall_time_ms >= 0


def test_large_stdin_and_output_both_ways(backend):
    data = os.urandom(3 << 20).hex().encode()  # 6 MiB, far above a pipe buffer
    r = backend.run(SandboxSpec(argv=("/bin/cat",), stdin=data,
                                limits=Limits(output_bytes=len(data))))
    assert r.status is Status.OK and r.stdout == data


def test_identity_and_privileges(backend):
    r = sh(backend, "id -u; id -g; hostname; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|"
                    "NoNewPrivs|Seccomp):' /proc/self/status")
    lines = r.stdout.decode().split("\n")
    uid, gid, host = int(lines[0]), int(lines[1]), lines[2]
    assert uid >= 900_000 and uid == gid and host == "execbox"
    status = dict(line.split(":\t") for line in lines[3:] if line)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, cap
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"


def test_clean_environment_and_no_inherited_descriptors(backend):
    os.environ["EXECBOX_TEST_LEAK"] = "secret"
    try:
        r = sh(backend, "env | sort; ls /proc/self/fd", env={"MINE": "1"})
    finally:
        del os.environ["EXECBOX_TEST_LEAK"]
    out = r.stdout.decode()
    assert "secret" not in out and "MINE=1" in out and "HOME=/tmp" in out
    assert "LANG=C.UTF-8" in out and "TZ=UTC" in out
    fds = [x for x in out.split("\n") if x.isdigit()]
    assert sorted(fds) == ["0", "1", "2", "3"]  # 3 is ls's own directory handle


def test_root_is_read_only_and_built_from_runtime_files(backend):
    r = sh(backend, "ls /; ls /usr/local | wc -l; touch /x /usr/x /etc/x 2>&1; "
                    "echo ok > /box/f && cat /box/f; echo t > /tmp/t && cat /tmp/t")
    out = r.stdout.decode() + r.stderr.decode()
    assert sorted(r.stdout.decode().split("\n")[:11]) == sorted(
        ["bin", "box", "dev", "etc", "lib", "lib64", "proc", "sbin", "tmp", "usr", "0"])
    assert out.count("Read-only file system") == 3
    assert "ok\nt\n" in r.stdout.decode()


def test_sees_no_host_process(backend):
    r = sh(backend, "ls /proc | grep -E '^[0-9]+$'; echo $$")
    pids = [int(x) for x in r.stdout.split()]
    assert max(pids) < 20  # only its own, tiny pids of a fresh namespace
    assert 1 not in pids[:-1]  # the sandbox's init is hidden (hidepid, not dumpable)


def test_collect_never_follows_links(backend):
    r = sh(backend, "echo out > real; ln -s /etc/passwd link; mkdir d; ln -s /etc d2; "
                    "ln -s real link2",
           collect=("real", "link", "d2/passwd", "link2", "missing"))
    assert r.files == {"real": b"out\n"}


def test_unique_uids_for_concurrent_sandboxes(backend):
    uids: list[bytes] = []

    def one() -> None:
        uids.append(sh(backend, "id -u; sleep 0.3").stdout)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(uids)) == 4


def test_limits_are_reported_with_their_kind(backend):
    r = sh(backend, "sleep 5", limits=Limits(wall_time_ms=300))
    assert (r.status, r.limit) == (Status.TIME_LIMIT, LimitKind.WALL_TIME)
    assert 300 <= r.wall_time_ms < 2000
    r = sh(backend, "head -c 100000 /dev/zero", limits=Limits(output_bytes=1000))
    assert (r.status, r.limit, len(r.stdout), r.stdout_truncated) == (
        Status.OUTPUT_LIMIT, LimitKind.OUTPUT, 1000, True)


def test_setup_failure_is_an_internal_error(backend):
    r = backend.run(SandboxSpec(argv=("/no/such/program",)))
    assert r.status is Status.INTERNAL_ERROR and "spawn" in (r.message or "")


def test_teardown_leaves_no_cgroup_and_leftovers_are_swept(tmp_path):
    # a host of its own (state dir, uids, cgroup parent): other execbox runs may be live
    settings = SandboxSettings(state_dir=str(tmp_path), uid_base=970_000, slots=8,
                               cgroup=CgroupSettings(parent=f"execbox-test-{os.getpid()}"))
    backend = NamespaceBackend(settings)
    try:
        for _ in range(3):
            sh(backend, "sleep 0.01 &")
        backend._reaper.drain()
        # kept for the next sandbox (leases.py), every one of them empty
        kept = backend._cgroups.names()
        assert kept and all(backend._cgroups.open(n).procs() == [] for n in kept)
        # a server killed mid-run leaves a group behind: the next backend sweeps it
        backend._cgroups.create(f"box-{settings.uid_base + 7}")
    finally:
        backend.close()
    assert backend._cgroups.names() == [f"box-{settings.uid_base + 7}"]  # only the stray
    other = NamespaceBackend(settings)
    try:
        assert other._cgroups.names() == []
    finally:
        other.close()
        _remove_cgroup_parent(settings.cgroup.parent)


def _remove_cgroup_parent(parent: str) -> None:
    """A test's own (empty by now) cgroup parent, in every hierarchy it was made in: under
    the hierarchy's root, or under this process's own group there (as the drivers put it
    when this process is not in the root group, e.g. in a container's memory hierarchy)."""
    root = "/sys/fs/cgroup"
    own = set()
    with open("/proc/self/cgroup") as f:
        for line in f:
            own.add(line.rstrip("\n").split(":", 2)[2].strip("/"))
    for hierarchy in [root, *(os.path.join(root, d) for d in os.listdir(root))]:
        for base in {"", *own}:
            path = os.path.join(hierarchy, base, parent)
            if os.path.isdir(path):
                for child in os.listdir(path):
                    if os.path.isdir(os.path.join(path, child)):
                        os.rmdir(os.path.join(path, child))
                os.rmdir(path)


KILL_UID_BASE = 1_950_000  # this test's own uids: other sandboxes on the host don't count


def _sandbox_uid_processes() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                uid_line = next(line for line in f if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if KILL_UID_BASE <= int(uid_line.split()[1]) < KILL_UID_BASE + 8:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("victim", ["server", "spawner"])
def test_killing_the_server_or_spawner_mid_run_kills_the_sandbox(victim, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import sys\n"
        "from execbox.sandbox.namespace_backend import NamespaceBackend\n"
        "from execbox.sandbox.spec import SandboxSettings, SandboxSpec\n"
        "from execbox.types import Limits\n"
        "from execbox.sandbox.cgroups import CgroupSettings\n"
        f"b = NamespaceBackend(SandboxSettings(state_dir={str(tmp_path)!r}, slots=8,\n"
        f"    uid_base={KILL_UID_BASE}, cgroup=CgroupSettings(parent='execbox-kill-test')))\n"
        "print(b._spawner._proc.pid, flush=True)\n"
        "b.run(SandboxSpec(argv=('/bin/sh', '-c', '(setsid sleep 1000 &); sleep 1000'),\n"
        "                  limits=Limits(wall_time_ms=600000, cpu_time_ms=600000)))\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    spawner_pid = int(server.stdout.readline())
    deadline = time.monotonic() + 10
    while len(_sandbox_uid_processes()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_sandbox_uid_processes()) >= 3  # init, sh, the daemon's sleep...
    os.kill(server.pid if victim == "server" else spawner_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _sandbox_uid_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_uid_processes() == []
    server.kill()
    server.wait()
    server.stdout.close()
    _remove_cgroup_parent("execbox-kill-test")


def test_two_servers_with_their_own_state_dirs_leave_each_other_alone(tmp_path):
    # same uid range and cgroup parent, different state dirs: the second one's start-up
    # sweep must not touch the first one's running sandbox, nor reuse its uid
    parent = f"execbox-two-{os.getpid()}"

    def settings(name: str) -> SandboxSettings:
        return SandboxSettings(state_dir=str(tmp_path / name), uid_base=1_960_000, slots=4,
                               cgroup=CgroupSettings(parent=parent))

    first = NamespaceBackend(settings("a"))
    results: list[StageResult] = []
    runner = threading.Thread(target=lambda: results.append(first.run(SandboxSpec(
        argv=("/bin/sh", "-c", "sleep 1; id -u")))))
    runner.start()
    time.sleep(0.3)
    second = NamespaceBackend(settings("b"))  # sweeps leftovers at start
    try:
        other = sh(second, "id -u")
        runner.join(10)
        assert results and results[0].status is Status.OK, results
        assert results[0].stdout != other.stdout  # two live sandboxes, two uids
    finally:
        second.close()
        first.close()
        _remove_cgroup_parent(parent)


def test_a_kept_cgroup_carries_nothing_to_the_next_sandbox(tmp_path):
    """Sandboxes one after another get the same (emptied) cgroup (leases.py): the limits,
    the OOM kill and the pids-limit hit, and the memory peak of one are not the next's."""
    settings = SandboxSettings(state_dir=str(tmp_path), uid_base=960_000, slots=8,
                               cgroup=CgroupSettings(parent=f"execbox-test-{os.getpid()}"))
    backend = NamespaceBackend(settings)
    py = "/usr/bin/python3"
    try:
        oom = backend.run(SandboxSpec(argv=(py, "-c", "x = bytearray(200 << 20)"),
                                      limits=Limits(memory_mb=32)))
        assert oom.status is Status.MEMORY_LIMIT, oom
        backend._reaper.drain()
        big = backend.run(SandboxSpec(argv=(py, "-c", "x = bytearray(100 << 20); print('ok')"),
                                      limits=Limits(memory_mb=256)))
        assert (big.status, big.stdout, big.limits_hit) == (Status.OK, b"ok\n", []), big
        assert big.memory_kb >= 100 << 10
        backend._reaper.drain()
        small = backend.run(SandboxSpec(argv=(py, "-c", "print('ok')")))
        assert small.status is Status.OK and small.memory_kb < 50 << 10, small  # own peak
        backend._reaper.drain()
        bomb = sh(backend, "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait",
                  limits=Limits(processes=3))
        assert LimitKind.PROCESSES in bomb.limits_hit, bomb
        backend._reaper.drain()
        after = sh(backend, "echo ok")
        assert (after.status, after.stdout, after.limits_hit) == (Status.OK, b"ok\n", []), after
        backend._reaper.drain()
        template = backend.execute(backend.build(inprocess=(py, "execbox.languages.zygotes."
                                                            "python_zygote:run")),
                                   SandboxSpec(argv=(py, "main.py"),
                                               files=(SandboxFile("main.py", b"print(1)"),)))
        assert (template.status, template.limits_hit) == (Status.OK, []), template
        assert len(backend._cgroups.names()) == 1  # one group served them all
    finally:
        backend.close()
    assert backend._cgroups.names() == []
    _remove_cgroup_parent(settings.cgroup.parent)


@pytest.mark.parametrize("when", ["while it runs", "before it starts"])
def test_a_stop_set_from_another_thread_kills_the_run(backend, when):
    """SandboxSpec.stop: its caller gone, a run on a thread ends within the supervisor's
    poll, not at its own limits."""
    stop = Stop()
    if when == "before it starts":
        stop.set()
    else:
        threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    r = sh(backend, "echo started; sleep 30", stop=stop,
           limits=Limits(wall_time_ms=20_000, cpu_time_ms=10_000))
    took = time.monotonic() - t0
    assert r.status is Status.SIGNALED and r.signal == "SIGKILL", r
    assert r.message == ENDED_BY_CLIENT and r.limit is None
    assert took < 5, took
    if when == "while it runs":
        assert r.stdout == b"started\n" and took >= 0.3
