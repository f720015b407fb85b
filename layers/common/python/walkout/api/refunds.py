"""What taking disputed units off a receipt refunds (pure).

The refund is the difference between two totals priced by `walkout.pricing.price_items`,
the function that priced the live cart and the receipt: the units still charged now, and
the same without the disputed units. Both are priced with the receipt's own prices, tax
rates and the promotions it applied (so a catalog change since the visit changes
nothing), which makes the refund exactly what the receipt would have said without those
units: a multi-buy the shopper no longer qualifies for is undone in the refund, never
charged on top. The refund never exceeds what is still charged.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from walkout.cart import Receipt
from walkout.catalog import Catalog, Product, TaxClass
from walkout.pricing import price_items

# Weights matter to ingest, not to pricing; catalog entries rebuilt from a receipt line
# need some valid value.
_ANY_WEIGHT_G = 1.0


def charged_units(receipt: Receipt) -> dict[str, int]:
    """Units per SKU the receipt still charges (its lines less what adjustments took off)."""
    taken: Counter[str] = Counter()
    for adjustment in receipt.adjustments:
        for line in adjustment.lines:
            taken[line.sku] += line.qty
    return {line.sku: line.qty - taken[line.sku] for line in receipt.lines}


def receipt_catalog(receipt: Receipt, current: Catalog) -> Catalog:
    """A catalog that prices like the receipt: its lines' prices and tax classes, its tax
    rates, and those of the store's promotions the receipt applied, always active."""
    rates = {t.tax_class: t.rate_bp for t in receipt.taxes}
    names = {t.tax_class: t.name for t in current.tax_classes}
    products = {p.sku: p for p in current.products if p.currency == receipt.currency}
    for line in receipt.lines:
        products[line.sku] = Product(
            sku=line.sku,
            name=line.name,
            price_minor=line.unit_price_minor,
            currency=receipt.currency,
            unit_weight_g=_ANY_WEIGHT_G,
            weight_tolerance_g=0.0,
            tax_class=line.tax_class,
        )
    applied = {s.promotion_id for s in receipt.savings}
    promotions = [
        p.model_copy(update={"valid_from": None, "valid_to": None})
        for p in current.promotions
        if p.promotion_id in applied
    ]
    classes = {p.tax_class for p in products.values()}
    current_rates = current.tax_rates()
    return Catalog(
        currency=receipt.currency,
        tax_classes=[
            TaxClass(
                tax_class=c,
                name=names.get(c, c),
                rate_bp=rates.get(c, current_rates.get(c, 0)),
            )
            for c in sorted(classes)
        ],
        products=list(products.values()),
        promotions=promotions,
    )


def refund_for(receipt: Receipt, sku: str, qty: int, current: Catalog, *, at: datetime) -> int:
    """Minor units refunded for taking `qty` x `sku` off `receipt` (its latest version).
    Raises ValueError when the receipt does not charge that many."""
    units = charged_units(receipt)
    if units.get(sku, 0) < qty:
        raise ValueError(
            f"the receipt charges {units.get(sku, 0)} x {sku}; {qty} cannot be taken off"
        )
    catalog = receipt_catalog(receipt, current)
    include_tax = receipt.totals.tax_included
    before = price_items(units, catalog, prices_include_tax=include_tax, at=at)
    after_units = {**units, sku: units[sku] - qty}
    after = price_items(after_units, catalog, prices_include_tax=include_tax, at=at)
    still_charged = receipt.totals.total_minor - receipt.refunded_minor
    refund = before.totals.total_minor - after.totals.total_minor
    return max(0, min(refund, still_charged))
