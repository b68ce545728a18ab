"""``superbatch report JOB``: the numbers of a job (JSON) and one self-contained HTML page.

The page has no script and loads nothing: inline CSS and SVG only, so it opens anywhere,
offline, and shows the same numbers as ``report --json``: a timeline of every task attempt
per node (Gantt), the distribution of durations, failures grouped by their error,
node-hours and, given a price per node-hour (``--price-per-node-hour``, else the stack's
``pricePerNodeHour`` of the job's pool), the cost.

Node-hours count each node from the start of its first attempt to the end of its last one
(what the job kept it busy for; node start-up and idle time before scale-down are not
visible to the job and not counted).
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Iterable
from typing import Any

from superbatch.failures import group_failures
from superbatch.model import TaskStatus
from superbatch.timings import AttemptTiming, TaskTimings

HISTOGRAM_BINS = 10
GANTT_WIDTH = 900
ROW_HEIGHT = 18


def build_report(
    job_id: str,
    backend: str,
    tasks: list[TaskTimings],
    failed: Iterable[TaskStatus],
    *,
    pool: str | None = None,
    price_per_node_hour: float | None = None,
    price_source: str | None = None,
) -> dict[str, Any]:
    """Every number the page shows, JSON-ready."""
    bars: list[dict[str, Any]] = []
    by_node: dict[str, list[AttemptTiming]] = {}
    for task in tasks:
        for attempt in task.attempts:
            if attempt.start is None:
                continue
            node = attempt.node or "?"
            by_node.setdefault(node, []).append(attempt)
            bars.append(
                {
                    "task": task.task_id,
                    "label": task.label,
                    "attempt": attempt.attempt,
                    "node": node,
                    "start": attempt.start,
                    "end": attempt.end,
                    "exit_code": attempt.exit_code,
                    "approximate": attempt.approximate,
                }
            )
    nodes: list[dict[str, Any]] = []
    for node, attempts in sorted(by_node.items()):
        first = min(a.start for a in attempts if a.start is not None)
        last = max((a.end or a.start or first) for a in attempts)
        busy = sum(a.duration or 0.0 for a in attempts)
        nodes.append(
            {
                "node": node,
                "attempts": len(attempts),
                "busy_seconds": busy,
                "hours": (last - first) / 3600,
            }
        )
    node_hours = sum(n["hours"] for n in nodes)
    durations = [
        d for task in tasks if task.attempts and (d := task.attempts[-1].duration) is not None
    ]
    starts: list[float] = [b["start"] for b in bars]
    ends: list[float] = [b["end"] for b in bars if b["end"] is not None]
    groups = [
        {"error": g.key, "count": len(g.tasks), "tasks": [t.task_id for t in g.tasks]}
        for g in group_failures(failed)
    ]
    states: dict[str, int] = {}
    for task in tasks:
        states[str(task.state)] = states.get(str(task.state), 0) + 1
    return {
        "job_id": job_id,
        "backend": backend,
        "pool": pool or "default",  # a spec without `pool`, or a job from before pools
        "tasks": len(tasks),
        "states": states,
        "attempts": len(bars),
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "wall_seconds": (max(ends) - min(starts)) if starts and ends else None,
        "nodes": nodes,
        "node_hours": node_hours,
        "price_per_node_hour": price_per_node_hour,
        "price_source": price_source,
        "cost": node_hours * price_per_node_hour if price_per_node_hour is not None else None,
        "durations": _distribution(durations),
        "failures": groups,
        "bars": bars,
    }


def _distribution(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "min": None, "median": None, "max": None, "bins": []}
    low, high = min(values), max(values)
    width = (high - low) / HISTOGRAM_BINS or 1.0
    counts = [0] * HISTOGRAM_BINS
    for value in values:
        counts[min(HISTOGRAM_BINS - 1, int((value - low) / width))] += 1
    bins = [
        {"from": low + i * width, "to": low + (i + 1) * width, "count": c}
        for i, c in enumerate(counts)
    ]
    return {
        "count": len(values),
        "min": low,
        "median": statistics.median(values),
        "max": high,
        "bins": bins,
    }


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _gantt(report: dict[str, Any]) -> str:
    start, end = report["start"], report["end"]
    if start is None:
        return "<p>No attempt has started yet.</p>"
    span = max((end or start) - start, 1e-6)
    rows = [n["node"] for n in report["nodes"]]
    lanes: dict[str, list[float]] = {}  # node -> end of each lane (overlapping attempts)
    parts = []
    lane_of = []
    for bar in sorted(report["bars"], key=lambda b: (b["node"], b["start"])):
        ends = lanes.setdefault(bar["node"], [])
        finish = bar["end"] if bar["end"] is not None else end or bar["start"]
        for index, lane_end in enumerate(ends):
            if lane_end <= bar["start"]:
                ends[index] = finish
                lane_of.append((bar, index, finish))
                break
        else:
            ends.append(finish)
            lane_of.append((bar, len(ends) - 1, finish))
    offsets: dict[str, int] = {}
    y = 0
    for node in rows:
        offsets[node] = y
        y += max(1, len(lanes.get(node, []))) * ROW_HEIGHT + 8
    for bar, lane, finish in lane_of:
        x = (bar["start"] - start) / span * GANTT_WIDTH
        w = max(1.0, (finish - bar["start"]) / span * GANTT_WIDTH)
        top = offsets[bar["node"]] + lane * ROW_HEIGHT
        ok = bar["exit_code"] == 0
        cls = "attempt ok" if ok else "attempt failed"
        title = (
            f"task {bar['task']} ({bar['label']}) attempt {bar['attempt']} on {bar['node']}: "
            f"{_num(finish - bar['start'], 1)} s, exit {bar['exit_code']}"
            + (" (approximate)" if bar["approximate"] else "")
        )
        parts.append(
            f'<rect class="{cls}" data-task="{_e(bar["task"])}" data-attempt="{bar["attempt"]}" '
            f'x="{x:.1f}" y="{top}" width="{w:.1f}" height="{ROW_HEIGHT - 3}">'
            f"<title>{_e(title)}</title></rect>"
        )
    labels = "".join(f'<text x="0" y="{offsets[n] + 12}" class="node">{_e(n)}</text>' for n in rows)
    return (
        f'<svg class="gantt" width="{GANTT_WIDTH + 140}" height="{y}" role="img">'
        f'<g>{labels}</g><g transform="translate(140,0)">{"".join(parts)}</g></svg>'
    )


def _histogram(report: dict[str, Any]) -> str:
    bins = report["durations"]["bins"]
    if not bins:
        return "<p>No finished attempt yet.</p>"
    top = max(b["count"] for b in bins) or 1
    bars = []
    for index, item in enumerate(bins):
        h = item["count"] / top * 120
        bars.append(
            f'<rect class="bin" data-count="{item["count"]}" x="{index * 44}" y="{130 - h:.1f}" '
            f'width="40" height="{h:.1f}"><title>{_num(item["from"], 2)}-{_num(item["to"], 2)} s: '
            f"{item['count']}</title></rect>"
        )
    return f'<svg class="histogram" width="{len(bins) * 44}" height="132">{"".join(bars)}</svg>'


def _price(report: dict[str, Any]) -> str:
    price = report["price_per_node_hour"]
    return "-" if price is None else f"{price:g} ({report['price_source']})"


_CSS = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}
.ok{fill:#3a8f4b}.failed{fill:#c0392b}.bin{fill:#4a6fa5}.node{font-size:12px}
h2{margin-top:28px}
"""


def render_html(report: dict[str, Any]) -> str:
    """The page: self-contained (inline CSS and SVG, no script, no link)."""
    d = report["durations"]
    rows = [
        ("pool", "pool", report["pool"]),
        ("tasks", "tasks", report["tasks"]),
        ("attempts", "attempts", report["attempts"]),
        ("wall-seconds", "start to end (s)", _num(report["wall_seconds"], 1)),
        ("node-hours", "node-hours", _num(report["node_hours"], 4)),
        ("cost", "cost", _num(report["cost"], 2)),
        ("price", "price per node-hour", _price(report)),
        ("duration-median", "median duration (s)", _num(d["median"], 2)),
        ("duration-max", "longest duration (s)", _num(d["max"], 2)),
    ]
    numbers = "".join(
        f'<tr><th>{_e(title)}</th><td id="{key}">{_e(value)}</td></tr>'
        for key, title, value in rows
    )
    states = ", ".join(f"{_e(k)} {v}" for k, v in sorted(report["states"].items()))
    nodes = "".join(
        f"<tr><td>{_e(n['node'])}</td><td>{n['attempts']}</td>"
        f"<td>{_num(n['busy_seconds'], 1)}</td><td>{_num(n['hours'], 4)}</td></tr>"
        for n in report["nodes"]
    )
    failures = "".join(
        f'<tr class="failure-group"><td>{g["count"]}</td><td><code>{_e(g["error"])}</code></td>'
        f"<td>{_e(', '.join(g['tasks'][:10]))}{' ...' if len(g['tasks']) > 10 else ''}</td></tr>"
        for g in report["failures"]
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>SuperBatch report: {_e(report["job_id"])}</title>
<style>{_CSS}</style></head>
<body>
<h1>{_e(report["job_id"])}</h1>
<p>backend {_e(report["backend"])}; tasks: {states}</p>
<table class="numbers">{numbers}</table>
<h2>Timeline (one bar per task attempt, per node)</h2>
{_gantt(report)}
<h2>Durations (last attempt of each task)</h2>
{_histogram(report)}
<h2>Nodes</h2>
<table><tr><th>node</th><th>attempts</th><th>busy (s)</th><th>node-hours</th></tr>{nodes}</table>
<h2>Failures by error</h2>
<table><tr><th>tasks</th><th>error</th><th>which</th></tr>{failures}</table>
</body></html>
"""
