"""Request and response models of the HTTP API (the contract in docs/openapi.json).

Inputs never carry what the server decides: store ids are minted, the retailer comes from
the caller's token, a product's currency is the store's. Outputs are built from domain
objects by the `*_out` functions, never from stored items.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, HttpUrl

from walkout._base import CurrencyCode, Identifier, MinorUnits, Model
from walkout.cart import CartLine, Saving, TaxLine, Totals
from walkout.catalog import Catalog, Planogram, PlanogramEntry, Product, Promotion, TaxClass
from walkout.data.catalog_admin import StoredStore, StoreListing
from walkout.data.sessions import CartRecord, SessionRecord
from walkout.store import Camera, Floor, Gate, Positive, Shelf, Store

MAX_BULK_PRODUCTS = 500


# --- inputs -------------------------------------------------------------------------------
class StoreLayoutIn(Model):
    """A store's physical layout as a retailer sends it (no store or retailer id)."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    currency: CurrencyCode
    timezone: str = "UTC"
    prices_include_tax: bool = True
    reach_m: Positive = 0.7
    floor: Floor
    cameras: list[Camera]
    shelves: list[Shelf]
    gates: list[Gate]


class StoreDefinitionIn(Model):
    """A whole store: layout, catalog (tax classes, products, promotions) and planogram."""

    store: StoreLayoutIn
    catalog: Catalog
    planogram: Planogram = Planogram(entries=[])


class ProductIn(Model):
    """A SKU's catalog entry; the SKU is the path's, the currency the store's."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    price_minor: MinorUnits
    unit_weight_g: Annotated[float, Field(gt=0)]
    weight_tolerance_g: Annotated[float, Field(ge=0)]
    tax_class: Identifier
    image_url: HttpUrl | None = None


class BulkProductIn(ProductIn):
    sku: Identifier


class BulkImportIn(Model):
    """Products to create or replace, all or nothing."""

    products: Annotated[list[BulkProductIn], Field(min_length=1, max_length=MAX_BULK_PRODUCTS)]


class PlanogramIn(Model):
    entries: list[PlanogramEntry]


# --- outputs ------------------------------------------------------------------------------
class StoreSummaryOut(Model):
    store_id: str
    name: str
    currency: str
    version: int
    updated_at: datetime


class StoreListOut(Model):
    items: list[StoreSummaryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class StoreLayoutOut(StoreLayoutIn):
    store_id: str
    retailer_id: str


class StoreDefinitionOut(Model):
    store_id: str
    version: int
    updated_at: datetime
    store: StoreLayoutOut
    catalog: Catalog
    planogram: Planogram


class ProductOut(Model):
    sku: str
    name: str
    price_minor: int
    currency: str
    unit_weight_g: float
    weight_tolerance_g: float
    tax_class: str
    image_url: str | None


class ProductListOut(Model):
    items: list[ProductOut]
    next_cursor: str | None


class BulkImportOut(Model):
    created: int
    replaced: int
    version: int


class PlanogramOut(Model):
    store_id: str
    version: int
    entries: list[PlanogramEntry]


class PromotionOut(Model):
    promotion: Promotion
    version: int


class PromotionListOut(Model):
    items: list[Promotion]
    next_cursor: str | None


class TaxClassesOut(Model):
    items: list[TaxClass]


class LiveCartOut(Model):
    """What the shopper sees while shopping: lines, savings, taxes and totals."""

    store_id: str
    session_id: str
    status: str
    currency: str
    lines: list[CartLine]
    savings: list[Saving]
    taxes: list[TaxLine]
    totals: Totals
    version: int = Field(description="grows with every change the shopper can see")
    updated_at: datetime


class ProblemErrorOut(Model):
    loc: str
    msg: str


class ProblemOut(Model):
    """An error (RFC 9457), served as `application/problem+json`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemErrorOut] | None = None


def summary_out(listing: StoreListing) -> StoreSummaryOut:
    return StoreSummaryOut(
        store_id=listing.store_id,
        name=listing.name,
        currency=listing.currency,
        version=listing.version,
        updated_at=listing.updated_at,
    )


def layout_out(store: Store) -> StoreLayoutOut:
    return StoreLayoutOut.model_validate(store.model_dump())


def definition_out(stored: StoredStore) -> StoreDefinitionOut:
    d = stored.definition
    return StoreDefinitionOut(
        store_id=d.store.store_id,
        version=stored.version,
        updated_at=stored.updated_at,
        store=layout_out(d.store),
        catalog=d.catalog,
        planogram=d.planogram,
    )


def product_out(product: Product) -> ProductOut:
    return ProductOut(
        sku=product.sku,
        name=product.name,
        price_minor=product.price_minor,
        currency=product.currency,
        unit_weight_g=product.unit_weight_g,
        weight_tolerance_g=product.weight_tolerance_g,
        tax_class=product.tax_class,
        image_url=str(product.image_url) if product.image_url else None,
    )


def live_cart_out(session: SessionRecord, record: CartRecord) -> LiveCartOut:
    # Only the priced cart leaves: never the account token, tracks or attribution factors.
    cart = record.cart
    return LiveCartOut(
        store_id=cart.store_id,
        session_id=cart.session_id,
        status=str(session.status.value),
        currency=cart.currency,
        lines=cart.lines,
        savings=cart.savings,
        taxes=cart.taxes,
        totals=cart.totals,
        version=cart.version,
        updated_at=cart.updated_at,
    )
