"""A person's look is taken from their own pixels: where a neighbour stands close, the
pixels nearer to the neighbour are the neighbour's."""

from __future__ import annotations

import cv2
import numpy as np

from walkout_edge.perception.appearance import describe

RED = (40, 40, 220)  # BGR: colour bin 0 * 16 + 0 * 4 + 3 = 3
BLUE = (220, 40, 40)  # colour bin 3 * 16 + 0 * 4 + 0 = 48


def _two_people(gap_px: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]:
    """A shrunk frame and its foreground: a red person and a blue one side by side, 8
    pixels in radius, their centres `gap_px` apart."""
    small = np.full((40, 60, 3), 128, dtype=np.uint8)
    red, blue = (20, 20), (20 + gap_px, 20)
    cv2.circle(small, red, 8, RED, -1)
    cv2.circle(small, blue, 8, BLUE, -1)
    mask = np.zeros((40, 60), dtype=np.uint8)
    cv2.circle(mask, red, 8, 1, -1)
    cv2.circle(mask, blue, 8, 1, -1)
    return small, mask, red, blue


def test_a_neighbours_pixels_are_left_out_of_a_look() -> None:
    small, mask, red, blue = _two_people(gap_px=16)
    # A disc as wide as the person's reach takes in the neighbour's shoulder...
    mixed = describe(small, mask, *red, radius_px=10, gain=1.0)
    assert mixed.hist is not None
    assert mixed.hist[48] > 0.03
    # ...unless the pixels nearer to the neighbour are theirs.
    own = describe(small, mask, *red, radius_px=10, gain=1.0, rivals=[blue])
    assert own.hist is not None
    assert own.hist[48] == 0.0
    assert own.hist[3] == 1.0


def test_someone_farther_off_changes_nothing() -> None:
    small, mask, red, blue = _two_people(gap_px=30)
    alone = describe(small, mask, *red, radius_px=10, gain=1.0)
    beside = describe(small, mask, *red, radius_px=10, gain=1.0, rivals=[blue])
    assert alone.hist is not None
    assert beside.hist is not None
    assert np.array_equal(alone.hist, beside.hist)
