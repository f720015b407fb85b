"""Small inline SVG charts for the bench report (no plotting dependency).

Each function returns one `<svg>` element as text: a line chart with points, a bar chart
and a histogram, with axes, ticks and labels. Values are escaped; sizes are in pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 520
HEIGHT = 320
MARGIN_LEFT = 64
MARGIN_RIGHT = 20
MARGIN_TOP = 30
MARGIN_BOTTOM = 56
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    label: str

    def ticks(self, count: int = 5) -> list[float]:
        span = self.high - self.low
        if span <= 0:
            return [self.low]
        raw = span / count
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
        first = math.ceil(self.low / step) * step
        out = []
        value = first
        while value <= self.high + step * 1e-9:
            out.append(round(value, 10))
            value += step
        return out


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}"
    return f"{value:.3g}"


class _Frame:
    def __init__(self, title: str, x: Axis, y: Axis) -> None:
        self.x, self.y = x, y
        self.parts: list[str] = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
            'font-family="sans-serif" font-size="11">',
            f"<title>{escape(title)}</title>",
            f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13" '
            f'font-weight="bold">{escape(title)}</text>',
        ]
        self.left, self.right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def px(self, value: float) -> float:
        span = self.x.high - self.x.low or 1.0
        return self.left + (value - self.x.low) / span * (self.right - self.left)

    def py(self, value: float) -> float:
        span = self.y.high - self.y.low or 1.0
        return self.bottom - (value - self.y.low) / span * (self.bottom - self.top)

    def axes(self, x_ticks: bool = True) -> None:
        p = self.parts
        p.append(
            f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}" '
            'stroke="#333"/>'
        )
        p.append(
            f'<line x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{self.bottom}" '
            'stroke="#333"/>'
        )
        for t in self.y.ticks():
            y = self.py(t)
            p.append(
                f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" '
                'stroke="#ddd"/>'
            )
            p.append(
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
            )
        if x_ticks:
            for t in self.x.ticks():
                x = self.px(t)
                p.append(
                    f'<line x1="{x:.1f}" y1="{self.bottom}" x2="{x:.1f}" y2="{self.bottom + 4}" '
                    'stroke="#333"/>'
                )
                p.append(
                    f'<text x="{x:.1f}" y="{self.bottom + 16}" text-anchor="middle">'
                    f"{_fmt(t)}</text>"
                )
        p.append(
            f'<text x="{(self.left + self.right) / 2}" y="{HEIGHT - 12}" '
            f'text-anchor="middle">{escape(self.x.label)}</text>'
        )
        p.append(
            f'<text x="14" y="{(self.top + self.bottom) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(self.top + self.bottom) / 2})">'
            f"{escape(self.y.label)}</text>"
        )

    def text(self, x: float, y: float, body: str, anchor: str = "start") -> None:
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(body)}</text>'
        )

    def done(self) -> str:
        return "".join(self.parts) + "</svg>"


def _empty(title: str, message: str) -> str:
    frame = _Frame(title, Axis(0, 1, ""), Axis(0, 1, ""))
    frame.text(WIDTH / 2, HEIGHT / 2, message, anchor="middle")
    return frame.done()


def _padded(values: Sequence[float], floor: float | None = None) -> tuple[float, float]:
    low, high = min(values), max(values)
    if floor is not None:
        low = min(low, floor)
    if high == low:
        high = low + 1.0
    return low, high + (high - low) * 0.05


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    labels: Sequence[str] = ()


def line_chart(
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    *,
    diagonal: bool = False,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
) -> str:
    """Lines through points (with an optional y = x reference), points labelled."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if not xs:
        return _empty(title, "no data")
    x_low, x_high = x_range or _padded(xs, floor=0.0)
    y_low, y_high = y_range or _padded(ys, floor=0.0)
    frame = _Frame(title, Axis(x_low, x_high, x_label), Axis(y_low, y_high, y_label))
    frame.axes()
    if diagonal:
        frame.parts.append(
            f'<line x1="{frame.px(x_low):.1f}" y1="{frame.py(y_low):.1f}" '
            f'x2="{frame.px(x_high):.1f}" y2="{frame.py(y_high):.1f}" stroke="#999" '
            'stroke-dasharray="4 3"/>'
        )
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        coords = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in s.points)
        frame.parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        labelled: list[tuple[float, float]] = []
        for j, (x, y) in enumerate(s.points):
            cx, cy = frame.px(x), frame.py(y)
            frame.parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(s.name)}: ({_fmt(x)}, {_fmt(y)})</title></circle>"
            )
            # Points on top of each other keep the first label (the tooltip has them all).
            crowded = any(abs(cx - lx) < 40 and abs(cy - ly) < 12 for lx, ly in labelled)
            if j < len(s.labels) and s.labels[j] and not crowded:
                labelled.append((cx, cy))
                near_right = cx > frame.right - 60
                frame.text(
                    cx - 5 if near_right else cx + 5,
                    cy - 6,
                    s.labels[j],
                    anchor="end" if near_right else "start",
                )
        frame.text(frame.right - 4, frame.top + 14 + 14 * i, s.name, anchor="end")
    return frame.done()


def bar_chart(title: str, bars: Sequence[tuple[str, float]], y_label: str) -> str:
    """Vertical bars, one per (label, value), labels under the bars."""
    if not bars:
        return _empty(title, "nothing to show")
    high = max(v for _, v in bars) or 1.0
    frame = _Frame(title, Axis(0, len(bars), ""), Axis(0, high * 1.1, y_label))
    frame.axes(x_ticks=False)
    width = (frame.right - frame.left) / len(bars)
    for i, (label, value) in enumerate(bars):
        x0 = frame.left + i * width + width * 0.15
        y = frame.py(value)
        frame.parts.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{width * 0.7:.1f}" '
            f'height="{frame.bottom - y:.1f}" fill="{COLOURS[0]}">'
            f"<title>{escape(label)}: {_fmt(value)}</title></rect>"
        )
        frame.text(x0 + width * 0.35, y - 4, _fmt(value), anchor="middle")
        frame.text(x0 + width * 0.35, frame.bottom + 14, label[:18], anchor="middle")
    return frame.done()


def histogram(title: str, values: Sequence[float], x_label: str, bins: int = 20) -> str:
    """Counts of `values` in equal-width bins."""
    if not values:
        return _empty(title, "no data")
    low, high = min(values), max(values)
    if high == low:
        high = low + 1.0
    width = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / width), bins - 1)] += 1
    frame = _Frame(title, Axis(low, high, x_label), Axis(0, max(counts) * 1.1, "count"))
    frame.axes()
    for i, c in enumerate(counts):
        x0, x1 = frame.px(low + i * width), frame.px(low + (i + 1) * width)
        y = frame.py(c)
        frame.parts.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
            f'height="{frame.bottom - y:.1f}" fill="{COLOURS[2]}">'
            f"<title>{_fmt(low + i * width)}-{_fmt(low + (i + 1) * width)}: {c}</title></rect>"
        )
    return frame.done()
