"""A small store for attribution tests: one shelf of six lanes (two levels of three).

lane   sku        unit weight   tolerance
L1     cola       355 g         5 g
L2     chips      150 g         4 g
L3     soap       410 g         6 g
L4     juice      1000 g        10 g
L5     tea        152 g         4 g     (nearly the weight of chips)
L6     candy      60 g          2 g
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from walkout.catalog import Catalog, Planogram, PlanogramEntry, Product, TaxClass
from walkout.definition import StoreDefinition
from walkout.events import ShelfChanged, make_event
from walkout.store import (
    Camera,
    Gate,
    Lane,
    LoadCell,
    Point,
    Rect,
    Shelf,
    Store,
)
from walkout.store import (
    Floor as StoreFloor,
)

T0 = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)
PRODUCTS = {
    "cola": (355.0, 5.0, 199),
    "chips": (150.0, 4.0, 249),
    "soap": (410.0, 6.0, 349),
    "juice": (1000.0, 10.0, 299),
    "tea": (152.0, 4.0, 399),
    "candy": (60.0, 2.0, 99),
}
LANES = {"L1": "cola", "L2": "chips", "L3": "soap", "L4": "juice", "L5": "tea", "L6": "candy"}


def small_definition() -> StoreDefinition:
    lanes = []
    for i, lane_id in enumerate(LANES):
        level, col = divmod(i, 3)
        lanes.append(
            Lane(
                lane_id=lane_id,
                level=level,
                height_m=0.4 + 0.6 * level,
                front_center=Point(x=1.0 + 0.4 * col, y=2.0),
                width_m=0.35,
                load_cell=LoadCell(cell_id=f"cell-{lane_id}", hub_id="hub-1", rate_hz=20),
            )
        )
    store = Store(
        store_id="store-1",
        retailer_id="retailer-1",
        name="Small store",
        currency="EUR",
        floor=StoreFloor(width_m=6, depth_m=5),
        cameras=[
            Camera.overhead(
                "cam-1", x=3, y=2.5, height_m=3.5, resolution=(640, 480), fps=10, hfov_deg=90
            )
        ],
        shelves=[
            Shelf(
                shelf_id="S1",
                aisle=0,
                footprint=Rect(x0=0.8, y0=2.0, x1=2.2, y1=2.5),
                facing="south",
                lanes=lanes,
            )
        ],
        gates=[
            Gate(gate_id="in", kind="entry", area=Rect(x0=0, y0=0, x1=1, y1=0.5)),
            Gate(gate_id="out", kind="exit", area=Rect(x0=5, y0=0, x1=6, y1=0.5)),
        ],
    )
    catalog = Catalog(
        currency="EUR",
        tax_classes=[TaxClass(tax_class="std", name="Standard", rate_bp=2000)],
        products=[
            Product(
                sku=sku,
                name=sku.title(),
                price_minor=price,
                currency="EUR",
                unit_weight_g=weight,
                weight_tolerance_g=tol,
                tax_class="std",
            )
            for sku, (weight, tol, price) in PRODUCTS.items()
        ],
    )
    planogram = Planogram(
        entries=[
            PlanogramEntry(lane_id=lane, sku=sku, initial_units=10) for lane, sku in LANES.items()
        ]
    )
    return StoreDefinition(store=store, catalog=catalog, planogram=planogram)


ShelfEventFactory = Callable[..., ShelfChanged]


def _checked(track_id: str, same_person: Mapping[str, float]) -> dict[str, float]:
    """The edge's identity check of a candidate, when the test gives one."""
    if track_id not in same_person:
        return {}
    return {"same_person_probability": same_person[track_id]}


def shelf_event_factory() -> ShelfEventFactory:
    """Build a `shelf.changed` on a lane with (track, session, reach, distance) candidates."""
    counter = iter(range(1, 1_000_000))

    def make(
        lane_id: str,
        delta_g: float,
        candidates: list[tuple[str, str | None, float, float]],
        *,
        at_s: float = 10.0,
        noise_g: float = 1.5,
        same_person: Mapping[str, float] | None = None,
    ) -> ShelfChanged:
        n = next(counter)
        t = T0 + timedelta(seconds=at_s)
        data: dict[str, Any] = {
            "shelf_id": "S1",
            "lane_id": lane_id,
            "delta_g": delta_g,
            "t_start": t - timedelta(seconds=1),
            "t_end": t,
            "noise_g": noise_g,
            "candidates": [
                {"track_id": tr, "session_id": s, "reach_score": r, "distance_m": d}
                | _checked(tr, same_person or {})
                for tr, s, r, d in candidates
            ],
            "evidence": [],
        }
        event = make_event(
            "shelf.changed", data, store_id="store-1", device_id="edge-1", seq=n, ts=t
        )
        assert isinstance(event, ShelfChanged)
        return event

    return make
