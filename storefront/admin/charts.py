"""Line charts drawn on the server as inline SVG (no script, nothing fetched), labelled for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 16, 16, 28, 32


def _number(value: float) -> str:
    return f"{value:.1f}"


def line_chart(title: str, labels: Sequence[str], values: Sequence[Decimal | int],
               value_texts: Sequence[str], chart_id: str = "chart") -> Markup:
    """One line over the labels (months), each point titled with its label and value text.

    The SVG is an image with its title for assistive technology; the page gives the figures
    as a table too. Every text is escaped."""
    count = len(values)
    top = max((float(v) for v in values), default=0.0)
    scale = top if top > 0 else 1.0
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    step = plot_w / max(count - 1, 1)
    points = [(LEFT + i * step, TOP + plot_h * (1 - float(v) / scale)) for i, v in enumerate(values)]
    title_id = f"{escape(chart_id)}-title"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{title_id}">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<line class="chart-axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<line class="chart-grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
    ]
    if top > 0:
        highest = max(range(count), key=lambda i: float(values[i]))
        parts.append(f'<text class="chart-scale" x="{LEFT}" y="{TOP - 8}">'
                     f'{escape(value_texts[highest])}</text>')
    path = " ".join(f"{_number(x)},{_number(y)}" for x, y in points)
    parts.append(f'<polyline class="chart-line" fill="none" points="{path}"/>')
    for (x, y), label, text in zip(points, labels, value_texts):
        parts.append(f'<circle class="chart-point" cx="{_number(x)}" cy="{_number(y)}" r="3">'
                     f'<title>{escape(label)}: {escape(text)}</title></circle>')
        parts.append(f'<text class="chart-label" x="{_number(x)}" y="{HEIGHT - 10}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("\n".join(parts))
