"""Catalog, tax classes, planogram and promotions: what a store sells and where.

Prices are integers in the currency's minor unit (cents, pence); rates are basis points
(1 bp = 0.01 %), so no float ever touches money.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, HttpUrl, model_validator

from walkout._base import CurrencyCode, Identifier, MinorUnits, Model

BasisPoints = Annotated[int, Field(ge=0, le=10_000)]


class TaxClass(Model):
    tax_class: Identifier
    name: Annotated[str, Field(min_length=1, max_length=100)]
    rate_bp: BasisPoints


class Product(Model):
    """One catalog entry (a SKU)."""

    sku: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    price_minor: MinorUnits
    currency: CurrencyCode
    unit_weight_g: Annotated[float, Field(gt=0)]
    weight_tolerance_g: Annotated[float, Field(ge=0)]
    tax_class: Identifier
    image_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _tolerance_below_weight(self) -> Product:
        if self.weight_tolerance_g >= self.unit_weight_g:
            raise ValueError("weight_tolerance_g must be smaller than unit_weight_g")
        return self


class PlanogramEntry(Model):
    lane_id: Identifier
    sku: Identifier
    initial_units: Annotated[int, Field(ge=0)] = 0


class Planogram(Model):
    """Which SKU each lane holds (one SKU per lane)."""

    entries: list[PlanogramEntry]

    @model_validator(mode="after")
    def _one_sku_per_lane(self) -> Planogram:
        lanes = [e.lane_id for e in self.entries]
        dupes = sorted({lane for lane in lanes if lanes.count(lane) > 1})
        if dupes:
            raise ValueError(f"planogram: lanes listed twice: {', '.join(dupes)}")
        return self

    def sku_by_lane(self) -> dict[str, str]:
        return {e.lane_id: e.sku for e in self.entries}


class _PromotionBase(Model):
    promotion_id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None

    def active_at(self, when: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= when) and (
            self.valid_to is None or when < self.valid_to
        )


class MultiBuy(_PromotionBase):
    """`buy_qty` units from `skus` (mixable) for `price_minor` together, e.g. 3 for 5.00."""

    kind: Literal["multi_buy"] = "multi_buy"
    skus: Annotated[list[Identifier], Field(min_length=1)]
    buy_qty: Annotated[int, Field(ge=2)]
    price_minor: MinorUnits


class Bundle(_PromotionBase):
    """One unit from each component group for `price_minor`, e.g. sandwich + drink + snack."""

    kind: Literal["bundle"] = "bundle"
    components: Annotated[
        list[Annotated[list[Identifier], Field(min_length=1)]], Field(min_length=2)
    ]
    price_minor: MinorUnits


class PercentOff(_PromotionBase):
    """`percent_bp` off each unit of `skus`."""

    kind: Literal["percent_off"] = "percent_off"
    skus: Annotated[list[Identifier], Field(min_length=1)]
    percent_bp: Annotated[int, Field(gt=0, le=10_000)]


Promotion = Annotated[MultiBuy | Bundle | PercentOff, Field(discriminator="kind")]


class Catalog(Model):
    currency: CurrencyCode
    tax_classes: list[TaxClass]
    products: list[Product]
    promotions: list[Promotion] = []

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        skus = [p.sku for p in self.products]
        dupes = sorted({s for s in skus if skus.count(s) > 1})
        if dupes:
            raise ValueError(f"products: skus repeat: {', '.join(dupes)}")
        class_ids = [t.tax_class for t in self.tax_classes]
        dupes = sorted({c for c in class_ids if class_ids.count(c) > 1})
        if dupes:
            # Two rates for one class would make the tax of a line depend on list order.
            raise ValueError(f"tax_classes: tax classes repeat: {', '.join(dupes)}")
        promotion_ids = [p.promotion_id for p in self.promotions]
        dupes = sorted({p for p in promotion_ids if promotion_ids.count(p) > 1})
        if dupes:
            raise ValueError(f"promotions: promotion ids repeat: {', '.join(dupes)}")
        classes = set(class_ids)
        for p in self.products:
            if p.tax_class not in classes:
                raise ValueError(f"product {p.sku}: unknown tax_class {p.tax_class!r}")
            if p.currency != self.currency:
                raise ValueError(f"product {p.sku}: currency {p.currency} is not {self.currency}")
        known = set(skus)
        for promo in self.promotions:
            named = (
                [s for group in promo.components for s in group]
                if isinstance(promo, Bundle)
                else promo.skus
            )
            unknown = sorted(set(named) - known)
            if unknown:
                raise ValueError(
                    f"promotion {promo.promotion_id}: unknown skus {', '.join(unknown)}"
                )
        return self

    def by_sku(self) -> dict[str, Product]:
        return {p.sku: p for p in self.products}

    def tax_rates(self) -> dict[str, int]:
        return {t.tax_class: t.rate_bp for t in self.tax_classes}
