"""Server-rendered bar charts: accessible SVG (``role="img"``, a name and a ``<title>``) and the same
figures as an HTML table, so a page needs no JavaScript chart library and a screen reader gets the
numbers. Every label and name is escaped here; the results are safe to put in a template as is."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 44
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_AXIS_LABELS = 12
# Fills with at least 3:1 contrast on white (WCAG 1.4.11), told apart by more than hue alone.
PALETTE = ("#0b5cad", "#b45309", "#15803d", "#6d28d9")


def plain_number(value: float) -> str:
    """1234 -> "1,234"; a fraction keeps one decimal (an axis step of 2.5)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of values, one per category."""

    name: str
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class TableColumn:
    """A column of the table only, its cells already written (a share beside the counts)."""

    name: str
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """What to draw: ``labels`` name the categories (the table's rows); ``axis_labels`` (same length)
    are the shorter ones written under the bars; ``stacked`` piles the series, else they stand side
    by side."""

    chart_id: str
    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    stacked: bool = False
    axis_labels: tuple[str, ...] | None = None
    label_heading: str = "Day"
    value_format: Callable[[float], str] = plain_number
    table_columns: tuple[TableColumn, ...] = ()

    def __post_init__(self) -> None:
        if not self.series:
            raise ValueError("a chart needs at least one series")
        for series in self.series:
            if len(series.values) != len(self.labels):
                raise ValueError(
                    f"series '{series.name}' has {len(series.values)} values for {len(self.labels)} labels"
                )
            if any(value < 0 or math.isnan(value) for value in series.values):
                raise ValueError(f"series '{series.name}' has a negative or missing value")
        if self.axis_labels is not None and len(self.axis_labels) != len(self.labels):
            raise ValueError("axis_labels must match labels one for one")
        if any(len(column.cells) != len(self.labels) for column in self.table_columns):
            raise ValueError("a table column needs one cell per label")


@dataclass(frozen=True, slots=True)
class Chart:
    svg: SafeString
    table: SafeString


def nice_ceiling(value: float) -> float:
    """The axis' top: the smallest of 1, 2, 2.5, 5 times a power of ten at or above ``value``
    (1 for nothing to show, so an empty chart still has an axis)."""
    if value <= 0:
        return 1.0
    power = math.pow(10.0, math.floor(math.log10(value)))
    return next(step * power for step in (1.0, 2.0, 2.5, 5.0, 10.0) if step * power >= value)


def bar_heights(values: Sequence[float], top: float, plot_height: float = PLOT_HEIGHT) -> list[float]:
    """Each value's bar height in a plot ``plot_height`` tall whose axis ends at ``top``."""
    if top <= 0:
        raise ValueError("the axis' top must be positive")
    return [round(plot_height * value / top, 2) for value in values]


def bar_chart(spec: ChartSpec) -> Chart:
    """The chart of ``spec`` as SVG and as a table."""
    return Chart(svg=_svg(spec), table=_table(spec))


def _svg(spec: ChartSpec) -> SafeString:
    totals = [sum(values) for values in zip(*(s.values for s in spec.series), strict=True)]
    peak = max(totals if spec.stacked else [v for s in spec.series for v in s.values], default=0.0)
    top = nice_ceiling(peak)
    title = escape(spec.title)
    summary = escape(_summary(spec, totals))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" '
        f'role="img" aria-label="{title}. {summary}" focusable="false">',
        f"<title>{title}</title>",
        *_axis(spec, top),
        *_bars(spec, top),
        *_legend(spec),
        "</svg>",
    ]
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()


def _summary(spec: ChartSpec, totals: list[float]) -> str:
    if not spec.labels:
        return "No data."
    names = ", ".join(s.name for s in spec.series)
    return (
        f"{names} for {len(spec.labels)} {spec.label_heading.lower()}s, from {spec.labels[0]} to "
        f"{spec.labels[-1]}; highest {spec.value_format(max(totals))}. The table after it holds the figures."
    )


def _axis(spec: ChartSpec, top: float) -> list[str]:
    base = TOP + PLOT_HEIGHT
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        y = round(base - PLOT_HEIGHT * fraction, 2)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="#d0d7de"/>')
        label = escape(spec.value_format(top * fraction))
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end" font-size="12" fill="#57606a">{label}</text>'
        )
    axis_labels = spec.axis_labels or spec.labels
    step = max(1, math.ceil(len(axis_labels) / MAX_AXIS_LABELS))
    slot = PLOT_WIDTH / max(1, len(axis_labels))
    for index in range(0, len(axis_labels), step):
        x = round(LEFT + slot * (index + 0.5), 2)
        label = escape(axis_labels[index])
        parts.append(
            f'<text x="{x}" y="{base + 16}" text-anchor="middle" font-size="12" fill="#1b1f24">{label}</text>'
        )
    return parts


def _bars(spec: ChartSpec, top: float) -> list[str]:
    slot = PLOT_WIDTH / max(1, len(spec.labels))
    width = slot * 0.7 / (1 if spec.stacked else len(spec.series))
    heights = [bar_heights(s.values, top) for s in spec.series]
    parts = []
    for index, label in enumerate(spec.labels):
        base = float(TOP + PLOT_HEIGHT)
        for number, series in enumerate(spec.series):
            height = heights[number][index]
            offset = 0 if spec.stacked else number
            x = round(LEFT + slot * index + slot * 0.15 + width * offset, 2)
            y = round(base - height, 2)
            tip = escape(f"{label}: {series.name} {spec.value_format(series.values[index])}")
            parts.append(
                f'<rect x="{x}" y="{y}" width="{round(width, 2)}" height="{height}" '
                f'fill="{PALETTE[number % len(PALETTE)]}"><title>{tip}</title></rect>'
            )
            if spec.stacked:
                base = y
    return parts


def _legend(spec: ChartSpec) -> list[str]:
    if len(spec.series) < 2:
        return []
    parts = []
    x = LEFT
    for number, series in enumerate(spec.series):
        fill = PALETTE[number % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="12" height="12" fill="{fill}"/>')
        parts.append(
            f'<text x="{x + 16}" y="{HEIGHT - 4}" font-size="12" fill="#1b1f24">{escape(series.name)}</text>'
        )
        x += 24 + 8 * len(series.name)
    return parts


def _table(spec: ChartSpec) -> SafeString:
    names = [s.name for s in spec.series] + [c.name for c in spec.table_columns]
    head = "".join(f'<th scope="col">{escape(name)}</th>' for name in names)
    rows = []
    for index, label in enumerate(spec.labels):
        texts = [spec.value_format(s.values[index]) for s in spec.series]
        texts += [column.cells[index] for column in spec.table_columns]
        cells = "".join(f'<td class="num">{escape(text)}</td>' for text in texts)
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    body = "".join(rows) or f'<tr><td colspan="{len(names) + 1}">No data.</td></tr>'
    html = (
        f'<table class="chart-data" id="{escape(spec.chart_id)}-data"><caption>{escape(spec.title)}</caption>'
        f'<thead><tr><th scope="col">{escape(spec.label_heading)}</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    return mark_safe(html)  # noqa: S308 - every text above went through escape()
