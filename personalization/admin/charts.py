"""Small line charts as inline SVG for the admin: no JavaScript library, nothing from a CDN.

`line_chart_svg` returns one `<svg>` element as a string: a title, axes with ticks, one
`<polyline>` per series (with a marker and a tooltip on each point), shaded bands (an
interval around a line), horizontal reference lines and a legend. Every text
that comes from data is escaped, so the result is safe to put into a page as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

# Colour-blind-safe colours (Okabe-Ito's, then Tol's wine and grey for the blend's many parts),
# in the order series get them: the quality charts draw nine, none sharing a colour.
PALETTE = [
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#000000",
    "#882255",
    "#999999",
    "#b8a200",
]

Point = tuple[float, float]


@dataclass(frozen=True)
class Series:
    """One line: `points` are (x, y); `tips`, if given, are one tooltip per point."""

    label: str
    points: Sequence[Point]
    tips: Sequence[str] = field(default_factory=tuple)
    dashed: bool = False
    color: str | None = None
    markers: bool = True  # a dot with its tooltip on each point; off for long curves


@dataclass(frozen=True)
class Band:
    """A shaded area between `low` and `high` (points of equal x, in order): an interval."""

    label: str
    low: Sequence[Point]
    high: Sequence[Point]
    color: str = PALETTE[0]


def line_chart_svg(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    x_ticks: Sequence[tuple[float, str]] | None = None,
    y_format: Callable[[float], str] | None = None,
    x_format: Callable[[float], str] | None = None,
    width: int = 640,
    height: int = 300,
    empty_text: str = "no data yet",
    bands: Sequence[Band] = (),
    rules: Sequence[tuple[float, str]] = (),
) -> str:
    """An SVG line chart of `series` on shared axes.

    `x_ticks` places labelled ticks at given x values (e.g. versions); without it ticks are
    chosen on round numbers. The y axis starts at zero unless a value is negative. `y_format`
    formats y tick labels (default: `number_short`), `x_format` the round x ticks'. Series
    without points are left out; with none left the chart shows its axes and `empty_text`.
    `bands` are shaded under the lines; `rules` are dashed horizontal lines at (y, label),
    such as a null hypothesis's value.
    """
    drawn = [line for line in series if line.points]
    shaded = [band for band in bands if band.low and band.high]
    legend = [*drawn, *shaded]
    left, right, top = 64, 16, 36
    bottom = 52 if x_label else 36
    legend_rows = math.ceil(len(legend) / 3) if len(legend) > 1 else 0
    height += legend_rows * 18
    plot_w, plot_h = width - left - right, height - top - bottom - legend_rows * 18

    every = [line.points for line in drawn] + [b.low for b in shaded] + [b.high for b in shaded]
    xs = [x for points in every for x, _ in points]
    ys = [y for points in every for _, y in points] + [y for y, _ in rules if drawn]
    x_lo, x_hi = _span(xs or [0.0, 1.0], pad_single=0.5)
    if x_ticks:
        x_lo, x_hi = min(x_lo, *(x for x, _ in x_ticks)), max(x_hi, *(x for x, _ in x_ticks))
        if x_lo == x_hi:
            x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    y_ticks = _nice_ticks(min(0.0, *ys) if ys else 0.0, max(ys) if ys else 1.0)
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cis-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_attr(title)}" font-family="sans-serif" font-size="11">',
        f"<title>{_text(title)}</title>",
        f'<text x="{left}" y="20" font-size="13" font-weight="bold" fill="currentColor">'
        f"{_text(title)}</text>",
    ]
    # Grid and y ticks.
    for value in y_ticks:
        y = py(value)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="#8884" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor">'
            f"{_text((y_format or number_short)(value))}</text>"
        )
    # X ticks: the given ones, thinned so labels do not overlap, or round numbers.
    x_text = x_format or (lambda value: f"{value:g}")
    ticks = list(x_ticks) if x_ticks else [(v, x_text(v)) for v in _nice_ticks(x_lo, x_hi)]
    ticks = [(x, label) for x, label in ticks if x_lo <= x <= x_hi]
    stride = max(1, math.ceil(len(ticks) * 56 / plot_w))
    for x, label in ticks[::stride]:
        out.append(
            f'<line x1="{px(x):.1f}" y1="{top + plot_h}" x2="{px(x):.1f}" '
            f'y2="{top + plot_h + 4}" stroke="currentColor"/>'
        )
        out.append(
            f'<text x="{px(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="currentColor">{_text(label)}</text>'
        )
    # Axes.
    out.append(
        f'<path d="M{left},{top} V{top + plot_h} H{left + plot_w}" fill="none" '
        f'stroke="currentColor" stroke-width="1"/>'
    )
    if x_label:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 34}" text-anchor="middle" '
            f'fill="currentColor">{_text(x_label)}</text>'
        )
    if y_label:
        out.append(
            f'<text transform="translate(14,{top + plot_h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle" fill="currentColor">{_text(y_label)}</text>'
        )
    if not drawn:
        out.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" '
            f'text-anchor="middle" fill="currentColor" font-style="italic">'
            f"{_text(empty_text)}</text>"
        )
    # Bands, then reference lines, under the series.
    for band in shaded:
        outline = [*band.high, *reversed(band.low)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in outline)
        out.append(
            f'<polygon class="band" points="{coords}" fill="{_attr(band.color)}" '
            f'fill-opacity="0.18" stroke="none"><title>{_text(band.label)}</title></polygon>'
        )
    for value, label in rules if drawn else ():
        y = py(value)
        out.append(
            f'<line class="rule" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-width="1" stroke-dasharray="3 3"/>'
            f'<text x="{left + plot_w - 4}" y="{y - 4:.1f}" text-anchor="end" '
            f'fill="currentColor">{_text(label)}</text>'
        )
    # Series: a polyline each, a marker with a tooltip on every point.
    for number, line in enumerate(drawn):
        color = _attr(line.color or PALETTE[number % len(PALETTE)])
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in line.points)
        out.append(
            f'<g class="series"><polyline points="{coords}" fill="none" stroke="{color}" '
            f'stroke-width="{1.5 if line.dashed else 2.5}"{dash}><title>{_text(line.label)}'
            f"</title></polyline>"
        )
        for index, (x, y) in enumerate(line.points if line.markers else ()):
            tip = line.tips[index] if index < len(line.tips) else f"{line.label}: {y:g}"
            out.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}">'
                f"<title>{_text(tip)}</title></circle>"
            )
        out.append("</g>")
    # Legend, three entries a row, under the x axis.
    if legend_rows:
        legend_top = top + plot_h + bottom
        column = plot_w / 3
        for number, line in enumerate(legend):
            x = left + (number % 3) * column
            y = legend_top + (number // 3) * 18
            if isinstance(line, Band):
                out.append(
                    f'<rect x="{x:.1f}" y="{y - 5:.1f}" width="24" height="10" '
                    f'fill="{_attr(line.color)}" fill-opacity="0.18"/>'
                    f'<text x="{x + 30:.1f}" y="{y + 4:.1f}" fill="currentColor">'
                    f"{_text(line.label)}</text>"
                )
                continue
            color = _attr(line.color or PALETTE[number % len(PALETTE)])
            dash = ' stroke-dasharray="6 4"' if line.dashed else ""
            out.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 24:.1f}" y2="{y:.1f}" '
                f'stroke="{color}" stroke-width="2.5"{dash}/>'
                f'<text x="{x + 30:.1f}" y="{y + 4:.1f}" fill="currentColor">'
                f"{_text(line.label)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out)


def number_short(value: float) -> str:
    """A compact tick label: 1.2M, 350k, 12, 0.25."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _span(values: Sequence[float], *, pad_single: float) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    return (lo - pad_single, hi + pad_single) if lo == hi else (lo, hi)


def _nice_ticks(lo: float, hi: float, *, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks, value = [], start
    while value < hi - step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    ticks.append(round(value, 12))
    return ticks


def _text(value: str) -> str:
    return escape(str(value), quote=False)


def _attr(value: str) -> str:
    return escape(str(value), quote=True)
