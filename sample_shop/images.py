"""Product pictures for the sample shop: one silhouette per kind of item, in the product's
colour, with a design of its own read from its SKU (a pattern, a second colour, a mark), drawn
with Pillow shapes (no downloads, no fonts) and saved as small PNGs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from common.progress import Progress

from .products import CATEGORY_BY_LABEL, COLORS, SampleProduct

IMAGE_SIZE = 320
SUPERSAMPLE = 2  # drawn at twice the size and reduced: smooth edges at little cost
PALETTE_COLORS = 48  # a few shades per picture; keeps the PNGs around a kilobyte
PAPER = (247, 246, 243)
SOLE = (244, 243, 238)
RUBBER = (58, 58, 62)
FALLBACK_COLOR = (150, 154, 160)

Point = tuple[float, float]
Color = tuple[int, int, int]
Box = tuple[float, float, float, float]


def _mix(color: Color, other: Color, amount: float) -> Color:
    """`color` moved `amount` (0..1) of the way to `other`."""
    return tuple(round(a + (b - a) * amount) for a, b in zip(color, other, strict=True))  # type: ignore[return-value]


def _mirrored(right_half: Sequence[Point]) -> list[Point]:
    """A symmetric outline from its right half, listed from top centre to bottom centre."""
    return list(right_half) + [(1 - x, y) for x, y in reversed(right_half)]


@dataclass(frozen=True)
class _Colors:
    main: Color
    line: Color  # outlines
    detail: Color  # seams, zips, stripes: visible on the main colour
    paper: Color
    shadow: Color

    @classmethod
    def for_rgb(cls, rgb: Color) -> _Colors:
        light = sum(rgb) / 3 > 190
        paper = _mix(PAPER, rgb, 0.1) if not light else PAPER
        return cls(
            main=rgb,
            line=(150, 150, 150) if light else _mix(rgb, (0, 0, 0), 0.45),
            detail=(190, 190, 190) if light else _mix(rgb, (255, 255, 255), 0.45),
            paper=paper,
            shadow=_mix(paper, (0, 0, 0), 0.07),
        )


class _Canvas:
    """Drawing in unit coordinates (0..1 across the picture), outlined by default."""

    def __init__(self, colors: _Colors, size: int):
        self.scale = size * SUPERSAMPLE
        self.stroke = max(1, round(self.scale * 0.009))
        self.colors = colors
        self.image = Image.new("RGB", (self.scale, self.scale), colors.paper)
        self.draw = ImageDraw.Draw(self.image)

    def xy(self, points: Iterable[Point]) -> list[tuple[float, float]]:
        return [(x * self.scale, y * self.scale) for x, y in points]

    def box(self, box: Box) -> list[float]:
        return [value * self.scale for value in box]

    def shape(
        self, points: Sequence[Point], fill: Color | None = None, *, shadow: bool = False
    ) -> None:
        if shadow:
            offset = 0.012
            self.draw.polygon(
                self.xy((x + offset, y + offset) for x, y in points), fill=self.colors.shadow
            )
        self.draw.polygon(
            self.xy(points),
            fill=fill or self.colors.main,
            outline=self.colors.line,
            width=self.stroke,
        )

    def rounded(self, box: Box, radius: float, fill: Color | None = None) -> None:
        self.draw.rounded_rectangle(
            self.box(box),
            radius=radius * self.scale,
            fill=fill or self.colors.main,
            outline=self.colors.line,
            width=self.stroke,
        )

    def ellipse(self, box: Box, fill: Color | None = None, *, outline: bool = True) -> None:
        self.draw.ellipse(
            self.box(box),
            fill=fill or self.colors.main,
            outline=self.colors.line if outline else None,
            width=self.stroke,
        )

    def chord(self, box: Box, start: float, end: float, fill: Color | None = None) -> None:
        self.draw.chord(
            self.box(box),
            start,
            end,
            fill=fill or self.colors.main,
            outline=self.colors.line,
            width=self.stroke,
        )

    def arc(self, box: Box, start: float, end: float, color: Color, width: float = 1.0) -> None:
        self.draw.arc(self.box(box), start, end, fill=color, width=round(self.stroke * width))

    def line(self, points: Sequence[Point], color: Color | None = None, width: float = 1.0) -> None:
        self.draw.line(
            self.xy(points),
            fill=color or self.colors.detail,
            width=round(self.stroke * width),
            joint="curve",
        )

    def ground(self, left: float = 0.12, right: float = 0.9, y: float = 0.76) -> None:
        self.draw.ellipse(self.box((left, y - 0.03, right, y + 0.03)), fill=self.colors.shadow)


# Footwear, side view, toe to the right.


def _laces(c: _Canvas, start: Point, end: Point, count: int = 4) -> None:
    (x0, y0), (x1, y1) = start, end
    for step in range(count):
        t = step / max(count - 1, 1)
        x, y = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
        c.line([(x - 0.025, y - 0.012), (x + 0.018, y + 0.03)], width=1.2)


def _lugs(c: _Canvas, left: float, right: float, y: float) -> None:
    x = left
    while x < right - 0.03:
        c.draw.rectangle(c.box((x, y, x + 0.035, y + 0.022)), fill=RUBBER)
        x += 0.06


def _draw_shoe(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.11, 0.63, 0.91, 0.72), 0.035, SOLE)
    c.shape(
        [(0.13, 0.66), (0.12, 0.52), (0.15, 0.42), (0.22, 0.40), (0.30, 0.44), (0.34, 0.36),
         (0.40, 0.35), (0.45, 0.40), (0.58, 0.46), (0.72, 0.52), (0.84, 0.56), (0.91, 0.62),
         (0.91, 0.66)]
    )  # fmt: skip
    c.line([(0.22, 0.60), (0.40, 0.58), (0.56, 0.54), (0.68, 0.49)], width=2.2)
    c.shape([(0.12, 0.50), (0.15, 0.42), (0.20, 0.41), (0.19, 0.52)], c.colors.detail)
    _laces(c, (0.46, 0.43), (0.62, 0.50))


def _draw_trail_shoe(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.11, 0.62, 0.91, 0.73), 0.03, RUBBER)
    _lugs(c, 0.13, 0.89, 0.725)
    c.shape(
        [(0.13, 0.64), (0.12, 0.50), (0.15, 0.40), (0.23, 0.38), (0.30, 0.43), (0.34, 0.34),
         (0.40, 0.33), (0.45, 0.39), (0.58, 0.45), (0.72, 0.50), (0.84, 0.54), (0.91, 0.60),
         (0.91, 0.64)]
    )  # fmt: skip
    c.shape([(0.74, 0.52), (0.84, 0.55), (0.91, 0.60), (0.91, 0.64), (0.74, 0.64)], RUBBER)
    c.line([(0.20, 0.56), (0.34, 0.52), (0.50, 0.56), (0.64, 0.50)], width=1.6)
    _laces(c, (0.46, 0.42), (0.62, 0.49))


def _draw_boot(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.12, 0.63, 0.90, 0.74), 0.03, RUBBER)
    _lugs(c, 0.14, 0.88, 0.735)
    c.shape(
        [(0.15, 0.65), (0.14, 0.40), (0.16, 0.24), (0.24, 0.20), (0.34, 0.21), (0.38, 0.26),
         (0.42, 0.40), (0.58, 0.46), (0.74, 0.51), (0.86, 0.56), (0.90, 0.65)]
    )  # fmt: skip
    c.rounded((0.15, 0.19, 0.37, 0.26), 0.03, c.colors.detail)
    c.shape([(0.16, 0.65), (0.16, 0.52), (0.30, 0.54), (0.50, 0.58), (0.66, 0.58),
             (0.86, 0.56), (0.90, 0.65)], _mix(c.colors.main, RUBBER, 0.55))  # fmt: skip
    for step in range(5):
        y = 0.27 + step * 0.045
        x = 0.36 + step * 0.035
        c.ellipse((x - 0.012, y - 0.012, x + 0.012, y + 0.012), c.colors.detail, outline=False)
    _laces(c, (0.38, 0.30), (0.50, 0.42))


def _draw_high_top(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.11, 0.63, 0.91, 0.73), 0.035, SOLE)
    c.shape(
        [(0.13, 0.66), (0.12, 0.40), (0.14, 0.24), (0.22, 0.21), (0.31, 0.22), (0.35, 0.30),
         (0.40, 0.36), (0.56, 0.45), (0.72, 0.51), (0.84, 0.55), (0.91, 0.62), (0.91, 0.66)]
    )  # fmt: skip
    c.shape([(0.12, 0.36), (0.33, 0.33), (0.36, 0.40), (0.13, 0.44)], c.colors.detail)
    c.line([(0.24, 0.60), (0.44, 0.56), (0.62, 0.50)], width=2.2)
    _laces(c, (0.40, 0.40), (0.60, 0.49), count=5)


def _draw_sneaker(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.11, 0.60, 0.91, 0.72), 0.04, SOLE)
    c.line([(0.13, 0.66), (0.89, 0.66)], (200, 198, 190), width=1.0)
    c.shape(
        [(0.13, 0.62), (0.13, 0.48), (0.16, 0.41), (0.24, 0.40), (0.31, 0.44), (0.36, 0.38),
         (0.42, 0.38), (0.47, 0.43), (0.60, 0.47), (0.76, 0.50), (0.87, 0.54), (0.90, 0.62)]
    )  # fmt: skip
    c.shape([(0.70, 0.50), (0.80, 0.51), (0.88, 0.55), (0.90, 0.62), (0.70, 0.62)],
            c.colors.detail)  # fmt: skip
    _laces(c, (0.48, 0.45), (0.62, 0.50), count=3)


def _draw_cycling_shoe(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.12, 0.64, 0.90, 0.69), 0.02, RUBBER)
    c.shape(
        [(0.14, 0.65), (0.13, 0.50), (0.16, 0.42), (0.26, 0.40), (0.36, 0.42), (0.50, 0.44),
         (0.66, 0.48), (0.80, 0.53), (0.90, 0.60), (0.90, 0.65)]
    )  # fmt: skip
    for x in (0.44, 0.58):
        c.shape([(x - 0.05, 0.44), (x + 0.02, 0.45), (x + 0.06, 0.60), (x - 0.01, 0.60)],
                c.colors.detail)  # fmt: skip
    c.ellipse((0.27, 0.44, 0.35, 0.52), RUBBER)
    c.draw.rectangle(c.box((0.45, 0.69, 0.62, 0.71)), fill=RUBBER)


def _draw_ski_boot(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.14, 0.68, 0.86, 0.75), 0.015, RUBBER)
    c.shape(
        [(0.16, 0.69), (0.18, 0.40), (0.20, 0.16), (0.46, 0.14), (0.48, 0.40), (0.66, 0.46),
         (0.82, 0.52), (0.86, 0.60), (0.85, 0.69)]
    )  # fmt: skip
    c.shape([(0.19, 0.16), (0.46, 0.14), (0.47, 0.34), (0.18, 0.36)], c.colors.detail)
    for x, y in ((0.44, 0.22), (0.45, 0.32), (0.56, 0.45), (0.70, 0.50)):
        c.rounded((x - 0.03, y - 0.015, x + 0.05, y + 0.015), 0.01, (200, 200, 205))


def _draw_sandal(c: _Canvas) -> None:
    c.ground()
    c.rounded((0.12, 0.61, 0.90, 0.70), 0.04, _mix(c.colors.main, RUBBER, 0.5))
    c.rounded((0.13, 0.58, 0.89, 0.63), 0.02, SOLE)
    for x0, x1, width in ((0.20, 0.44, 3.2), (0.42, 0.82, 5.0)):
        c.arc((x0, 0.42, x1, 0.78), 180, 360, c.colors.line, width=width + 1.6)
        c.arc((x0 + 0.007, 0.427, x1 - 0.007, 0.773), 181, 359, c.colors.main, width=width)


# Tops and dresses, front view.


def _draw_tee(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.22), (0.58, 0.16), (0.70, 0.19), (0.87, 0.33), (0.80, 0.43),
                   (0.71, 0.37), (0.71, 0.84), (0.5, 0.84)]),
        shadow=True,
    )  # fmt: skip
    c.arc((0.42, 0.10, 0.58, 0.23), 20, 160, c.colors.detail, width=1.5)


def _draw_longsleeve(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.21), (0.57, 0.15), (0.69, 0.18), (0.80, 0.32), (0.86, 0.78),
                   (0.78, 0.79), (0.71, 0.40), (0.70, 0.84), (0.5, 0.84)]),
        shadow=True,
    )  # fmt: skip
    c.arc((0.43, 0.09, 0.57, 0.22), 20, 160, c.colors.detail, width=1.5)
    for x in (0.30, 0.70):
        c.line([(x - 0.03, 0.80), (x + 0.03, 0.80)])


def _jacket_body(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.22), (0.57, 0.15), (0.70, 0.18), (0.82, 0.32), (0.88, 0.78),
                   (0.79, 0.80), (0.72, 0.42), (0.72, 0.86), (0.5, 0.86)]),
        shadow=True,
    )  # fmt: skip


def _draw_jacket(c: _Canvas) -> None:
    _jacket_body(c)
    c.shape([(0.43, 0.15), (0.5, 0.26), (0.57, 0.15), (0.60, 0.11), (0.40, 0.11)])
    c.line([(0.5, 0.26), (0.5, 0.86)], c.colors.line, width=1.2)
    for x in (0.36, 0.64):
        c.line([(x - 0.04, 0.62), (x + 0.04, 0.58)], width=1.2)


def _draw_rain_jacket(c: _Canvas) -> None:
    c.shape([(0.38, 0.20), (0.37, 0.08), (0.44, 0.03), (0.56, 0.03), (0.63, 0.08), (0.62, 0.20)])
    _jacket_body(c)
    c.line([(0.5, 0.22), (0.5, 0.86)], c.colors.line, width=1.2)
    c.line([(0.5, 0.22), (0.5, 0.86)], c.colors.detail, width=0.4)
    for x in (0.36, 0.64):
        c.line([(x - 0.05, 0.55), (x + 0.05, 0.55)], width=1.4)


def _draw_ski_jacket(c: _Canvas) -> None:
    c.shape([(0.38, 0.20), (0.37, 0.08), (0.44, 0.03), (0.56, 0.03), (0.63, 0.08), (0.62, 0.20)])
    _jacket_body(c)
    for y in (0.34, 0.48, 0.62, 0.76):
        c.line([(0.29, y), (0.71, y)], c.colors.line, width=0.9)
    c.line([(0.5, 0.22), (0.5, 0.86)], c.colors.detail, width=1.2)
    c.rounded((0.58, 0.26, 0.66, 0.32), 0.01, c.colors.detail)


def _draw_fleece(c: _Canvas) -> None:
    _jacket_body(c)
    c.shape([(0.42, 0.16), (0.5, 0.22), (0.58, 0.16), (0.59, 0.09), (0.41, 0.09)])
    c.line([(0.5, 0.22), (0.5, 0.86)], c.colors.line, width=1.2)
    for y in (0.32, 0.44, 0.56, 0.68):
        c.line([(0.30, y), (0.46, y)], width=0.6)
        c.line([(0.54, y), (0.70, y)], width=0.6)
    c.rounded((0.28, 0.80, 0.72, 0.86), 0.01, c.colors.detail)


def _draw_hoodie(c: _Canvas) -> None:
    c.shape([(0.37, 0.22), (0.36, 0.09), (0.44, 0.04), (0.56, 0.04), (0.64, 0.09), (0.63, 0.22)])
    _jacket_body(c)
    c.shape([(0.36, 0.60), (0.64, 0.60), (0.68, 0.76), (0.32, 0.76)])
    for x in (0.46, 0.54):
        c.line([(x, 0.22), (x, 0.38)], c.colors.detail, width=1.0)
    c.rounded((0.28, 0.80, 0.72, 0.86), 0.01, c.colors.detail)


def _draw_jersey(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.20), (0.57, 0.15), (0.69, 0.18), (0.84, 0.32), (0.78, 0.42),
                   (0.70, 0.36), (0.69, 0.84), (0.5, 0.84)]),
        shadow=True,
    )  # fmt: skip
    c.draw.rectangle(c.box((0.31, 0.44, 0.69, 0.52)), fill=c.colors.detail)
    c.line([(0.5, 0.20), (0.5, 0.84)], c.colors.line, width=1.2)
    for x in (0.38, 0.5, 0.62):
        c.line([(x - 0.04, 0.74), (x + 0.04, 0.74)], c.colors.line, width=1.0)


def _draw_polo(c: _Canvas) -> None:
    _draw_tee(c)
    c.shape([(0.5, 0.26), (0.41, 0.15), (0.44, 0.12), (0.5, 0.18)], c.colors.detail)
    c.shape([(0.5, 0.26), (0.59, 0.15), (0.56, 0.12), (0.5, 0.18)], c.colors.detail)
    c.line([(0.5, 0.26), (0.5, 0.38)], c.colors.line, width=1.0)
    for y in (0.30, 0.35):
        c.ellipse((0.515, y - 0.01, 0.535, y + 0.01), c.colors.detail, outline=False)


def _draw_tank(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.30), (0.58, 0.14), (0.64, 0.14), (0.65, 0.28), (0.71, 0.40),
                   (0.71, 0.84), (0.5, 0.84)]),
        shadow=True,
    )  # fmt: skip
    c.arc((0.38, 0.05, 0.62, 0.31), 25, 155, c.colors.detail, width=1.5)


def _draw_bra(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.40), (0.58, 0.18), (0.64, 0.18), (0.67, 0.34), (0.74, 0.48),
                   (0.74, 0.64), (0.5, 0.64)]),
        shadow=True,
    )  # fmt: skip
    c.rounded((0.26, 0.56, 0.74, 0.64), 0.01, c.colors.detail)
    c.arc((0.36, 0.28, 0.64, 0.52), 20, 160, c.colors.detail, width=1.4)


def _draw_swimsuit(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.34), (0.58, 0.12), (0.63, 0.12), (0.65, 0.30), (0.70, 0.42),
                   (0.67, 0.58), (0.71, 0.68), (0.56, 0.86), (0.5, 0.86)]),
        shadow=True,
    )  # fmt: skip
    c.line([(0.31, 0.52), (0.69, 0.44)], width=2.4)


def _draw_vest(c: _Canvas) -> None:
    for flip in (False, True):
        panel = [(0.55, 0.20), (0.63, 0.14), (0.67, 0.30), (0.74, 0.42), (0.74, 0.76),
                 (0.56, 0.76)]  # fmt: skip
        c.shape([(1 - x, y) if flip else (x, y) for x, y in panel], shadow=True)
    for x in (0.33, 0.59):
        c.rounded((x, 0.34, x + 0.08, 0.58), 0.03, (235, 238, 242))
        c.rounded((x + 0.02, 0.30, x + 0.06, 0.35), 0.01, RUBBER)
    for y in (0.40, 0.52):
        c.line([(0.44, y), (0.56, y)], c.colors.line, width=1.4)


# Bottoms, front view.


def _draw_trousers(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.14), (0.69, 0.14), (0.72, 0.50), (0.73, 0.88), (0.54, 0.88),
                   (0.51, 0.40), (0.5, 0.40)]),
        shadow=True,
    )  # fmt: skip
    c.rounded((0.31, 0.14, 0.69, 0.19), 0.01, c.colors.detail)
    c.line([(0.5, 0.19), (0.5, 0.34)], c.colors.line, width=1.0)
    c.arc((0.58, 0.12, 0.74, 0.30), 90, 180, c.colors.line, width=1.0)
    c.arc((0.26, 0.12, 0.42, 0.30), 0, 90, c.colors.line, width=1.0)


def _draw_leggings(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.14), (0.66, 0.14), (0.68, 0.40), (0.63, 0.88), (0.54, 0.88),
                   (0.51, 0.40), (0.5, 0.40)]),
        shadow=True,
    )  # fmt: skip
    c.rounded((0.34, 0.14, 0.66, 0.21), 0.015, c.colors.detail)
    c.line([(0.665, 0.30), (0.62, 0.84)], width=1.3)
    c.line([(0.335, 0.30), (0.38, 0.84)], width=1.3)


def _draw_shorts(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.26), (0.70, 0.26), (0.76, 0.64), (0.55, 0.68), (0.51, 0.48),
                   (0.5, 0.48)]),
        shadow=True,
    )  # fmt: skip
    c.rounded((0.30, 0.26, 0.70, 0.32), 0.01, c.colors.detail)
    c.line([(0.73, 0.50), (0.70, 0.64)], width=1.4)
    c.line([(0.27, 0.50), (0.30, 0.64)], width=1.4)


def _draw_bike_shorts(c: _Canvas) -> None:
    for x in (0.40, 0.60):
        c.line([(x, 0.26), (x + (0.02 if x > 0.5 else -0.02), 0.08)], c.colors.line, width=3.5)
    c.shape(
        _mirrored([(0.5, 0.24), (0.67, 0.24), (0.69, 0.46), (0.66, 0.74), (0.54, 0.74),
                   (0.51, 0.46), (0.5, 0.46)]),
        shadow=True,
    )  # fmt: skip
    for x0, x1 in ((0.34, 0.46), (0.54, 0.66)):
        c.rounded((x0, 0.70, x1, 0.74), 0.01, RUBBER)


def _draw_trunks(c: _Canvas) -> None:
    c.shape(
        _mirrored([(0.5, 0.30), (0.72, 0.30), (0.76, 0.60), (0.55, 0.63), (0.51, 0.48),
                   (0.5, 0.48)]),
        shadow=True,
    )  # fmt: skip
    c.rounded((0.28, 0.30, 0.72, 0.36), 0.01, c.colors.detail)
    c.line([(0.48, 0.34), (0.45, 0.44)], (245, 245, 245), width=1.2)
    c.line([(0.52, 0.34), (0.55, 0.44)], (245, 245, 245), width=1.2)
    c.line([(0.30, 0.46), (0.70, 0.46)], width=0.8)


def _draw_skirt(c: _Canvas) -> None:
    c.shape(_mirrored([(0.5, 0.26), (0.66, 0.26), (0.78, 0.68), (0.5, 0.70)]), shadow=True)
    c.rounded((0.33, 0.24, 0.67, 0.31), 0.01, c.colors.detail)
    for x in (0.31, 0.40, 0.5, 0.60, 0.69):
        c.line([(0.5 + (x - 0.5) * 0.55, 0.32), (x, 0.68)], c.colors.line, width=0.8)


# Bags, headwear and the rest.


def _draw_sock(c: _Canvas) -> None:
    c.shape(
        [(0.36, 0.12), (0.58, 0.12), (0.58, 0.54), (0.78, 0.62), (0.85, 0.70), (0.80, 0.80),
         (0.68, 0.82), (0.44, 0.76), (0.36, 0.66)],
        shadow=True,
    )  # fmt: skip
    c.rounded((0.36, 0.12, 0.58, 0.22), 0.01, c.colors.detail)
    c.shape([(0.76, 0.62), (0.85, 0.70), (0.80, 0.80), (0.72, 0.81)], c.colors.detail)
    c.chord((0.34, 0.58, 0.50, 0.80), 90, 270, c.colors.detail)


def _draw_backpack(c: _Canvas) -> None:
    c.ground(0.24, 0.76, 0.87)
    c.arc((0.42, 0.10, 0.58, 0.26), 180, 360, c.colors.line, width=2.5)
    c.rounded((0.27, 0.18, 0.73, 0.86), 0.1)
    c.chord((0.27, 0.12, 0.73, 0.50), 180, 360, c.colors.detail)
    c.rounded((0.34, 0.56, 0.66, 0.80), 0.05, _mix(c.colors.main, (0, 0, 0), 0.15))
    for x in (0.38, 0.62):
        c.line([(x, 0.32), (x, 0.56)], RUBBER, width=1.5)


def _draw_duffel(c: _Canvas) -> None:
    c.ground(0.14, 0.86, 0.80)
    c.arc((0.34, 0.24, 0.66, 0.60), 180, 360, c.colors.line, width=3.0)
    c.rounded((0.13, 0.42, 0.87, 0.78), 0.12)
    c.ellipse((0.15, 0.46, 0.27, 0.74), c.colors.detail)
    c.ellipse((0.73, 0.46, 0.85, 0.74), c.colors.detail)
    c.line([(0.30, 0.48), (0.70, 0.48)], c.colors.line, width=1.2)


def _draw_mat(c: _Canvas) -> None:
    c.ground(0.14, 0.86, 0.72)
    c.rounded((0.16, 0.42, 0.80, 0.68), 0.13)
    c.ellipse((0.70, 0.42, 0.86, 0.68), _mix(c.colors.main, (255, 255, 255), 0.25))
    for inset in (0.03, 0.06):
        c.arc((0.70 + inset, 0.42 + inset, 0.86 - inset, 0.68 - inset), 0, 300, c.colors.line)
    c.line([(0.36, 0.42), (0.36, 0.68)], RUBBER, width=2.0)


def _draw_swim_cap(c: _Canvas) -> None:
    c.ground(0.22, 0.78, 0.70)
    c.chord((0.20, 0.28, 0.80, 1.08), 180, 360)
    c.arc((0.28, 0.34, 0.72, 0.90), 205, 245, (255, 255, 255), width=2.0)


def _draw_goggles(c: _Canvas) -> None:
    c.line([(0.08, 0.50), (0.92, 0.50)], c.colors.line, width=3.0)
    lens = _mix(c.colors.main, (20, 30, 50), 0.55)
    for x in (0.22, 0.54):
        c.rounded((x, 0.39, x + 0.24, 0.61), 0.09, lens)
        c.draw.rounded_rectangle(
            c.box((x, 0.39, x + 0.24, 0.61)), radius=0.09 * c.scale,
            outline=c.colors.main, width=c.stroke * 3,
        )  # fmt: skip
    c.line([(0.46, 0.48), (0.54, 0.48)], c.colors.main, width=3.0)


def _draw_cap(c: _Canvas) -> None:
    c.ground(0.18, 0.90, 0.66)
    c.shape([(0.58, 0.56), (0.86, 0.60), (0.92, 0.64), (0.60, 0.64)], c.colors.detail)
    c.chord((0.18, 0.30, 0.72, 0.92), 180, 360)
    c.ellipse((0.42, 0.27, 0.48, 0.33))
    c.arc((0.36, 0.30, 0.56, 0.92), 180, 270, c.colors.line)


def _draw_beanie(c: _Canvas) -> None:
    c.ellipse((0.42, 0.10, 0.58, 0.26), c.colors.detail)
    c.chord((0.26, 0.20, 0.74, 0.94), 180, 360)
    c.rounded((0.24, 0.54, 0.76, 0.70), 0.03, c.colors.detail)
    for step in range(1, 9):
        x = 0.24 + step * 0.052 + 0.002
        c.line([(x, 0.56), (x, 0.68)], c.colors.line, width=0.7)


DRAWERS: dict[str, Callable[[_Canvas], None]] = {
    "shoe": _draw_shoe,
    "trail_shoe": _draw_trail_shoe,
    "boot": _draw_boot,
    "high_top": _draw_high_top,
    "sneaker": _draw_sneaker,
    "cycling_shoe": _draw_cycling_shoe,
    "ski_boot": _draw_ski_boot,
    "sandal": _draw_sandal,
    "tee": _draw_tee,
    "longsleeve": _draw_longsleeve,
    "jacket": _draw_jacket,
    "rain_jacket": _draw_rain_jacket,
    "ski_jacket": _draw_ski_jacket,
    "fleece": _draw_fleece,
    "hoodie": _draw_hoodie,
    "jersey": _draw_jersey,
    "polo": _draw_polo,
    "tank": _draw_tank,
    "bra": _draw_bra,
    "swimsuit": _draw_swimsuit,
    "vest": _draw_vest,
    "trousers": _draw_trousers,
    "leggings": _draw_leggings,
    "shorts": _draw_shorts,
    "bike_shorts": _draw_bike_shorts,
    "trunks": _draw_trunks,
    "skirt": _draw_skirt,
    "sock": _draw_sock,
    "backpack": _draw_backpack,
    "duffel": _draw_duffel,
    "mat": _draw_mat,
    "swim_cap": _draw_swim_cap,
    "goggles": _draw_goggles,
    "cap": _draw_cap,
    "beanie": _draw_beanie,
}


# A design is a pattern over the item's main colour, in a second colour that may also take the
# details (collars, laces, cuffs), and a small mark. Plain comes up most, as in a real range.
PATTERNS = ("plain", "plain", "plain", "stripes", "diagonal", "chevron", "dots", "block")
MARKS = ("", "", "dot", "chevron", "bar")


@dataclass(frozen=True)
class Design:
    pattern: str  # one of PATTERNS
    second: Color  # the pattern's colour
    accent_details: bool  # whether the details take the second colour too
    mark: str  # one of MARKS: a small emblem on the item, or none


def product_design(sku: str, main: Color) -> Design:
    """The design of the product with this SKU and main colour: the same on every run (read from
    a digest of the SKU), and a second colour that stands out from the main one."""
    digest = hashlib.sha256(sku.encode("utf-8")).digest()
    contrasting = [
        rgb
        for rgb in COLORS.values()
        if sum(abs(a - b) for a, b in zip(rgb, main, strict=True)) > 180
    ] or [(250, 250, 250)]
    return Design(
        pattern=PATTERNS[digest[0] % len(PATTERNS)],
        second=contrasting[digest[1] % len(contrasting)],
        accent_details=digest[2] % 2 == 0,
        mark=MARKS[digest[3] % len(MARKS)],
    )


def _design_apply(c: _Canvas, design: Design) -> None:
    """The pattern over every area drawn in the main colour (outlines and details stay above
    it), then the mark at the middle of the item when that falls on it."""
    if design.pattern == "plain" and not design.mark:
        return
    main = Image.new("RGB", c.image.size, c.colors.main)
    body = ImageChops.difference(c.image, main).convert("L").point(lambda v: 255 if v == 0 else 0)
    bounds = body.getbbox()
    if bounds is None:
        return
    if design.pattern != "plain":
        layer = main.copy()
        _pattern_draw(ImageDraw.Draw(layer), design, bounds, c.scale)
        c.image.paste(layer, mask=body)
    left, top, right, bottom = bounds
    x, y = (left + right) / 2, top + (bottom - top) * 0.45
    if design.mark and body.getpixel((round(x), round(y))):
        r = c.scale * 0.035
        color = design.second
        if design.mark == "dot":
            c.draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
        elif design.mark == "chevron":
            c.draw.line([(x - r, y - r / 2), (x, y + r / 2), (x + r, y - r / 2)], fill=color,
                        width=round(r / 2), joint="curve")  # fmt: skip
        else:
            c.draw.rectangle((x - r * 1.4, y - r / 3, x + r * 1.4, y + r / 3), fill=color)


def _pattern_draw(draw: ImageDraw.ImageDraw, design: Design, bounds: Box, scale: int) -> None:
    left, top, right, bottom = bounds
    step = scale * 0.07
    color = design.second
    if design.pattern == "stripes":
        y = top + step / 2
        while y < bottom:
            draw.rectangle((left, y, right, y + step * 0.35), fill=color)
            y += step
    elif design.pattern == "diagonal":
        x = left - (bottom - top)
        while x < right:
            draw.line([(x, bottom), (x + bottom - top, top)], fill=color, width=round(step * 0.3))
            x += step
    elif design.pattern == "chevron":
        y = top + step / 2
        while y < bottom + step:
            zigzag, x, up = [], left, True
            while x <= right + step:
                zigzag.append((x, y - (step * 0.4 if up else 0)))
                x, up = x + step * 0.6, not up
            draw.line(zigzag, fill=color, width=round(step * 0.22), joint="curve")
            y += step * 1.1
    elif design.pattern == "dots":
        r = step * 0.16
        for row, y in enumerate(_steps(top, bottom, step * 0.8)):
            shift = step * 0.4 if row % 2 else 0
            for x in _steps(left + shift, right, step * 0.8):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
    elif design.pattern == "block":  # colour block: the lower part in the second colour
        draw.rectangle((left, top + (bottom - top) * 0.62, right, bottom), fill=color)


def _steps(start: float, end: float, step: float) -> Iterable[float]:
    value = start + step / 2
    while value < end:
        yield value
        value += step


def product_image_draw(product: SampleProduct, *, size: int = IMAGE_SIZE) -> Image.Image:
    """The product's picture: its category's silhouette in its colour with its own design (see
    product_design), as a palette image."""
    category = CATEGORY_BY_LABEL.get(product.category)
    drawer = DRAWERS.get(category.family if category else "", _draw_tee)
    main = COLORS.get(product.color, FALLBACK_COLOR)
    design = product_design(product.sku, main)
    colors = _Colors.for_rgb(main)
    if design.accent_details:
        colors = replace(colors, detail=design.second)
    canvas = _Canvas(colors, size)
    drawer(canvas)
    _design_apply(canvas, design)
    image = canvas.image.reduce(SUPERSAMPLE)
    return image.quantize(PALETTE_COLORS, method=Image.Quantize.FASTOCTREE)


def product_images_write(
    directory: Path,
    products: Iterable[SampleProduct],
    *,
    progress: Progress | None = None,
) -> int:
    """Write `<directory>/<sku>.png` for every product; return how many were written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    for product in products:
        product_image_draw(product).save(directory / f"{product.sku}.png", optimize=False)
        written += 1
        if progress is not None:
            progress.update(1)
    return written
