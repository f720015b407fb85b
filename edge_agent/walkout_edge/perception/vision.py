"""The camera pipeline: frames of every camera in, tracked people on the floor out.

Per frame (the part `walkout-edge bench` times): shrink, subtract the background (not
learning where tracked people stand), carry the foreground to the floor grid at several
heights. Per time step (all cameras' frames of one instant, or whatever arrived of them):
find the peaks of the fused floor map, describe each person's colours, and step the
tracker. Frames and difference images of the last few seconds stay in memory for reach
evidence (arms into a lane) and for the JPEG crops attached to shelf events.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from walkout.store import Store
from walkout_edge.perception.appearance import Appearance, colour_codes, describe_codes
from walkout_edge.perception.foreground import BackgroundModel, ForegroundParams
from walkout_edge.perception.geometry import CameraGeometry, FloorGrid, check_cameras
from walkout_edge.perception.occupancy import VOTE_HEIGHTS_M, CameraVotes, OccupancyMap
from walkout_edge.perception.tracking import DetectionIn, Tracker, TrackerParams

SHOULDER_M = 1.35
PROTECT_RADIUS_M = 0.4
PROTECT_TOP_M = 1.95


@dataclass(frozen=True)
class VisionParams:
    foreground: ForegroundParams = field(default_factory=ForegroundParams)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    grid_cell_m: float = 0.05
    min_score: float = 0.45
    # Count the people of a crowded patch by its mass (`OccupancyMap`): off by default.
    split_crowds: bool = False
    diff_history_s: float = 8.0
    frame_history_s: float = 5.0
    frame_every: int = 2  # keep every n-th full frame for evidence crops


@dataclass
class CameraState:
    geometry: CameraGeometry
    votes: CameraVotes
    background: BackgroundModel
    diffs: deque[tuple[float, np.ndarray, float]]  # (ts, difference image, gain)
    frames: deque[tuple[float, np.ndarray]]
    frames_seen: int = 0
    last_small: np.ndarray | None = None
    last_mask: np.ndarray | None = None
    last_codes: np.ndarray | None = None  # colour codes of last_small, when first needed
    last_ts: float | None = None


class CameraPipeline:
    """Cameras -> floor detections -> tracks (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        new_track_id: Callable[[], str],
        params: VisionParams | None = None,
    ) -> None:
        check_cameras(store)
        self.params = params or VisionParams()
        self.store = store
        self.grid = FloorGrid.for_store(store, self.params.grid_cell_m)
        scale = self.params.foreground.scale
        self.cameras: dict[str, CameraState] = {}
        fps = max(c.fps for c in store.cameras)
        self.period = 1.0 / fps
        for cam in store.cameras:
            geo = CameraGeometry(cam)
            history = max(1, round(self.params.diff_history_s * cam.fps))
            keep = max(1, round(self.params.frame_history_s * cam.fps / self.params.frame_every))
            self.cameras[cam.camera_id] = CameraState(
                geometry=geo,
                votes=CameraVotes.build(geo, self.grid, scale, VOTE_HEIGHTS_M),
                background=BackgroundModel(*cam.resolution, self.params.foreground),
                diffs=deque(maxlen=history),
                frames=deque(maxlen=keep),
            )
        self.occupancy = OccupancyMap(
            self.grid,
            {cid: st.votes for cid, st in self.cameras.items()},
            min_score=self.params.min_score,
            split_crowds=self.params.split_crowds,
        )
        entry = [g.area for g in store.gates if g.kind == "entry"]
        exits = [g.area for g in store.gates if g.kind == "exit"]
        self.tracker = Tracker(entry, exits, new_track_id, self.params.tracker)
        self._slot_t: float | None = None
        self._slot_cams: set[str] = set()
        self._protect_xy: list[tuple[float, float]] = []
        self._protect_pts: np.ndarray | None = None  # built from _protect_xy when first needed
        self.steps = 0
        self.last_step_t: float | None = None
        # People the entry gates let in that no track has claimed yet (set by the pipeline).
        self.births_allowed: Callable[[float], int | None] | None = None

    # --- per frame -----------------------------------------------------------------------

    def process_frame(self, camera_id: str, ts: float, frame: np.ndarray) -> bool:
        """Take one frame; returns True when it closed a time step (the tracker moved)."""
        state = self.cameras.get(camera_id)
        if state is None:
            raise KeyError(f"camera {camera_id} is not in the store layout")
        stepped = False
        if self._slot_t is not None and (
            ts - self._slot_t >= self.period / 2 or camera_id in self._slot_cams
        ):
            self.close_step()
            stepped = True
        if self._slot_t is None:
            self._slot_t = ts
            self.occupancy.reset()
        self._slot_cams.add(camera_id)
        self.analyse(state, ts, frame)
        return stepped

    def analyse(self, state: CameraState, ts: float, frame: np.ndarray) -> None:
        """Foreground and floor votes of one frame (the per-frame cost of the pipeline)."""
        bg = state.background
        protect = self._protection(state, bg.size)
        mask, diff, small = bg.apply(frame, protect)
        self.occupancy.add(state.geometry.camera_id, state.votes.cast(mask))
        state.last_small, state.last_mask, state.last_ts = small, mask, ts
        state.last_codes = None
        state.diffs.append((ts, diff, bg.gain))
        if state.frames_seen % self.params.frame_every == 0:
            state.frames.append((ts, frame))
        state.frames_seen += 1

    def _protection(self, state: CameraState, size: tuple[int, int]) -> np.ndarray | None:
        if not self._protect_xy:
            return None
        scale = self.params.foreground.scale
        n = len(self._protect_xy)
        pts = self._protect_pts
        if pts is None:
            # Feet and head tops of the tracked people: the same for every camera of a step.
            xy = np.array(self._protect_xy)
            pts = np.concatenate(
                [
                    np.column_stack([xy, np.zeros(n)]),
                    np.column_stack([xy, np.full(n, PROTECT_TOP_M)]),
                ]
            )
            self._protect_pts = pts
        px, front = state.geometry.project(pts)
        w, h = size
        mask = np.zeros((h, w), np.uint8)
        thick = max(2, round(2 * PROTECT_RADIUS_M * state.geometry.pixels_per_m(1.5) / scale))
        # Plain floats: the same values, without numpy's per-element overhead.
        uv = (px / scale).tolist()
        ahead = front.tolist()
        for k in range(n):
            if not (ahead[k] and ahead[k + n]):
                continue
            (u0, v0), (u1, v1) = uv[k], uv[k + n]
            if max(u0, u1) < -thick or min(u0, u1) > w + thick:
                continue
            if max(v0, v1) < -thick or min(v0, v1) > h + thick:
                continue
            cv2.line(mask, (round(u0), round(v0)), (round(u1), round(v1)), 1, thick)
        return mask

    # --- per time step -------------------------------------------------------------------

    def close_step(self) -> None:
        if self._slot_t is None:
            return
        t = self._slot_t
        found = self.occupancy.detect()
        dets = [DetectionIn(x, y, s, self._look(x, y)) for x, y, s in found]
        allowed = self.births_allowed(t) if self.births_allowed is not None else None
        self.tracker.step(t, dets, allowed)
        # Only tracked people are protected from being learnt into the background: a
        # detection nobody explains may be a ghost, which must be allowed to heal.
        self._protect_xy = [tr.xy for tr in self.tracker.active() if tr.confirmed]
        self._protect_pts = None
        self.last_step_t = t
        self._slot_t = None
        self._slot_cams = set()
        self.steps += 1

    @property
    def step_time(self) -> float | None:
        return self._slot_t

    def _look(self, x: float, y: float) -> Appearance:
        best: CameraState | None = None
        best_d = math.inf
        i, j = self.grid.to_cell(x, y)
        for cid in self._slot_cams:
            st = self.cameras[cid]
            v = st.votes
            if not (v.rows.start <= i < v.rows.stop and v.cols.start <= j < v.cols.stop):
                continue
            if v.weight[i - v.rows.start, j - v.cols.start] <= 0:
                continue
            cx, cy, _ = st.geometry.position
            d = math.hypot(x - cx, y - cy)
            if d < best_d:
                best, best_d = st, d
        if best is None or best.last_small is None or best.last_mask is None:
            return Appearance()
        scale = self.params.foreground.scale
        uv = best.geometry.project_point(x, y, SHOULDER_M)
        if uv is None:
            return Appearance()
        radius = 0.25 * best.geometry.pixels_per_m(SHOULDER_M) / scale
        if best.last_codes is None:
            best.last_codes = colour_codes(best.last_small, best.background.gain)
        return describe_codes(
            best.last_codes, best.last_mask, uv[0] / scale, uv[1] / scale, radius_px=radius
        )

    # --- look-ups for reach evidence -----------------------------------------------------

    def diffs_between(self, camera_id: str, t0: float, t1: float) -> list[tuple[float, np.ndarray]]:
        st = self.cameras[camera_id]
        return [(ts, d) for ts, d, _ in st.diffs if t0 <= ts <= t1]

    def frames_between(
        self, camera_id: str, t0: float, t1: float
    ) -> list[tuple[float, np.ndarray, np.ndarray, float]]:
        """The kept full frames between t0 and t1, each with its difference image and the
        lighting gain it was taken under: `(ts, frame, diff, gain)`."""
        st = self.cameras[camera_id]
        diffs = {ts: (d, gain) for ts, d, gain in st.diffs if t0 <= ts <= t1}
        return [
            (ts, frame, *diffs[ts]) for ts, frame in st.frames if t0 <= ts <= t1 and ts in diffs
        ]

    def frame_near(self, camera_id: str, t: float) -> tuple[float, np.ndarray] | None:
        st = self.cameras[camera_id]
        best = None
        for ts, frame in st.frames:
            if best is None or abs(ts - t) < abs(best[0] - t):
                best = (ts, frame)
        return best
