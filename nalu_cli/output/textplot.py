"""Compact line plots for the terminal, drawn with unicode braille characters; no dependencies.

Each character cell holds a 2 × 4 grid of dots, so a plot ``width`` cells wide and ``height`` rows high
has ``2·width × 4·height`` pixels. Axes can be logarithmic; points that cannot be drawn there (zero,
negative, NaN, Inf) leave a gap rather than a misleading line. The result is plain data: each line is a
list of ``(text, role)`` segments where role is ``"axis"``, ``"label"`` or ``"series<i>"``, so the caller
(``render``) decides the colours and this module stays free of any terminal library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

BRAILLE_BASE = 0x2800
# Bit of each dot in a braille cell, indexed [column][row] (Unicode braille pattern layout).
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))

Segment = tuple[str, str]  # (text, role)


@dataclass
class Series:
    """One line: ``xs`` and ``ys`` of equal length (None: no point); ``dotted`` draws every third pixel."""

    label: str
    xs: Sequence[float | None]
    ys: Sequence[float | None]
    dotted: bool = False


@dataclass
class TextPlot:
    """The drawn plot: ``lines`` of segments, and the legend as (label, role, dotted) triples."""

    lines: list[list[Segment]]
    legend: list[tuple[str, str, bool]] = field(default_factory=list)

    def plain(self) -> str:
        """The plot as plain text (no colours), legend last."""
        rows = ["".join(text for text, _ in line) for line in self.lines]
        if self.legend:
            rows.append("  ".join(f"{'┈' if dotted else '─'} {label}" for label, _, dotted in self.legend))
        return "\n".join(rows)


def _transform(values: Sequence[float | None], log: bool) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        if v is None or not math.isfinite(v) or (log and v <= 0):
            out.append(None)
        else:
            out.append(math.log10(v) if log else float(v))
    return out


def format_tick(value: float, log: bool) -> str:
    """An axis label: ``value`` is already log10 when ``log``."""
    v = 10**value if log else value
    if v == 0:
        return "0"
    text = f"{v:.0e}" if abs(v) >= 1e5 or abs(v) < 1e-3 else f"{v:.3g}" if log else f"{v:.4g}"
    return text.replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")  # 1e+03 -> 1e3


def _span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:  # a flat line still needs a non-empty axis
        pad = max(abs(lo) * 0.1, 0.5)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def line_plot(
    series: Sequence[Series],
    width: int = 56,
    height: int = 8,
    logx: bool = False,
    logy: bool = True,
    xlabel: str = "",
) -> TextPlot | None:
    """Draw ``series`` on one set of axes; ``None`` when no series has a drawable point."""
    width, height = max(width, 8), max(height, 2)
    transformed = [(_transform(s.xs, logx), _transform(s.ys, logy)) for s in series]
    xs_all = [x for tx, ty in transformed for x, y in zip(tx, ty, strict=False) if x is not None and y is not None]
    ys_all = [y for tx, ty in transformed for x, y in zip(tx, ty, strict=False) if x is not None and y is not None]
    if not xs_all:
        return None
    x0, x1 = _span(xs_all)
    y0, y1 = _span(ys_all)
    pw, ph = 2 * width, 4 * height
    bits = [[0] * width for _ in range(height)]
    owner = [[-1] * width for _ in range(height)]

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        px = round((x - x0) / (x1 - x0) * (pw - 1))
        py = round((y1 - y) / (y1 - y0) * (ph - 1))
        return px, py

    def dot(px: int, py: int, index: int) -> None:
        cx, cy = px // 2, py // 4
        bits[cy][cx] |= _DOT_BITS[px % 2][py % 4]
        owner[cy][cx] = index

    for index, ((tx, ty), s) in enumerate(zip(transformed, series, strict=True)):
        points = [to_pixel(x, y) if x is not None and y is not None else None for x, y in zip(tx, ty, strict=False)]
        drawn = 0
        for i, p in enumerate(points):
            if p is None:
                continue
            q = points[i + 1] if i + 1 < len(points) else None
            segment = _bresenham(p, q) if q is not None else [p]
            for px, py in segment:
                if not s.dotted or drawn % 3 == 0:
                    dot(px, py, index)
                drawn += 1

    top, bottom = format_tick(y1, logy), format_tick(y0, logy)
    label_width = max(len(top), len(bottom))
    lines: list[list[Segment]] = []
    for row in range(height):
        if row == 0:
            label, tick = top.rjust(label_width), "┤"
        elif row == height - 1:
            label, tick = bottom.rjust(label_width), "┤"
        else:
            label, tick = " " * label_width, "│"
        line: list[Segment] = [(label + " ", "label"), (tick, "axis")]
        for col in range(width):
            if bits[row][col]:
                line.append((chr(BRAILLE_BASE + bits[row][col]), f"series{owner[row][col]}"))
            else:
                line.append((" ", "axis"))
        lines.append(_merge(line))
    lines.append([(" " * label_width + " ", "label"), ("└" + "─" * width, "axis")])
    left, right = format_tick(x0, logx), format_tick(x1, logx)
    gap = max(1, width + 1 - len(left) - len(right))
    lines.append([(" " * (label_width + 1) + left + " " * gap + right + (f"  {xlabel}" if xlabel else ""), "label")])
    legend = [(s.label, f"series{i}", s.dotted) for i, s in enumerate(series)]
    return TextPlot(lines, legend)


def _bresenham(p: tuple[int, int], q: tuple[int, int]) -> list[tuple[int, int]]:
    """Pixels on the segment from ``p`` to ``q`` (``q`` excluded: the next segment starts there)."""
    (xa, ya), (xb, yb) = p, q
    dx, dy = abs(xb - xa), -abs(yb - ya)
    sx, sy = (1 if xb > xa else -1), (1 if yb > ya else -1)
    err = dx + dy
    out = []
    while (xa, ya) != (xb, yb):
        out.append((xa, ya))
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            xa += sx
        if e2 <= dx:
            err += dx
            ya += sy
    return out or [p]


def _merge(line: list[Segment]) -> list[Segment]:
    """Join neighbouring segments of the same role (fewer, longer segments to style)."""
    out: list[Segment] = []
    for text, role in line:
        if out and out[-1][1] == role:
            out[-1] = (out[-1][0] + text, role)
        else:
            out.append((text, role))
    return out
