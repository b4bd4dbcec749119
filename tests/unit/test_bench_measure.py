"""execbox bench's arithmetic: percentiles, the interleaved schedule, throughput counting."""

from __future__ import annotations

import statistics
import time

import pytest

from execbox.bench.measure import Progress, Summary, interleaved, percentile, schedule, throughput


def test_percentile_interpolates_between_closest_ranks():
    xs = [4.0, 1.0, 3.0, 2.0]  # order does not matter
    assert percentile(xs, 0) == 1.0
    assert percentile(xs, 100) == 4.0
    assert percentile(xs, 50) == 2.5
    assert percentile(xs, 25) == pytest.approx(1.75)
    assert percentile([7.0], 99) == 7.0


def test_percentile_matches_statistics_inclusive():
    xs = [float(x * x % 17) for x in range(1, 40)]
    cuts = statistics.quantiles(xs, n=100, method="inclusive")
    assert percentile(xs, 95) == pytest.approx(cuts[94])
    assert percentile(xs, 99) == pytest.approx(cuts[98])
    assert percentile(xs, 50) == pytest.approx(statistics.median(xs))


@pytest.mark.parametrize("bad", [-1, 100.5])
def test_percentile_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        percentile([1.0], bad)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summary():
    s = Summary.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.n, s.p50, s.low, s.high) == (5, 3.0, 1.0, 100.0)
    assert s.p50 <= s.p95 <= s.p99 <= s.high
    assert s.as_json()["p50"] == 3.0


def test_schedule_runs_every_key_each_round_in_a_shuffled_order():
    keys = [("python", f"level{i}") for i in range(8)]
    order = schedule(keys, 20, {}, seed=3)
    assert len(order) == 20
    assert all(sorted(r) == sorted(keys) for r in order)
    assert len({tuple(r) for r in order}) > 1  # not the same order every round
    assert order == schedule(keys, 20, {}, seed=3)  # reproducible


def test_schedule_every_nth_round_for_slow_keys():
    keys = ["fast", "slow"]
    order = schedule(keys, 9, {"slow": 3}, seed=1)
    assert [("slow" in r) for r in order] == [True, False, False] * 3
    assert all("fast" in r for r in order)


def test_interleaved_settles_before_each_call_and_keeps_errors_apart():
    calls: list[str] = []

    def ok(lane: int) -> str | None:
        calls.append("ok")
        return "a warning" if len(calls) == 1 else None

    def broken(lane: int) -> str | None:
        calls.append("broken")
        raise RuntimeError("no hello")

    settled: list[str] = []
    samples, errors, warnings = interleaved({"a": ok, "b": broken}, [["a", "b"], ["b", "a"]],
                                            settled.append, Progress(quiet=True))
    assert settled == ["a", "b", "b", "a"]
    assert calls == ["ok", "broken", "broken", "ok"]
    assert len(samples["a"]) == 2 and samples["b"] == []
    assert errors["b"] == ["RuntimeError: no hello"] * 2 and errors["a"] == []
    assert warnings == {"a": ["a warning"], "b": []}


def test_throughput_counts_runs_and_errors_per_lane():
    lanes: set[int] = set()

    def fn(lane: int) -> str | None:
        # A real call blocks (a run, a request); sleeping lets every lane get the GIL
        # even on a loaded machine, where pure-Python lanes could starve one another.
        lanes.add(lane)
        time.sleep(0.001)
        if lane == 1:
            raise OSError("lane 1 fails")
        return "warned" if lane == 2 else None

    t = throughput(fn, 3, 0.2)
    assert lanes == {0, 1, 2}
    assert t.runs > 0 and t.errors > 0
    assert t.first_error == "OSError: lane 1 fails"
    assert len(t.latencies_ms) == t.runs
    assert 0 < t.warnings < t.runs and t.first_warning == "warned"
    assert t.seconds > 0 and t.rate == t.runs / t.seconds
    other = throughput(lambda lane: None, 1, 0.01)
    total = t.runs + other.runs
    t.add(other)
    assert t.runs == total


def test_progress_writes_phases_to_its_stream(tmp_path):
    path = tmp_path / "progress.txt"
    with open(path, "w") as stream:
        p = Progress(stream)
        p.phase("compiling")
        p.step("latency", 1, 10)  # rate-limited: right after a phase, not shown
        p.step("latency", 10, 10)  # the last step always is
        p.close()
    text = path.read_text()
    assert "compiling" in text and "latency 10/10" in text and "latency 1/10" not in text
