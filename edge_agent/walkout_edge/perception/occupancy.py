"""Person detection on the floor: every camera's foreground votes for where people stand.

An overhead camera sees a standing person as a streak along the line from the image's
nadir (where vertical lines meet) outwards: feet nearest the nadir, head farthest. Taken
back to the floor through the calibration at one height h, the streak lands on the
person's true (x, y) only with the body part at height h; the rest smears along the ray.
So each camera's foreground is carried to the floor grid at several heights (ankles to
head) and added up: the true position collects a vote from every height, a smear only
from one or two. The same sum over cameras fuses overlapping views, and two people close
together still give two peaks as long as they are apart by more than a body's width.

Each camera votes only where it sees a person whole (head height inside its image), so a
person at the edge of one view, cut in half, is counted by the neighbouring camera
instead; the sum is divided by the number of cameras that voted (a dropped frame simply
has one voter less).

In a crowd, people closer than a body's width make one plateau with fewer peaks than
people. What the plateau weighs still counts them: each person adds about the same mass
of score (the sum of the map over a patch of floor). So the map learns what one person
weighs (the median mass of the patches with a single peak: nearly always one person) and
gives a patch that weighs clearly more people than it has peaks the missing ones, where
its mass is not yet explained: the peaks stay, the new people are the centres of a
weighted k-means over the patch. This is off unless asked for (`split_crowds`;
`VisionParams.split_crowds`): it tracks a crowd better, but the local benchmark did not
yet gain enough from it for what it costs (docs/edge-perception.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from walkout_edge.perception.geometry import CameraGeometry, FloorGrid

# Ankles to the top of the head of a 1.5-1.95 m shopper.
VOTE_HEIGHTS_M: tuple[float, ...] = (0.3, 0.65, 1.0, 1.3, 1.55)
HEAD_TOP_M = 1.85
# A patch holds int(mass / (ratio * one person's mass) + rounding) people. Set on the blob
# study of stadium-rush 23 (docs/edge-perception.md): a patch of two to forty people
# weighed 89-103 per person there (median by count), 1.2-1.38 times the median
# single-peak patch (74).
CROWD_MASS_RATIO = 1.2
CROWD_ROUNDING = 0.35
SINGLE_MASSES_KEPT = 2000
SINGLE_MASSES_MIN = 50


_GRADED = np.zeros((0, 0), np.uint8)  # marks a camera whose weights are not all 0 or 1


@dataclass(frozen=True)
class Detection:
    x: float
    y: float
    score: float  # 0-1: share of heights and cameras that saw someone here
    colour: tuple[float, float, float] = (0.0, 0.0, 0.0)  # shoulders' mean BGR, gain-normalised


@dataclass
class CameraVotes:
    """Precomputed floor -> image maps of one camera, restricted to what it sees whole."""

    geometry: CameraGeometry
    scale: int
    rows: slice
    cols: slice
    maps: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    @classmethod
    def build(
        cls, geometry: CameraGeometry, grid: FloorGrid, scale: int, heights: tuple[float, ...]
    ) -> CameraVotes:
        gx, gy = grid.centres()
        flat = np.stack([gx.ravel(), gy.ravel()], axis=1)

        def seen(z: float, margin: float) -> np.ndarray:
            pts = np.column_stack([flat, np.full(len(flat), z)])
            px, front = geometry.project(pts)
            inside: np.ndarray = geometry.inside(px, front, margin).reshape(gx.shape)
            return inside

        whole = seen(0.0, 1.0) & seen(HEAD_TOP_M, 1.0)
        if not whole.any():
            whole = seen(1.0, 1.0)
        ii, jj = np.nonzero(whole)
        if len(ii) == 0:
            return cls(geometry, scale, slice(0, 0), slice(0, 0))
        rows = slice(int(ii.min()), int(ii.max()) + 1)
        cols = slice(int(jj.min()), int(jj.max()) + 1)
        sub_x, sub_y = gx[rows, cols], gy[rows, cols]
        votes = cls(geometry, scale, rows, cols)
        votes.weight = whole[rows, cols].astype(np.float32)
        for z in heights:
            pts = np.column_stack([sub_x.ravel(), sub_y.ravel(), np.full(sub_x.size, z)])
            px, front = geometry.project(pts)
            px = np.where(front[:, None], px, -100.0) / scale
            mx = px[:, 0].reshape(sub_x.shape).astype(np.float32)
            my = px[:, 1].reshape(sub_x.shape).astype(np.float32)
            votes.maps.append(cv2.convertMaps(mx, my, cv2.CV_16SC2))
        return votes

    def cast(self, mask: np.ndarray) -> np.ndarray:
        """Votes (0..len(heights)) of one foreground mask (0/1 values) over this camera's ROI."""
        if self.maps and mask.ndim == 2 and cv2.countNonZero(mask) == 0:
            # Nobody in view: no votes anywhere (what the maps would give, without them).
            return np.zeros(self.maps[0][0].shape[:2], mask.dtype)
        total: np.ndarray | None = None
        for m1, m2 in self.maps:
            warped = cv2.remap(
                mask, m1, m2, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
            )
            total = warped if total is None else cv2.add(total, warped)
        assert total is not None
        return total


class OccupancyMap:
    """The floor grid the cameras of one time step vote into, and the people it shows."""

    def __init__(
        self,
        grid: FloorGrid,
        cameras: dict[str, CameraVotes],
        *,
        heights: tuple[float, ...] = VOTE_HEIGHTS_M,
        min_score: float = 0.45,
        nms_radius_m: float = 0.2,
        blur_m: float = 0.075,
        split_crowds: bool = False,
    ) -> None:
        self.grid = grid
        self.split_crowds = split_crowds
        # Masses of the latest single-peak patches; their median is one person's mass.
        self._single_masses: deque[float] = deque(maxlen=SINGLE_MASSES_KEPT)
        self.cameras = cameras
        self.heights = heights
        self.min_score = min_score
        self.blur_cells = blur_m / grid.cell_m
        self._votes = np.zeros((grid.rows, grid.cols), np.float32)
        self._cover = np.zeros((grid.rows, grid.cols), np.float32)
        r = max(1, round(nms_radius_m / grid.cell_m))
        self._nms = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        self.last_score: np.ndarray | None = None
        self._seen: dict[str, np.ndarray] = {}  # per camera: where its weight is 1

    def reset(self) -> None:
        self._votes.fill(0)
        self._cover.fill(0)

    def add(self, camera_id: str, votes: np.ndarray) -> None:
        cam = self.cameras[camera_id]
        w = cam.weight
        seen = self._seen.get(camera_id)
        if seen is None:
            # Where a camera sees whole people its weight is 1, elsewhere 0: so its votes
            # add where it sees (the same sums, in one call).
            w01 = bool(np.all((w == 0) | (w == 1)))
            seen = self._seen[camera_id] = (w > 0).astype(np.uint8) if w01 else _GRADED
        if seen is _GRADED:
            self._votes[cam.rows, cam.cols] += votes.astype(np.float32) * w
        else:
            cv2.accumulate(votes, self._votes[cam.rows, cam.cols], mask=seen)
        self._cover[cam.rows, cam.cols] += w

    def detect(self) -> list[tuple[float, float, float]]:
        """Peaks of the fused map: (x, y, score) of each person-sized concentration."""
        cover = self._cover
        score = np.divide(
            self._votes,
            cover * len(self.heights),
            out=np.zeros_like(self._votes),
            where=cover > 0,
        )
        score = cv2.GaussianBlur(score, (0, 0), self.blur_cells)
        self.last_score = score
        peaks = (score >= cv2.dilate(score, self._nms)) & (score >= self.min_score)
        out: list[tuple[float, float, float]] = []
        # Peak cell and refined position, for counting crowded patches (when that is on).
        cells: list[tuple[int, int, float, float]] = []
        ii, jj = np.nonzero(peaks)
        rows, cols = score.shape
        for i, j in zip(ii.tolist(), jj.tolist(), strict=True):
            i0, i1, j0, j1 = max(0, i - 2), min(rows, i + 3), max(0, j - 2), min(cols, j + 3)
            patch = score[i0:i1, j0:j1]
            wsum = float(patch.sum())
            if wsum <= 0:
                continue
            pi = float((patch.sum(axis=1) * np.arange(i0, i1)).sum() / wsum)
            pj = float((patch.sum(axis=0) * np.arange(j0, j1)).sum() / wsum)
            x, y = self.grid.to_xy(pi, pj)
            out.append((x, y, float(score[i, j])))
            if self.split_crowds:
                cells.append((i, j, pi, pj))
        if cells:
            out.extend(self._crowded(score, cells))
        return out

    def person_mass(self) -> float | None:
        """What one person weighs in the map (the median mass of single-peak patches), once
        enough patches were seen; None before."""
        if len(self._single_masses) < SINGLE_MASSES_MIN:
            return None
        return float(np.median(self._single_masses))

    def _crowded(
        self, score: np.ndarray, peaks: list[tuple[int, int, float, float]]
    ) -> list[tuple[float, float, float]]:
        """The people of crowded patches beyond their peaks (see the module docstring)."""
        above = (score >= self.min_score).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
        mass = np.bincount(labels.ravel(), weights=score.ravel(), minlength=count)
        by_patch: dict[int, list[tuple[float, float]]] = {}
        for i, j, pi, pj in peaks:
            by_patch.setdefault(int(labels[i, j]), []).append((pi, pj))
        for label, found in by_patch.items():
            if len(found) == 1:
                self._single_masses.append(float(mass[label]))
        one = self.person_mass()
        if one is None:
            return []
        out: list[tuple[float, float, float]] = []
        for label, found in by_patch.items():
            people = int(mass[label] / (CROWD_MASS_RATIO * one) + CROWD_ROUNDING)
            if people <= len(found):
                continue
            x0, y0 = stats[label, cv2.CC_STAT_LEFT], stats[label, cv2.CC_STAT_TOP]
            w, h = stats[label, cv2.CC_STAT_WIDTH], stats[label, cv2.CC_STAT_HEIGHT]
            box = labels[y0 : y0 + h, x0 : x0 + w] == label
            ii, jj = np.nonzero(box)
            weights = score[y0 : y0 + h, x0 : x0 + w][box].astype(np.float64)
            points = np.column_stack([ii + y0, jj + x0]).astype(np.float64)
            for (pi, pj), top in split_patch(points, weights, found, people):
                x, y = self.grid.to_xy(pi, pj)
                out.append((x, y, top))
        return out


def split_patch(
    points: np.ndarray,
    weights: np.ndarray,
    fixed: list[tuple[float, float]],
    people: int,
    rounds: int = 8,
) -> list[tuple[tuple[float, float], float]]:
    """Centres of `people - len(fixed)` more people in a patch of cells (`points`, (n, 2),
    with `weights`): a weighted k-means whose first centres (`fixed`, the peaks) do not
    move. New centres start where the weight is farthest from every centre; each is
    returned with the highest weight of its cells (an empty cluster gives nothing)."""
    centres = [np.array(c, dtype=np.float64) for c in fixed]
    nearest = np.full(len(points), np.inf)
    for c in centres:
        nearest = np.minimum(nearest, ((points - c) ** 2).sum(axis=1))
    while len(centres) < people:
        start = points[int(np.argmax(weights * nearest))].copy()
        centres.append(start)
        nearest = np.minimum(nearest, ((points - start) ** 2).sum(axis=1))
    at = np.array(centres)
    n_fixed = len(fixed)
    owner = np.zeros(len(points), dtype=np.int64)
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 is the same for every centre: left out.
    moving = np.arange(len(at)) >= n_fixed
    for _ in range(rounds):
        owner = ((at * at).sum(axis=1)[None, :] - 2.0 * (points @ at.T)).argmin(axis=1)
        mass = np.bincount(owner, weights=weights, minlength=len(at))
        move = moving & (mass > 0)
        for axis in (0, 1):
            total = np.bincount(owner, weights=weights * points[:, axis], minlength=len(at))
            at[move, axis] = total[move] / mass[move]
    out = []
    for k in range(n_fixed, len(at)):
        mine = owner == k
        if mine.any():
            out.append(((float(at[k, 0]), float(at[k, 1])), float(weights[mine].max())))
    return out
