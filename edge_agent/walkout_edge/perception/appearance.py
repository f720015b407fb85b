"""What a shopper looks like from above: a coarse colour histogram of head and shoulders.

Seen from the ceiling, clothing and hair colour is most of what tells two people apart
when their paths cross. The histogram is taken over the foreground pixels of a disc around
the projected shoulders in the camera that sees the person most from above, after the
frame's lighting gain is divided out, with 4 levels per channel (64 bins): coarse enough
to be stable under noise and compression, fine enough to tell a red shirt from an orange
one. Two looks compare by the Bhattacharyya coefficient (1 = same colours).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
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
    return describe_codes(colour_codes(small, gain), mask, u, v, radius_px=radius_px)


def colour_codes(small: np.ndarray, gain: float) -> np.ndarray:
    """Histogram bin (0-63) of every pixel of a shrunk BGR frame once the lighting gain is
    divided out: 4 levels per channel, blue * 16 + green * 4 + red. Computed once per frame
    for all the people described in it."""
    levels = cv2.LUT(small, _levels(gain))
    codes: np.ndarray = cv2.transform(levels, _BIN_WEIGHTS)
    return codes


def describe_codes(
    codes: np.ndarray, mask: np.ndarray, u: float, v: float, *, radius_px: float
) -> Appearance:
    """`describe` on the frame's `colour_codes`."""
    h, w = mask.shape
    r = max(2, round(radius_px))
    x0, x1 = max(0, round(u) - r), min(w, round(u) + r + 1)
    y0, y1 = max(0, round(v) - r), min(h, round(v) + r + 1)
    if x1 <= x0 or y1 <= y0:
        return Appearance()
    # The disc as a sum of a row and a column of squares, each (i - centre) squared.
    dx2 = np.array([(i - u) * (i - u) for i in range(x0, x1)])
    dy2 = np.array([(i - v) * (i - v) for i in range(y0, y1)])
    inside = (dx2[None, :] + dy2[:, None] <= r * r) & (mask[y0:y1, x0:x1] > 0)
    n = int(np.count_nonzero(inside))
    if n < MIN_PIXELS:
        return Appearance()
    hist: np.ndarray = np.bincount(codes[y0:y1, x0:x1][inside], minlength=BINS) / n
    return Appearance(hist)


_BIN_WEIGHTS = np.array([[16.0, 4.0, 1.0]], np.float32)


@functools.lru_cache(maxsize=64)
def _levels(gain: float) -> np.ndarray:
    """Level (0-3) of each 0-255 channel value once the lighting gain is divided out."""
    values = np.arange(256, dtype=np.float32)
    if abs(gain - 1.0) > 1e-3:
        values /= gain
    levels: np.ndarray = (np.clip(values, 0, 255).astype(np.int32) >> 6).astype(np.uint8)
    return levels
