"""The chart of latency against isolation level (PNG), and an HTML page with it and the
tables. matplotlib (the ``bench`` extra) draws the PNG; without it the page still has the
tables and says why the chart is missing."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable

from execbox.bench.report import KIND_TITLES, MIB, targets
from execbox.bench.suite import Results

SHORT = {
    "bare": "bare", "fork": "helper\nfork", "rlimits": "+rlimits", "namespaces": "+name-\nspaces",
    "root": "+ro root,\nmounts", "user": "+uid,\nno caps", "seccomp": "+seccomp",
    "cgroup": "+cgroup", "cold": "cold\nsandbox", "warm": "warm\npool", "warm-reuse":
    "warm pool\nreused", "http": "HTTP\nAPI", "bwrap": "bubble-\nwrap", "unshare":
    "unshare\n+cgroup", "gvisor": "gVisor",
}
COLORS = {"bare": "#555555", "layer": "#9fb7d3", "execbox": "#2f6db5", "peer": "#e08a2c",
          "stronger": "#8a5fb0"}


def write_png(results: Results, path: str) -> None:
    """Latency p50 per level (bars), p95 (whisker) and p99 (dot; a caret at the top when it
    is off the scale), one panel per language, the multiple of bare on each bar.
    ImportError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    langs = [lang for lang in results.languages if lang in results.latency]
    levels = results.levels
    fig, axes = plt.subplots(len(langs), 1, figsize=(max(10.0, 0.85 * len(levels) + 2),
                                                      3.3 * len(langs) + 1.2), squeeze=False)
    for ax, lang in zip((row[0] for row in axes), langs, strict=True):
        by = results.latency[lang]
        bare = by.get("bare")
        xs = list(range(len(levels)))
        top = max((s.p95 for s in by.values()), default=1.0)
        for x, info in zip(xs, levels, strict=True):
            s = by.get(info.name)
            if s is None:
                why = results.unavailable.get(info.name, {}).get(lang, "not run")
                ax.text(x, top * 0.03, "absent" if why.startswith("absent") else "failed",
                        ha="center", va="bottom", fontsize=8, color="#777777")
                continue
            ax.bar(x, s.p50, width=0.7, color=COLORS.get(info.kind, "#999999"),
                   edgecolor="#333333", linewidth=0.5)
            ax.errorbar(x, s.p50, yerr=[[0], [max(s.p95 - s.p50, 0)]], color="#222222",
                        capsize=3, linewidth=0.8)
            if s.p99 <= top * 1.1:
                ax.plot(x, s.p99, marker=".", color="#c0392b", markersize=5)
            else:  # off the scale: a caret at the top edge
                ax.plot(x, top * 1.09, marker="^", color="#c0392b", markersize=4)
            if bare is not None:  # on the bar's top, over its whisker
                ax.text(x, s.p50 + top * 0.02, f"{s.p50 / bare.p50:.2f}x", ha="center",
                        va="bottom", fontsize=7.5, zorder=5,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                              "edgecolor": "none", "alpha": 0.85})
        if bare is not None:
            ax.axhline(bare.p50, color="#555555", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, top * 1.12)
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_ylabel(f"{lang} {results.versions.get(lang, '')}\nms (p50, p95, p99 dot)",
                      fontsize=9)
        ax.set_xticks(xs)
        ax.set_xticklabels([SHORT.get(info.name, info.name) for info in levels], fontsize=8)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
    kinds = list(dict.fromkeys(info.kind for info in levels))
    fig.legend(handles=[Patch(color=COLORS.get(k, "#999999"), label=KIND_TITLES.get(k, k))
                        for k in kinds], loc="lower center", ncol=min(len(kinds), 3),
               fontsize=8, frameon=False)
    fig.suptitle("execbox: hello-world latency by isolation level (labels: multiple of bare, "
                 "same run)\n" + results.machine.describe(), fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in head),
           "</tr></thead><tbody>"]
    for row in rows:
        cells = list(row)
        if len(cells) == 1:
            out.append(f'<tr class="kind"><td colspan="99">{html.escape(cells[0])}</td></tr>')
        else:
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _rows(results: Results) -> Iterable[tuple[str, str, str, str]]:
    last = None
    for info in results.levels:
        if info.kind != last:
            yield KIND_TITLES.get(info.kind, info.kind), "", "", ""
            last = info.kind
        yield "", info.name, info.label, info.kind


def write_html(results: Results, path: str, png: str | None, text: str,
               chart_note: str = "") -> None:
    langs = results.languages
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>execbox bench</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:1em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{padding:2px 10px;"
        "border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child"
        "{text-align:left}tr.kind td{font-weight:bold;background:#f2f2f2;text-align:left}"
        "img{max-width:100%}.miss{color:#b03030}</style></head><body>",
        "<h1>execbox bench</h1>",
        f"<p><b>Machine:</b> {html.escape(results.machine.describe())}<br>",
        f"<b>Command:</b> <code>{html.escape(results.command)}</code><br>",
        f"<b>Started:</b> {html.escape(results.started)}, {results.duration_s:.0f} s; "
        f"{results.config.rounds} interleaved rounds</p>",
    ]
    if png is not None:
        with open(png, "rb") as f:
            data = base64.b64encode(f.read()).decode()
        parts.append(f"<img alt='latency against isolation level' "
                     f"src='data:image/png;base64,{data}'>")
    else:
        parts.append(f"<p class='miss'>No chart: {html.escape(chart_note)}</p>")
    rows: list[list[str]] = []
    for title, name, label, _kind in _rows(results):
        if title:
            rows.append([title])
            continue
        cells = [label]
        for lang in langs:
            s = results.latency.get(lang, {}).get(name)
            bare = results.p50(lang, "bare")
            if s is None:
                cells.append(results.unavailable.get(name, {}).get(lang, "-")[:40])
            else:
                cells.append(f"{s.p50 / bare:.2f}x" if bare else "-")
        for lang in langs:
            s = results.latency.get(lang, {}).get(name)
            cells.append(f"{s.p50:.2f} / {s.p95:.2f} / {s.p99:.2f}" if s else "-")
        rows.append(cells)
    parts.append("<h2>Latency</h2>")
    parts.append(_table(["level", *(f"{lang} x bare" for lang in langs),
                         *(f"{lang} ms p50/p95/p99" for lang in langs)], rows))
    concs = results.config.concurrency
    for lang, by_level in results.throughput.items():
        rows = []
        bare_by = by_level.get("bare", {})
        for title, name, label, _kind in _rows(results):
            if title:
                rows.append([title])
                continue
            by_c = by_level.get(name, {})
            cells = [label]
            for c in concs:
                t, b = by_c.get(c), bare_by.get(c)
                cells.append(f"{t.rate / b.rate:.2f}x" if t and b and b.rate else "-")
            for c in concs:
                t = by_c.get(c)
                cells.append(f"{t.rate:.1f}" if t else "-")
            rows.append(cells)
        parts.append(f"<h2>Throughput, {html.escape(lang)} (runs/s by client threads)</h2>")
        parts.append(_table(["level", *(f"x bare @{c}" for c in concs),
                             *(f"runs/s @{c}" for c in concs)], rows))
    if results.memory:
        parts.append("<h2>Memory of one warm sandbox</h2>")
        parts.append(_table(["language", "PSS MiB", "RSS MiB", "processes"],
                            [[lang, f"{m.pss_kib / MIB:.1f}", f"{m.rss_kib / MIB:.1f}",
                              str(m.processes)] for lang, m in results.memory.items()]))
    parts.append("<h2>Targets</h2>")
    parts.append(_table(["goal", "issue", "measured", "verdict"],
                        [[t.goal, t.issue, t.measured, t.verdict] for t in targets(results)]))
    parts.append(f"<h2>Text report</h2><pre>{html.escape(text)}</pre></body></html>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))


def write(results: Results, out_dir: str, text: str) -> tuple[list[str], str]:
    """latency.png (if matplotlib is there) and index.html in ``out_dir``: (paths, note)."""
    os.makedirs(out_dir, exist_ok=True)
    png: str | None = os.path.join(out_dir, "latency.png")
    note = ""
    try:
        write_png(results, os.path.join(out_dir, "latency.png"))
    except ImportError as exc:
        png, note = None, f"matplotlib is not installed ({exc}); pip install 'execbox[bench]'"
    page = os.path.join(out_dir, "index.html")
    write_html(results, page, png, text, note)
    return [p for p in (png, page) if p is not None], note
