"""What a shopper looks like from above: a coarse colour histogram of head and shoulders.

Seen from the ceiling, clothing and hair colour is most of what tells two people apart
when their paths cross. The histogram is taken over the foreground pixels of a disc around
the projected shoulders in the camera that sees the person most from above, after the
frame's lighting gain is divided out, with 4 levels per channel (64 bins): coarse enough
to be stable under noise and compression, fine enough to tell a red shirt from an orange
one. Two looks compare by the Bhattacharyya coefficient (1 = same colours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 64
MIN_PIXELS = 8


@dataclass(frozen=True)
class Appearance:
    hist: np.ndarray | None = None

    @property
    def valid(self) -> bool:
        return self.hist is not None

    def blend(self, other: Appearance, rate: float) -> Appearance:
        if other.hist is None:
            return self
        if self.hist is None:
            return other
        mixed = (1 - rate) * self.hist + rate * other.hist
        return Appearance(mixed / mixed.sum())

    @staticmethod
    def mean(looks: list[Appearance]) -> Appearance:
        hists = [look.hist for look in looks if look.hist is not None]
        if not hists:
            return Appearance()
        total = np.sum(hists, axis=0)
        return Appearance(total / total.sum())


def similarity(a: Appearance, b: Appearance) -> float:
    if a.hist is None or b.hist is None:
        return 0.5
    return float(np.sqrt(a.hist * b.hist).sum())


def describe(
    small: np.ndarray, mask: np.ndarray, u: float, v: float, *, radius_px: float, gain: float
) -> Appearance:
    """Histogram of the foreground pixels within `radius_px` of (u, v) in a shrunk frame."""
    h, w = mask.shape
    r = max(2, round(radius_px))
    x0, x1 = max(0, round(u) - r), min(w, round(u) + r + 1)
    y0, y1 = max(0, round(v) - r), min(h, round(v) + r + 1)
    if x1 <= x0 or y1 <= y0:
        return Appearance()
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = ((xx - u) ** 2 + (yy - v) ** 2 <= r * r) & (mask[y0:y1, x0:x1] > 0)
    if int(inside.sum()) < MIN_PIXELS:
        return Appearance()
    pixels = small[y0:y1, x0:x1][inside].astype(np.float32)
    if abs(gain - 1.0) > 1e-3:
        pixels /= gain
    q = np.clip(pixels, 0, 255).astype(np.int32) >> 6
    codes = q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2]
    hist = np.bincount(codes, minlength=BINS).astype(np.float64)
    return Appearance(hist / hist.sum())
