"""Issuing a receipt (pure): the same pricing as the live cart, and the `ReceiptIssued`
event.

A receipt is priced with `walkout.pricing.price_items`, the function that priced the live
cart, at the time of the cart's last change: for an unreviewed session the receipt is then
the cart the shopper last saw, to the minor unit, savings included. Reviewed receipts are
priced at the same time, so a correction changes items, never the promotions in force.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from walkout.cart import Receipt, ReviewStatus
from walkout.catalog import Catalog
from walkout.pricing import price_items

RECEIPT_SOURCE: Final = "walkout.finalize"
RECEIPT_ISSUED: Final = "ReceiptIssued"


def receipt_id_for(store_id: str, session_id: str) -> str:
    """Deterministic, so a retried step issues the same receipt, never a second one."""
    return "rc-" + hashlib.sha256(f"{store_id}#{session_id}".encode()).hexdigest()[:29]


def issue_receipt(
    *,
    store_id: str,
    session_id: str,
    items: Mapping[str, int],
    catalog: Catalog,
    prices_include_tax: bool,
    priced_at: datetime,
    status: ReviewStatus,
    issued_at: datetime,
) -> Receipt:
    """Version 1 of the session's receipt."""
    priced = price_items(items, catalog, prices_include_tax=prices_include_tax, at=priced_at)
    cart = priced.to_cart(store_id=store_id, session_id=session_id, version=0, updated_at=priced_at)
    return Receipt.from_cart(
        cart,
        receipt_id=receipt_id_for(store_id, session_id),
        review_status=status,
        issued_at=issued_at,
    )


def receipt_issued_detail(receipt: Receipt, *, audit: Sequence[str] = ()) -> dict[str, Any]:
    """The `ReceiptIssued` event's detail: the receipt as the shopper's app shows it (no
    shopper identity: consumers look the shopper up by session, as for `CartUpdated`)."""
    return {
        "receipt_id": receipt.receipt_id,
        "store_id": receipt.store_id,
        "session_id": receipt.session_id,
        "version": receipt.version,
        "review_status": receipt.review_status.value,
        "needs_audit": bool(audit),
        "total_minor": receipt.totals.total_minor,
        "currency": receipt.currency,
        "receipt": receipt.model_dump(mode="json"),
    }
