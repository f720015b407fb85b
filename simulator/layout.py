"""Store layout from a scenario: gondolas, shelves, lanes with load cells, gates, cameras.

Gondolas run north-south. The front (south) of the store holds the entry gate (west) and
the exit gate (east) and a cross aisle; a second cross aisle runs along the back. Each
walking aisle has shelf units on both sides: a wall gondola on the outer walls and
back-to-back gondolas between aisles. Each shelf unit has three levels of lanes, each lane
on its own load cell; the load cells of a shelf unit share one hub (and its clock).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.scenario import Scenario, ScenarioError
from walkout.store import (
    Camera,
    Facing,
    Floor,
    Gate,
    Lane,
    LoadCell,
    Point,
    Rect,
    Shelf,
    Store,
)

FRONT_ZONE_M = 2.2  # gates and the front cross aisle
BACK_ZONE_M = 1.3
SHELF_DEPTH_M = 0.45
SHELF_TOP_M = 1.8
MIN_AISLE_M = 1.1  # two shoppers (0.45 m shoulders) can pass
MIN_UNIT_M = 0.6
LEVEL_HEIGHTS_M = (0.25, 0.85, 1.45)
GATE_WIDTH_M = 1.0
GATE_DEPTH_M = 0.8
# Rectified wide-angle overhead cameras; coverage is planned at head height so that every
# shopper is seen whole by at least one camera.
HFOV_DEG = 110.0
HEAD_HEIGHT_M = 1.75


@dataclass(frozen=True)
class Layout:
    store: Store
    entry_point: tuple[float, float]
    exit_point: tuple[float, float]


def _camera_grid(length_m: float, footprint_m: float, overlap: float) -> list[float]:
    if length_m <= footprint_m:
        return [length_m / 2]
    step = footprint_m * (1 - overlap)
    count = math.ceil((length_m - footprint_m) / step - 1e-9) + 1
    return [footprint_m / 2 + i * (length_m - footprint_m) / (count - 1) for i in range(count)]


def plan_cameras(scenario: Scenario) -> list[Camera]:
    spec, store = scenario.cameras, scenario.store
    width_px, height_px = spec.resolution
    if spec.height_m <= HEAD_HEIGHT_M + 0.5:
        raise ScenarioError(
            f"scenario cameras.height_m: must be >= {HEAD_HEIGHT_M + 0.5} to see heads from above"
        )
    half = math.tan(math.radians(HFOV_DEG) / 2)
    reach_down = spec.height_m - HEAD_HEIGHT_M
    footprint_w = 2 * reach_down * half
    footprint_h = footprint_w * height_px / width_px
    xs = _camera_grid(store.width_m, footprint_w, spec.overlap)
    ys = _camera_grid(store.depth_m, footprint_h, spec.overlap)
    cameras = []
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            cameras.append(
                Camera.overhead(
                    f"cam-{j * len(xs) + i + 1}",
                    x=round(x, 3),
                    y=round(y, 3),
                    height_m=spec.height_m,
                    resolution=(width_px, height_px),
                    fps=spec.fps,
                    hfov_deg=HFOV_DEG,
                )
            )
    return cameras


def _lanes(
    shelf_id: str, facing: Facing, footprint: Rect, count: int, rate_hz: float
) -> list[Lane]:
    levels = min(len(LEVEL_HEIGHTS_M), count)
    per_level = [count // levels + (1 if lvl < count % levels else 0) for lvl in range(levels)]
    front = footprint.x1 if facing is Facing.EAST else footprint.x0
    lanes = []
    for level, n in enumerate(per_level):
        width = (footprint.y1 - footprint.y0) / n
        for pos in range(n):
            lane_id = f"{shelf_id}-l{level}-p{pos}"
            lanes.append(
                Lane(
                    lane_id=lane_id,
                    level=level,
                    height_m=LEVEL_HEIGHTS_M[level],
                    front_center=Point(
                        x=round(front, 3), y=round(footprint.y0 + width * (pos + 0.5), 3)
                    ),
                    width_m=round(width, 3),
                    load_cell=LoadCell(
                        cell_id=f"lc-{lane_id}", hub_id=f"hub-{shelf_id}", rate_hz=rate_hz
                    ),
                )
            )
    return lanes


def build_layout(scenario: Scenario) -> Layout:
    spec = scenario.store
    aisles = spec.aisles
    shelf_depth_total = 2 * SHELF_DEPTH_M * aisles
    aisle_w = (spec.width_m - shelf_depth_total) / aisles
    if aisle_w < MIN_AISLE_M or spec.width_m < 2 * (GATE_WIDTH_M + 1.0):
        need = max(shelf_depth_total + MIN_AISLE_M * aisles, 2 * (GATE_WIDTH_M + 1.0))
        raise ScenarioError(
            f"scenario store.width_m: {spec.width_m:g} m is too narrow for {aisles} aisles "
            f"(needs >= {need:.1f} m)"
        )
    west_count = math.ceil(spec.shelves_per_aisle / 2)
    east_count = spec.shelves_per_aisle - west_count
    run = spec.depth_m - FRONT_ZONE_M - BACK_ZONE_M
    if run < MIN_UNIT_M * west_count:
        need = FRONT_ZONE_M + BACK_ZONE_M + MIN_UNIT_M * west_count
        raise ScenarioError(
            f"scenario store.depth_m: {spec.depth_m:g} m is too short for "
            f"{spec.shelves_per_aisle} shelf units per aisle (needs >= {need:.1f} m)"
        )
    rate = scenario.loadcells.rate_hz
    shelves: list[Shelf] = []
    for a in range(aisles):
        aisle_x0 = SHELF_DEPTH_M + a * (aisle_w + 2 * SHELF_DEPTH_M)
        aisle_x1 = aisle_x0 + aisle_w
        for side, count, facing, x0, x1 in (
            ("w", west_count, Facing.EAST, aisle_x0 - SHELF_DEPTH_M, aisle_x0),
            ("e", east_count, Facing.WEST, aisle_x1, aisle_x1 + SHELF_DEPTH_M),
        ):
            if count == 0:
                continue
            unit = run / count
            for u in range(count):
                shelf_id = f"a{a + 1}-{side}{u + 1}"
                y0 = FRONT_ZONE_M + u * unit
                footprint = Rect(
                    x0=round(x0, 3), y0=round(y0, 3), x1=round(x1, 3), y1=round(y0 + unit, 3)
                )
                shelves.append(
                    Shelf(
                        shelf_id=shelf_id,
                        aisle=a,
                        footprint=footprint,
                        facing=facing,
                        lanes=_lanes(shelf_id, facing, footprint, spec.lanes_per_shelf, rate),
                    )
                )
    gates = [
        Gate(
            gate_id="entry-1",
            kind="entry",
            area=Rect(x0=0.6, y0=0.0, x1=0.6 + GATE_WIDTH_M, y1=GATE_DEPTH_M),
        ),
        Gate(
            gate_id="exit-1",
            kind="exit",
            area=Rect(
                x0=round(spec.width_m - 0.6 - GATE_WIDTH_M, 3),
                y0=0.0,
                x1=round(spec.width_m - 0.6, 3),
                y1=GATE_DEPTH_M,
            ),
        ),
    ]
    store = Store(
        store_id=f"sim-{scenario.name}"[:64],
        retailer_id="sim-retailer",
        name=f"Simulated store ({scenario.name})",
        currency="EUR",
        reach_m=0.7,
        floor=Floor(width_m=spec.width_m, depth_m=spec.depth_m),
        cameras=plan_cameras(scenario),
        shelves=shelves,
        gates=gates,
    )
    return Layout(
        store=store,
        entry_point=(0.6 + GATE_WIDTH_M / 2, 0.35),
        exit_point=(spec.width_m - 0.6 - GATE_WIDTH_M / 2, 0.35),
    )


def facing_normal(facing: Facing) -> tuple[float, float]:
    """Unit vector from the shelf front into the aisle (where the shopper stands)."""
    return {
        Facing.EAST: (1.0, 0.0),
        Facing.WEST: (-1.0, 0.0),
        Facing.NORTH: (0.0, 1.0),
        Facing.SOUTH: (0.0, -1.0),
    }[facing]
