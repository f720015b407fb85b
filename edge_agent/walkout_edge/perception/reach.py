"""Reach evidence: who was reaching into a lane while its weight changed.

For a weight change on a lane, every track near the lane's front during the change (from a
second before it began to half a second after it settled) is a candidate, with:

- `distance_m`: how close its centre came to the lane's front;
- arm evidence: an arm into a lane is a thin streak of foreground from one of the
  shopper's shoulders to the lane. For each frame of the window, in the cameras that see
  the lane least obliquely, the difference image is sampled along the 3-D segments from
  this candidate's two shoulders (beside its centre, across the way to the lane) to the
  lane's hand target (just inside its front, a little above the shelf board); the better
  arm counts. Every candidate's segments end at the same target, so near it they all lie
  on the actor's hand: only samples *exclusive* to this candidate count, those on the
  part of a segment outside its body and, in the image, farther than an arm width from
  every other candidate's arm segments and than a body radius from every other
  candidate's body. A neighbour's arm then lights only the neighbour's own samples. A
  frame with too few exclusive samples tells nothing; the evidence is the mean share over
  the best quarter of the frames that could tell (the arm is out for part of the window
  only), and unknown when no frame could;
- sleeve evidence: whose colours the hand is in. Where the candidates' arms converge, on
  the hand target, the exclusive samples above say nothing; the colour of the arm there
  does, since a sleeve is the colour of the shirt seen from above. In the kept full frames
  of the window, the foreground pixels within SLEEVE_RADIUS_M of the target (in the image)
  are put in the 64 colour bins of `appearance.py` (`hand_samples`, taken as soon as the
  cameras have passed the window, before the frames are dropped). Each candidate's look
  (what its track looks like now), mixed with a uniform share SLEEVE_OTHER for colours
  of somebody else, gives every hand pixel a likelihood; a candidate's likelihood is the
  mean over all the pixels of all the frames. The evidence is the log ratio of a
  candidate's likelihood to the mean of the others', capped at SLEEVE_LLR_CAP either way;
  0 when fewer than two candidates have a look or no frame showed enough of a hand. Hand
  pixels in colours neither look holds (a third person's arm, bare skin) add the same to
  every candidate's likelihood; a colour that is a small share of one look and none of
  another counts for less than it would without the uniform share (1 % of a look gives a
  ratio of 3.6, not 10);
- `reach_score` (0-1): the arm evidence where cameras saw it, blended with proximity and
  the sleeve evidence.

Somebody no track follows is a candidate too: in a crowd a track slides onto a neighbour
and leaves its person to the detector alone for seconds, and a change that person makes
would otherwise go to whoever is tracked beside them. The detections no track took
(`Tracker.unexplained`) near the lane in the window are chained step to step (each within
UNSEEN_LINK_M and UNSEEN_LINK_S of the chain's last); a chain seen on UNSEEN_MIN_STEPS
steps or more that is not mostly beside a track (a tracked person's blob seen twice) is
scored like a track, under a fresh id no session is bound to (`unseen_id`). A chain that
a track took up right after it (the track unseen along the chain, then seen within
UNSEEN_TAKEN_S where the chain ended: a track re-acquiring its person, or a track just
started on them) is that track's: the track is the candidate, once, with the chain as
its path where it coasted.

The evidence for people is a JPEG crop around the lane at the moment of the change, from
the camera that sees the lane best; the shelf event carries its S3 key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from walkout.store import Facing, Lane, Shelf, Store
from walkout_edge.perception.appearance import BINS, Appearance, colour_codes
from walkout_edge.perception.geometry import CameraGeometry
from walkout_edge.perception.tracking import Track, TrackPoint, Unexplained
from walkout_edge.perception.vision import SHOULDER_M, CameraPipeline

_NORMAL = {
    Facing.EAST: (1.0, 0.0),
    Facing.WEST: (-1.0, 0.0),
    Facing.NORTH: (0.0, 1.0),
    Facing.SOUTH: (0.0, -1.0),
}
# Fractions of the shoulders-to-target segment sampled (those on a body or near another
# candidate's segment are then left out).
ARM_SAMPLES = tuple(round(0.3 + 0.05 * i, 2) for i in range(15))  # 0.3 .. 1.0
ARM_WIDTH_M = 0.04
MIN_EXCLUSIVE_SAMPLES = 3  # a frame with fewer exclusive samples tells nothing
BEST_FRAMES_SHARE = 0.25  # the evidence: mean share over this best share of the frames
BODY_RADIUS_M = 0.25
SHOULDER_HALF_M = 0.17  # an arm starts at a shoulder, this far beside the centre
# In the image, arm samples this close to the candidate's own body are its body, not its arm.
OWN_BODY_M = 0.15
ARM_WEIGHT = 2.0
DISTANCE_WEIGHT_PER_M = 4.0
CROP_TOP_M = 1.9  # evidence crops reach from the floor to this height
ARM_PRIOR = 0.35  # arm evidence assumed when no camera saw the lane
BESIDE_M = 0.8
# Sleeve evidence (see the module docstring). The weight was chosen on two training
# recordings (busy seed 101, crowded seed 131) among 0.25-1.5: the largest that made no
# top candidate with a margin of 0.3 or more wrong there.
SLEEVE_RADIUS_M = 0.15
# A frame counts when at least this many pixels of the difference image (which is read at
# 1 / scale of the frame) are foreground in the hand zone: a speck of noise is not a hand.
MIN_HAND_DIFF_PIXELS = 2
SLEEVE_OTHER = 0.2  # the share of a look's likelihood left to colours of somebody else
SLEEVE_WEIGHT = 0.25
SLEEVE_LLR_CAP = 2.0
# Chains of detections no track took (see the module docstring). On the stadium-rush 23
# replay, 102 of the 135 shelf changes whose actor no track was on (none within 0.3 m for
# half the reach) had such detections within 0.4 m of the actor on three steps or more,
# and 28 of the 1,271 others had (taken as a track's blob seen twice: more than 0.35 m
# from every track on 24 of those 28, on 101 of the 102).
UNSEEN_MIN_STEPS = 3
UNSEEN_LINK_M = 0.4
UNSEEN_LINK_S = 0.4
UNSEEN_BESIDE_TRACK_M = 0.35
# A track seen again this soon after a chain ends, where it ended, took up its person.
UNSEEN_TAKEN_S = 1.0
# Tracks this much farther from a lane than a candidate may be can still stand beside (or
# take up) a chain of untaken detections near it.
UNSEEN_TRACKS_M = UNSEEN_LINK_M + UNSEEN_BESIDE_TRACK_M
# How far out of time order a late camera frame may put a step of untaken detections.
LATE_STEP_S = 2.0


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
    person_crop_m: float = 1.0  # a person's look at the gate: this square around them


@dataclass(frozen=True)
class LaneGeometry:
    lane_id: str
    shelf_id: str
    front: tuple[float, float]
    normal: tuple[float, float]
    target: tuple[float, float, float]
    cameras: tuple[str, ...]  # least oblique first


Path = list[tuple[float, float, float]]  # (t, x, y)


@dataclass(frozen=True)
class Reacher:
    """Somebody near a lane around its change: a track, or a chain of detections no track
    took (`track_id` then a fresh id)."""

    track_id: str
    look: Appearance
    path: Path
    distance_m: float
    track: Track | None = None  # None: nobody's track


@dataclass(frozen=True)
class ReachCandidate:
    track_id: str
    distance_m: float
    arm: float
    arm_frames: int
    reach_score: float
    sleeve: float = 0.0
    # Where somebody no track followed was seen in the window (empty for a track, whose
    # path is in the track log): for judging the candidate against the truth afterwards.
    unseen_path: tuple[tuple[float, float, float], ...] = ()


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
        self,
        store: Store,
        vision: CameraPipeline,
        params: ReachParams | None = None,
        unseen_id: Callable[[], str] | None = None,
    ) -> None:
        self.params = params or ReachParams()
        self.vision = vision
        numbers = itertools.count(1)
        self._unseen_id = unseen_id or (lambda: f"unseen-{next(numbers)}")
        self.scale = vision.params.foreground.scale
        geos = {cid: st.geometry for cid, st in vision.cameras.items()}
        self.lanes: dict[str, LaneGeometry] = {}
        for shelf in store.shelves:
            for lane in shelf.lanes:
                self.lanes[lane.lane_id] = lane_geometry(lane, shelf, geos, self.params)

    def candidates(
        self,
        lane_id: str,
        t_start: float,
        t_end: float,
        hands: list[np.ndarray] | None = None,
    ) -> list[ReachCandidate]:
        """The candidates for a change on `lane_id`, best first; `hands`: the change's
        `hand_samples`, taken earlier (taken now when None)."""
        lane = self.lanes[lane_id]
        p = self.params
        # The tracks near enough to stand beside an unseen chain; those within reach of the
        # lane are candidates.
        wide = self._tracks_near(lane_id, t_start, t_end, UNSEEN_TRACKS_M + p.max_distance_m)
        by_id = {
            track.track_id: Reacher(track.track_id, track.appearance, path, dist, track)
            for track, path, dist in wide
            if dist <= p.max_distance_m
        }
        for reacher in self.unseen_near(lane_id, t_start, t_end, wide):
            by_id[reacher.track_id] = reacher  # a track's own entry keeps its place
        near = list(by_id.values())
        out: list[ReachCandidate] = []
        # The actor's arm is out while the weight moves (it lifts or sets down the unit).
        a0, a1 = t_start - p.arm_before_s, t_end + p.arm_after_s
        if hands is None:
            hands = self.hand_samples(lane_id, t_start, t_end)
        sleeves = sleeve_evidence([r.look for r in near], hands)
        for reacher, sleeve in zip(near, sleeves, strict=True):
            others = [r.path for r in near if r is not reacher]
            arm, frames = self._arm(lane, reacher.path, others, a0, a1)
            unseen = () if reacher.track is not None else tuple(reacher.path)
            distance = round(reacher.distance_m, 3)
            out.append(ReachCandidate(reacher.track_id, distance, arm, frames, 0.0, sleeve, unseen))
        return _scored(out)

    def near(
        self, lane_id: str, t_start: float, t_end: float
    ) -> list[tuple[Track, list[tuple[float, float, float]], float]]:
        """The tracks close enough to a lane's front around a weight change to have reached
        it: each with its path in the window, `(t, x, y)`, and its closest distance."""
        return self._tracks_near(lane_id, t_start, t_end, self.params.max_distance_m)

    def _tracks_near(
        self, lane_id: str, t_start: float, t_end: float, max_distance_m: float
    ) -> list[tuple[Track, Path, float]]:
        p = self.params
        t0, t1 = t_start - p.before_s, t_end + p.after_s
        fx, fy = self.lanes[lane_id].front
        near: list[tuple[Track, Path, float]] = []
        for track in self.vision.tracker.tracks.values():
            if not track.confirmed:
                continue
            if track.history_to_t < t0 or track.history_from_t > t1:
                continue  # no point of its path in the window (most tracks: long gone)
            path = [(pt.t, pt.x, pt.y) for pt in _points_since(track, t0) if pt.t <= t1]
            if not path:
                continue
            dist = min(math.hypot(x - fx, y - fy) for _, x, y in path)
            if dist > max_distance_m:
                continue
            near.append((track, path, dist))
        return near

    def unseen_near(
        self,
        lane_id: str,
        t_start: float,
        t_end: float,
        wide: Sequence[tuple[Track, Path, float]],
    ) -> list[Reacher]:
        """The people no track followed who were close enough to the lane's front around
        the change to have reached it (see the module docstring), each under a fresh id;
        `wide`: the tracks within UNSEEN_TRACKS_M beyond the candidates' reach, with their
        paths in the window (`_tracks_near`). A chain a track took up right after it (seen
        again where the chain ended, having been unseen along it) is that track's: its
        path then is the chain's, not where it coasted, and it is listed once."""
        p = self.params
        t0, t1 = t_start - p.before_s, t_end + p.after_s
        fx, fy = self.lanes[lane_id].front
        chains = _chains(self.vision.tracker.unexplained, t0, t1, (fx, fy), p.max_distance_m)
        if not chains:
            return []
        # Where the tracks were at each step (those near enough to stand beside a chain).
        tracked: dict[float, list[tuple[float, float]]] = {}
        for _, path, _ in wide:
            for t, x, y in path:
                tracked.setdefault(t, []).append((x, y))
        paths = {track.track_id: (path, dist) for track, path, dist in wide}
        out: list[Reacher] = []
        for chain in chains:
            beside = sum(
                1
                for d in chain
                if any(
                    math.hypot(d.x - x, d.y - y) < UNSEEN_BESIDE_TRACK_M
                    for x, y in tracked.get(d.t, ())
                )
            )
            if 2 * beside >= len(chain):
                continue
            path = [(d.t, d.x, d.y) for d in chain]
            taker = _taker(chain, [track for track, _, _ in wide])
            if taker is None:
                dist = min(math.hypot(d.x - fx, d.y - fy) for d in chain)
                look = Appearance.mean([d.look for d in chain])
                out.append(Reacher(self._unseen_id(), look, path, dist))
                continue
            # The taker's path in the window, with the chain where it coasted.
            own, own_dist = paths[taker.track_id]
            kept = [pt for pt in own if not chain[0].t <= pt[0] <= chain[-1].t]
            merged = sorted(kept + path)
            dist = min(math.hypot(x - fx, y - fy) for _, x, y in merged)
            if own_dist <= p.max_distance_m or dist <= p.max_distance_m:
                out.append(Reacher(taker.track_id, taker.appearance, merged, dist, taker))
        return out

    def _arm(
        self,
        lane: LaneGeometry,
        path: list[tuple[float, float, float]],
        others: list[list[tuple[float, float, float]]],
        t0: float,
        t1: float,
    ) -> tuple[float, int]:
        """This candidate's arm evidence between t0 and t1 (see the module docstring) and
        how many frames could tell: those within 0.3 s of a point of its path (a chain of
        untaken detections may be seen for part of the window only). Another candidate
        counts in a frame if it has a point within 0.3 s of it."""
        shares: list[float] = []
        times = np.array([t for t, _, _ in path])
        other_times = [np.array([t for t, _, _ in pth]) for pth in others]
        for cid in lane.cameras:
            geo = self.vision.cameras[cid].geometry
            for ts, diff in self.vision.diffs_between(cid, t0, t1):
                own = int(np.argmin(np.abs(times - ts)))
                if abs(times[own] - ts) > 0.3:
                    continue
                _, x, y = path[own]
                rivals: list[tuple[float, float]] = []
                for pth, ot in zip(others, other_times, strict=True):
                    k = int(np.argmin(np.abs(ot - ts)))
                    if abs(ot[k] - ts) <= 0.3:
                        rivals.append((pth[k][1], pth[k][2]))
                share = exclusive_arm_share(
                    geo,
                    self.scale,
                    diff,
                    target=lane.target,
                    at=(x, y),
                    rivals=rivals,
                    threshold=self.params.arm_threshold,
                )
                if share is not None:
                    shares.append(share)
        return best_frames_mean(shares), len(shares)

    def hand_samples(self, lane_id: str, t_start: float, t_end: float) -> list[np.ndarray]:
        """The colour bins of the hand zone's foreground in each kept frame of the arm
        window of a change (see `hand_codes`), in the cameras that see the lane."""
        lane = self.lanes[lane_id]
        t0, t1 = t_start - self.params.arm_before_s, t_end + self.params.arm_after_s
        out: list[np.ndarray] = []
        for cid in lane.cameras:
            geo = self.vision.cameras[cid].geometry
            for _, frame, diff, gain in self.vision.frames_between(cid, t0, t1):
                codes = hand_codes(
                    geo,
                    self.scale,
                    frame,
                    diff,
                    gain,
                    target=lane.target,
                    threshold=self.params.arm_threshold,
                )
                if codes is not None:
                    out.append(codes)
        return out

    def evidence_crop(self, lane_id: str, t: float) -> tuple[str, bytes] | None:
        """(camera id, JPEG) of the area around the lane at time t, or None if no frame."""
        lane = self.lanes[lane_id]
        fx, fy = lane.front
        nx, ny = lane.normal
        return self.crop(lane.cameras, (fx + nx * 0.3, fy + ny * 0.3), self.params.crop_m / 2, t)

    def person_crop(self, where: tuple[float, float], t: float) -> tuple[str, bytes] | None:
        """(camera id, JPEG) of a person standing at `where` at time t, from the camera
        overhead nearest them (the least foreshortened look), or None."""
        x, y = where
        nearest = sorted(
            self.vision.cameras,
            key=lambda cid: math.dist(self.vision.cameras[cid].geometry.position[:2], (x, y)),
        )
        return self.crop(nearest, where, self.params.person_crop_m / 2, t)

    def crop(
        self, cameras: Sequence[str], centre: tuple[float, float], half_m: float, t: float
    ) -> tuple[str, bytes] | None:
        """(camera id, JPEG) of the box `half_m` around `centre` on the floor, from the floor
        to 1.9 m, in the first of `cameras` with a frame within 1 s of t that has the box in
        front of it and at least 16 pixels of it across; None if none has."""
        cx, cy = centre
        corners = np.array(
            [
                (cx + dx, cy + dy, z)
                for dx in (-half_m, half_m)
                for dy in (-half_m, half_m)
                for z in (0.0, CROP_TOP_M)
            ]
        )
        for cid in cameras:
            found = self.vision.frame_near(cid, t)
            if found is None or abs(found[0] - t) > 1.0:
                continue
            _, frame = found
            px, front = self.vision.cameras[cid].geometry.project(corners)
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


def _chains(
    unexplained: Sequence[Unexplained],
    t0: float,
    t1: float,
    front: tuple[float, float],
    max_distance_m: float,
) -> list[list[Unexplained]]:
    """The detections no track took between t0 and t1 near `front`, chained step to step:
    at each step, the pairs of a chain's last detection and a detection within
    UNSEEN_LINK_M and UNSEEN_LINK_S of it are linked nearest first, one detection per
    chain; the others start chains. Chains seen on fewer than UNSEEN_MIN_STEPS steps, or
    never within `max_distance_m` of the front, are left out. `unexplained` is oldest
    first, but a late camera frame may put a step a little out of order."""
    fx, fy = front
    reach = max_distance_m + UNSEEN_LINK_M  # a chain may come in from a little farther
    window = []
    for d in reversed(unexplained):
        if d.t < t0 - LATE_STEP_S:
            break
        if t0 <= d.t <= t1 and math.hypot(d.x - fx, d.y - fy) <= reach:
            window.append(d)
    window.sort(key=lambda d: d.t)
    chains: list[list[Unexplained]] = []
    for _, step in itertools.groupby(window, key=lambda d: d.t):
        dets = list(step)
        pairs = sorted(
            (math.hypot(d.x - c[-1].x, d.y - c[-1].y), ci, di)
            for ci, c in enumerate(chains)
            if 0 < dets[0].t - c[-1].t <= UNSEEN_LINK_S
            for di, d in enumerate(dets)
        )
        linked_c: set[int] = set()
        linked_d: set[int] = set()
        for gap, ci, di in pairs:
            if gap > UNSEEN_LINK_M:
                break
            if ci in linked_c or di in linked_d:
                continue
            chains[ci].append(dets[di])
            linked_c.add(ci)
            linked_d.add(di)
        chains += [[d] for di, d in enumerate(dets) if di not in linked_d]
    return [
        chain
        for chain in chains
        if len(chain) >= UNSEEN_MIN_STEPS
        and min(math.hypot(d.x - fx, d.y - fy) for d in chain) <= max_distance_m
    ]


def _points_since(track: Track, t0: float) -> list[TrackPoint]:
    """The points of `track`'s history from `t0` on, oldest first, read from the newest
    back (a path is hundreds of points; a window, a few dozen). A late camera frame may
    have put a step a little out of order: reading stops LATE_STEP_S before t0."""
    out = []
    for pt in reversed(track.history):
        if pt.t < t0 - LATE_STEP_S:
            break
        if pt.t >= t0:
            out.append(pt)
    out.reverse()
    return out


def _taker(chain: Sequence[Unexplained], tracks: Sequence[Track]) -> Track | None:
    """The track that took up `chain`'s person right after it: unseen along the chain,
    then seen within UNSEEN_TAKEN_S of its end and UNSEEN_LINK_M of its last detection
    (the nearest such track); None if none did."""
    first, last = chain[0], chain[-1]
    best: Track | None = None
    best_m = UNSEEN_LINK_M
    for track in tracks:
        points = _points_since(track, first.t)
        if any(pt.seen for pt in points if pt.t <= last.t):
            continue
        after = next(
            (pt for pt in points if last.t < pt.t <= last.t + UNSEEN_TAKEN_S and pt.seen),
            None,
        )
        if after is None:
            continue
        gap = math.hypot(after.x - last.x, after.y - last.y)
        if gap <= best_m:
            best, best_m = track, gap
    return best


def shoulders(
    at: tuple[float, float], target: tuple[float, float, float]
) -> list[tuple[float, float]]:
    """Where the two arms start for someone at `at` facing the target: SHOULDER_HALF_M to
    either side of the centre."""
    x, y = at
    dx, dy = target[0] - x, target[1] - y
    norm = math.hypot(dx, dy) or 1.0
    px, py = -dy / norm * SHOULDER_HALF_M, dx / norm * SHOULDER_HALF_M
    return [(x + px, y + py), (x - px, y - py)]


def exclusive_arm_share(
    geo: CameraGeometry,
    scale: float,
    diff: np.ndarray,
    *,
    target: tuple[float, float, float],
    at: tuple[float, float],
    rivals: list[tuple[float, float]],
    threshold: int,
) -> float | None:
    """Share of foreground (`diff` above `threshold`) among the arm samples exclusive to the
    candidate standing at `at`, in one difference image of camera `geo` downscaled by
    `scale`, for the better of its two arms; None when neither arm has MIN_EXCLUSIVE_SAMPLES
    exclusive samples in front of the camera.

    An arm's samples lie on the segment from one shoulder to the hand `target`, on its part
    outside the body (farther than BODY_RADIUS_M from the centre, and than OWN_BODY_M from
    the body in the image). A sample is exclusive when, in the image, it lies farther than
    ARM_WIDTH_M from both arm segments of every rival (the other candidates' positions at
    that moment) and farther than BODY_RADIUS_M from every rival's body, and inside the
    image.
    """
    s = np.array(ARM_SAMPLES)
    n = len(s)
    x, y = at
    tx, ty, tz = target
    z = SHOULDER_M + (tz - SHOULDER_M) * s
    own = [
        np.column_stack([sx + (tx - sx) * s, sy + (ty - sy) * s, z])
        for sx, sy in shoulders(at, target)
    ]
    bodies = [[bx, by, h] for bx, by in (at, *rivals) for h in (0.1, 1.8)]
    arms = [
        point
        for rival in rivals
        for sx, sy in shoulders(rival, target)
        for point in ([sx, sy, SHOULDER_M], list(target))
    ]
    points = np.concatenate([*own, np.array(bodies + arms).reshape(-1, 3)])
    px, front = geo.project(points)
    px = px / scale
    h, w = diff.shape
    body_px = BODY_RADIUS_M * geo.pixels_per_m(1.2) / scale
    arm_px = ARM_WIDTH_M * geo.pixels_per_m(SHOULDER_M) / scale
    own_px = OWN_BODY_M * geo.pixels_per_m(1.2) / scale
    clearances = [(2 * n + 2 * b, body_px if b else own_px) for b in range(len(rivals) + 1)] + [
        (2 * n + 2 * (len(rivals) + 1) + 2 * a, arm_px) for a in range(2 * len(rivals))
    ]
    best: float | None = None
    for side, samples in enumerate(own):
        arm = px[side * n : (side + 1) * n]
        if not front[side * n : (side + 1) * n].all():
            continue
        usable = np.hypot(samples[:, 0] - x, samples[:, 1] - y) > BODY_RADIUS_M
        usable &= (arm[:, 0] >= 0) & (arm[:, 0] <= w - 1) & (arm[:, 1] >= 0) & (arm[:, 1] <= h - 1)
        for i, clearance in clearances:
            if front[i] and front[i + 1]:
                usable &= _segment_distance(arm, px[i], px[i + 1]) > clearance
        if usable.sum() < MIN_EXCLUSIVE_SAMPLES:
            continue
        u = np.round(arm[usable, 0]).astype(int)
        v = np.round(arm[usable, 1]).astype(int)
        share = float((diff[v, u] > threshold).mean())
        best = share if best is None else max(best, share)
    return best


def hand_codes(
    geo: CameraGeometry,
    scale: float,
    frame: np.ndarray,
    diff: np.ndarray,
    gain: float,
    *,
    target: tuple[float, float, float],
    threshold: int,
) -> np.ndarray | None:
    """Colour bins (see `appearance.colour_codes`) of the foreground pixels of a full
    `frame` within SLEEVE_RADIUS_M of the hand `target` in the image, the foreground read
    from `diff` (downscaled by `scale`); None when they cover fewer than
    MIN_HAND_DIFF_PIXELS pixels of `diff`."""
    uv = geo.project_point(*target)
    if uv is None:
        return None
    u, v = uv
    r = SLEEVE_RADIUS_M * float(geo.pixels_per_m(target[2]))
    h, w = frame.shape[:2]
    x0, x1 = max(0, math.floor(u - r)), min(w, math.ceil(u + r) + 1)
    y0, y1 = max(0, math.floor(v - r)), min(h, math.ceil(v + r) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inside = (xs - u) ** 2 + (ys - v) ** 2 <= r * r
    dh, dw = diff.shape
    rows = np.minimum((ys / scale).astype(int), dh - 1)
    cols = np.minimum((xs / scale).astype(int), dw - 1)
    hand = inside & (diff[rows, cols] > threshold)
    if int(np.count_nonzero(hand)) < MIN_HAND_DIFF_PIXELS * scale * scale:
        return None
    codes: np.ndarray = colour_codes(frame[y0:y1, x0:x1], gain)[hand]
    return codes


def sleeve_evidence(looks: list[Appearance], hands: list[np.ndarray]) -> list[float]:
    """Each candidate's sleeve evidence (see the module docstring), in the order of
    `looks`, from the hand pixels' colour bins of every frame that showed a hand."""
    known = [k for k, look in enumerate(looks) if look.valid]
    out = [0.0] * len(looks)
    if len(known) < 2 or not hands:
        return out
    hists = np.array([looks[k].hist for k in known]) * (1 - SLEEVE_OTHER) + SLEEVE_OTHER / BINS
    likelihoods = hists[:, np.concatenate(hands)].mean(axis=1)
    for k, llr in zip(known, sleeve_llrs(likelihoods), strict=True):
        out[k] = llr
    return out


def sleeve_llrs(likelihoods: np.ndarray) -> list[float]:
    """Each candidate's log likelihood ratio against the mean of the others', capped at
    SLEEVE_LLR_CAP either way (0 for a single candidate: nobody to compare with)."""
    floor = 1e-3
    total = float(likelihoods.sum())
    n = len(likelihoods)
    if n < 2:
        return [0.0] * n
    out = []
    for value in likelihoods.tolist():
        others = (total - value) / (n - 1)
        llr = math.log(max(value, floor) / max(others, floor))
        out.append(max(-SLEEVE_LLR_CAP, min(SLEEVE_LLR_CAP, llr)))
    return out


def best_frames_mean(shares: list[float]) -> float:
    """The mean of the best BEST_FRAMES_SHARE of the frames' shares (at least one); 0 if
    none."""
    if not shares:
        return 0.0
    k = max(1, math.ceil(len(shares) * BEST_FRAMES_SHARE))
    return float(np.mean(sorted(shares, reverse=True)[:k]))


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    denom = float(ab @ ab)
    t = np.zeros(len(points)) if denom < 1e-9 else np.clip((points - a) @ ab / denom, 0.0, 1.0)
    closest = a + t[:, None] * ab
    distance: np.ndarray = np.hypot(*(points - closest).T)
    return distance


def reach_score(distance_m: float, arm: float | None, sleeve: float = 0.0) -> float:
    """0-1: how much this candidate looks like the one who reached.

    A logistic of arm evidence (share of the samples exclusive to this candidate, along its
    better shoulder-to-lane segment, that are foreground, in its best frames, 0-1; unknown
    when no camera saw such samples), distance (shoppers reach from 0.3-0.6 m) and sleeve
    evidence (the log likelihood ratio of the hand's colours, 0 when unknown). The arm and
    distance weights were chosen on simulated crowded stores so that two people who both
    stand at the lane and both have an arm out get close scores: a small margin, not a
    confident guess; the sleeve then tells them apart when their colours differ.
    """
    evidence = ARM_PRIOR if arm is None else arm
    z = ARM_WEIGHT * evidence - DISTANCE_WEIGHT_PER_M * (distance_m - 0.6) - 1.0
    z += SLEEVE_WEIGHT * sleeve
    return 1.0 / (1.0 + math.exp(-z))


def _scored(cands: list[ReachCandidate]) -> list[ReachCandidate]:
    """reach_score from proximity, arm and sleeve evidence, best first."""
    out = [
        replace(
            c,
            arm=round(c.arm, 3),
            reach_score=round(
                reach_score(c.distance_m, c.arm if c.arm_frames else None, c.sleeve), 3
            ),
            sleeve=round(c.sleeve, 3),
        )
        for c in cands
    ]
    out.sort(key=lambda c: (-c.reach_score, c.distance_m))
    return out
