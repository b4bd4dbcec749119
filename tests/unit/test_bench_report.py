"""execbox bench's output: the table, the targets, the chart files, the machine line, the
server's /metrics check and the CLI's options. No sandbox: synthetic results."""

from __future__ import annotations

import argparse
import json

import pytest

from execbox.bench import chart, report
from execbox.bench.errors import BenchError
from execbox.bench.machine import Machine, cgroup_version, cpu_model, memory_mib, os_name
from execbox.bench.measure import Summary, Throughput
from execbox.bench.memory import Memory, memory_of
from execbox.bench.programs import Program
from execbox.bench.server import pool_settled
from execbox.bench.suite import BenchConfig, LevelInfo, Results
from execbox.cli import bench_cmd
from execbox.cli.main import build_parser
from execbox.errors import ConfigError
from execbox.sandbox.spec import SandboxFile
from execbox.types import Limits

MACHINE = Machine(cpu="Test CPU 3000", cores=2, kernel="6.1.0-test", cgroup="v1",
                  os="Debian GNU/Linux 12 (bookworm)", memory_mib=4096, hostname="vm")
LEVELS = [LevelInfo("bare", "bare process (subprocess.run)", "bare"),
          LevelInfo("cold", "full cold sandbox", "execbox"),
          LevelInfo("warm", "warm pool, fresh sandbox", "execbox"),
          LevelInfo("http", "HTTP API", "execbox"),
          LevelInfo("gvisor", "gVisor", "stronger")]


def tp(rate: float, conc: int, errors: int = 0) -> Throughput:
    return Throughput(conc, runs=int(rate), errors=errors, seconds=1.0,
                      latencies_ms=[10.0] * int(rate))


def results() -> Results:
    r = Results(machine=MACHINE, config=BenchConfig(rounds=3, concurrency=(1, 2, 16)),
                command="execbox bench --rounds 3", started="2026-01-01T00:00:00+00:00",
                duration_s=12.0, levels=list(LEVELS),
                versions={"python": "3.11.2", "c": "12.2.0"})
    r.latency = {
        "python": {"bare": Summary.of([10.0, 10.0, 12.0]), "cold": Summary.of([15.0] * 3),
                   "warm": Summary.of([2.5] * 3), "http": Summary.of([5.0] * 3)},
        "c": {"bare": Summary.of([1.0] * 3), "cold": Summary.of([7.0] * 3),
              "warm": Summary.of([3.0] * 3), "http": Summary.of([6.0] * 3)},
    }
    r.unavailable = {"gvisor": {"python": "absent: runsc not installed",
                                "c": "absent: runsc not installed"}}
    r.throughput = {"python": {
        "bare": {1: tp(100, 1), 2: tp(200, 2), 16: tp(190, 16)},
        "warm": {1: tp(50, 1), 2: tp(60, 2), 16: tp(70, 16)},
        "http": {1: tp(40, 1), 2: tp(45, 2), 16: tp(44, 16, errors=1)},
    }}
    r.memory = {"python": Memory(pss_kib=8 * 1024, rss_kib=23 * 1024, processes=2)}
    r.notes = ["microVM backend: none"]
    return r


def test_render_names_the_machine_and_puts_ratios_before_ms():
    text = report.render(results())
    assert "Test CPU 3000, 2 cores" in text and "kernel 6.1.0-test, cgroup v1" in text
    ratios = text.index("multiple of bare")
    absolute = text.index("Latency, ms: p50 / p95 / p99")
    assert ratios < absolute
    ratio_part = text[ratios:absolute]
    assert "1.50" in ratio_part and "7.00" in ratio_part  # cold: 15/10 and 7/1
    assert "0.25" in ratio_part  # warm python: 2.5/10
    assert "absent" in ratio_part
    assert "10.00 / " in text  # absolute p50 of bare python
    assert "runs/s" in text and "0.30" in text  # warm at 2 threads: 60/200
    assert "PSS    8.0 MiB" in text
    assert "runsc not installed" in text
    assert "! http at concurrency 16: 1 errors" in text


def test_targets_say_met_or_by_how_much_missed():
    by_goal = {t.goal.split(" <=")[0].split(" >=")[0]: t for t in report.targets(results())}
    warm_py = by_goal["warm Python via the runner"]
    assert warm_py.met is True and warm_py.measured == "0.25x"  # 2.5 / 10 <= 0.3
    c = by_goal["precompiled C via the runner"]
    assert c.met is False and c.verdict == "missed by 0.50x (20% over)"
    http = by_goal["HTTP overhead"]
    assert http.met is False and http.verdict.startswith("missed by 1.50 ms")  # 5.0 - 2.5
    assert by_goal["cold C sandbox"].met is True
    rss = by_goal["RSS per warm Python sandbox"]
    assert rss.met is False and "PSS, 8.0 MiB, meets it" in rss.verdict
    tp_target = next(t for t in report.targets(results()) if "throughput" in t.goal)
    assert tp_target.met is False and "0.30x" in tp_target.measured
    assert tp_target.verdict == "missed by 1.20x (80% under)"
    clients = next(t for t in report.targets(results()) if "16 concurrent" in t.goal)
    assert clients.met is False and "1 errors" in clients.measured


def program(language: str = "java") -> Program:
    return Program(language=language, version="17", source=SandboxFile("Main.java", b""),
                   files=(), host_dir="/nonexistent", argv=("/usr/bin/java", "Main"), env={},
                   full_env={}, limits=Limits(), mounts=())


def test_program_check_accepts_hello_after_runtime_warnings_only():
    p = program()
    assert p.check(0, b"hello\n") is None
    jvm = b"[0.001s][warning][perf,memops] Cannot use file /tmp/hsperfdata_root/1\n"
    assert p.check(0, jvm + b"hello\n") == jvm.decode().strip()
    for code, out in ((1, b"hello\n"), (0, b"hello"), (0, b"oops\nhello\n"),
                      (0, jvm + b"hello\nmore\n"), (None, b"")):
        with pytest.raises(BenchError):
            p.check(code, out)


def test_warnings_are_reported():
    r = results()
    r.add_warnings("python", "cold", 3, "[0.1s][warning] x")
    r.add_warnings("python", "cold", 2, "[0.2s][warning] y")
    assert r.warnings["python"]["cold"].runs == 5
    assert "cold / python: 5 runs, first: [0.1s][warning] x" in report.render(r)
    assert r.as_json()["warnings"] == {"python": {"cold": {"runs": 5,
                                                           "first": "[0.1s][warning] x"}}}


def test_a_near_miss_shows_enough_decimals():
    t = report._at_most("pool", "goal", 0.303, 0.3, "x")
    assert (t.measured, t.verdict) == ("0.303x", "missed by 0.003x (1% over)")
    assert report._at_most("pool", "goal", 0.25, 0.3, "x").verdict == "met"


def test_targets_not_measured_when_levels_are_missing():
    r = results()
    r.latency["python"].pop("http")
    r.memory = {}
    http = next(t for t in report.targets(r) if t.goal.startswith("HTTP overhead"))
    assert http.met is None and http.verdict == "not measured"


def test_table_aligns_columns():
    lines = report.table(["level", "a", "bb"], [["x", "1.00", "2"], ["title only"]],
                         [6, 5, 3])
    assert lines == ["level       a   bb", "x        1.00    2", "title only"]


def test_chart_writes_a_png_and_a_page(tmp_path):
    paths, note = chart.write(results(), str(tmp_path / "out"), "the text report")
    assert note == ""
    png, page = (tmp_path / "out" / "latency.png"), (tmp_path / "out" / "index.html")
    assert [str(png), str(page)] == paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    html = page.read_text()
    assert "data:image/png;base64," in html and "Test CPU 3000" in html
    assert "the text report" in html and "execbox bench --rounds 3" in html


def test_results_as_json_round_trips():
    data = json.loads(json.dumps(results().as_json()))
    assert data["latency_ms"]["python"]["bare"]["p50"] == 10.0
    assert data["throughput"]["python"]["warm"]["2"]["runs_per_s"] == 60.0
    assert data["machine"]["cgroup"] == "v1"


def test_machine_parsers(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD  EPYC 7B13\nflags\t: x\n")
    assert cpu_model(str(cpuinfo)) == "AMD EPYC 7B13"
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    assert os_name(str(release)) == "Debian GNU/Linux 12 (bookworm)"
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683520 kB\nMemFree: 1 kB\n")
    assert memory_mib(str(meminfo)) == 24105
    mounts = tmp_path / "mounts"
    mounts.write_text("cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
                      f"cgroup2 {tmp_path}/unified cgroup2 rw 0 0\n")
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    assert cgroup_version(str(mounts)) == "v1"
    (tmp_path / "unified" / "cgroup.controllers").write_text("cpu memory pids\n")
    assert cgroup_version(str(mounts)) == "v2"
    assert "4 GiB" in MACHINE.describe()


def test_memory_of_sums_smaps_rollup(tmp_path):
    for pid, (pss, rss) in {"10": (100, 300), "11": (50, 70)}.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "smaps_rollup").write_text(f"Rss: {rss} kB\nPss: {pss} kB\n")
    assert memory_of([10, 11, 12], proc=str(tmp_path)) == Memory(150, 370, 2)


METRICS = """\
# TYPE execbox_pool_sandboxes gauge
execbox_pool_sandboxes{flavor="python:run",state="warm"} 2.0
execbox_pool_sandboxes{flavor="python:run",state="busy"} 0.0
execbox_pool_sandboxes{flavor="python:run",state="building"} 0.0
execbox_pool_sandboxes{flavor="c:run",state="warm"} 2.0
execbox_pool_sandboxes{flavor="c:run",state="building"} BUILDING
"""


def test_pool_settled_reads_the_server_metrics():
    assert pool_settled(METRICS.replace("BUILDING", "0.0"), 2)
    assert not pool_settled(METRICS.replace("BUILDING", "1.0"), 2)
    assert not pool_settled(METRICS.replace("BUILDING", "0.0"), 3)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["bench", *argv])


def test_cli_options_make_the_config():
    args = parse("--quick", "--languages", "c,python", "--levels", "cold,http",
                 "--concurrency", "1,16", "--rounds", "4")
    config = bench_cmd.config_from(args)
    assert config.quick and config.rounds == 4
    assert config.languages == ("c", "python") and config.throughput_languages == ("python",)
    assert config.levels == ("bare", "cold", "http")  # bare is always measured
    assert config.concurrency == (1, 16)
    assert bench_cmd.command_line(args) == ("execbox bench --quick --rounds 4 --languages "
                                            "c,python --levels cold,http --concurrency 1,16")
    full = bench_cmd.config_from(parse())
    assert not full.quick and full.rounds == 60 and full.levels is None
    assert bench_cmd.command_line(parse()) == "execbox bench"


@pytest.mark.parametrize("argv", [("--languages", "cobol"), ("--levels", "docker"),
                                  ("--rounds", "0")])
def test_cli_refuses_what_it_cannot_measure(argv):
    with pytest.raises(ConfigError):
        bench_cmd.config_from(parse(*argv))
