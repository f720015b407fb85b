"""Arm evidence: only the part of a candidate's shoulders-to-lane segment no one else's arm
or body can explain says whether this candidate reached."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from walkout.store import Camera
from walkout_edge.perception.geometry import CameraGeometry
from walkout_edge.perception.reach import (
    ARM_SAMPLES,
    BODY_RADIUS_M,
    best_frames_mean,
    exclusive_arm_share,
    reach_score,
    shoulders,
)
from walkout_edge.perception.vision import SHOULDER_M

SCALE = 4
THRESHOLD = 40
# A shelf whose lanes face north along y = 0; the hand target is just inside a lane's front.
TARGET = (2.0, -0.12, 1.1)
ACTOR = (2.0, 0.4)
BYSTANDER = (2.55, 0.55)  # beside the actor, facing the same lane, arm down
GEO = CameraGeometry(
    Camera.overhead("cam-1", x=2.0, y=1.2, height_m=4.0, resolution=(640, 480), fps=15, hfov_deg=90)
)


def _px(x: float, y: float, z: float) -> tuple[int, int]:
    uv = GEO.project_point(x, y, z)
    assert uv is not None
    return round(uv[0] / SCALE), round(uv[1] / SCALE)


def _metres(m: float, z: float) -> int:
    return max(1, round(m * float(GEO.pixels_per_m(z)) / SCALE))


def _scene() -> np.ndarray:
    """A difference image: both people's bodies, and the actor's arm from its right
    shoulder to the lane (hand included)."""
    diff = np.zeros((GEO.height // SCALE, GEO.width // SCALE), dtype=np.uint8)
    for x, y in (ACTOR, BYSTANDER):
        cv2.line(diff, _px(x, y, 0.1), _px(x, y, 1.75), 255, _metres(0.4, 1.2))
    hand = (TARGET[0], TARGET[1] - 0.05, TARGET[2])
    rx, ry = shoulders(ACTOR, TARGET)[1]
    cv2.line(diff, _px(rx, ry, SHOULDER_M), _px(*hand), 255, _metres(0.08, SHOULDER_M))
    return diff


def _segment(start: tuple[float, float], s: np.ndarray) -> np.ndarray:
    x, y = start
    tx, ty, tz = TARGET
    return np.column_stack([x + (tx - x) * s, y + (ty - y) * s, SHOULDER_M + (tz - SHOULDER_M) * s])


def _share(at: tuple[float, float], rival: tuple[float, float]) -> float | None:
    share: float | None = exclusive_arm_share(
        GEO, SCALE, _scene(), target=TARGET, at=at, rivals=[rival], threshold=THRESHOLD
    )
    return share


def test_the_scene_is_the_hard_case_a_bystanders_segment_ends_on_the_actors_hand() -> None:
    # Sampled like the old rule (half-way to the lane onwards, no exclusion), the
    # bystander's segment finds the actor's hand and arm: blurry evidence.
    naive = []
    for start in shoulders(BYSTANDER, TARGET):
        px, _ = GEO.project(_segment(start, np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])))
        px = np.round(px / SCALE).astype(int)
        naive.append(float((_scene()[px[:, 1], px[:, 0]] > THRESHOLD).mean()))
    assert max(naive) >= 1 / 3


def test_a_bystander_whose_segment_converges_on_the_actors_hand_gets_little_arm_evidence() -> None:
    actor = _share(ACTOR, BYSTANDER)
    bystander = _share(BYSTANDER, ACTOR)
    assert actor is not None
    assert bystander is not None
    assert actor >= 0.8
    assert bystander <= 0.1
    assert reach_score(0.4, actor) - reach_score(0.4, bystander) >= 0.25


def test_a_rival_standing_on_the_candidates_spot_leaves_nothing_exclusive() -> None:
    beside = (ACTOR[0] + 0.02, ACTOR[1] + 0.02)
    assert _share(ACTOR, beside) is None


def test_samples_on_the_candidates_own_body_do_not_count() -> None:
    # Arm down, nobody else around: the body lights the segment near the shoulders, which
    # is sampled but lies within a body radius of the centre.
    reach_m = float(np.hypot(TARGET[0] - ACTOR[0], TARGET[1] - ACTOR[1]))
    assert min(ARM_SAMPLES) * reach_m < BODY_RADIUS_M
    diff = np.zeros((GEO.height // SCALE, GEO.width // SCALE), dtype=np.uint8)
    radius = _metres(BODY_RADIUS_M - 0.06, SHOULDER_M)
    cv2.circle(diff, _px(*ACTOR, SHOULDER_M), radius, 255, -1)
    share = exclusive_arm_share(
        GEO, SCALE, diff, target=TARGET, at=ACTOR, rivals=[], threshold=THRESHOLD
    )
    assert share == pytest.approx(0.0, abs=0.1)


def test_an_arm_from_either_shoulder_counts() -> None:
    for sx, sy in shoulders(ACTOR, TARGET):
        diff = np.zeros((GEO.height // SCALE, GEO.width // SCALE), dtype=np.uint8)
        cv2.line(diff, _px(sx, sy, SHOULDER_M), _px(*TARGET), 255, _metres(0.08, SHOULDER_M))
        share = exclusive_arm_share(
            GEO, SCALE, diff, target=TARGET, at=ACTOR, rivals=[], threshold=THRESHOLD
        )
        assert share is not None
        assert share >= 0.8


def test_one_bright_frame_among_dark_ones_is_not_an_arm() -> None:
    assert best_frames_mean([1.0] + [0.0] * 11) == pytest.approx(1 / 3)
    assert best_frames_mean([0.9, 1.0, 0.8, 0.0]) == pytest.approx(1.0)
    assert best_frames_mean([]) == 0.0
