"""Geometry of the consult dashboard's bar charts, drawn as inline SVG by the template.

Horizontal bars, one row per specialty: the labels stay readable however long the
specialty's name, and no JavaScript is needed. Positions are in SVG user units of a
fixed-width view box that the browser scales to the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from telehealth.consults.stats import SpecialtyFigures

WIDTH = 640
LABEL_WIDTH = 180  # specialty names, right-aligned before the bars
VALUE_WIDTH = 90  # the number after each bar
TOP = 8
MARKED_TOP = 26  # room for the deadline labels above the bars
ROW = 30
BAR = 18
AXIS = 22
PLOT_LEFT = LABEL_WIDTH + 8
PLOT_WIDTH = WIDTH - PLOT_LEFT - VALUE_WIDTH
MIN_LABEL_GAP = 56  # deadline labels closer than this to the previous one are left out


@dataclass(frozen=True)
class Segment:
    """One coloured part of a bar."""

    kind: str
    x: float
    width: float
    value: float


@dataclass(frozen=True)
class Bar:
    """One specialty's row: its label, its segments and the value written after them."""

    code: str
    label: str
    y: float
    segments: list[Segment]
    value: float | None
    value_x: float

    @property
    def text_y(self) -> float:
        """Baseline of the row's texts, centred on the bar."""
        return self.y + BAR / 2 + 4.5


@dataclass(frozen=True)
class Tick:
    """A vertical line across the plot: a scale step, or a response deadline."""

    x: float
    value: float
    name: str = ""
    labelled: bool = True


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw one chart."""

    bars: list[Bar]
    ticks: list[Tick] = field(default_factory=list)
    marks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    plot_left: float = PLOT_LEFT
    plot_right: float = PLOT_LEFT + PLOT_WIDTH
    top: float = TOP

    @property
    def bottom(self) -> float:
        """Where the bars end and the axis starts."""
        return self.top + ROW * len(self.bars)

    @property
    def height(self) -> float:
        """The view box height."""
        return self.bottom + AXIS


def _x(value: float, scale: float) -> float:
    return round(PLOT_LEFT + PLOT_WIDTH * value / scale, 1) if scale else PLOT_LEFT


def _bar(
    code: str, label: str, index: int, parts: list[tuple[str, float]], scale: float, top: float
) -> Bar:
    segments, start = [], 0.0
    for kind, value in parts:
        if value > 0:
            left, right = _x(start, scale), _x(start + value, scale)
            segments.append(Segment(kind, left, round(right - left, 1), value))
        start += value
    total = start if parts else None
    return Bar(code, label, top + ROW * index + (ROW - BAR) / 2, segments, total, _x(start, scale))


def count_ticks(top: int, most: int = 5) -> list[int]:
    """Whole-number scale steps (1, 2 or 5 times a power of ten) from 0 to at least `top`."""
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            count = max(1, -(-top // step))
            if count <= most - 1:
                return [step * i for i in range(count + 1)]
        magnitude *= 10


def requests_chart(rows: Sequence[SpecialtyFigures], names: dict[str, str]) -> Chart:
    """Requests per specialty: answered, open in time, overdue, closed without an answer."""
    ticks = count_ticks(max((r.submitted for r in rows), default=0))
    scale = ticks[-1]
    bars = [
        _bar(
            r.specialty,
            names.get(r.specialty, r.specialty),
            i,
            [
                ("answered", r.answered),
                ("open", r.open - r.overdue),
                ("overdue", r.overdue),
                ("closed", r.closed),
            ],
            scale,
            TOP,
        )
        for i, r in enumerate(rows)
    ]
    return Chart(bars, [Tick(_x(t, scale), t) for t in ticks])


def median_chart(
    rows: Sequence[SpecialtyFigures], names: dict[str, str], deadlines: dict[str, timedelta]
) -> Chart:
    """Median minutes to answer per specialty, against the response deadlines: the scale
    reaches the first deadline above the slowest median, so the bars have a yardstick."""
    medians = [r.median_minutes_to_answer or 0.0 for r in rows]
    limits = sorted((d.total_seconds() / 60, urgency) for urgency, d in deadlines.items())
    slowest = max(medians, default=0.0)
    scale = next((m for m, _ in limits if m >= slowest), slowest) or 60.0
    bars = [
        _bar(
            r.specialty,
            names.get(r.specialty, r.specialty),
            i,
            [("median", r.median_minutes_to_answer)]
            if r.median_minutes_to_answer is not None
            else [],
            scale,
            MARKED_TOP,
        )
        for i, r in enumerate(rows)
    ]
    marks, last_label = [], -float("inf")
    for minutes, urgency in limits:
        if minutes <= scale:
            x = _x(minutes, scale)
            labelled = x - last_label >= MIN_LABEL_GAP
            last_label = x if labelled else last_label
            marks.append(Tick(x, minutes, urgency, labelled))
    return Chart(bars, [Tick(_x(0, scale), 0)], marks, top=MARKED_TOP)


def in_time_chart(rows: Sequence[SpecialtyFigures], names: dict[str, str]) -> Chart:
    """Share of the answered requests answered by their deadline, 0 to 100 %."""
    bars = [
        _bar(
            r.specialty,
            names.get(r.specialty, r.specialty),
            i,
            [("in_time", r.answered_in_time_share * 100)]
            if r.answered_in_time_share is not None
            else [],
            100,
            TOP,
        )
        for i, r in enumerate(rows)
    ]
    return Chart(bars, [Tick(_x(t, 100), t) for t in (0, 25, 50, 75, 100)])
