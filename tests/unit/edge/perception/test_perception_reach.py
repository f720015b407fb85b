"""Arm evidence: only the part of a candidate's shoulders-to-lane segment no one else's arm
or body can explain says whether this candidate reached; sleeve evidence: whose colours
the hand at the lane is in."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from walkout.store import Camera
from walkout_edge.perception.appearance import Appearance
from walkout_edge.perception.geometry import CameraGeometry
from walkout_edge.perception.reach import (
    ARM_SAMPLES,
    BODY_RADIUS_M,
    MIN_HAND_DIFF_PIXELS,
    SLEEVE_LLR_CAP,
    _chains,
    best_frames_mean,
    exclusive_arm_share,
    hand_codes,
    reach_score,
    shoulders,
    sleeve_evidence,
    sleeve_llrs,
)
from walkout_edge.perception.tracking import Unexplained
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


# --- sleeve evidence: whose colours the hand at the lane is in ----------------------------

ORANGE = (0, 128, 255)  # BGR; colour bin 0 * 16 + 2 * 4 + 3 = 11
PURPLE = (160, 60, 160)  # colour bin 2 * 16 + 0 * 4 + 2 = 34
GREY = (128, 128, 128)


def _look(*bins: int) -> Appearance:
    """A look with most of its mass on `bins` and a little everywhere."""
    hist = np.full(64, 0.2 / 64)
    for b in bins:
        hist[b] += 0.8 / len(bins)
    return Appearance(hist / hist.sum())


def _at(x: float, y: float, z: float, scale: int) -> tuple[int, int]:
    uv = GEO.project_point(x, y, z)
    assert uv is not None
    return round(uv[0] / scale), round(uv[1] / scale)


def _hand_scene(colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A full frame and its difference image: the actor's arm in `colour` from its right
    shoulder to the lane, and a purple bystander's body half a metre from the lane."""
    frame = np.full((GEO.height, GEO.width, 3), GREY, dtype=np.uint8)
    diff = np.zeros((GEO.height // SCALE, GEO.width // SCALE), dtype=np.uint8)
    rx, ry = shoulders(ACTOR, TARGET)[1]
    for image, arm, body, scale in ((frame, colour, PURPLE, 1), (diff, 255, 255, SCALE)):
        width = max(1, round(0.08 * float(GEO.pixels_per_m(SHOULDER_M)) / scale))
        cv2.line(image, _at(rx, ry, SHOULDER_M, scale), _at(*TARGET, scale), arm, width)
        radius = max(1, round(0.2 * float(GEO.pixels_per_m(SHOULDER_M)) / scale))
        cv2.circle(image, _at(*BYSTANDER, SHOULDER_M, scale), radius, body, -1)
    return frame, diff


def _hand(frame: np.ndarray, diff: np.ndarray) -> np.ndarray | None:
    codes: np.ndarray | None = hand_codes(
        GEO, SCALE, frame, diff, 1.0, target=TARGET, threshold=THRESHOLD
    )
    return codes


def test_the_hand_zone_holds_the_arm_near_the_lane_not_the_bodies_farther_off() -> None:
    codes = _hand(*_hand_scene(ORANGE))
    assert codes is not None
    assert len(codes) >= MIN_HAND_DIFF_PIXELS * SCALE * SCALE
    # The orange arm, and the floor beside it (the foreground is read at a quarter of the
    # resolution); nothing of the purple body half a metre off.
    assert float(np.mean(codes == 11)) >= 0.5
    assert 34 not in codes.tolist()


def test_no_hand_in_the_zone_tells_nothing() -> None:
    frame, diff = _hand_scene(ORANGE)
    assert _hand(frame, np.zeros_like(diff)) is None


def test_the_candidate_whose_look_matches_the_sleeve_gains_and_the_other_loses() -> None:
    codes = _hand(*_hand_scene(ORANGE))
    assert codes is not None
    orange, purple = sleeve_evidence([_look(11), _look(34)], [codes, codes])
    assert orange > 1.0
    assert purple < -1.0
    # Two people at the lane with the same arm evidence: the sleeve separates them.
    assert reach_score(0.45, 0.3, orange) - reach_score(0.45, 0.3, purple) >= 0.2


def test_a_hand_in_nobodys_colours_says_little() -> None:
    codes = _hand(*_hand_scene(ORANGE))
    assert codes is not None
    # A red and a purple candidate: the orange hand is neither's.
    red, purple = sleeve_evidence([_look(3), _look(34)], [codes])
    assert abs(red) < 0.2
    assert abs(purple) < 0.2


def test_a_colour_that_is_a_small_share_of_a_look_counts_for_less() -> None:
    # The hand is orange; orange is 1 % of the first look and none of the second. Taken
    # as it is, that ratio (0.01 against nothing) would reach the cap; the uniform share
    # of somebody else's colours keeps it well below.
    mostly_red = np.zeros(64)
    mostly_red[3], mostly_red[11] = 0.99, 0.01
    purple = np.zeros(64)
    purple[34] = 1.0
    first, second = sleeve_evidence([Appearance(mostly_red), Appearance(purple)], [np.full(50, 11)])
    assert 0.5 < first < SLEEVE_LLR_CAP - 0.5
    assert second == pytest.approx(-first)


def test_sleeve_evidence_needs_two_looks_and_a_hand() -> None:
    codes = _hand(*_hand_scene(ORANGE))
    assert codes is not None
    orange, purple = _look(11), _look(34)
    # No frame showed a hand: nothing to say.
    assert sleeve_evidence([orange, purple], []) == [0.0, 0.0]
    # A candidate without a look says nothing and leaves the others' comparison as it is,
    # in the candidates' order.
    with_unknown = sleeve_evidence([Appearance(), orange, purple], [codes])
    assert with_unknown[0] == 0.0
    assert with_unknown[1:] == sleeve_evidence([orange, purple], [codes])
    assert sleeve_evidence([Appearance(), orange], [codes]) == [0.0, 0.0]


def test_a_frame_with_more_hand_counts_for_more() -> None:
    orange_hand = np.full(200, 11)
    purple_speck = np.full(20, 34)
    orange, purple = sleeve_evidence([_look(11), _look(34)], [orange_hand, purple_speck])
    assert orange > 1.0
    assert purple < -1.0


def test_sleeve_evidence_is_capped_and_even_when_looks_alike() -> None:
    assert sleeve_llrs(np.array([0.5, 0.5, 0.5])) == [0.0, 0.0, 0.0]
    assert sleeve_llrs(np.array([0.5])) == [0.0]
    strong = sleeve_llrs(np.array([0.9, 0.0001]))
    assert strong == [SLEEVE_LLR_CAP, -SLEEVE_LLR_CAP]
    # Against the mean of the others: a third, unlike candidate lowers the bar.
    two = sleeve_llrs(np.array([0.4, 0.4]))
    three = sleeve_llrs(np.array([0.4, 0.4, 0.01]))
    assert two[0] == 0.0
    assert three[0] > 0.0
    assert three[2] < 0.0


def _unexplained(t: float, x: float, y: float) -> Unexplained:
    return Unexplained(t, x, y, Appearance())


def test_untaken_detections_chain_step_to_step_per_person() -> None:
    # Given two people no track follows, 0.6 m apart, walking towards a lane front at
    # (0, 0), seen on eight steps of 0.125 s, and a far one-off detection
    front = (0.0, 0.0)
    dets = []
    for k in range(8):
        t = k * 0.125
        dets += [_unexplained(t, 0.5 + 0.02 * k, 0.8 - 0.05 * k), _unexplained(t, -0.1, 0.6)]
    dets.append(_unexplained(0.5, 3.0, 3.0))
    dets.sort(key=lambda d: d.t)
    chains = _chains(dets, 0.0, 1.0, front, max_distance_m=1.3)
    # Then each person is one chain of all their steps, in time order
    assert sorted(len(c) for c in chains) == [8, 8]
    for chain in chains:
        assert len({(round(d.x, 1) < 0.2) for d in chain}) == 1
        assert [d.t for d in chain] == sorted(d.t for d in chain)


def test_a_flicker_a_gap_and_a_chain_that_stays_away_are_not_candidates() -> None:
    front = (0.0, 0.0)
    two_steps = [_unexplained(0.0, 0.3, 0.3), _unexplained(0.125, 0.3, 0.3)]
    assert _chains(two_steps, 0.0, 1.0, front, 1.3) == []
    # Seen three times, but half a second apart each: three people, not one
    gaps = [_unexplained(t, 0.3, 0.3) for t in (0.0, 0.5, 1.0)]
    assert _chains(gaps, 0.0, 1.0, front, 1.3) == []
    # Within the chaining reach of the front (1.3 + 0.4 m) but never within 1.3 m
    away = [_unexplained(k * 0.125, 1.5, 0.0) for k in range(5)]
    assert _chains(away, 0.0, 1.0, front, 1.3) == []
    # The same at 1.2 m is one
    near = [_unexplained(k * 0.125, 1.2, 0.0) for k in range(5)]
    assert [len(c) for c in _chains(near, 0.0, 1.0, front, 1.3)] == [5]
    # Outside the window: not counted
    assert _chains(near, 0.6, 1.0, front, 1.3) == []


def test_untaken_detections_are_linked_nearest_first_within_a_step_and_in_time_order() -> None:
    # Given two people side by side, 0.35 m apart, each seen on four steps; at the last
    # step the detection of the one on the right comes first in the detector's order
    front = (0.0, 0.0)
    dets = []
    for k in range(3):
        dets += [_unexplained(k * 0.125, 0.0, 0.5), _unexplained(k * 0.125, 0.35, 0.5)]
    dets += [_unexplained(0.375, 0.2, 0.5), _unexplained(0.375, 0.38, 0.5)]
    # And the steps arrive a little out of order (a late camera frame), with one after
    # the window
    shuffled = [*dets[2:4], *dets[0:2], *dets[4:], _unexplained(1.5, 0.0, 0.5)]
    chains = _chains(shuffled, 0.0, 1.0, front, 1.3)
    # Then each chain is one person's, in time order, the nearest detection taken at the
    # last step (0.38 by the right one, 0.2 by the left), and nothing after the window
    by_start = sorted(chains, key=lambda c: c[0].x)
    assert [[d.x for d in c] for c in by_start] == [[0.0, 0.0, 0.0, 0.2], [0.35] * 3 + [0.38]]
    assert all([d.t for d in c] == sorted(d.t for d in c) for c in chains)
