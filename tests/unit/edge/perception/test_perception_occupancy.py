"""Foreground and floor votes on synthetic overhead frames: where is the person?"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from walkout.store import Camera
from walkout_edge.perception.errors import CalibrationError
from walkout_edge.perception.foreground import BackgroundModel
from walkout_edge.perception.geometry import CameraGeometry, FloorGrid
from walkout_edge.perception.occupancy import (
    VOTE_HEIGHTS_M,
    CameraVotes,
    OccupancyMap,
    split_patch,
)

CAMERA = Camera.overhead(
    "cam-1", x=3.0, y=3.0, height_m=4.0, resolution=(640, 480), fps=10, hfov_deg=110
)
GRID = FloorGrid(x0=-0.5, y0=-0.5, cell_m=0.05, cols=140, rows=140)


def floor_image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tiles = rng.integers(140, 190, size=(12, 16, 3)).astype(np.uint8)
    return cv2.resize(tiles, (640, 480), interpolation=cv2.INTER_NEAREST)


def draw_person(
    img: np.ndarray, geo: CameraGeometry, x: float, y: float, colour: tuple[int, int, int]
) -> None:
    ring = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    pts = [(x + 0.22 * np.cos(a), y + 0.2 * np.sin(a), z) for a in ring for z in (0.0, 1.45)] + [
        (x + 0.1 * np.cos(a), y + 0.1 * np.sin(a), 1.72) for a in ring
    ]
    px, _ = geo.project(np.array(pts))
    hull = cv2.convexHull(np.round(px).astype(np.int32))
    cv2.fillConvexPoly(img, hull, colour)


def noisy(img: np.ndarray, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    out = img.astype(np.float32) * gain + rng.normal(0, 4, img.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def detect(frames: list[np.ndarray]) -> list[tuple[float, float, float]]:
    geo = CameraGeometry(CAMERA)
    bg = BackgroundModel(640, 480)
    votes = CameraVotes.build(geo, GRID, bg.params.scale, VOTE_HEIGHTS_M)
    occ = OccupancyMap(GRID, {"cam-1": votes})
    for frame in frames:
        mask, _, _ = bg.apply(frame)
    # Every frame teaches the background; people are found in the last one.
    occ.reset()
    occ.add("cam-1", votes.cast(mask))
    return occ.detect()


@pytest.mark.parametrize(("x", "y"), [(3.0, 3.0), (1.2, 4.4), (5.0, 1.8)])
def test_a_person_is_found_where_they_stand_even_far_from_the_nadir(x: float, y: float) -> None:
    # Given an empty floor for a second, then a person standing at (x, y)
    rng = np.random.default_rng(1)
    empty = floor_image()
    person = empty.copy()
    draw_person(person, CameraGeometry(CAMERA), x, y, (40, 40, 180))
    frames = [noisy(empty, rng) for _ in range(12)] + [noisy(person, rng)]
    # Then exactly one detection, within 15 cm of the person's centre
    (found,) = detect(frames)
    assert np.hypot(found[0] - x, found[1] - y) < 0.15


def test_two_people_shoulder_to_shoulder_are_two_detections() -> None:
    rng = np.random.default_rng(2)
    empty = floor_image()
    scene = empty.copy()
    geo = CameraGeometry(CAMERA)
    draw_person(scene, geo, 2.0, 3.0, (40, 40, 180))
    draw_person(scene, geo, 2.0, 3.55, (180, 60, 30))
    found = detect([noisy(empty, rng) for _ in range(12)] + [noisy(scene, rng)])
    assert len(found) == 2
    assert sorted(round(f[1], 1) for f in found) == pytest.approx([3.0, 3.5], abs=0.11)


def test_a_change_of_lighting_is_not_a_person() -> None:
    rng = np.random.default_rng(3)
    empty = floor_image()
    frames = [noisy(empty, rng) for _ in range(12)] + [
        noisy(empty, rng, gain=1.18) for _ in range(3)
    ]
    assert detect(frames) == []


def test_a_camera_looking_at_the_ceiling_is_a_calibration_error() -> None:
    flipped = CAMERA.model_copy(
        update={"rotation": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))}
    )
    with pytest.raises(CalibrationError, match="cam-1"):
        CameraGeometry(flipped)


def test_people_walking_through_one_spot_leave_no_ghost_there() -> None:
    # Given an empty floor, then a queue walking through one spot, one person after
    # another with a glimpse of the floor between them, three hundred times (a turnstile
    # at a rush; nobody is tracked yet, so nothing is protected)
    rng = np.random.default_rng(5)
    geo = CameraGeometry(CAMERA)
    empty = floor_image()
    floors = [noisy(empty, rng) for _ in range(4)]
    frames = [floors[k % 4] for k in range(12)]
    for k in range(300):
        shade = int(rng.integers(20, 70))
        for step in range(5):  # 15 cm a frame
            person = empty.copy()
            draw_person(person, geo, 2.0, 2.2 + 0.15 * step, (shade, shade, 170 + k % 40))
            frames.append(noisy(person, rng))
        frames.append(floors[k % 4])
    # When the spot is empty
    frames.append(noisy(empty, rng))
    # Then nobody is found there: the passers-by were not learnt into the background
    assert detect(frames) == []


def test_something_left_standing_still_heals_into_the_background() -> None:
    # Given an empty floor, then something person-sized that appears and never moves
    rng = np.random.default_rng(6)
    empty = floor_image()
    thing = empty.copy()
    draw_person(thing, CameraGeometry(CAMERA), 2.0, 2.5, (40, 40, 180))
    frames = [noisy(empty, rng) for _ in range(12)]
    standing = [noisy(thing, rng) for _ in range(4)]
    # When it has stood there for a while (nobody tracks it: it is not protected)
    assert len(detect([*frames, standing[0]])) == 1
    frames += [standing[k % 4] for k in range(250)]
    # Then it is background: nothing is found
    assert detect(frames) == []


def _step(occ: OccupancyMap, shape: np.ndarray) -> list[tuple[float, float, float]]:
    """One time step whose map, before the blur, is `shape` (scores 0-1 per cell)."""
    occ.reset()
    occ._cover[:] = 1.0
    occ._votes[:] = shape * len(occ.heights)
    return occ.detect()


def _disc(i: float, j: float, radius: float) -> np.ndarray:
    """A person alone: score 1 within `radius` cells of (i, j)."""
    ii, jj = np.mgrid[0 : GRID.rows, 0 : GRID.cols]
    return ((ii - i) ** 2 + (jj - j) ** 2 <= radius**2).astype(np.float32)


def _dome(i: float, j: float, radius: float) -> np.ndarray:
    """A patch with one top: 1 at (i, j) down to 0.5 at `radius` cells, 0 beyond."""
    ii, jj = np.mgrid[0 : GRID.rows, 0 : GRID.cols]
    d2 = ((ii - i) ** 2 + (jj - j) ** 2) / radius**2
    return np.where(d2 <= 1.0, 1.0 - 0.5 * d2, 0.0).astype(np.float32)


def test_a_patch_that_weighs_more_people_than_its_peaks_gets_the_rest() -> None:
    # Given a map that has seen people one at a time (discs of 4 cells: what one weighs)
    geo = CameraGeometry(CAMERA)
    votes = CameraVotes.build(geo, GRID, 4, VOTE_HEIGHTS_M)
    occ = OccupancyMap(GRID, {"cam-1": votes}, split_crowds=True)
    for k in range(60):
        assert len(_step(occ, _disc(30 + (k % 6) * 15, 30 + (k // 6 % 5) * 15, 4.0))) == 1
    one = occ.person_mass()
    assert one is not None
    # When one patch with a single top weighs four people pressed together (each 1.2 of
    # one alone, as in stadium-rush's crowd: this dome weighs 152, one alone 33)
    dome = _dome(70, 70, 9.0)
    occ.split_crowds = False
    assert len(_step(occ, dome)) == 1
    occ.split_crowds = True
    found = _step(occ, dome)
    # Then it holds four people: the top, and three more spread over the patch
    assert len(found) == 4
    centre = GRID.to_xy(70, 70)
    assert all(np.hypot(x - centre[0], y - centre[1]) < 0.45 for x, y, _ in found)
    apart = [np.hypot(a[0] - b[0], a[1] - b[1]) for a in found for b in found if a < b]
    assert min(apart) > 0.15
    # And a person alone is still one
    assert len(_step(occ, _disc(100, 40, 4.0))) == 1


def test_nothing_is_split_before_the_map_knows_what_one_person_weighs() -> None:
    # Given a new map (no single-peak patch seen yet)
    votes = CameraVotes.build(CameraGeometry(CAMERA), GRID, 4, VOTE_HEIGHTS_M)
    occ = OccupancyMap(GRID, {"cam-1": votes}, split_crowds=True)
    # When the first patch is a heavy one with a single top
    found = _step(occ, _dome(70, 70, 9.0))
    # Then it is one person: a count needs a known weight
    assert occ.person_mass() is None
    assert len(found) == 1


def test_a_split_keeps_the_peaks_and_puts_the_new_person_where_the_weight_is() -> None:
    # Given a patch of two blobs of cells, one with a peak at its centre
    left = np.array([(i, j) for i in range(10) for j in range(10)], dtype=np.float64)
    right = left + np.array([0.0, 12.0])
    points = np.vstack([left, right])
    weights = np.ones(len(points))
    # When it holds two people
    ((centre, top),) = split_patch(points, weights, [(4.5, 4.5)], people=2)
    # Then the one added is at the other blob's centre, with its highest weight
    assert centre == pytest.approx((4.5, 16.5), abs=0.01)
    assert top == 1.0
    # And a patch that holds no more people than peaks gets none
    assert split_patch(points, weights, [(4.5, 4.5)], people=1) == []
