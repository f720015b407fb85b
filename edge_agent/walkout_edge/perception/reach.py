"""Reach evidence: who was reaching into a lane while its weight changed.

For a weight change on a lane, every track near the lane's front during the change (from a
second before it began to half a second after it settled) is a candidate, with:

- `distance_m`: how close its centre came to the lane's front;
- arm evidence: an arm into a lane is a thin streak of foreground from the shopper's
  shoulders to the lane. For each frame of the window, in the cameras that see the lane
  least obliquely, the difference image is sampled along the 3-D segment from this
  candidate's shoulders to the lane's hand target (just inside its front, a little above
  the shelf board), on the part of the segment outside the body. A neighbour reaching into
  the next lane has foreground along *their* segment, not along this one;
- `reach_score` (0-1): the arm evidence where cameras saw it, blended with proximity.

The evidence for people is a JPEG crop around the lane at the moment of the change, from
the camera that sees the lane best; the shelf event carries its S3 key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from walkout.store import Facing, Lane, Shelf, Store
from walkout_edge.perception.geometry import CameraGeometry
from walkout_edge.perception.tracking import Track
from walkout_edge.perception.vision import SHOULDER_M, CameraPipeline

_NORMAL = {
    Facing.EAST: (1.0, 0.0),
    Facing.WEST: (-1.0, 0.0),
    Facing.NORTH: (0.0, 1.0),
    Facing.SOUTH: (0.0, -1.0),
}
ARM_SAMPLES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BODY_RADIUS_M = 0.25
ARM_WEIGHT = 2.0
DISTANCE_WEIGHT_PER_M = 4.0
ARM_PRIOR = 0.35  # arm evidence assumed when no camera saw the lane
BESIDE_M = 0.8


@dataclass(frozen=True)
class ReachParams:
    before_s: float = 1.2  # the reach starts before the weight moves
    after_s: float = 0.5
    arm_before_s: float = 0.5  # arm evidence counts from this long before the change
    arm_after_s: float = 0.2
    max_distance_m: float = 1.3
    into_shelf_m: float = 0.12  # where a hand grips, behind the lane's front
    arm_threshold: int = 40  # difference (0-765 summed BGR, clipped at 255) of an arm pixel
    cameras_per_lane: int = 2
    jpeg_quality: int = 80
    crop_m: float = 1.4


@dataclass(frozen=True)
class LaneGeometry:
    lane_id: str
    shelf_id: str
    front: tuple[float, float]
    normal: tuple[float, float]
    target: tuple[float, float, float]
    cameras: tuple[str, ...]  # least oblique first


@dataclass(frozen=True)
class ReachCandidate:
    track_id: str
    distance_m: float
    arm: float
    arm_frames: int
    reach_score: float


def lane_geometry(
    lane: Lane, shelf: Shelf, cameras: dict[str, CameraGeometry], params: ReachParams
) -> LaneGeometry:
    nx, ny = _NORMAL[shelf.facing]
    fx, fy = lane.front_center.x, lane.front_center.y
    target = (fx - nx * params.into_shelf_m, fy - ny * params.into_shelf_m, lane.height_m + 0.1)
    ranked: list[tuple[float, str]] = []
    for cid, geo in cameras.items():
        uv = geo.project_point(*target)
        stand = geo.project_point(fx + nx * 0.5, fy + ny * 0.5, SHOULDER_M)
        if uv is None or stand is None:
            continue
        margin = 4.0
        if not all(
            margin <= p[0] <= geo.width - margin and margin <= p[1] <= geo.height - margin
            for p in (uv, stand)
        ):
            continue
        ranked.append((math.hypot(geo.c[0] - fx, geo.c[1] - fy), cid))
    ranked.sort()
    return LaneGeometry(
        lane.lane_id,
        shelf.shelf_id,
        (fx, fy),
        (nx, ny),
        target,
        tuple(cid for _, cid in ranked[: params.cameras_per_lane]),
    )


class ReachScorer:
    def __init__(
        self, store: Store, vision: CameraPipeline, params: ReachParams | None = None
    ) -> None:
        self.params = params or ReachParams()
        self.vision = vision
        self.scale = vision.params.foreground.scale
        geos = {cid: st.geometry for cid, st in vision.cameras.items()}
        self.lanes: dict[str, LaneGeometry] = {}
        for shelf in store.shelves:
            for lane in shelf.lanes:
                self.lanes[lane.lane_id] = lane_geometry(lane, shelf, geos, self.params)

    def candidates(self, lane_id: str, t_start: float, t_end: float) -> list[ReachCandidate]:
        lane = self.lanes[lane_id]
        p = self.params
        t0, t1 = t_start - p.before_s, t_end + p.after_s
        fx, fy = lane.front
        out: list[ReachCandidate] = []
        near: list[tuple[Track, list[tuple[float, float, float]], float]] = []
        for track in self.vision.tracker.tracks.values():
            if not track.confirmed:
                continue
            path = [(pt.t, pt.x, pt.y) for pt in track.history if t0 <= pt.t <= t1]
            if not path:
                continue
            dist = min(math.hypot(x - fx, y - fy) for _, x, y in path)
            if dist > p.max_distance_m:
                continue
            near.append((track, path, dist))
        # The actor's arm is out while the weight moves (it lifts or sets down the unit).
        a0, a1 = t_start - p.arm_before_s, t_end + p.arm_after_s
        for track, path, dist in near:
            others = [pth for tr, pth, _ in near if tr is not track]
            arm, frames = self._arm(lane, path, others, a0, a1)
            out.append(ReachCandidate(track.track_id, round(dist, 3), arm, frames, 0.0))
        return _scored(out)

    def _arm(
        self,
        lane: LaneGeometry,
        path: list[tuple[float, float, float]],
        others: list[list[tuple[float, float, float]]],
        t0: float,
        t1: float,
    ) -> tuple[float, int]:
        """Best share, over the frames between t0 and t1, of arm-like foreground along the
        segment from this track's shoulders to the lane's hand target; and how many frames
        could tell.

        Samples that fall on another candidate's body in the image say nothing about whose
        arm it is and are left out; a frame needs half its samples left to count.
        """
        best, frames = 0.0, 0
        times = np.array([t for t, _, _ in path])
        other_times = [np.array([t for t, _, _ in pth]) for pth in others]
        s = np.array(ARM_SAMPLES)
        n = len(s)
        tx, ty, tz = lane.target
        for cid in lane.cameras:
            geo = self.vision.cameras[cid].geometry
            body_px = BODY_RADIUS_M * geo.pixels_per_m(1.2) / self.scale
            for ts, diff in self.vision.diffs_between(cid, t0, t1):
                _, x, y = path[int(np.argmin(np.abs(times - ts)))]
                points = [
                    np.column_stack(
                        [x + (tx - x) * s, y + (ty - y) * s, SHOULDER_M + (tz - SHOULDER_M) * s]
                    )
                ]
                for pth, ot in zip(others, other_times, strict=True):
                    k = int(np.argmin(np.abs(ot - ts)))
                    if abs(ot[k] - ts) <= 0.3:
                        ox, oy = pth[k][1], pth[k][2]
                        points.append(np.array([[ox, oy, 0.1], [ox, oy, 1.8]]))
                px, front = geo.project(np.concatenate(points))
                if not front[:n].all():
                    continue
                px = px / self.scale
                arm_px = px[:n]
                usable = np.ones(n, dtype=bool)
                for b in range(n, len(px), 2):
                    if front[b] and front[b + 1]:
                        usable &= _segment_distance(arm_px, px[b], px[b + 1]) > body_px
                if usable.sum() < n / 2:
                    continue
                h, w = diff.shape
                u = np.clip(np.round(arm_px[usable, 0]).astype(int), 0, w - 1)
                v = np.clip(np.round(arm_px[usable, 1]).astype(int), 0, h - 1)
                frames += 1
                best = max(best, float((diff[v, u] > self.params.arm_threshold).mean()))
        return best, frames

    def evidence_crop(self, lane_id: str, t: float) -> tuple[str, bytes] | None:
        """(camera id, JPEG) of the area around the lane at time t, or None if no frame."""
        lane = self.lanes[lane_id]
        for cid in lane.cameras:
            found = self.vision.frame_near(cid, t)
            if found is None or abs(found[0] - t) > 1.0:
                continue
            _, frame = found
            geo = self.vision.cameras[cid].geometry
            fx, fy = lane.front
            nx, ny = lane.normal
            half = self.params.crop_m / 2
            cx, cy = fx + nx * 0.3, fy + ny * 0.3
            corners = [
                (cx + dx, cy + dy, z)
                for dx in (-half, half)
                for dy in (-half, half)
                for z in (0.0, lane.target[2], 1.9)
            ]
            px, front = geo.project(np.array(corners))
            if not front.all():
                continue
            h, w = frame.shape[:2]
            x0, y0 = np.clip(px.min(axis=0), 0, [w - 1, h - 1]).astype(int)
            x1, y1 = np.clip(px.max(axis=0), 0, [w - 1, h - 1]).astype(int)
            if x1 - x0 < 16 or y1 - y0 < 16:
                continue
            ok, jpeg = cv2.imencode(
                ".jpg",
                frame[y0 : y1 + 1, x0 : x1 + 1],
                [cv2.IMWRITE_JPEG_QUALITY, self.params.jpeg_quality],
            )
            if ok:
                return cid, jpeg.tobytes()
        return None


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    denom = float(ab @ ab)
    t = np.zeros(len(points)) if denom < 1e-9 else np.clip((points - a) @ ab / denom, 0.0, 1.0)
    closest = a + t[:, None] * ab
    distance: np.ndarray = np.hypot(*(points - closest).T)
    return distance


def reach_score(distance_m: float, arm: float | None) -> float:
    """0-1: how much this candidate looks like the one who reached.

    A logistic of arm evidence (share of the shoulder-to-lane segment that is foreground,
    0-1; unknown when no camera saw it) and distance (shoppers reach from 0.3-0.6 m). The
    weights were chosen on simulated crowded stores so that two people who both stand at
    the lane and both have an arm out get close scores: a small margin, not a confident
    guess.
    """
    evidence = ARM_PRIOR if arm is None else arm
    z = ARM_WEIGHT * evidence - DISTANCE_WEIGHT_PER_M * (distance_m - 0.6) - 1.0
    return 1.0 / (1.0 + math.exp(-z))


def _scored(cands: list[ReachCandidate]) -> list[ReachCandidate]:
    """reach_score from proximity and arm evidence, best first."""
    out = [
        ReachCandidate(
            c.track_id,
            c.distance_m,
            round(c.arm, 3),
            c.arm_frames,
            round(reach_score(c.distance_m, c.arm if c.arm_frames else None), 3),
        )
        for c in cands
    ]
    out.sort(key=lambda c: (-c.reach_score, c.distance_m))
    return out
