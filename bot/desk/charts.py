"""Charts drawn on the server as SVG: no JavaScript, readable on any phone, printable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

ROW = 34
LABEL_WIDTH = 220
BAR_WIDTH = 300
PAD = 12


def _fit(label: str, limit: int = 32) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart_svg(labels: Sequence[str], values: Sequence[int], title: str = "") -> str:
    """Horizontal bars, one per label, with the count and share at the end of each."""
    total = sum(values)
    biggest = max(values, default=0) or 1
    top = PAD + (ROW if title else 0)
    height = top + ROW * len(labels) + PAD
    width = PAD + LABEL_WIDTH + BAR_WIDTH + 110
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" font-family="system-ui, sans-serif" '
        f'font-size="14"><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
    ]
    if title:
        parts.append(
            f'<text x="{PAD}" y="{PAD + 16}" font-weight="bold">{escape(_fit(title, 70))}</text>'
        )
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + index * ROW
        length = round(BAR_WIDTH * value / biggest)
        share = f"{100 * value / total:.0f}%" if total else "0%"
        parts.append(
            f'<text x="{PAD}" y="{y + 21}">{escape(_fit(label))}</text>'
            f'<rect x="{PAD + LABEL_WIDTH}" y="{y + 6}" width="{length}" height="20" '
            f'fill="#0b5394"><title>{escape(label)}: {value}</title></rect>'
            f'<text x="{PAD + LABEL_WIDTH + length + 6}" y="{y + 21}">{value} ({share})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


PALETTE = ("#0b5394", "#e69138", "#6aa84f", "#a64d79", "#45818e", "#cc4125", "#7f6000", "#999")
PLOT_HEIGHT = 180
AXIS_WIDTH = 44
MAX_X_LABELS = 16


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _nice_ceiling(value: int) -> int:
    """The axis maximum: a round number at least ``value`` (30, not 50, for 24)."""
    step = 1
    while True:
        for factor in (1, 2, 3, 4, 5, 6, 8):
            if step * factor >= value:
                return step * factor
        step *= 10


def stacked_columns_svg(
    days: Sequence[str],
    series: Mapping[str, Sequence[int]],
    title: str = "",
    names: Mapping[str, str] | None = None,
) -> str:
    """One column per day, stacked by series (channels, languages), with a legend.

    ``days`` are ISO dates; each series has one count per day. Every segment carries
    ``data-day``, ``data-series`` and ``data-count`` and a tooltip, so the figures stay
    readable (and checkable) without looking at pixel heights.
    """
    names = names or {}
    totals = [sum(values[i] for values in series.values()) for i in range(len(days))]
    top = _nice_ceiling(max(totals, default=0) or 1)
    column = max(6, min(28, 720 // max(len(days), 1)))
    head = PAD + (ROW if title else 0)
    legend_y = head + PLOT_HEIGHT + 28
    width = PAD * 2 + AXIS_WIDTH + column * len(days)
    width = max(width, 360)
    height = legend_y + ROW * ((len(series) + 2) // 3) + PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="chart" '
        f'font-family="system-ui, sans-serif" font-size="12"><title>{escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
    ]
    if title:
        parts.append(
            f'<text x="{PAD}" y="{PAD + 16}" font-size="14" font-weight="bold">'
            f"{escape(_fit(title, 70))}</text>"
        )
    left, bottom = PAD + AXIS_WIDTH, head + PLOT_HEIGHT
    for value in (0, top // 2, top) if top > 1 else (0, top):
        y = bottom - PLOT_HEIGHT * value / top
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - PAD}" y2="{y:.1f}" stroke="#d9dee5"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    every = -(-len(days) // MAX_X_LABELS)
    for index, day in enumerate(days):
        x = left + index * column
        base = float(bottom)
        for number, (key, values) in enumerate(series.items()):
            count = values[index]
            if not count:
                continue
            size = PLOT_HEIGHT * count / top
            base -= size
            label = names.get(key, key)
            parts.append(
                f'<rect x="{x + 1}" y="{base:.1f}" width="{column - 2}" height="{size:.1f}" '
                f'fill="{PALETTE[number % len(PALETTE)]}" data-day="{_attr(day)}" '
                f'data-series="{_attr(key)}" data-count="{count}">'
                f"<title>{escape(day)} · {escape(label)}: {count}</title></rect>"
            )
        if index % every == 0:
            parts.append(
                f'<text x="{x + column / 2:.1f}" y="{bottom + 16}" text-anchor="middle">'
                f"{escape(day[8:10].lstrip('0'))}</text>"
            )
    for number, key in enumerate(series):
        x = PAD + (number % 3) * ((width - 2 * PAD) // 3)
        y = legend_y + (number // 3) * ROW
        total = sum(series[key])
        parts.append(
            f'<rect x="{x}" y="{y - 11}" width="12" height="12" '
            f'fill="{PALETTE[number % len(PALETTE)]}"/>'
            f'<text x="{x + 18}" y="{y}">{escape(_fit(names.get(key, key), 22))} ({total})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
