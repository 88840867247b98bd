"""The geometry of the report's charts: numbers only, which the HTML template draws as
inline SVG (so the report needs no script and no library in the reader's browser).

* the timeline: policy changes and run starts on one time axis, two lanes;
* cost per run against the warn threshold and hard limit of the latest policy.

Every label a mark carries is the report's own value, escaped by the template like
any other.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from speckit_git_policy.evidence.report import (
    COST_OVER,
    COST_WARN,
    AuditReport,
    RunReport,
    moment_of,
)

WIDTH = 960
LEFT, RIGHT = 90, 20


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    css: str  # the class the stylesheet colours it by
    label: str  # the tooltip (<title>)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # text-anchor: the ends are aligned inwards, never cut off


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    left: int
    right: int
    policy_y: float
    runs_y: float
    policy_marks: tuple[Mark, ...]
    run_marks: tuple[Mark, ...]
    ticks: tuple[Tick, ...]


@dataclass(frozen=True)
class CostChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: tuple[Mark, ...]
    warn_y: float | None
    hard_y: float | None
    warn_threshold: float | None
    hard_limit: float | None
    ticks: tuple[Tick, ...]


def _seconds(moment: datetime.datetime) -> float:
    return moment.timestamp()


def _date_ticks(start: float, end: float, left: float, span: float, count: int = 5) -> list[Tick]:
    ticks = []
    for index in range(count):
        fraction = index / (count - 1)
        moment = datetime.datetime.fromtimestamp(
            start + (end - start) * fraction, datetime.timezone.utc
        )
        label = (
            moment.strftime("%Y-%m-%d %H:%M") if end - start < 3 * 86400 else f"{moment:%Y-%m-%d}"
        )
        anchor = "start" if index == 0 else "end" if index == count - 1 else "middle"
        ticks.append(Tick(round(left + span * fraction, 1), label, anchor))
    return ticks


def _run_css(run: RunReport) -> str:
    if run.problem is not None or run.denials:
        return "bad"
    if run.cost_status == COST_OVER:
        return "bad"
    if run.cost_status == COST_WARN or run.policy_changes:
        return "warn"
    return "good"


def timeline(report: AuditReport) -> Timeline | None:
    """Policy changes and runs on one axis; None when nothing has a date."""
    policy = [
        (moment, change)
        for change in report.policy_changes
        if (moment := moment_of(change.date)) is not None
    ]
    runs = [(moment, run) for run in report.runs if (moment := moment_of(run.started_at))]
    moments = [_seconds(m) for m, _ in policy] + [_seconds(m) for m, _ in runs]
    if not moments:
        return None
    start, end = min(moments), max(moments)
    if end - start < 60:  # one instant: centre it in a minute either side
        start, end = start - 60, end + 60
    span = WIDTH - LEFT - RIGHT

    def x(moment: datetime.datetime) -> float:
        return round(LEFT + span * (_seconds(moment) - start) / (end - start), 1)

    policy_marks = tuple(
        Mark(
            x(moment),
            40,
            "bad" if change.validated is False else "policy",
            f"{change.date} {change.commit[:12]} {change.author or ''}: {change.subject or ''}",
        )
        for moment, change in policy
    )
    run_marks = tuple(
        Mark(
            x(moment),
            90,
            _run_css(run),
            f"{run.started_at} {run.run_id}: {run.denials} denial(s), {run.events} event(s)",
        )
        for moment, run in runs
    )
    return Timeline(
        WIDTH,
        150,
        LEFT,
        RIGHT,
        40,
        90,
        policy_marks,
        run_marks,
        tuple(_date_ticks(start, end, LEFT, span)),
    )


def cost_chart(report: AuditReport) -> CostChart | None:
    """Each run's cost (in start order) against the latest thresholds; None without costs."""
    costed = [run for run in report.runs if run.usage is not None and run.usage.cost is not None]
    if not costed:
        return None
    latest = report.runs[-1]
    warn, hard = latest.warn_threshold, latest.hard_limit
    highest = max(run.usage.cost for run in costed if run.usage and run.usage.cost is not None)
    top_value = max(highest, hard or 0.0, warn or 0.0) * 1.1 or 1.0
    height, top, bottom = 220, 15, 30
    plot = height - top - bottom
    span = WIDTH - LEFT - RIGHT

    def y(value: float) -> float:
        return round(top + plot * (1 - value / top_value), 1)

    count = len(costed)
    points = []
    for index, run in enumerate(costed):
        assert run.usage is not None and run.usage.cost is not None
        position = LEFT + span * ((index + 0.5) / count)
        status = run.cost_status
        css = "bad" if status == COST_OVER else "warn" if status == COST_WARN else "good"
        points.append(
            Mark(round(position, 1), y(run.usage.cost), css, f"{run.run_id}: {run.usage.cost:.4f}")
        )
    ticks = tuple(Tick(y(top_value * i / 4), f"{top_value * i / 4:.2f}") for i in range(5))
    return CostChart(
        WIDTH,
        height,
        LEFT,
        RIGHT,
        top,
        bottom,
        tuple(points),
        y(warn) if warn is not None else None,
        y(hard) if hard is not None else None,
        warn,
        hard,
        ticks,
    )
