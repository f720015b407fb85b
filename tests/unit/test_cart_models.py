"""Cart and receipt models: the arithmetic every pricing result must satisfy."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from walkout.cart import AdjustedLine, Cart, Receipt, ReviewStatus

ISSUED = datetime(2026, 11, 25, 18, 10, tzinfo=UTC)


def cart_doc() -> dict[str, Any]:
    """A consistent tax-inclusive cart: 2 x sandwich (3 for 2 saving 50) and 1 x water.

    Sandwiches: 2 x 250 = 500, less a 50 saving = 450 taxable at 20 % inclusive = 75 tax.
    Water: 120, zero-rated. Subtotal 620, savings 50, total 570.
    """
    return {
        "store_id": "store-042",
        "session_id": "sess-1",
        "currency": "EUR",
        "lines": [
            {
                "sku": "sandwich",
                "name": "Cheese sandwich",
                "qty": 2,
                "unit_price_minor": 250,
                "gross_minor": 500,
                "tax_class": "standard",
            },
            {
                "sku": "water",
                "name": "Still water 0.5 l",
                "qty": 1,
                "unit_price_minor": 120,
                "gross_minor": 120,
                "tax_class": "zero",
            },
        ],
        "savings": [
            {
                "promotion_id": "meal-deal",
                "name": "Lunch deal",
                "amount_minor": 50,
                "skus": ["sandwich"],
            }
        ],
        "taxes": [
            {"tax_class": "standard", "rate_bp": 2000, "taxable_minor": 450, "tax_minor": 75},
            {"tax_class": "zero", "rate_bp": 0, "taxable_minor": 120, "tax_minor": 0},
        ],
        "totals": {
            "subtotal_minor": 620,
            "savings_minor": 50,
            "tax_minor": 75,
            "total_minor": 570,
            "tax_included": True,
        },
        "version": 3,
        "updated_at": "2026-11-25T18:05:00.000Z",
    }


def receipt_doc() -> dict[str, Any]:
    doc = cart_doc()
    del doc["updated_at"]
    doc.update(
        receipt_id="rcpt-1",
        review_status="auto",
        version=1,
        issued_at="2026-11-25T18:10:00.000Z",
        adjustments=[],
    )
    return doc


def rejected(model: type[Cart] | type[Receipt], doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(doc)
    return str(caught.value)


# --- carts -----------------------------------------------------------------------------------


def test_a_consistent_cart_is_accepted() -> None:
    cart = Cart.model_validate(cart_doc())
    assert cart.totals.total_minor == 570
    assert cart.updated_at == datetime(2026, 11, 25, 18, 5, tzinfo=UTC)


def test_an_empty_cart_is_all_zeros() -> None:
    doc = cart_doc()
    doc.update(lines=[], savings=[], taxes=[], version=0)
    doc["totals"] = {
        "subtotal_minor": 0,
        "savings_minor": 0,
        "tax_minor": 0,
        "total_minor": 0,
        "tax_included": True,
    }
    assert Cart.model_validate(doc).lines == []


def test_a_cart_read_back_from_dynamodb_with_decimals_is_accepted() -> None:
    # Given the cart as DynamoDB returns it: every number a Decimal
    doc = cart_doc()
    for line in doc["lines"]:
        for key in ("qty", "unit_price_minor", "gross_minor"):
            line[key] = Decimal(line[key])
    doc["totals"]["total_minor"] = Decimal(570)
    doc["version"] = Decimal(3)
    # Then it validates to the same cart
    assert Cart.model_validate(doc) == Cart.model_validate(cart_doc())


def test_a_cart_survives_a_json_round_trip() -> None:
    cart = Cart.model_validate(cart_doc())
    text = cart.model_dump_json()
    assert '"updated_at":"2026-11-25T18:05:00.000Z"' in text
    assert Cart.model_validate_json(text) == cart


def test_tax_added_on_top_counts_in_the_total() -> None:
    # Given shelf prices without tax: 450 taxable at 20 % adds 90
    doc = cart_doc()
    doc["taxes"][0]["tax_minor"] = 90
    doc["totals"].update(tax_minor=90, total_minor=660, tax_included=False)
    # Then the total is subtotal - savings + tax
    assert Cart.model_validate(doc).totals.total_minor == 660
    # And leaving the tax out of the total is caught
    doc["totals"]["total_minor"] = 570
    assert "total_minor 570 is not subtotal - savings + tax = 660" in rejected(Cart, doc)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["lines"][0].update(gross_minor=490),
            "line sandwich: gross_minor 490 is not qty 2 x unit_price_minor 250",
        ),
        (lambda d: d["lines"][0].update(qty=0), "lines.0.qty"),
        (
            lambda d: d["lines"][0].update(unit_price_minor=-250, gross_minor=-500),
            "unit_price_minor",
        ),
        (lambda d: d["savings"][0].update(amount_minor=-5), "savings.0.amount_minor"),
        (
            lambda d: d["totals"].update(subtotal_minor=600, total_minor=550),
            "totals.subtotal_minor 600 is not the sum of line gross 620",
        ),
        (
            lambda d: d["totals"].update(savings_minor=40, total_minor=580),
            "totals.savings_minor 40 is not the sum of savings 50",
        ),
        (
            lambda d: d["totals"].update(total_minor=575),
            "totals: total_minor 575 is not subtotal - savings = 570",
        ),
        (
            lambda d: d["totals"].update(savings_minor=700, total_minor=0),
            "totals: savings_minor 700 exceeds subtotal_minor 620",
        ),
        (lambda d: d["totals"].update(total_minor=-1), "totals.total_minor"),
        (
            lambda d: d["savings"][0].update(skus=["crisps"]),
            "savings meal-deal: skus not in the lines: crisps",
        ),
        (
            lambda d: d["lines"].append(copy.deepcopy(d["lines"][1])),
            "lines: one line per sku; repeated: water",
        ),
        (lambda d: d["taxes"].pop(), "taxes: classes ['standard'] differ from the lines' classes"),
        (
            lambda d: d["taxes"][1].update(tax_class="standard"),
            "taxes: one line per tax class; repeated: standard",
        ),
        (
            lambda d: d["totals"].update(tax_minor=70),
            "totals.tax_minor 70 is not the sum of taxes 75",
        ),
        (
            lambda d: d["taxes"][0].update(taxable_minor=500),
            "taxes: taxable_minor adds up to 620, not subtotal - savings = 570",
        ),
        (
            lambda d: d["taxes"][0].update(tax_minor=95) or d["totals"].update(tax_minor=95),
            "tax standard: tax_minor 95 exceeds 2000 bp of taxable_minor 450",
        ),
        (
            lambda d: (
                d["taxes"][0].update(taxable_minor=570, tax_minor=95)
                or d["taxes"][1].update(taxable_minor=0)
                or d["totals"].update(tax_minor=95)
            ),
            "tax standard: taxable_minor 570 exceeds the class's gross 500",
        ),
        (lambda d: d["taxes"][0].update(rate_bp=10_001), "taxes.0.rate_bp"),
        (lambda d: d.update(version=-1), "version"),
        (lambda d: d.update(currency="eur"), "currency"),
        (lambda d: d.update(updated_at="2026-11-25T18:05:00"), "updated_at"),
        (lambda d: d.update(updated_at="2026-11-25T19:05:00+01:00"), "must be UTC"),
        (lambda d: d.update(coupon="FREE"), "coupon"),
    ],
)
def test_an_inconsistent_cart_is_rejected_naming_what_is_off(change: Any, expected: str) -> None:
    # Given a consistent cart with one thing broken
    doc = cart_doc()
    change(doc)
    # Then validation fails and the message names it
    assert expected in rejected(Cart, doc)


# --- receipts --------------------------------------------------------------------------------


def test_a_receipt_is_version_1_of_the_final_cart() -> None:
    # Given a final cart
    cart = Cart.model_validate(cart_doc())
    # When the receipt is issued from it
    receipt = Receipt.from_cart(
        cart, receipt_id="rcpt-1", review_status=ReviewStatus.AUTO, issued_at=ISSUED
    )
    # Then it carries the very lines, savings and totals the shopper saw
    assert receipt.version == 1
    assert receipt.adjustments == []
    assert (receipt.lines, receipt.savings, receipt.totals) == (
        cart.lines,
        cart.savings,
        cart.totals,
    )
    assert receipt == Receipt.model_validate(receipt_doc())


def test_review_statuses_are_the_documented_strings() -> None:
    assert [s.value for s in ReviewStatus] == ["auto", "reviewed", "timeout-partial"]
    doc = receipt_doc()
    doc["review_status"] = "timeout-partial"
    assert Receipt.model_validate(doc).review_status is ReviewStatus.TIMEOUT_PARTIAL
    doc["review_status"] = "maybe"
    assert "review_status" in rejected(Receipt, doc)


def test_an_adjustment_appends_a_version_and_leaves_history_alone() -> None:
    # Given an issued receipt
    original = Receipt.model_validate(receipt_doc())
    # When the water is refunded, then a goodwill gesture is made
    refunded = original.with_adjustment(
        reason="water was not taken",
        created_at=ISSUED + timedelta(hours=2),
        refund_minor=120,
        lines=[AdjustedLine(sku="water", qty=1, refund_minor=120)],
    )
    final = refunded.with_adjustment(
        reason="goodwill", created_at=ISSUED + timedelta(days=1), refund_minor=30
    )
    # Then each step is a new version with one more adjustment, the earlier ones untouched
    assert (original.version, refunded.version, final.version) == (1, 2, 3)
    assert original.adjustments == []
    assert final.adjustments[0] == refunded.adjustments[0]
    assert [a.version for a in final.adjustments] == [2, 3]
    assert final.refunded_minor == 150
    # And the lines and totals as issued stay as they were
    assert final.lines == original.lines and final.totals == original.totals
    assert Receipt.model_validate_json(final.model_dump_json()) == final


def adjustment(version: int, refund: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "version": version,
        "reason": "dispute",
        "created_at": (ISSUED + timedelta(hours=version)).isoformat(),
        "refund_minor": refund,
        **extra,
    }


@pytest.mark.parametrize(
    ("version", "adjustments", "expected"),
    [
        (3, [adjustment(3), adjustment(2)], "version 2 does not follow 3"),
        (3, [adjustment(2), adjustment(2)], "version 2 does not follow 2"),
        (2, [adjustment(2), adjustment(3)], "version 3 is newer than the receipt's version 2"),
        (2, [adjustment(1)], "adjustments.0.version"),
        (
            2,
            [adjustment(2, created_at="2026-11-25T18:00:00.000Z")],
            "version 2 is dated before what it amends",
        ),
        (3, [adjustment(2, 500), adjustment(3, 100)], "refunds of 600 exceed the total 570"),
        (
            2,
            [adjustment(2, 120, lines=[{"sku": "water", "qty": 2, "refund_minor": 120}])],
            "2 x water taken off, but the receipt has 1",
        ),
        (
            2,
            [adjustment(2, 100, lines=[{"sku": "crisps", "qty": 1, "refund_minor": 100}])],
            "1 x crisps taken off, but the receipt has 0",
        ),
        (
            2,
            [adjustment(2, 100, lines=[{"sku": "water", "qty": 1, "refund_minor": 120}])],
            "refund_minor 100 is not the sum of its lines 120",
        ),
        (2, [adjustment(2, -1)], "adjustments.0.refund_minor"),
        (2, [adjustment(2, reason="")], "adjustments.0.reason"),
    ],
)
def test_an_inconsistent_adjustment_history_is_rejected(
    version: int, adjustments: list[dict[str, Any]], expected: str
) -> None:
    doc = receipt_doc()
    doc.update(version=version, adjustments=adjustments)
    assert expected in rejected(Receipt, doc)


def test_with_adjustment_checks_the_new_history() -> None:
    # Given a receipt with one water
    receipt = Receipt.model_validate(receipt_doc())
    # When two waters are refunded
    # Then the new version is refused
    with pytest.raises(ValidationError, match="2 x water taken off"):
        receipt.with_adjustment(
            reason="two waters",
            created_at=ISSUED + timedelta(hours=1),
            refund_minor=240,
            lines=[AdjustedLine(sku="water", qty=2, refund_minor=240)],
        )


def test_receipt_version_starts_at_one() -> None:
    doc = receipt_doc()
    doc["version"] = 0
    assert "version" in rejected(Receipt, doc)
