"""The pipeline's fast paths give the very numbers of the plain computations they replace.

A replay must emit the same events however fast it runs, so each shortcut (plain floats
for one point, a per-frame colour-code image, a bisected track log, a masked vote sum)
is checked against the straightforward numpy it stands for, on arbitrary inputs.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_perception_sources import write_recording

from walkout.store import Camera
from walkout_edge.perception.appearance import Appearance, describe
from walkout_edge.perception.foreground import BackgroundModel, ForegroundParams, _median
from walkout_edge.perception.geometry import CameraGeometry, FloorGrid
from walkout_edge.perception.occupancy import VOTE_HEIGHTS_M, CameraVotes, OccupancyMap
from walkout_edge.perception.pipeline import TrackLog
from walkout_edge.perception.sources import LoadCellReadings, RecordingSource
from walkout_edge.perception.tracking import Track, TrackPoint, _swap_identity

CAMERA = Camera.overhead(
    "cam-1", x=3.0, y=2.5, height_m=4.0, resolution=(640, 480), fps=10, hfov_deg=110
)
coords = st.floats(-3.0, 12.0, allow_nan=False)


@settings(deadline=None)  # a timing limit is no part of what is checked
@given(coords, coords, st.floats(-1.0, 6.0, allow_nan=False))
def test_one_point_projects_like_an_array_of_points(x: float, y: float, z: float) -> None:
    # Given a calibrated camera and any point, in front of it or not
    geo = CameraGeometry(CAMERA)
    # When it is projected alone and as a 1 x 3 array
    px, front = geo.project(np.array([[x, y, z]]))
    # Then both give the same pixel, to the last bit (or both say it is behind)
    want = (float(px[0, 0]), float(px[0, 1])) if front[0] else None
    assert geo.project_point(x, y, z) == want


def describe_reference(
    small: np.ndarray, mask: np.ndarray, u: float, v: float, *, radius_px: float, gain: float
) -> Appearance:
    """The histogram computed pixel by pixel over a full grid, as first written."""
    h, w = mask.shape
    r = max(2, round(radius_px))
    x0, x1 = max(0, round(u) - r), min(w, round(u) + r + 1)
    y0, y1 = max(0, round(v) - r), min(h, round(v) + r + 1)
    if x1 <= x0 or y1 <= y0:
        return Appearance()
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = ((xx - u) ** 2 + (yy - v) ** 2 <= r * r) & (mask[y0:y1, x0:x1] > 0)
    if int(inside.sum()) < 8:
        return Appearance()
    pixels = small[y0:y1, x0:x1][inside].astype(np.float32)
    if abs(gain - 1.0) > 1e-3:
        pixels /= gain
    q = np.clip(pixels, 0, 255).astype(np.int32) >> 6
    hist = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64).astype(np.float64)
    return Appearance(hist / hist.sum())


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    u=st.floats(-15.0, 60.0, allow_nan=False),
    v=st.floats(-15.0, 50.0, allow_nan=False),
    radius=st.floats(0.0, 14.0, allow_nan=False),
    gain=st.one_of(st.just(1.0), st.just(1.0004), st.floats(0.6, 1.6)),
    fill=st.floats(0.0, 1.0),
)
def test_a_look_from_colour_codes_is_the_per_pixel_histogram(
    seed: int, u: float, v: float, radius: float, gain: float, fill: float
) -> None:
    # Given any shrunk frame, foreground mask, disc and lighting gain
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    mask = (rng.random((40, 48)) < fill).astype(np.uint8)
    # When a look is described
    got = describe(small, mask, u, v, radius_px=radius, gain=gain)
    want = describe_reference(small, mask, u, v, radius_px=radius, gain=gain)
    # Then it is exactly the histogram of the pixels, bin by bin
    assert (got.hist is None) == (want.hist is None)
    if got.hist is not None and want.hist is not None:
        assert np.array_equal(got.hist, want.hist)


@settings(deadline=None)
@given(st.lists(st.floats(0.0625, 5.0, width=32), min_size=1, max_size=60))
def test_the_lighting_median_is_numpys(values: list[float]) -> None:
    ratios = np.array(values, np.float32)
    assert _median(ratios) == float(np.median(ratios))


@pytest.mark.parametrize("threshold", [36, 300])
def test_foreground_from_the_saturated_sum_is_the_full_sum(threshold: int) -> None:
    # Given a background model and frames that differ from it by up to the full range
    rng = np.random.default_rng(threshold)
    model = BackgroundModel(64, 48, ForegroundParams(threshold=threshold, warmup_frames=1))

    def blocks() -> np.ndarray:  # flat 4 x 4 blocks: the shrunk frame keeps full contrast
        tiles = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        return cv2.resize(tiles, (64, 48), interpolation=cv2.INTER_NEAREST)

    empty = blocks()
    model.apply(empty)
    for _ in range(4):
        frame = empty.copy()
        frame[:, :32] = blocks()[:, :32]  # someone in the left half
        assert model._bg is not None
        bg_before = model._bg.copy()
        # When a frame is compared with the background
        mask, diff, small = model.apply(frame)
        # Then mask and difference are those of the full BGR difference sum (0-765)
        expected = cv2.convertScaleAbs(bg_before, alpha=model.gain)
        total = cv2.absdiff(small, expected).astype(np.int32).sum(axis=2)
        assert np.array_equal(mask, (total > threshold).astype(np.uint8))
        assert np.array_equal(diff, np.minimum(total, 255).astype(np.uint8))
        assert (total > 255).any() and mask.any() and not mask.all()


def test_votes_add_only_where_the_camera_sees_whole_people() -> None:
    # Given a camera's vote maps (weight 1 where it sees people whole, 0 elsewhere)
    grid = FloorGrid(x0=-0.5, y0=-0.5, cell_m=0.05, cols=140, rows=120)
    votes = CameraVotes.build(CameraGeometry(CAMERA), grid, 4, VOTE_HEIGHTS_M)
    votes.weight[:10, :] = 0.0  # a band this camera does not see whole
    occ = OccupancyMap(grid, {"cam-1": votes})
    rng = np.random.default_rng(7)
    cast = rng.integers(0, 6, votes.weight.shape).astype(np.uint8)
    # When one frame's votes are added twice
    occ.add("cam-1", cast)
    occ.add("cam-1", cast)
    # Then the map holds the weighted votes, and nothing outside the camera's area
    want = np.zeros((grid.rows, grid.cols), np.float32)
    want[votes.rows, votes.cols] += 2 * cast.astype(np.float32) * votes.weight
    assert 0 < votes.weight.sum() < votes.weight.size
    assert np.array_equal(occ._votes, want)


class KeptOpen(io.StringIO):
    def close(self) -> None:  # the log closes its file; the test still reads it
        pass


@pytest.mark.parametrize("late_step", [False, True])
def test_a_track_log_swap_renames_from_its_start_on(late_step: bool) -> None:
    # Given a log of two tracks over four steps (one step late: steps came out of order)
    out = KeptOpen()
    log = TrackLog(out)
    times = [1.0, 2.0, 3.0, 0.5] if late_step else [0.5, 1.0, 2.0, 3.0]
    for t in times:
        log.add(t, [("a", t, 0.0), ("b", t, 1.0)])
    # When the two are swapped from t = 2
    log.swap("a", "b", 2.0)
    log.close()
    # Then exactly the rows from t = 2 on carry the other name
    got = set()
    for row in out.getvalue().splitlines()[1:]:
        t, name, _, y = row.split(",")
        got.add((float(t), name, float(y)))
    swapped = {"a": "b", "b": "a"}
    want = {
        (t, swapped[name] if t >= 2.0 else name, y)
        for t in times
        for name, y in (("a", 0.0), ("b", 1.0))
    }
    assert got == want


def test_history_bounds_cover_every_point_even_after_a_swap() -> None:
    # Given two tracks with paths over different times
    a = Track("a", 0.0, np.zeros(4), np.eye(4), Appearance(), 0.0)
    b = Track("b", 5.0, np.zeros(4), np.eye(4), Appearance(), 5.0)
    for t in (0.0, 1.0, 2.0, 6.0):
        a.record(TrackPoint(t, 0.0, 0.0, True))
    for t in (5.0, 5.5, 7.0):
        b.record(TrackPoint(t, 1.0, 1.0, True))
    # When their identities are swapped from t = 5.5
    _swap_identity(a, b, 5.5)
    # Then no point of either path lies outside its bounds
    for track in (a, b):
        times = [pt.t for pt in track.history]
        assert track.history_from_t <= min(times)
        assert track.history_to_t >= max(times)


def test_a_bad_load_cell_value_comes_after_the_readings_before_it(tmp_path: Path) -> None:
    # Given a load-cell file whose third sample is not a number, at a new instant
    folder = write_recording(tmp_path / "rec")
    (folder / "loadcells.csv").write_text(
        "ts,cell_id,grams\n"
        "1795608000.050,lc-s1-l0-p0,1000.0\n"
        "1795608000.100,lc-s1-l0-p0,1000.5\n"
        "1795608000.200,lc-s1-l0-p0,heavy\n"
    )
    source = RecordingSource(folder)
    read: list[LoadCellReadings] = []
    # When it is replayed
    with pytest.raises(Exception, match=r"loadcells\.csv line 4: grams 'heavy' is not a number"):
        for reading in source.readings(threading.Event()):
            if isinstance(reading, LoadCellReadings):
                read.append(reading)
    # Then every complete instant before the bad line was handed out first
    assert [r.samples for r in read] == [(("lc-s1-l0-p0", 1000.0),), (("lc-s1-l0-p0", 1000.5),)]


def test_an_empty_mask_casts_no_votes_of_the_maps_shape() -> None:
    # Given a camera's vote maps and a foreground mask, empty or with one blob
    grid = FloorGrid(x0=-0.5, y0=-0.5, cell_m=0.05, cols=140, rows=120)
    votes = CameraVotes.build(CameraGeometry(CAMERA), grid, 4, VOTE_HEIGHTS_M)
    empty = np.zeros((120, 160), np.uint8)
    blob = empty.copy()
    blob[50:60, 70:80] = 1
    # When both are cast to the floor
    none, some = votes.cast(empty), votes.cast(blob)
    # Then the empty one is all zeros, shaped and typed like a cast with votes
    assert none.shape == some.shape == votes.weight.shape
    assert none.dtype == some.dtype and not none.any() and some.any()
