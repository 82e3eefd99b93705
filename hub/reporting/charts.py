"""Charts drawn on the server as inline SVG: no JavaScript, no external service.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by a ``<desc>``
that lists every value, so a screen reader gets the numbers a sighted reader sees. Colours are
presentation attributes (the pages' Content-Security-Policy refuses inline styles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 480
BAR_ROW = 46
BAR_HEIGHT = 18
VALUE_ROOM = 80
BAR_FILL = "#0b5cad"
TARGET_STROKE = "#a1261b"
LINE_STROKE = "#0b5cad"
GRID = "#cfd6dd"
INK = "#1b1f24"


def _number(value: float, unit: str) -> str:
    text = str(round(value)) if unit == "" else f"{value:.1f}".replace(".", ",")
    return f"{text} {unit}".strip()


def _frame(chart_id: str, title: str, desc: str, height: int, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" id="{escape(chart_id)}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every text above is escaped


def bar_chart(
    *,
    chart_id: str,
    title: str,
    bars: Sequence[tuple[str, float | None]],
    unit: str = "",
    max_value: float | None = None,
    target: tuple[str, float] | None = None,
) -> Markup:
    """Horizontal bars, one per (label, value); a value of None is drawn as "no data".

    ``max_value`` fixes the scale (100 for percentages); ``target`` draws a labelled vertical
    line (e.g. the 48 h objective)."""
    values = [v for _, v in bars if v is not None]
    top = max_value if max_value is not None else max([*values, 1.0])
    span = WIDTH - VALUE_ROOM
    height = BAR_ROW * len(bars) + (24 if target else 8)
    body: list[str] = []
    described: list[str] = []
    for i, (label, value) in enumerate(bars):
        y = i * BAR_ROW
        body.append(f'<text x="0" y="{y + 14}" font-size="14" fill="{INK}">{escape(label)}</text>')
        body.append(
            f'<rect x="0" y="{y + 20}" width="{span}" height="{BAR_HEIGHT}" fill="#f5f7f9" '
            f'stroke="{GRID}"/>'
        )
        if value is None:
            shown = "pas de données"
        else:
            length = 0.0 if top <= 0 else span * min(value, top) / top
            body.append(
                f'<rect class="bar" x="0" y="{y + 20}" width="{length:.1f}" '
                f'height="{BAR_HEIGHT}" fill="{BAR_FILL}"/>'
            )
            shown = _number(value, unit)
        body.append(
            f'<text x="{span + 6}" y="{y + 34}" font-size="14" fill="{INK}">{escape(shown)}</text>'
        )
        described.append(f"{label} : {shown}")
    if target is not None:
        name, value = target
        x = span * min(value, top) / top if top > 0 else 0
        bottom = BAR_ROW * len(bars)
        body.append(
            f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="{bottom}" stroke="{TARGET_STROKE}" '
            'stroke-width="2" stroke-dasharray="5 3"/>'
        )
        body.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" font-size="12" text-anchor="middle" '
            f'fill="{TARGET_STROKE}">{escape(name)}</text>'
        )
        described.append(f"{name} : {_number(value, unit)}")
    return _frame(chart_id, title, " ; ".join(described), height, body)


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^n at or above ``value`` (at least 10)."""
    if value <= 10:
        return 10.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def line_chart(
    *,
    chart_id: str,
    title: str,
    points: Sequence[tuple[str, float | None]],
    unit: str = "%",
) -> Markup:
    """A line through (label, value) points, e.g. a monthly rate; None leaves a gap."""
    left, right, top_margin, plot_height, bottom = 62, 12, 10, 170, 64
    height = top_margin + plot_height + bottom
    values = [v for _, v in points if v is not None]
    top = _nice_top(max(values, default=0.0))
    step = (WIDTH - left - right) / max(len(points) - 1, 1)
    body: list[str] = []
    for k in range(5):
        level = top * k / 4
        y = top_margin + plot_height * (1 - k / 4)
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end" '
            f'fill="{INK}">{escape(_number(level, unit) if unit else str(round(level)))}</text>'
        )
    every = max(1, math.ceil(len(points) / 12))
    segment: list[str] = []
    segments: list[list[str]] = []
    described: list[str] = []
    dots: list[str] = []
    for i, (label, value) in enumerate(points):
        x = left + step * i if len(points) > 1 else left + (WIDTH - left - right) / 2
        if i % every == 0:
            base = top_margin + plot_height + 16
            body.append(
                f'<text x="{x:.1f}" y="{base}" font-size="12" text-anchor="end" '
                f'transform="rotate(-35 {x:.1f} {base})" fill="{INK}">{escape(label)}</text>'
            )
        if value is None:
            described.append(f"{label} : pas de données")
            if segment:
                segments.append(segment)
            segment = []
            continue
        y = top_margin + plot_height * (1 - min(value, top) / top)
        segment.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{LINE_STROKE}"/>'
        )
        described.append(f"{label} : {_number(value, unit)}")
    if segment:
        segments.append(segment)
    body += [
        f'<polyline points="{" ".join(seg)}" fill="none" stroke="{LINE_STROKE}" '
        'stroke-width="2.5"/>'
        for seg in segments
        if len(seg) > 1
    ]
    body += dots
    return _frame(chart_id, title, " ; ".join(described), height, body)
