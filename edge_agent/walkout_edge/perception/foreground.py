"""Foreground extraction: what differs from the empty store, cheaply.

Each frame is shrunk (area average, which also averages the sensor noise away) and compared
with a running-average background of the empty store at the same size:

- lighting: the store's light drifts and steps (doors, clouds, a tube failing); one gain
  per frame, the median ratio frame / background over pixels that were background in the
  last frame, rescales the background before comparing, so a brighter store is not
  "foreground everywhere";
- the background learns only where nobody is (dilated foreground excluded), fast enough to
  follow slow changes; under a foreground pixel it learns very slowly, so a ghost (a pack
  moved on a shelf, a person in the first frame) fades in tens of seconds while a shopper
  standing at a shelf for half a minute is not absorbed;
- only foreground that stays still is a ghost: a pixel is learnt under foreground only once
  it has kept its value for `ghost_after_frames` frames in a row. Where people keep walking
  through (the entry gate at a rush: someone at the turnstile every ~0.7 s, most of them
  not tracked yet), each passer-by would otherwise leave a little of their colour in the
  background, until the empty floor itself reads as a person standing at the gate; a ghost
  (a moved pack, the floor where someone stood) does not move, so it still heals at once.

This is a few cheap array operations per frame at 160 x 120, which is what makes the
camera pipeline several times faster than MOG2 at full size (see `walkout-edge bench`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ForegroundParams:
    scale: int = 4  # work at 1/scale of the camera resolution
    # Sum of the absolute BGR differences (0-765) beyond which a pixel is foreground: well
    # above the shrunk sensor noise, below a shirt or hair against the floor or a shelf.
    threshold: int = 36
    learn_rate: float = 0.05  # per frame, where nobody is
    # Per frame, under foreground that no tracked person explains: a moved pack or a
    # ghost heals within seconds. Where a tracked person stands nothing is learnt, so a
    # shopper lingering at a shelf is never absorbed into the background.
    ghost_rate: float = 0.02
    # A pixel is still while it changes by less than this (BGR sum) from frame to frame;
    # the ghost rate applies once it has been still for `ghost_after_frames` frames in a
    # row: a ghost stays as it is, people walking by do not.
    still_threshold: int = 18
    ghost_after_frames: int = 3
    warmup_frames: int = 10  # learn everything fast at first (the store opens empty)
    gain_samples: int = 300


class BackgroundModel:
    """Running-average background of one camera with lighting-gain normalisation."""

    def __init__(self, width: int, height: int, params: ForegroundParams | None = None) -> None:
        self.params = params or ForegroundParams()
        s = self.params.scale
        self.size = (max(1, width // s), max(1, height // s))
        w, h = self.size
        self._bg: np.ndarray | None = None
        self._frames = 0
        rng = np.random.default_rng(12345)
        self._sample = rng.choice(w * h, size=min(self.params.gain_samples, w * h), replace=False)
        self._last_fg: np.ndarray = np.zeros((h, w), dtype=np.uint8)
        self._last_small: np.ndarray | None = None
        # Frames each pixel has kept its value in a row (capped at 255).
        self._still: np.ndarray = np.zeros((h, w), dtype=np.uint8)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.gain = 1.0

    def shrink(self, frame: np.ndarray) -> np.ndarray:
        # Halving with bilinear interpolation averages 2 x 2 pixels exactly; done twice it
        # is the 4 x 4 area average, three times faster than INTER_AREA in one go.
        w, h = self.size
        while frame.shape[1] >= 2 * w and frame.shape[0] >= 2 * h and frame.shape[1] % 2 == 0:
            half = (frame.shape[1] // 2, frame.shape[0] // 2)
            frame = cv2.resize(frame, half, interpolation=cv2.INTER_LINEAR)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        return frame

    def apply(
        self, frame: np.ndarray, protect: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(foreground mask 0/1, difference image 0-255, shrunk frame) of one BGR frame.

        `protect` (0/1 at the working size) marks where tracked people are: not learnt.
        """
        small = self.shrink(frame)
        p = self.params
        if self._bg is None:
            self._bg = small.astype(np.float32)
        bg = self._bg
        self.gain = self._gain(small, bg)
        expected = cv2.convertScaleAbs(bg, alpha=self.gain)
        diff3 = cv2.absdiff(small, expected)
        mask: np.ndarray
        diff_u8: np.ndarray
        if p.threshold < 255:
            # The channel sum saturated at 255 (exact: integers in float32, then clipped),
            # and the threshold is below the saturation, so the mask reads it unchanged.
            diff_u8 = cv2.transform(diff3, _CHANNEL_SUM)
            mask = cv2.threshold(diff_u8, p.threshold, 1, cv2.THRESH_BINARY)[1]
        else:
            total = diff3[:, :, 0].astype(np.uint16) + diff3[:, :, 1] + diff3[:, :, 2]
            mask = (total > p.threshold).astype(np.uint8)
            diff_u8 = np.minimum(total, 255).astype(np.uint8)
        self._frames += 1
        if self._frames <= p.warmup_frames:
            cv2.accumulateWeighted(small, bg, 0.5 if self._frames > 1 else 1.0)
        else:
            near = cv2.dilate(mask, self._kernel)
            quiet = 1 - near
            busy = cv2.bitwise_and(near, self._steady(small))
            if protect is not None:
                free = 1 - protect
                quiet = cv2.bitwise_and(quiet, free)
                busy = cv2.bitwise_and(busy, free)
            normalised = small
            if abs(self.gain - 1.0) >= 1e-3:
                normalised = cv2.convertScaleAbs(small, alpha=1.0 / self.gain)
            cv2.accumulateWeighted(normalised, bg, p.learn_rate, quiet)
            cv2.accumulateWeighted(normalised, bg, p.ghost_rate, busy)
        self._last_fg = mask
        self._last_small = small
        return mask, diff_u8, small

    def _steady(self, small: np.ndarray) -> np.ndarray:
        """1 where a pixel has been still for `ghost_after_frames` frames in a row."""
        p = self.params
        last = self._last_small
        if last is None:
            return np.zeros(self._still.shape, np.uint8)
        change = cv2.transform(cv2.absdiff(small, last), _CHANNEL_SUM)
        still = cv2.threshold(change, p.still_threshold - 1, 1, cv2.THRESH_BINARY_INV)[1]
        counted = cv2.multiply(cv2.add(self._still, still), still)  # add saturates at 255
        self._still = counted
        return cv2.threshold(counted, p.ghost_after_frames - 1, 1, cv2.THRESH_BINARY)[1]

    def _gain(self, small: np.ndarray, bg: np.ndarray) -> float:
        idx = self._sample
        quiet = self._last_fg.reshape(-1)[idx] == 0
        if np.count_nonzero(quiet) < 20:
            return self.gain
        at = idx[quiet]
        now = small.reshape(-1, 3)[at].sum(axis=1).astype(np.float32)
        ref = bg.reshape(-1, 3)[at].sum(axis=1)
        ok = ref > 30
        if np.count_nonzero(ok) < 20:
            return self.gain
        return _median(now[ok] / ref[ok])


_CHANNEL_SUM = np.ones((1, 3), np.float32)


def _median(values: np.ndarray) -> float:
    """`np.median` of a 1-D float32 array without NaNs (the same value, less overhead):
    the middle value, or the float32 mean of the two middle values."""
    n = values.size
    half = n // 2
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, (half - 1, half))
    return float((part[half - 1] + part[half]) / 2)
