"""Camera calibration as numpy, and the floor grid the cameras vote into.

`walkout.store.Camera` is the calibration of record (pure Python, shared with the cloud);
this module only vectorises it: many floor points at once, to the pixels of a downscaled
image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from walkout.store import Camera, Store
from walkout_edge.perception.errors import CalibrationError


class CameraGeometry:
    """Pinhole projection of one calibrated camera (store frame -> pixels)."""

    def __init__(self, camera: Camera) -> None:
        k = camera.intrinsics
        self.camera_id = camera.camera_id
        self.width, self.height = camera.resolution
        self.k = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
        self.r = np.array(camera.rotation, dtype=float)
        self.c = np.array(camera.position_m, dtype=float)
        self.fx = float(k.fx)
        self._focal = np.array([k.fx, k.fy])
        self._centre = np.array([k.cx, k.cy])
        # The same numbers as Python floats, for one point at a time.
        (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = self.r.tolist()
        self._rows = ((r00, r01, r02), (r10, r11, r12), (r20, r21, r22))
        cx, cy, cz = self.c.tolist()
        self.position = (cx, cy, cz)  # c as floats
        self._pinhole = (float(self._focal[0]), float(self._focal[1]), float(k.cx), float(k.cy))
        down = self.r @ np.array([0.0, 0.0, -1.0])
        if down[2] <= 0.05:
            raise CalibrationError(
                f"camera {camera.camera_id}: its optical axis does not look down at the floor"
            )
        # Where vertical lines meet in the image: heads lie farther from it than feet.
        self.nadir = (self.k @ down)[:2] / (self.k @ down)[2]

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (n, 2) of store points (n, 3) and whether each lies in front of the camera."""
        cam = (np.asarray(points, dtype=float) - self.c) @ self.r.T
        z = cam[:, 2]
        front = z > 1e-6
        zs = np.where(front, z, 1.0)
        px = cam[:, :2] / zs[:, None] * self._focal + self._centre
        return px, front

    def project_point(self, x: float, y: float, z: float) -> tuple[float, float] | None:
        """`project` of one point, in plain floats (the same operations in the same order,
        without numpy's overhead on a 1 x 3 array)."""
        (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = self._rows
        cx, cy, cz = self.position
        dx, dy, dz = x - cx, y - cy, z - cz
        zc = dx * r20 + dy * r21 + dz * r22
        if not zc > 1e-6:
            return None
        fx, fy, u0, v0 = self._pinhole
        return (dx * r00 + dy * r01 + dz * r02) / zc * fx + u0, (
            dx * r10 + dy * r11 + dz * r12
        ) / zc * fy + v0

    def inside(self, px: np.ndarray, front: np.ndarray, margin: float = 0.0) -> np.ndarray:
        return (
            front
            & (px[:, 0] >= margin)
            & (px[:, 0] <= self.width - 1 - margin)
            & (px[:, 1] >= margin)
            & (px[:, 1] <= self.height - 1 - margin)
        )

    def pixels_per_m(self, z: float) -> float:
        """Image scale (full resolution) of something at height z below the camera."""
        return self.fx / max(float(self.c[2]) - z, 0.05)

    def floor_point(self, u: float, v: float, z: float) -> tuple[float, float] | None:
        """Where the ray through pixel (u, v) meets the plane at height z."""
        ray = self.r.T @ np.array(
            [(u - self.k[0, 2]) / self.k[0, 0], (v - self.k[1, 2]) / self.k[1, 1], 1.0]
        )
        if abs(ray[2]) < 1e-9:
            return None
        t = (z - self.c[2]) / ray[2]
        if t <= 0:
            return None
        return float(self.c[0] + t * ray[0]), float(self.c[1] + t * ray[1])


@dataclass(frozen=True)
class FloorGrid:
    """A regular grid of floor cells; cell (i, j) is row i (y), column j (x)."""

    x0: float
    y0: float
    cell_m: float
    cols: int
    rows: int

    @classmethod
    def for_store(cls, store: Store, cell_m: float = 0.05, margin_m: float = 0.3) -> FloorGrid:
        w, d = store.floor.width_m, store.floor.depth_m
        cols = math.ceil((w + 2 * margin_m) / cell_m)
        rows = math.ceil((d + 2 * margin_m) / cell_m)
        return cls(-margin_m, -margin_m, cell_m, cols, rows)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        xs = self.x0 + (np.arange(self.cols) + 0.5) * self.cell_m
        ys = self.y0 + (np.arange(self.rows) + 0.5) * self.cell_m
        return np.meshgrid(xs, ys)

    def to_xy(self, i: float, j: float) -> tuple[float, float]:
        return self.x0 + (j + 0.5) * self.cell_m, self.y0 + (i + 0.5) * self.cell_m

    def to_cell(self, x: float, y: float) -> tuple[int, int]:
        return int((y - self.y0) / self.cell_m), int((x - self.x0) / self.cell_m)


def check_cameras(store: Store) -> None:
    """A clear error for a calibration that cannot see the floor it should."""
    if not store.cameras:
        raise CalibrationError("store.json: the store has no cameras")
    for camera in store.cameras:
        geo = CameraGeometry(camera)
        centre = geo.floor_point(geo.width / 2, geo.height / 2, 0.0)
        if centre is None:
            raise CalibrationError(f"camera {camera.camera_id}: the image centre misses the floor")
        x, y = centre
        margin = 2.0
        if not (
            -margin <= x <= store.floor.width_m + margin
            and -margin <= y <= store.floor.depth_m + margin
        ):
            raise CalibrationError(
                f"camera {camera.camera_id}: looks at ({x:.1f}, {y:.1f}) m, outside the "
                f"{store.floor.width_m:g} x {store.floor.depth_m:g} m floor (check position_m "
                "and rotation)"
            )
