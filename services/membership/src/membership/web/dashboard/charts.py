"""Small charts as geometry for inline SVG: lines and grouped bars with labelled axes.

Computed here, drawn by `templates/dashboard/_charts.html`; no JavaScript, no build step. Each
chart carries a title and a description in words for screen readers; the page also shows every
number in a table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 400, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 7


@dataclass(frozen=True)
class Tick:
    at: float
    text: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Line:
    name: str
    style: str  # a CSS class: "one" (solid) or "two" (dashed)
    points: str  # the polyline's "x,y x,y ..."
    dots: list[Dot]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    style: str
    label: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    lines: list[Line] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: float = TOP + PLOT_H


def axis(value: int) -> tuple[int, int]:
    """The y axis' top and its step: a step of 1, 2 or 5 times a power of ten, three to five of them."""
    if value <= 4:
        return 4, 1
    rough = value / 4
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= rough)
    return math.ceil(value / step) * step, step


def _y(value: int, top: int) -> float:
    return round(TOP + PLOT_H - PLOT_H * value / top, 1)


def _y_ticks(top: int, step: int, fmt: Callable[[int], str]) -> list[Tick]:
    return [Tick(_y(v, top), fmt(v)) for v in range(0, top + 1, step)]


def _x_ticks(centres: list[float], labels: Sequence[str]) -> list[Tick]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    # Always label the last (current) period; count back from it.
    last = len(labels) - 1
    return [Tick(centres[i], labels[i]) for i in range(len(labels)) if (last - i) % every == 0]


def _describe(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], fmt: Callable[[int], str]
) -> str:
    if not labels:
        return f"{title}: no periods."
    parts = []
    for name, values in series:
        high = max(range(len(values)), key=lambda i: (values[i], i))
        parts.append(
            f"{name}: {fmt(values[0])} in {labels[0]}, {fmt(values[-1])} in {labels[-1]}, "
            f"highest {fmt(values[high])} in {labels[high]}"
        )
    return f"{title}, {labels[0]} to {labels[-1]}. " + "; ".join(parts) + "."


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    fmt: Callable[[int], str] = str,
    axis_labels: Sequence[str] | None = None,
) -> Chart:
    """One or two series over the periods, as lines with a dot at each period.

    `labels` name the periods in words (descriptions, tooltips); `axis_labels`, shorter, go under the axis."""
    n = len(labels)
    top, tick = axis(max([v for _, values in series for v in values] or [0]))
    step = PLOT_W / max(n - 1, 1)
    xs = [round(LEFT + (i * step if n > 1 else PLOT_W / 2), 1) for i in range(n)]
    lines = []
    for index, (name, values) in enumerate(series):
        style = "one" if index == 0 else "two"
        dots = [
            Dot(x, _y(v, top), f"{name}, {label}: {fmt(v)}")
            for x, v, label in zip(xs, values, labels, strict=True)
        ]
        lines.append(Line(name, style, " ".join(f"{d.x},{d.y}" for d in dots), dots))
    return Chart(
        id=chart_id,
        title=title,
        description=_describe(title, labels, series, fmt),
        x_ticks=_x_ticks(xs, axis_labels or labels),
        y_ticks=_y_ticks(top, tick, fmt),
        lines=lines,
        legend=[(name, line.style) for (name, _), line in zip(series, lines, strict=True)]
        if len(series) > 1
        else [],
    )


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    fmt: Callable[[int], str] = str,
    axis_labels: Sequence[str] | None = None,
) -> Chart:
    """Side-by-side bars per period, one per series (labels as for `line_chart`)."""
    n, k = len(labels), max(len(series), 1)
    top, tick = axis(max([v for _, values in series for v in values] or [0]))
    slot = PLOT_W / max(n, 1)
    bar_w = round(slot * 0.8 / k, 1)
    bars = []
    for index, (name, values) in enumerate(series):
        style = "one" if index == 0 else "two"
        for i, (value, label) in enumerate(zip(values, labels, strict=True)):
            x = round(LEFT + i * slot + slot * 0.1 + index * bar_w, 1)
            y = _y(value, top)
            bars.append(Bar(x, y, bar_w, round(TOP + PLOT_H - y, 1), style, f"{name}, {label}: {fmt(value)}"))
    centres = [round(LEFT + (i + 0.5) * slot, 1) for i in range(n)]
    return Chart(
        id=chart_id,
        title=title,
        description=_describe(title, labels, series, fmt),
        x_ticks=_x_ticks(centres, axis_labels or labels),
        y_ticks=_y_ticks(top, tick, fmt),
        bars=bars,
        legend=[(name, "one" if i == 0 else "two") for i, (name, _) in enumerate(series)]
        if len(series) > 1
        else [],
    )
