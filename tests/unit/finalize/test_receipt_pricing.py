"""Receipts price like the live cart (the same function): for the same items they agree to
the minor unit, and their totals add up. Issue 6's tests/unit/test_pricing.py covers the
pricing rules themselves."""

from __future__ import annotations

from datetime import timedelta

from finalize_builders import PRICES, T0, catalog
from hypothesis import given, settings
from hypothesis import strategies as st

from walkout.cart import Receipt, ReviewStatus
from walkout.finalize.receipt import (
    RECEIPT_ISSUED,
    issue_receipt,
    receipt_id_for,
    receipt_issued_detail,
)
from walkout.pricing import price_items

# Pricing searches promotions exactly: no per-example deadline on shared CI cores.
PROPERTY = settings(max_examples=100, deadline=None)
ITEMS = st.dictionaries(st.sampled_from(sorted(PRICES)), st.integers(min_value=1, max_value=7))


def receipt_for(items: dict[str, int], include_tax: bool = True) -> Receipt:
    return issue_receipt(
        store_id="store-1",
        session_id="s-1",
        items=items,
        catalog=catalog(),
        prices_include_tax=include_tax,
        priced_at=T0,
        status=ReviewStatus.AUTO,
        issued_at=T0 + timedelta(minutes=1),
    )


@PROPERTY
@given(ITEMS, st.booleans())
def test_the_receipt_and_the_live_cart_agree_for_the_same_items(
    items: dict[str, int], include_tax: bool
) -> None:
    live = price_items(items, catalog(), prices_include_tax=include_tax, at=T0).to_cart(
        store_id="store-1", session_id="s-1", version=9, updated_at=T0
    )

    receipt = receipt_for(items, include_tax)

    assert receipt.lines == live.lines
    assert receipt.savings == live.savings
    assert receipt.taxes == live.taxes
    assert receipt.totals == live.totals


@PROPERTY
@given(ITEMS, st.booleans())
def test_receipt_totals_are_the_sum_of_their_lines(
    items: dict[str, int], include_tax: bool
) -> None:
    receipt = receipt_for(items, include_tax)
    totals = receipt.totals

    assert totals.subtotal_minor == sum(line.qty * line.unit_price_minor for line in receipt.lines)
    assert totals.subtotal_minor == sum(line.gross_minor for line in receipt.lines)
    assert totals.savings_minor == sum(s.amount_minor for s in receipt.savings)
    assert totals.tax_minor == sum(t.tax_minor for t in receipt.taxes)
    assert totals.total_minor == (
        totals.subtotal_minor - totals.savings_minor + (0 if include_tax else totals.tax_minor)
    )
    assert {line.sku: line.qty for line in receipt.lines} == items


@PROPERTY
@given(ITEMS)
def test_promotions_never_make_the_receipt_dearer_than_shelf_prices(items: dict[str, int]) -> None:
    receipt = receipt_for(items)

    assert receipt.totals.total_minor <= sum(PRICES[s][0] * n for s, n in items.items())


def test_the_multi_buy_the_shopper_saw_is_on_the_receipt() -> None:
    receipt = receipt_for({"cola": 2, "soap": 1})

    assert [(s.promotion_id, s.amount_minor) for s in receipt.savings] == [("cola-2", 98)]


def test_receipt_ids_are_deterministic_per_session() -> None:
    assert receipt_id_for("store-1", "s-1") == receipt_for({"cola": 1}).receipt_id
    assert receipt_id_for("store-1", "s-1") != receipt_id_for("store-1", "s-2")


def test_receipt_issued_carries_the_receipt_and_no_shopper_identity() -> None:
    receipt = receipt_for({"cola": 2})

    detail = receipt_issued_detail(receipt, audit=["review timed out"])

    assert RECEIPT_ISSUED == "ReceiptIssued"
    assert detail["needs_audit"] is True
    assert detail["total_minor"] == 300
    assert Receipt.model_validate(detail["receipt"]) == receipt
    assert "account" not in str(detail)
