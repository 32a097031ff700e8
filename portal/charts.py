"""Server-rendered SVG charts: line, bar and donut. No script and no inline style (presentation attributes
only), so they pass the portal's CSP and show with JavaScript off. Each chart is an `<svg role="img">`
with a title and a one-line description; the page puts an accessible data table beside it, which carries
the figures themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import count

from markupsafe import Markup, escape

#: Colour-blind-friendly palette (Okabe-Ito), each at least 3:1 against white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#6b6b6b")
INK = "#1b1f24"
MUTED = "#57606a"
GRID = "#d0d7de"
_ids = count(1)


def _frame(width: int, height: int, title: str, description: str, body: str) -> Markup:
    n = next(_ids)
    # Every text put in is escaped here; the rest are numbers and constants.
    return Markup(  # noqa: S704
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-{n}-title" aria-describedby="chart-{n}-desc" '
        'preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-{n}-title">{escape(title)}</title>'
        f'<desc id="chart-{n}-desc">{escape(description)}</desc>'
        f"{body}</svg>"
    )


def line_chart(
    labels: Sequence[str],
    values: Sequence[int],
    *,
    title: str,
    fmt: Callable[[int], str],
    previous: Sequence[int] | None = None,
    width: int = 640,
    height: int = 220,
) -> Markup:
    """Values over time; `previous` (the period before, aligned by position) drawn dashed beside them."""
    left, right, top, bottom = 8, 8, 24, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([*values, *(previous or ()), 1])
    n = max(len(values), 1)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{GRID}"/>',
        f'<line x1="{left}" y1="{top}" x2="{left + plot_w}" y2="{top}" stroke="{GRID}" '
        'stroke-dasharray="2 4"/>',
        f'<text x="{left}" y="{top - 8}" fill="{MUTED}" font-size="12">{escape(fmt(peak))}</text>',
    ]
    if previous:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(previous[:n]))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{MUTED}" stroke-width="2" '
            'stroke-dasharray="5 4"/>'
        )
    if values:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        area = f"{x(0):.1f},{top + plot_h} {points} {x(len(values) - 1):.1f},{top + plot_h}"
        parts.append(f'<polygon points="{area}" fill="{PALETTE[0]}" fill-opacity="0.12"/>')
        parts.append(f'<polyline points="{points}" fill="none" stroke="{PALETTE[0]}" stroke-width="2.5"/>')
        if len(values) <= 62:
            parts += [
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{PALETTE[0]}"/>'
                for i, v in enumerate(values)
            ]
    if labels:
        parts.append(
            f'<text x="{left}" y="{height - 8}" fill="{MUTED}" font-size="12">{escape(labels[0])}</text>'
        )
        parts.append(
            f'<text x="{left + plot_w}" y="{height - 8}" fill="{MUTED}" font-size="12" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    total = sum(values)
    description = (
        f"{len(values)} points from {labels[0] if labels else '-'} to {labels[-1] if labels else '-'}; "
        f"highest {fmt(max(values, default=0))}, total {fmt(total)}."
    )
    return _frame(width, height, title, description, "".join(parts))


def bar_chart(
    items: Sequence[tuple[str, int]], *, title: str, fmt: Callable[[int], str], width: int = 640
) -> Markup:
    """Horizontal bars, largest first as given, each labelled with its value."""
    row, label_w, value_w = 28, 170, 110
    height = max(row * len(items), row) + 8
    peak = max([v for _, v in items] + [1])
    bar_room = width - label_w - value_w
    parts = []
    for i, (label, value) in enumerate(items):
        top = 4 + i * row
        length = max(bar_room * value / peak, 1 if value else 0)
        shown = label if len(label) <= 24 else label[:23] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{top + 18}" fill="{INK}" font-size="13" text-anchor="end">'
            f"{escape(shown)}</text>"
            f'<rect x="{label_w}" y="{top + 4}" width="{length:.1f}" height="{row - 10}" rx="3" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{top + 18}" fill="{INK}" font-size="13">'
            f"{escape(fmt(value))}</text>"
        )
    if not items:
        parts.append(f'<text x="8" y="20" fill="{MUTED}" font-size="13">No data in this period</text>')
    description = "; ".join(f"{label}: {fmt(value)}" for label, value in items[:8]) or "No data."
    return _frame(width, height, title, description, "".join(parts))


def donut_chart(
    items: Sequence[tuple[str, int]], *, title: str, fmt: Callable[[int], str], size: int = 220
) -> Markup:
    """Shares of a whole, as a ring with a legend beside it."""
    total = sum(v for _, v in items)
    legend_w = 240
    width, height = size + legend_w, max(size, 24 * len(items) + 16)
    cx = cy = size / 2
    radius, stroke = size / 2 - 22, 30
    circumference = 2 * math.pi * radius
    parts = [
        f'<circle cx="{cx}" cy="{cy}" r="{radius:.2f}" fill="none" stroke="{GRID}" stroke-width="{stroke}"/>'
    ]
    offset = 0.0
    for i, (_label, value) in enumerate(items):
        if not total or not value:
            continue
        length = circumference * value / total
        parts.append(
            f'<circle cx="{cx}" cy="{cy}" r="{radius:.2f}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" '
            f'stroke-width="{stroke}" stroke-dasharray="{length:.2f} {circumference - length:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {cx} {cy})"/>'
        )
        offset += length
    parts.append(
        f'<text x="{cx}" y="{cy + 5}" fill="{INK}" font-size="15" text-anchor="middle">'
        f"{escape(fmt(total))}</text>"
    )
    for i, (label, value) in enumerate(items):
        top = 12 + i * 24
        share = f" ({100 * value / total:.1f} %)" if total else ""
        parts.append(
            f'<rect x="{size + 8}" y="{top}" width="14" height="14" rx="2" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{size + 30}" y="{top + 12}" fill="{INK}" font-size="13">'
            f"{escape(label)}: {escape(fmt(value))}{share}</text>"
        )
    description = "; ".join(f"{label}: {fmt(value)}" for label, value in items) or "No data."
    return _frame(width, height, title, description, "".join(parts))
