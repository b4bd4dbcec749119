"""execbox bench for real: every level runs a hello world, peers are skipped with the reason
when their tool is absent, and `execbox bench --quick` with tiny rounds prints the table and
writes the chart. No timing is asserted: the figures are the benchmark's output."""

from __future__ import annotations

import dataclasses
import os

import pytest

from execbox.bench import ladder, peers
from execbox.bench.errors import BenchError
from execbox.bench.forker import Helpers
from execbox.bench.levels import Bare, Cold, LadderContext, LadderLevel
from execbox.bench.programs import Program, prepare
from execbox.cli.main import main
from execbox.languages.registry import Registry
from execbox.runner.runner import RunnerSettings
from execbox.sandbox import seccomp
from execbox.sandbox.cgroups import detect
from execbox.sandbox.namespace_backend import NamespaceBackend
from execbox.sandbox.spec import SandboxSettings
from execbox.sandbox.users import SlotAllocator

pytestmark = pytest.mark.root


@dataclasses.dataclass
class Env:
    settings: SandboxSettings
    backend: NamespaceBackend
    programs: dict[str, Program]
    ctx: LadderContext
    tmp: str


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = SandboxSettings()
    backend = NamespaceBackend(settings)
    registry = Registry.load()
    tmp = str(tmp_path_factory.mktemp("bench"))
    programs = {name: prepare(registry.get(name), backend, settings, RunnerSettings(),
                              os.path.join(tmp, name)) for name in ("python", "c")}
    helpers = Helpers()
    ctx = LadderContext(settings, helpers,
                        SlotAllocator(settings.uid_lock_dir, settings.slots, settings.uid_base),
                        detect(settings.cgroup), seccomp.compile_bpf(seccomp.default_policy()),
                        os.path.join(settings.state_dir, "root"))
    yield Env(settings, backend, programs, ctx, tmp)
    helpers.close()
    backend.close()


def test_bare_and_cold_run_hello(env):
    for program in env.programs.values():
        Bare().run(program, 0)
        Cold(env.backend).run(program, 0)


@pytest.mark.parametrize("rung", ladder.RUNGS, ids=lambda r: r.name)
def test_every_rung_of_the_ladder_runs_hello(env, rung):
    level = LadderLevel(rung, env.ctx)
    for program in env.programs.values():
        level.run(program, 0)
    level.run(env.programs["c"], 3)  # another lane: its own helper process


def test_a_rung_reports_a_program_that_fails(env):
    failing = dataclasses.replace(env.programs["c"], argv=("/bin/false",))
    with pytest.raises(BenchError, match="exit 1"):
        LadderLevel(ladder.RUNGS[-1], env.ctx).run(failing, 0)
    missing = dataclasses.replace(env.programs["c"], argv=("./no-such-program",))
    with pytest.raises(BenchError, match="exit 127"):
        LadderLevel(ladder.RUNGS[0], env.ctx).run(missing, 0)


def test_the_full_rung_runs_as_the_slot_uid_with_no_capabilities(env):
    probe = dataclasses.replace(env.programs["c"], argv=(
        "/bin/sh", "-c", "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' "
        "/proc/self/status; hostname; ls /"))
    plan_level = LadderLevel(ladder.RUNGS[-1], env.ctx)
    with pytest.raises(BenchError) as caught:  # its stdout is not hello: shown in the error
        plan_level.run(probe, 0)
    out = str(caught.value)
    uid = int(out.split("stdout b'")[1].split("\\n")[0])
    assert env.settings.uid_base <= uid < env.settings.uid_base + env.settings.slots
    assert "CapEff:\\t0000000000000000" in out and "CapBnd:\\t0000000000000000" in out
    assert "NoNewPrivs:\\t1" in out and "Seccomp:\\t2" in out
    assert "execbox\\n" in out and "box" in out and "root" not in out.split("execbox")[1]


@pytest.mark.parametrize("peer", ["bwrap", "unshare", "gvisor"])
def test_peers_run_hello_or_say_why_not(env, peer):
    level = {"bwrap": lambda: peers.Bubblewrap(env.settings, env.ctx.seccomp_bpf),
             "unshare": lambda: peers.UnshareCgroup(env.ctx,
                                                    os.path.join(env.tmp, "unshare.sh")),
             "gvisor": peers.Gvisor}[peer]()
    why = level.unavailable(env.programs["python"])
    if why is not None:
        assert why.startswith("absent:")
        pytest.skip(why)
    for program in env.programs.values():
        level.run(program, 0)


def test_cli_quick_prints_the_table_and_writes_the_chart(tmp_path, capsys):
    out = tmp_path / "bench-out"
    code = main(["bench", "--quick", "--rounds", "1", "--seconds", "0.05", "--concurrency",
                 "1,2", "--languages", "python", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Latency of hello world, p50 as a multiple of bare" in captured.out
    assert "cgroup v" in captured.out and "kernel" in captured.out
    for label in ("bare process", "+ seccomp", "full cold sandbox", "warm pool",
                  "HTTP API", "Targets"):
        assert label in captured.out
    assert "[bench" in captured.err  # progress went to stderr
    png = (out / "latency.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "index.html").stat().st_size > 1000
    assert (out / "results.json").stat().st_size > 100
