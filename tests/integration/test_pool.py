"""The warm pool: fresh sandboxes every run (no state crosses), health checks, refill,
exhaustion, and the preloaded interpreter."""

from __future__ import annotations

import threading
import time

import pytest

from execbox.languages.zygotes import source
from execbox.pool import Flavor, PoolExhausted, PoolSettings, WarmPool
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.outcome import ENDED_BY_CLIENT
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec, Stop
from execbox.types import Limits, Status

pytestmark = pytest.mark.root

PY = ("/usr/bin/python3", "-c", source("python"))
FLAVORS = {"sh": Flavor(), "py": Flavor(zygote=PY)}

# Leaves a mark everywhere a later run could see it, then reports what it found.
PROBE = (
    "find /box /tmp /dev/shm -mindepth 1 | tr '\\n' ' '; echo;"
    "ps -e -o comm= 2>/dev/null | sort | tr '\\n' ' ' || ls /proc | grep -c '^[0-9]'; echo;"
    "env | sort | tr '\\n' ' '; echo;"
    "id -u;"
    "cat /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg | grep -vc key;"
    "touch /box/left_$$ /tmp/left_$$ /dev/shm/left_$$; mkdir -m 000 /box/locked;"
    "ipcmk -M 4096 -S 1 -Q >/dev/null; (setsid sleep 30 &) ; export LEAK=1"
)


@pytest.fixture(scope="module")
def backend():
    b = NamespaceBackend(SandboxSettings())
    yield b
    b.close()


@pytest.fixture
def pool(backend):
    p = WarmPool(backend, PoolSettings(min_warm=2, max_size=4, acquire_timeout_s=2), FLAVORS)
    assert p.wait_warm(10)
    yield p
    p.close()


@pytest.mark.parametrize("max_uses", [1, 3])
def test_no_state_crosses_runs(backend, max_uses):
    pool = WarmPool(backend, PoolSettings(min_warm=1, max_size=2, max_uses=max_uses,
                                          cooldown_s=0.01), {"sh": Flavor()})
    try:
        outputs = []
        for _ in range(6):
            r = pool.run("sh", SandboxSpec(argv=("/bin/sh", "-c", PROBE)))
            assert r.status is Status.OK, r
            outputs.append(r.stdout.decode())
        stats = pool.stats()["sh"]
    finally:
        pool.close()
    for out in outputs:
        lines = out.split("\n")
        assert lines[0] == "", out  # /box, /tmp, /dev/shm: empty every time
        assert "sleep" not in lines[1]  # the previous run's daemon is gone
        assert "LEAK" not in lines[2]
        assert lines[4] == "0", out  # no System V IPC object left behind
    uids = [o.split("\n")[3] for o in outputs]
    if max_uses == 1:
        assert len(set(uids)) >= 2 and stats["reused"] == 0
    else:  # the same sandbox (uid) served several runs, wiped in between
        assert stats["reused"] >= 2 and len(set(uids)) < len(uids)


def test_warm_python_runs_and_refills(pool):
    spec = SandboxSpec(argv=("/usr/bin/python3", "main.py"),
                       files=(SandboxFile("main.py", b"print(int(input()) + 1)"),), stdin=b"41")
    results = [pool.run("py", spec) for _ in range(5)]
    assert all(r.status is Status.OK and r.stdout == b"42\n" for r in results)
    assert pool.wait_warm(10)
    stats = pool.stats()["py"]
    assert stats["hits"] >= 1 and stats["warm"] == 2 and stats["built"] >= 5


def test_dead_warm_sandbox_is_not_handed_out(pool, backend):
    import signal

    with pool._cond:
        victim = pool._states["sh"].warm[0]
    signal.pidfd_send_signal(victim.pidfd, signal.SIGKILL)
    time.sleep(0.1)
    r = pool.run("sh", SandboxSpec(argv=("/bin/echo", "ok")))
    assert r.status is Status.OK and r.stdout == b"ok\n"
    assert pool.stats()["sh"]["discarded"] >= 1


def test_exhaustion_is_a_clear_error(backend):
    pool = WarmPool(backend, PoolSettings(min_warm=0, max_size=1, acquire_timeout_s=0.3),
                    {"sh": Flavor()})
    try:
        started = threading.Event()

        def hog() -> None:
            started.set()
            pool.run("sh", SandboxSpec(argv=("/bin/sleep", "1"),
                                       limits=Limits(wall_time_ms=3000)))

        t = threading.Thread(target=hog)
        t.start()
        started.wait()
        time.sleep(0.2)
        with pytest.raises(PoolExhausted, match="within"):
            pool.run("sh", SandboxSpec(argv=("/bin/true",)))
        t.join()
    finally:
        pool.close()


def test_limits_over_the_flavor_caps_are_refused(backend):
    from execbox.errors import SandboxSetupError

    box = backend.build(caps=Limits(memory_mb=64))
    with pytest.raises(SandboxSetupError, match="caps"):
        backend.execute(box, SandboxSpec(argv=("/bin/true",), limits=Limits(memory_mb=128)))


def test_reused_python_sandboxes_start_clean(backend):
    pool = WarmPool(backend, PoolSettings(min_warm=1, max_size=1, max_uses=3),
                    {"py": Flavor(zygote=PY)})
    code = (b"import os, sys\n"
            b"print(sorted(os.listdir('.')), 'seen' in globals(), input())\n"
            b"open('mark', 'w').write('x')\nseen = 1\n")
    try:
        outs = [pool.run("py", SandboxSpec(argv=("/usr/bin/python3", "main.py"),
                                           files=(SandboxFile("main.py", code),),
                                           stdin=f"{i}\n".encode())).stdout
                for i in range(5)]
        assert pool.stats()["py"]["reused"] >= 2
    finally:
        pool.close()
    assert outs == [f"['main.py'] False {i}\n".encode() for i in range(5)]


def test_in_process_sandboxes_are_never_reused(backend):
    from execbox.errors import ConfigError

    fork = Flavor(inprocess=("/usr/bin/python3", "execbox.languages.zygotes.python_zygote:run"))
    with pytest.raises(ConfigError, match="cannot be reused"):
        WarmPool(backend, PoolSettings(max_uses=2), {"py": fork})
    with pytest.raises(ConfigError, match="cannot be reused"):
        backend.build(inprocess=fork.inprocess, max_uses=2)


def test_a_warm_run_counts_its_interpreters_memory_as_a_cold_one_does(pool, backend):
    # the preloaded interpreter becomes the program: its memory is the program's, so a
    # warm hello world is not ~0 KiB while the same program run cold is megabytes
    hello = SandboxSpec(argv=("/usr/bin/python3", "main.py"),
                        files=(SandboxFile("main.py", b"print('hello')"),))
    big = SandboxSpec(argv=("/usr/bin/python3", "main.py"), files=(SandboxFile(
        "main.py", b"x = bytearray(24 * 1024 * 1024)\nprint(len(x))"),))
    warm_hello, cold_hello = pool.run("py", hello), backend.run(hello)
    warm_big, cold_big = pool.run("py", big), backend.run(big)
    assert cold_hello.memory_kb > 1024 and warm_hello.memory_kb > 1024
    for warm, cold in ((warm_hello, cold_hello), (warm_big, cold_big)):
        assert abs(warm.memory_kb - cold.memory_kb) < 8 * 1024, (warm, cold)
    assert warm_big.memory_kb >= 24 * 1024 and cold_big.memory_kb >= 24 * 1024


def test_a_stop_ends_a_warm_run_on_a_thread(pool):
    stop = Stop()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    r = pool.run("py", SandboxSpec(argv=("/usr/bin/python3", "-c", "import time; time.sleep(30)"),
                                   stop=stop))
    assert r.status is Status.SIGNALED and r.message == ENDED_BY_CLIENT, r
    assert 0.3 <= time.monotonic() - t0 < 5
    assert pool.run("py", SandboxSpec(argv=("/usr/bin/python3", "-c", "print(2)"))).stdout \
        == b"2\n"
