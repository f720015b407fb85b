"""What attribution needs to know about a store, derived once from its definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from walkout.catalog import Product
from walkout.definition import StoreDefinition

# Lanes whose fronts lie this close (same shelf, any level) may hold each other's stock.
NEIGHBOUR_DISTANCE_M = 0.8


@dataclass(frozen=True)
class Floor:
    """Products, each lane's planogram SKU and the SKUs of the lanes around it."""

    store_id: str
    products: Mapping[str, Product]
    home_sku: Mapping[str, str]  # lane -> planogram sku (lanes without one are absent)
    shelf_of_lane: Mapping[str, str]
    neighbour_skus: Mapping[str, tuple[str, ...]]  # lane -> skus of nearby lanes
    prices_include_tax: bool
    _lanes: frozenset[str] = field(default=frozenset())

    @classmethod
    def of(cls, definition: StoreDefinition) -> Floor:
        store = definition.store
        home = definition.planogram.sku_by_lane()
        neighbours = {}
        for lane_id in store.lanes():
            near = store.neighbour_lanes(lane_id, NEIGHBOUR_DISTANCE_M)
            skus = sorted({home[n] for n in near if n in home} - {home.get(lane_id)})
            neighbours[lane_id] = tuple(s for s in skus if s is not None)
        return cls(
            store_id=store.store_id,
            products=definition.catalog.by_sku(),
            home_sku=home,
            shelf_of_lane={lane: shelf.shelf_id for lane, shelf in store.shelf_of().items()},
            neighbour_skus=neighbours,
            prices_include_tax=store.prices_include_tax,
            _lanes=frozenset(store.lanes()),
        )

    def has_lane(self, lane_id: str) -> bool:
        return lane_id in self._lanes
