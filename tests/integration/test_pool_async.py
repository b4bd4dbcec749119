"""Warm runs supervised on the event loop (``WarmPool.run_async``, the backend's
``execute_async``, ``supervise_async``): the same results and limits as a run from a
thread, the loop free while a program runs, and a cancelled run killed and torn down."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time

import pytest

from execbox.languages.registry import Registry
from execbox.languages.zygotes import source
from execbox.pool import Flavor, PoolSettings, WarmPool
from execbox.runner.compile_cache import CompileCache
from execbox.runner.runner import Runner
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxFile, SandboxSettings, SandboxSpec
from execbox.types import Limits, Status

pytestmark = pytest.mark.root

PY = ("/usr/bin/python3", "-c", source("python"))


@pytest.fixture(scope="module")
def backend():
    b = NamespaceBackend(SandboxSettings())
    yield b
    b.close()


@pytest.fixture(scope="module")
def template(backend):
    """The service's Python flavor: its program forked from a template (template.py)."""
    runner = Runner(backend, Registry.load(), CompileCache(tempfile.mkdtemp()))
    return runner.flavors()["python:run"]


@pytest.fixture
def pool(backend, template):
    p = WarmPool(backend, PoolSettings(min_warm=1, max_size=3),
                 {"sh": Flavor(), "py": Flavor(zygote=PY), "tpl": template})
    assert p.wait_warm(20)
    yield p
    p.close()


def _spec(flavor: str, code: str, stdin: bytes = b"", **limits: int) -> SandboxSpec:
    lim = Limits(**limits) if limits else Limits()
    if flavor == "sh":
        return SandboxSpec(argv=("/bin/sh", "-c", code), stdin=stdin, limits=lim)
    return SandboxSpec(argv=("/usr/bin/python3", "main.py"), stdin=stdin, limits=lim,
                       files=(SandboxFile("main.py", code.encode()),))


@pytest.mark.parametrize("flavor", ["sh", "py", "tpl"])
def test_a_run_on_the_loop_is_the_run_from_a_thread(pool, flavor):
    code = "read x; echo got $x; echo err >&2; exit 3" if flavor == "sh" else (
        "import sys; print('got', input()); print('err', file=sys.stderr); sys.exit(3)")
    on_loop = asyncio.run(pool.run_async(flavor, _spec(flavor, code, b"7\n")))
    assert pool.wait_warm(20, settled=True)
    threaded = pool.run(flavor, _spec(flavor, code, b"7\n"))
    assert on_loop is not None
    for r in (on_loop, threaded):
        assert r.status is Status.RUNTIME_ERROR and r.exit_code == 3, r
        assert r.stdout == b"got 7\n" and r.stderr == b"err\n"
    assert pool.stats()[flavor]["busy"] == 0


def test_an_order_bigger_than_the_pipe_is_written_as_the_init_reads_it(pool):
    stdin = os.urandom(600_000).hex().encode()  # 1.2 MB: many pipe-fulls
    code = "import sys, hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    r = asyncio.run(pool.run_async("tpl", _spec("tpl", code, stdin)))
    assert r is not None and r.status is Status.OK, r
    assert r.stdout.decode().strip() == hashlib.sha256(stdin).hexdigest()


@pytest.mark.parametrize("code,limits,status,limit", [
    ("import time; time.sleep(30)", {"wall_time_ms": 400}, Status.TIME_LIMIT, "wall_time"),
    ("while True: pass", {"cpu_time_ms": 300}, Status.TIME_LIMIT, "cpu_time"),
    ("print('x' * 100_000)", {"output_bytes": 1000}, Status.OUTPUT_LIMIT, "output"),
    ("b = bytearray(400 << 20); b[::4096] = b'x' * len(b[::4096])", {"memory_mb": 64},
     Status.MEMORY_LIMIT, "memory"),
])
def test_limits_hold_on_the_loop(pool, code, limits, status, limit):
    r = asyncio.run(pool.run_async("tpl", _spec("tpl", code, **limits)))
    assert r is not None and r.status is status, r
    assert r.limit is not None and r.limit.value == limit
    if limit == "output":
        assert len(r.stdout) == 1000


def test_the_loop_is_free_while_a_program_runs(pool):
    ticks = 0

    async def main():
        nonlocal ticks
        run = asyncio.ensure_future(pool.run_async(
            "tpl", _spec("tpl", "import time; time.sleep(0.5); print('done')")))
        while not run.done():
            ticks += 1
            await asyncio.sleep(0.01)
        return await run

    r = asyncio.run(main())
    assert r is not None and r.stdout == b"done\n", r
    assert ticks >= 20  # ~50 at 10 ms; a blocked loop would tick once or twice


def test_a_cancelled_run_is_killed_and_torn_down(pool, backend):
    async def main():
        run = asyncio.ensure_future(pool.run_async(
            "tpl", _spec("tpl", "import time; time.sleep(60)")))
        await asyncio.sleep(0.5)
        run.cancel()
        t0 = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await run
        return time.monotonic() - t0

    assert asyncio.run(main()) < 5  # killed, not waited for
    assert pool.stats()["tpl"]["busy"] == 0
    backend._reaper.drain()  # the teardown it was handed is done
    assert not backend._reaper.errors


def test_no_warm_sandbox_means_none_and_nothing_done(backend):
    p = WarmPool(backend, PoolSettings(min_warm=0, max_size=1), {"sh": Flavor()})
    try:
        assert asyncio.run(p.run_async("sh", _spec("sh", "echo hi"))) is None
        assert p.stats()["sh"]["busy"] == 0 and p.stats()["sh"]["hits"] == 0
    finally:
        p.close()


def test_a_reused_sandbox_serves_runs_on_the_loop_and_keeps_nothing(backend):
    p = WarmPool(backend, PoolSettings(min_warm=1, max_size=1, max_uses=3, cooldown_s=0.01),
                 {"sh": Flavor()})
    try:
        assert p.wait_warm(20)
        seen = []
        for i in range(4):
            assert p.wait_warm(20, settled=True)
            code = f"ls /tmp; touch /tmp/mark{i}; echo run{i}"
            r = asyncio.run(p.run_async("sh", _spec("sh", code)))
            assert r is not None and r.status is Status.OK, r
            seen.append(r.stdout.decode())
        assert seen == [f"run{i}\n" for i in range(4)]  # no mark of an earlier run in /tmp
        assert p.stats()["sh"]["reused"] >= 1
    finally:
        p.close()
