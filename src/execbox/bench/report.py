"""The printed report: ratios to bare first, absolute figures second, the machine named,
then the targets of the pool and service issues and by how much each is met or missed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from execbox.bench.suite import Results

KIND_TITLES = {
    "bare": "baseline",
    "layer": "execbox's layers, added one at a time (helper fork + exec, no supervisor)",
    "execbox": "execbox",
    "peer": "peers on this host",
    "stronger": "stronger backends",
}
LABEL_WIDTH = 46
MIB = 1024


def table(header: Sequence[str], rows: Iterable[Sequence[str]], widths: Sequence[int],
          ) -> list[str]:
    """Text rows: the first column left-aligned, the others right-aligned, two spaces
    apart; a row of one cell is a section title."""
    def line(cells: Sequence[str]) -> str:
        if len(cells) == 1:
            return cells[0]
        first = cells[0][:widths[0]].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=False)]
        return "  ".join([first, *rest]).rstrip()
    return [line(header), *(line(r) for r in rows)]


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}"


def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 100 else f"{value:.2f}"


def _missing(results: Results, level: str, lang: str) -> str:
    why = results.unavailable.get(level, {}).get(lang)
    if why is None:
        return "-"
    return "absent" if why.startswith("absent") else "failed"


def _level_rows(results: Results) -> Iterable[tuple[str, str, str]]:
    """(kind title or "", level name, label) in table order, titles once per kind."""
    last = None
    for info in results.levels:
        if info.kind != last:
            yield KIND_TITLES.get(info.kind, info.kind), "", ""
            last = info.kind
        yield "", info.name, info.label


def _grouped(results: Results, cells: Callable[[str], list[str]]) -> list[list[str]]:
    """One row per level (label, then ``cells(level)``), under a title row per kind."""
    rows: list[list[str]] = []
    for title, name, label in _level_rows(results):
        rows.append([f"  {title}"] if title else [f"    {label}", *cells(name)])
    return rows


def latency_tables(results: Results) -> list[str]:
    langs = results.languages

    def ratios(name: str) -> list[str]:
        out = []
        for lang in langs:
            value = results.p50(lang, name)
            out.append(ratio(value, results.p50(lang, "bare")) if value is not None
                       else _missing(results, name, lang))
        return out

    def times(name: str) -> list[str]:
        out = []
        for lang in langs:
            s = results.latency.get(lang, {}).get(name)
            out.append(f"{ms(s.p50)} / {ms(s.p95)} / {ms(s.p99)}" if s
                       else _missing(results, name, lang))
        return out

    out = ["Latency of hello world, p50 as a multiple of bare (same run; lower is better)"]
    out += table(["level", *langs], _grouped(results, ratios),
                 [LABEL_WIDTH, *([8] * len(langs))])
    out += ["", "Latency, ms: p50 / p95 / p99"]
    out += table(["level", *langs], _grouped(results, times),
                 [LABEL_WIDTH, *([22] * len(langs))])
    return out


def throughput_tables(results: Results) -> list[str]:
    out: list[str] = []
    concs = list(results.config.concurrency)
    for lang, by_level in results.throughput.items():
        out += ["", f"Throughput of {lang} hello world at concurrency "
                f"{' / '.join(map(str, concs))} client threads: multiple of bare at the "
                "same concurrency, then runs/s"]
        head = ["level", *(f"x{c}" for c in concs), *(f"{c}/s" for c in concs)]
        out += table(head, _grouped(results, partial(_rates, results, lang)),
                     [LABEL_WIDTH, *([5] * len(concs)), *([7] * len(concs))])
        errors = [(name, c, t) for name, by_c in by_level.items() for c, t in by_c.items()
                  if t.errors]
        for name, c, t in errors:
            out.append(f"  ! {name} at concurrency {c}: {t.errors} errors, first: "
                       f"{t.first_error}")
    return out


def _rates(results: Results, lang: str, name: str) -> list[str]:
    """A level's throughput cells: multiples of bare at each concurrency, then runs/s."""
    concs = results.config.concurrency
    by_level = results.throughput[lang]
    by_conc, bare = by_level.get(name) or {}, by_level.get("bare", {})
    cells = []
    for c in concs:
        t, base = by_conc.get(c), bare.get(c)
        cells.append(ratio(t.rate, base.rate if base else None) if t
                     else _missing(results, name, lang))
    for c in concs:
        t = by_conc.get(c)
        cells.append(f"{t.rate:.1f}" + ("!" if t.errors else "") if t else "-")
    return cells


def memory_table(results: Results) -> list[str]:
    if not results.memory:
        return []
    out = ["", "Memory of one warm sandbox (its processes: the init, and the preloaded "
           "interpreter where there is one)"]
    for lang, m in results.memory.items():
        out.append(f"  {lang:8} PSS {m.pss_kib / MIB:6.1f} MiB   RSS {m.rss_kib / MIB:6.1f} MiB"
                   f"   {m.processes} process{'es' if m.processes != 1 else ''}")
    return out


@dataclass(frozen=True, slots=True)
class Target:
    issue: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run
    verdict: str


def _num(value: float, near: float) -> str:
    """Two decimals, three when that is needed to tell ``value`` from ``near``."""
    return f"{value:.3f}" if abs(value - near) < 0.01 else f"{value:.2f}"


def _at_most(issue: str, goal: str, value: float | None, limit: float, unit: str) -> Target:
    if value is None:
        return Target(issue, goal, "-", None, "not measured")
    shown = f"{_num(value, limit)}{unit}"
    if value <= limit:
        return Target(issue, goal, shown, True, "met")
    over = value - limit
    return Target(issue, goal, shown, False, f"missed by {_num(over, 0)}{unit} "
                  f"({(value / limit - 1) * 100:.0f}% over)")


def targets(results: Results) -> list[Target]:
    def rel(lang: str, level: str) -> float | None:
        value, base = results.p50(lang, level), results.p50(lang, "bare")
        return value / base if value is not None and base else None

    out = [
        _at_most("pool", "warm Python via the runner <= 0.3x bare python3 subprocess.run",
                 rel("python", "warm"), 0.3, "x"),
        _at_most("pool", "precompiled C via the runner <= 2.5x bare C", rel("c", "warm"),
                 2.5, "x"),
        _at_most("sandbox", "cold Python sandbox <= 1.5x bare", rel("python", "cold"), 1.5,
                 "x"),
        _at_most("sandbox", "cold C sandbox <= 10x bare", rel("c", "cold"), 10, "x"),
    ]
    http, runner = results.p50("python", "http"), results.p50("python", "warm")
    overhead = _at_most("service", "HTTP overhead <= 1 ms over the in-process runner "
                        "(Python, p50)", None if http is None or runner is None
                        else http - runner, 1.0, " ms")
    if results.http_floor_ms is not None and overhead.met is not None:
        overhead = replace(overhead, verdict=f"{overhead.verdict}; GET /healthz alone "
                           f"takes {results.http_floor_ms:.2f} ms")
    out.append(overhead)
    tp = results.throughput.get("python", {})
    conc = 2 if 2 in results.config.concurrency else max(results.config.concurrency)
    warm_tp, bare_tp = tp.get("warm", {}).get(conc), tp.get("bare", {}).get(conc)
    goal = f"fresh-sandbox Python throughput >= 1.5x bare ({conc} client threads)"
    if warm_tp and bare_tp and bare_tp.rate:
        r = warm_tp.rate / bare_tp.rate
        out.append(Target("pool", goal, f"{r:.2f}x ({warm_tp.rate:.0f} vs "
                          f"{bare_tp.rate:.0f} runs/s)", r >= 1.5,
                          "met" if r >= 1.5 else
                          f"missed by {1.5 - r:.2f}x ({(1.5 - r) / 1.5:.0%} under)"
                          if r else "missed"))
    else:
        out.append(Target("pool", goal, "-", None, "not measured"))
    m = results.memory.get("python")
    goal = "RSS per warm Python sandbox <= 15 MiB"
    if m is None:
        out.append(Target("pool", goal, "-", None, "not measured"))
    else:
        rss, pss = m.rss_kib / MIB, m.pss_kib / MIB
        verdict = ("met" if rss <= 15 else f"missed by {rss - 15:.1f} MiB of RSS"
                   + (f" (its PSS, {pss:.1f} MiB, meets it: the interpreter's shared pages "
                      "count in full in RSS)" if pss <= 15 else ""))
        out.append(Target("pool", goal, f"RSS {rss:.1f} MiB, PSS {pss:.1f} MiB", rss <= 15,
                          verdict))
    http16 = results.throughput.get("python", {}).get("http", {}).get(16)
    goal = "16 concurrent HTTP clients: no error, p99 reported"
    if http16 is None or not http16.latencies_ms:
        out.append(Target("service", goal, "-", None, "not measured"))
    else:
        from execbox.bench.measure import percentile

        p99 = percentile(http16.latencies_ms, 99)
        out.append(Target("service", goal, f"{http16.errors} errors, p99 {p99:.0f} ms, "
                          f"{http16.rate:.0f} req/s", http16.errors == 0,
                          "met" if http16.errors == 0 else f"{http16.errors} errors"))
    return out


def targets_table(results: Results) -> list[str]:
    rows = [[t.goal, t.issue, t.measured, t.verdict] for t in targets(results)]
    return ["", "Targets (issue: goal, measured in this run)",
            *table(["goal", "issue", "measured", "verdict"], rows, [66, 7, 30, 0])]


def header(results: Results) -> list[str]:
    cfg = results.config
    versions = ", ".join(f"{lang} {v}" for lang, v in results.versions.items())
    slow = [lang for lang in results.languages if lang == "java"]
    rounds = f"{cfg.rounds} interleaved rounds"
    if slow:
        rounds += f" (java in 1 round of {cfg.jvm_every}: {-(-cfg.rounds // cfg.jvm_every)})"
    return [
        f"execbox bench{' --quick' if cfg.quick else ''}: hello world in {versions}",
        f"machine: {results.machine.describe()}",
        f"{rounds}, each level once per round in random order; throughput "
        f"{cfg.seconds:g} s per cell; started {results.started}, took "
        f"{results.duration_s:.0f} s; load average {results.load[0]:.1f} at the start, "
        f"{results.load[1]:.1f} after the latency rounds",
    ]


def footer(results: Results) -> list[str]:
    out: list[str] = []
    reasons = [(level, lang, why) for level, by in results.unavailable.items()
               for lang, why in by.items()]
    if reasons:
        out += ["", "Not measured:"]
        seen: set[tuple[str, str]] = set()
        for level, _lang, why in reasons:
            if (level, why) in seen:
                continue
            seen.add((level, why))
            langs = [la for lv, la, w in reasons if lv == level and w == why]
            out.append(f"  {level} ({', '.join(langs)}): {why}")
    for lang, by in results.errors.items():
        for level, errs in by.items():
            out.append(f"  ! {level} / {lang}: {len(errs)} failed runs, first: {errs[0]}")
    warned = [(lang, level, w) for lang, by in results.warnings.items()
              for level, w in by.items()]
    if warned:
        out += ["", "Runs that worked but printed a warning before hello:"]
        out += [f"  {level} / {lang}: {w.runs} runs, first: {w.first}"
                for lang, level, w in warned]
    if results.notes:
        out += ["", *(f"note: {n}" for n in results.notes)]
    return out


def render(results: Results) -> str:
    lines = [*header(results), "", *latency_tables(results), *throughput_tables(results),
             *memory_table(results), *targets_table(results), *footer(results)]
    return "\n".join(lines) + "\n"
