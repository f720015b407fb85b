"""A generated catalog and planogram: realistic weights and prices, tax classes, promotions.

Products come in families (one product in several flavours). A flavour weighs what its base
weighs to within its tolerance, so the two cannot be told apart by weight alone, and a
family always sits together on one shelf: `similar_weight_fraction` of the catalog are such
flavours. Weights run from chewing gum (~20 g) to detergent (~3 kg).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.rng import stream
from simulator.scenario import Scenario
from walkout.catalog import (
    Bundle,
    Catalog,
    MultiBuy,
    PercentOff,
    Planogram,
    PlanogramEntry,
    Product,
    TaxClass,
)
from walkout.store import Store

CURRENCY = "EUR"
TAX_CLASSES = (
    TaxClass(tax_class="standard", name="Standard rate", rate_bp=2000),
    TaxClass(tax_class="reduced", name="Reduced rate (food)", rate_bp=700),
    TaxClass(tax_class="zero", name="Zero rate (basic food)", rate_bp=0),
)


@dataclass(frozen=True)
class Category:
    name: str
    kind: str  # drink, snack, meal or other: the bundle and multi-buy use it
    weight_g: tuple[float, float]
    price_minor: tuple[int, int]
    tax_class: str
    units_per_lane: int
    colour_bgr: tuple[int, int, int]


CATEGORIES = (
    Category("cola 330ml can", "drink", (345, 360), (110, 180), "standard", 12, (40, 30, 200)),
    Category("energy drink 250ml", "drink", (270, 285), (150, 260), "standard", 12, (40, 200, 220)),
    Category("water 500ml", "drink", (515, 530), (80, 150), "standard", 10, (230, 190, 120)),
    Category("water 1.5l", "drink", (1540, 1580), (120, 220), "standard", 6, (240, 200, 140)),
    Category("orange juice 1l", "drink", (1050, 1090), (190, 350), "reduced", 6, (30, 150, 250)),
    Category("beer 6x330ml", "drink", (2080, 2180), (590, 990), "standard", 4, (40, 120, 170)),
    Category("crisps 40g", "snack", (44, 50), (90, 160), "reduced", 20, (60, 200, 240)),
    Category("crisps 150g", "snack", (158, 168), (180, 290), "reduced", 12, (50, 170, 230)),
    Category("chocolate bar", "snack", (42, 58), (80, 160), "reduced", 24, (40, 60, 110)),
    Category("candy bag", "snack", (150, 210), (150, 260), "reduced", 12, (180, 80, 220)),
    Category("chewing gum", "snack", (16, 30), (90, 180), "standard", 30, (200, 220, 90)),
    Category("sandwich", "meal", (180, 260), (290, 550), "reduced", 8, (150, 200, 230)),
    Category("salad bowl", "meal", (260, 360), (350, 650), "reduced", 6, (60, 170, 70)),
    Category("wrap", "meal", (200, 240), (320, 520), "reduced", 8, (110, 180, 210)),
    Category("yoghurt", "meal", (128, 136), (60, 140), "zero", 16, (230, 230, 240)),
    Category("milk 2l", "other", (2070, 2110), (140, 230), "zero", 4, (245, 245, 245)),
    Category("pasta 500g", "other", (506, 516), (90, 190), "zero", 10, (70, 190, 230)),
    Category("canned soup", "other", (420, 440), (120, 260), "reduced", 10, (50, 50, 180)),
    Category("coffee 250g", "other", (262, 278), (390, 790), "reduced", 10, (30, 60, 90)),
    Category("detergent 3kg", "other", (3020, 3180), (890, 1490), "standard", 3, (200, 120, 40)),
    Category("batteries 4-pack", "other", (96, 108), (390, 890), "standard", 16, (20, 20, 20)),
    Category("toothpaste", "other", (118, 140), (190, 390), "standard", 14, (200, 60, 40)),
)
FLAVOURS = (
    "original", "salted", "paprika", "cheese", "lime", "zero", "cherry", "vanilla",
    "mint", "chili", "berry", "classic", "light", "extra",
)  # fmt: skip
BRANDS = ("Nordic", "Sunny", "Alba", "Kite", "Vesta", "Polar", "Rondo", "Maple", "Orca", "Lumo")


@dataclass(frozen=True)
class ProductInfo:
    """What the simulator knows about a SKU beyond the catalog entry."""

    category: Category
    family: int
    colour_bgr: tuple[int, int, int]
    units_per_lane: int


@dataclass(frozen=True)
class Assortment:
    catalog: Catalog
    planogram: Planogram
    info: dict[str, ProductInfo]


def _tolerance(weight_g: float) -> float:
    """Pack-to-pack spread: 1.5 % of the weight, at least 1 g (filling machines)."""
    return round(max(1.0, 0.015 * weight_g), 1)


def _families(
    scenario: Scenario, rng: np.random.Generator
) -> tuple[list[list[Product]], list[Category]]:
    size = scenario.store.catalog_size
    variants = round(scenario.store.similar_weight_fraction * size)
    bases = max(1, size - variants)
    variants = size - bases
    families: list[list[Product]] = []
    categories: list[Category] = []
    per_family = np.zeros(bases, dtype=int)
    for _ in range(variants):
        # Families stay small (at most 4 flavours) so that one fits on a shelf level.
        open_ = np.flatnonzero(per_family < 3)
        per_family[rng.choice(open_ if len(open_) else np.arange(bases))] += 1
    sku_no = 0
    for f in range(bases):
        cat = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        brand = BRANDS[int(rng.integers(len(BRANDS)))]
        weight = round(float(rng.uniform(*cat.weight_g)), 1)
        price = int(rng.integers(cat.price_minor[0], cat.price_minor[1] + 1)) // 5 * 5 + 5 - 1
        flavours = rng.permutation(len(FLAVOURS))
        family = []
        for v in range(int(per_family[f]) + 1):
            sku_no += 1
            tol = _tolerance(weight)
            # A flavour differs by less than its tolerance: weight alone cannot tell them apart.
            w = weight if v == 0 else round(weight + float(rng.uniform(-0.6, 0.6)) * tol, 1)
            family.append(
                Product(
                    sku=f"sku-{sku_no:04d}",
                    name=f"{brand} {cat.name} {FLAVOURS[int(flavours[v % len(FLAVOURS)])]}",
                    price_minor=price,
                    currency=CURRENCY,
                    unit_weight_g=w,
                    weight_tolerance_g=tol,
                    tax_class=cat.tax_class,
                )
            )
        families.append(family)
        categories.append(cat)
    return families, categories


def _product_info(
    families: list[list[Product]], categories: list[Category], rng: np.random.Generator
) -> dict[str, ProductInfo]:
    info = {}
    for f, (family, cat) in enumerate(zip(families, categories, strict=True)):
        for v, product in enumerate(family):
            base = np.array(cat.colour_bgr, dtype=float)
            shade = base * (0.75 + 0.5 * rng.random()) + (rng.random(3) - 0.5) * 60 + v * 25
            colour = tuple(int(c) for c in np.clip(shade, 10, 245))
            cap = max(1, min(cat.units_per_lane, int(18_000 // product.unit_weight_g)))
            info[product.sku] = ProductInfo(cat, f, (colour[0], colour[1], colour[2]), cap)
    return info


def _promotions(
    families: list[list[Product]], info: dict[str, ProductInfo], rng: np.random.Generator
) -> list[MultiBuy | Bundle | PercentOff]:
    products = [p for fam in families for p in fam]
    by_kind: dict[str, list[Product]] = {}
    for p in products:
        by_kind.setdefault(info[p.sku].category.kind, []).append(p)
    # Multi-buy on the drinks (or, lacking any, the largest group): 3 for the price of ~2.4.
    pool = by_kind.get("drink") or max(by_kind.values(), key=len)
    chosen = [p for p in pool if rng.random() < 0.6] or pool[:1]
    unit = min(p.price_minor for p in chosen)
    multi = MultiBuy(
        promotion_id="promo-3for",
        name="Any 3 drinks for less",
        skus=sorted(p.sku for p in chosen),
        buy_qty=3,
        price_minor=int(unit * 3 * 0.8) // 5 * 5,
    )
    # Meal deal: a meal, a drink and a snack; any missing group is filled from the rest.
    groups = []
    rest = list(products)
    for kind in ("meal", "drink", "snack"):
        members = by_kind.get(kind, [])
        if members:
            groups.append(members)
    while len(groups) < 2:
        groups.append(rest[len(groups) :: 2] or rest)
    cheapest = sum(min(p.price_minor for p in g) for g in groups)
    bundle = Bundle(
        promotion_id="promo-mealdeal",
        name="Meal deal",
        components=[sorted(p.sku for p in g) for g in groups],
        price_minor=max(1, int(cheapest * 0.85)) // 5 * 5,
    )
    picks = rng.choice(len(products), size=max(1, min(4, len(products) // 6)), replace=False)
    percent = PercentOff(
        promotion_id="promo-20off",
        name="20 % off this week",
        skus=sorted(products[int(i)].sku for i in picks),
        percent_bp=2000,
    )
    return [multi, bundle, percent]


def build_assortment(scenario: Scenario, store: Store) -> tuple[Assortment, Store]:
    """The catalog and planogram, and the store with each lane's capacity set to its product."""
    rng = stream(scenario.seed, "catalog")
    families, categories = _families(scenario, rng)
    info = _product_info(families, categories, rng)
    catalog = Catalog(
        currency=CURRENCY,
        tax_classes=list(TAX_CLASSES),
        products=[p for fam in families for p in fam],
        promotions=_promotions(families, info, rng),
    )
    entries: list[PlanogramEntry] = []
    order = list(rng.permutation(len(families)))
    cursor = 0
    for shelf in store.shelves:
        levels: dict[int, list[str]] = {}
        for lane in shelf.lanes:
            levels.setdefault(lane.level, []).append(lane.lane_id)
        free = [lid for level in sorted(levels) for lid in levels[level]]
        # Whole families onto this shelf, in order, until its lanes are full; when the
        # catalog runs out it starts over (popular products get several lanes).
        while free:
            fam = families[int(order[cursor % len(order)])]
            cursor += 1
            if cursor % len(order) == 0:
                order = list(rng.permutation(len(families)))
            for product in fam[: len(free)]:
                lane_id = free.pop(0)
                cap = info[product.sku].units_per_lane
                entries.append(
                    PlanogramEntry(
                        lane_id=lane_id,
                        sku=product.sku,
                        initial_units=int(rng.integers(max(1, cap * 3 // 4), cap + 1)),
                    )
                )
    capacity = {e.lane_id: info[e.sku].units_per_lane for e in entries}
    shelves = [
        shelf.model_copy(
            update={
                "lanes": [
                    lane.model_copy(update={"capacity_units": capacity[lane.lane_id]})
                    for lane in shelf.lanes
                ]
            }
        )
        for shelf in store.shelves
    ]
    store = store.model_copy(update={"shelves": shelves})
    return Assortment(catalog=catalog, planogram=Planogram(entries=entries), info=info), store
