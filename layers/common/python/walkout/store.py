"""The store model: floor, cameras with calibration, shelves, lanes, load cells, gates.

Coordinates are floor metres in the store frame: x to the east, y to the north, z up,
origin at the south-west corner. This module is pure (no numpy) so that it runs in the
Lambda layer as well as on the edge box and in the simulator.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from walkout._base import CurrencyCode, Identifier, Model

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
Vector3 = tuple[float, float, float]
Positive = Annotated[float, Field(gt=0)]


class Point(Model):
    x: float
    y: float


class Rect(Model):
    """An axis-aligned floor rectangle."""

    x0: float
    y0: float
    x1: float
    y1: float

    @model_validator(mode="after")
    def _ordered(self) -> Rect:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError("rectangle needs x0 < x1 and y0 < y1")
        return self

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        return (
            self.x0 - margin <= x <= self.x1 + margin and self.y0 - margin <= y <= self.y1 + margin
        )

    @property
    def center(self) -> Point:
        return Point(x=(self.x0 + self.x1) / 2, y=(self.y0 + self.y1) / 2)


def _matmul_vec(m: Matrix3, v: Vector3) -> Vector3:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


def _transpose(m: Matrix3) -> Matrix3:
    return (
        (m[0][0], m[1][0], m[2][0]),
        (m[0][1], m[1][1], m[2][1]),
        (m[0][2], m[1][2], m[2][2]),
    )


class CameraIntrinsics(Model):
    """Pinhole intrinsics in pixels (no lens distortion: overhead cameras are rectified)."""

    fx: Positive
    fy: Positive
    cx: float
    cy: float


class Camera(Model):
    """An overhead camera and its calibration (image <-> floor).

    `rotation` maps store-frame directions into the camera frame (x right, y down in the
    image, z along the optical axis); `position_m` is the camera centre in the store frame.
    """

    camera_id: Identifier
    resolution: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]
    fps: Positive
    intrinsics: CameraIntrinsics
    rotation: Matrix3
    position_m: Vector3

    @model_validator(mode="after")
    def _rotation_is_orthonormal(self) -> Camera:
        r = self.rotation
        for i in range(3):
            for j in range(3):
                dot = sum(r[i][k] * r[j][k] for k in range(3))
                if abs(dot - (1.0 if i == j else 0.0)) > 1e-6:
                    raise ValueError("rotation must be an orthonormal 3x3 matrix")
        # An orthonormal matrix with determinant -1 is a mirror, the usual result of a flipped
        # image axis in a calibration; it would map floor points to the wrong side.
        det = (
            r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
            - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
            + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0])
        )
        if det < 0:
            raise ValueError("rotation must be a proper rotation (determinant +1), not a mirror")
        if self.position_m[2] <= 0:
            raise ValueError("position_m: a camera must hang above the floor (z > 0)")
        return self

    @classmethod
    def overhead(
        cls,
        camera_id: str,
        *,
        x: float,
        y: float,
        height_m: float,
        resolution: tuple[int, int],
        fps: float,
        hfov_deg: float,
        yaw_deg: float = 0.0,
    ) -> Camera:
        """A camera looking straight down; at yaw 0 image right is east, image up is north."""
        width, height = resolution
        f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
        rotation: Matrix3 = ((c, s, 0.0), (s, -c, 0.0), (0.0, 0.0, -1.0))
        return cls(
            camera_id=camera_id,
            resolution=resolution,
            fps=fps,
            intrinsics=CameraIntrinsics(fx=f, fy=f, cx=width / 2, cy=height / 2),
            rotation=rotation,
            position_m=(x, y, height_m),
        )

    def floor_to_image(self, x: float, y: float, z: float = 0.0) -> tuple[float, float] | None:
        """Pixel of a store-frame point, or None when it is behind the camera."""
        px, py, pz = self.position_m
        cam = _matmul_vec(self.rotation, (x - px, y - py, z - pz))
        if cam[2] <= 1e-9:
            return None
        k = self.intrinsics
        return (k.fx * cam[0] / cam[2] + k.cx, k.fy * cam[1] / cam[2] + k.cy)

    def image_to_floor(self, u: float, v: float, z: float = 0.0) -> tuple[float, float] | None:
        """Store-frame (x, y) where the pixel's ray meets the plane at height z."""
        k = self.intrinsics
        ray_cam = ((u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0)
        ray = _matmul_vec(_transpose(self.rotation), ray_cam)
        px, py, pz = self.position_m
        if abs(ray[2]) < 1e-12:
            return None
        t = (z - pz) / ray[2]
        if t <= 0:
            return None
        return (px + t * ray[0], py + t * ray[1])

    def floor_homography(self, z: float = 0.0) -> Matrix3:
        """3x3 homography from image pixels to store (x, y) on the plane at height z."""
        k = self.intrinsics
        k_inv: Matrix3 = (
            (1 / k.fx, 0.0, -k.cx / k.fx),
            (0.0, 1 / k.fy, -k.cy / k.fy),
            (0.0, 0.0, 1.0),
        )
        rt = _transpose(self.rotation)
        # ray(u,v) = Rt K^-1 [u v 1]; X = C + t ray with t = (z - Cz) / ray_z, so
        # [X Y 1] ~ [Cx*rz + (z-Cz)*rx, Cy*rz + (z-Cz)*ry, rz] (rz = ray_z, up to scale).
        m = tuple(
            tuple(sum(rt[i][j] * k_inv[j][c] for j in range(3)) for c in range(3)) for i in range(3)
        )
        px, py, pz = self.position_m
        dz = z - pz
        rows = (
            tuple(px * m[2][c] + dz * m[0][c] for c in range(3)),
            tuple(py * m[2][c] + dz * m[1][c] for c in range(3)),
            tuple(m[2][c] for c in range(3)),
        )
        return rows  # type: ignore[return-value]


class Facing(StrEnum):
    """The side of a shelf that shoppers stand on to reach into it."""

    NORTH = "north"
    SOUTH = "south"
    EAST = "east"
    WEST = "west"


class LoadCell(Model):
    cell_id: Identifier
    hub_id: Identifier
    rate_hz: Positive
    capacity_g: Positive = 20_000.0


class Lane(Model):
    """A lane of one product on a shelf level, weighed by its own load cell."""

    lane_id: Identifier
    level: Annotated[int, Field(ge=0)]
    height_m: Annotated[float, Field(ge=0)]
    front_center: Point
    width_m: Positive
    load_cell: LoadCell
    capacity_units: Annotated[int, Field(gt=0)] = 12


class Shelf(Model):
    shelf_id: Identifier
    aisle: Annotated[int, Field(ge=0)]
    footprint: Rect
    facing: Facing
    lanes: list[Lane]

    @model_validator(mode="after")
    def _unique_lanes(self) -> Shelf:
        ids = [lane.lane_id for lane in self.lanes]
        if len(ids) != len(set(ids)):
            raise ValueError(f"shelf {self.shelf_id}: lane ids repeat")
        return self


class Gate(Model):
    gate_id: Identifier
    kind: Literal["entry", "exit"]
    area: Rect


class Floor(Model):
    width_m: Positive
    depth_m: Positive


class Store(Model):
    """A store's physical layout."""

    store_id: Identifier
    retailer_id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    currency: CurrencyCode
    timezone: str = "UTC"
    prices_include_tax: bool = True
    reach_m: Positive = 0.7
    floor: Floor
    cameras: list[Camera]
    shelves: list[Shelf]
    gates: list[Gate]

    @model_validator(mode="after")
    def _consistent(self) -> Store:
        seen: set[str] = set()
        for kind, ids in (
            ("camera", [c.camera_id for c in self.cameras]),
            ("shelf", [s.shelf_id for s in self.shelves]),
            ("lane", [ln.lane_id for s in self.shelves for ln in s.lanes]),
            ("load cell", [ln.load_cell.cell_id for s in self.shelves for ln in s.lanes]),
            ("gate", [g.gate_id for g in self.gates]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{kind} ids repeat: {', '.join(dupes)}")
            seen.update(ids)
        if not any(g.kind == "entry" for g in self.gates):
            raise ValueError("gates: a store needs at least one entry gate")
        if not any(g.kind == "exit" for g in self.gates):
            raise ValueError("gates: a store needs at least one exit gate")
        return self

    def lanes(self) -> dict[str, Lane]:
        return {lane.lane_id: lane for shelf in self.shelves for lane in shelf.lanes}

    def shelf_of(self) -> dict[str, Shelf]:
        """Lane id -> the shelf it sits on."""
        return {lane.lane_id: shelf for shelf in self.shelves for lane in shelf.lanes}

    def neighbour_lanes(self, lane_id: str, max_distance_m: float = 0.8) -> list[str]:
        """Lanes of the same shelf whose fronts lie within `max_distance_m`, nearest first."""
        shelf = self.shelf_of()[lane_id]
        here = self.lanes()[lane_id].front_center
        near = [
            (math.hypot(o.front_center.x - here.x, o.front_center.y - here.y), o.lane_id)
            for o in shelf.lanes
            if o.lane_id != lane_id
        ]
        return [lid for d, lid in sorted(near) if d <= max_distance_m]
