"""Live carts and receipts (DESIGN.md §6): what the shopper sees while shopping and after.

These models hold a pricing result, they do not compute one. Their validators are the
arithmetic every pricing result must satisfy, so a pricing bug surfaces as a rejected cart
naming the broken total instead of a wrong receipt in a shopper's inbox.

Conventions the validators enforce:
- amounts are integers in the currency's minor unit;
- `gross_minor` of a line is `qty * unit_price_minor`, before any saving;
- a tax line's `taxable_minor` is what its class's lines cost after their share of the
  savings, as priced (tax-inclusive when `Totals.tax_included`), so the taxable amounts add
  up to `subtotal_minor - savings_minor`;
- `total_minor` is `subtotal - savings`, plus `tax` only when tax is not already included.

Models here validate in pydantic's default (lax) mode: they are read back from DynamoDB,
whose numbers arrive as `Decimal`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from walkout._base import CurrencyCode, Identifier, MinorUnits, Model
from walkout.catalog import BasisPoints
from walkout.events import UtcTimestamp

Name = Annotated[str, Field(min_length=1, max_length=200)]


class CartLine(Model):
    """`qty` units of one SKU at its shelf price."""

    sku: Identifier
    name: Name
    qty: Annotated[int, Field(ge=1)]
    unit_price_minor: MinorUnits
    gross_minor: MinorUnits
    tax_class: Identifier

    @model_validator(mode="after")
    def _gross_is_qty_times_price(self) -> Self:
        if self.gross_minor != self.qty * self.unit_price_minor:
            raise ValueError(
                f"line {self.sku}: gross_minor {self.gross_minor} is not qty {self.qty}"
                f" x unit_price_minor {self.unit_price_minor}"
            )
        return self


class Saving(Model):
    """A promotion applied to the cart, shown to the shopper as it will be on the receipt."""

    promotion_id: Identifier
    name: Name
    amount_minor: MinorUnits
    skus: Annotated[list[Identifier], Field(min_length=1)]


class TaxLine(Model):
    """The tax of one tax class over the cart."""

    tax_class: Identifier
    rate_bp: BasisPoints
    taxable_minor: MinorUnits
    tax_minor: MinorUnits

    @model_validator(mode="after")
    def _tax_within_rate(self) -> Self:
        # Exclusive tax is taxable * rate, inclusive tax taxable * rate / (1 + rate): both
        # stay below the rounded-up exclusive figure, whatever rounding the pricing uses.
        ceiling = -(-self.taxable_minor * self.rate_bp // 10_000)
        if self.tax_minor > ceiling:
            raise ValueError(
                f"tax {self.tax_class}: tax_minor {self.tax_minor} exceeds {self.rate_bp} bp"
                f" of taxable_minor {self.taxable_minor}"
            )
        return self


class Totals(Model):
    subtotal_minor: MinorUnits
    savings_minor: MinorUnits
    tax_minor: MinorUnits
    total_minor: MinorUnits
    tax_included: bool = Field(description="prices on the shelf already include the tax")

    @model_validator(mode="after")
    def _adds_up(self) -> Self:
        if self.savings_minor > self.subtotal_minor:
            raise ValueError(
                f"totals: savings_minor {self.savings_minor} exceeds subtotal_minor"
                f" {self.subtotal_minor}"
            )
        expected = self.subtotal_minor - self.savings_minor
        if not self.tax_included:
            expected += self.tax_minor
        if self.total_minor != expected:
            rule = "subtotal - savings" + ("" if self.tax_included else " + tax")
            raise ValueError(f"totals: total_minor {self.total_minor} is not {rule} = {expected}")
        return self


def _check_priced(
    lines: Sequence[CartLine], savings: Sequence[Saving], taxes: Sequence[TaxLine], totals: Totals
) -> None:
    """The cross-checks shared by a cart and a receipt; raises ValueError naming the total."""
    skus = [line.sku for line in lines]
    repeated = sorted({s for s in skus if skus.count(s) > 1})
    if repeated:
        raise ValueError(f"lines: one line per sku; repeated: {', '.join(repeated)}")
    subtotal = sum(line.gross_minor for line in lines)
    if totals.subtotal_minor != subtotal:
        raise ValueError(
            f"totals.subtotal_minor {totals.subtotal_minor} is not the sum of line gross {subtotal}"
        )
    saved = sum(s.amount_minor for s in savings)
    if totals.savings_minor != saved:
        raise ValueError(
            f"totals.savings_minor {totals.savings_minor} is not the sum of savings {saved}"
        )
    for saving in savings:
        missing = sorted(set(saving.skus) - set(skus))
        if missing:
            raise ValueError(
                f"savings {saving.promotion_id}: skus not in the lines: {', '.join(missing)}"
            )
    classes = [t.tax_class for t in taxes]
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise ValueError(f"taxes: one line per tax class; repeated: {', '.join(repeated)}")
    if set(classes) != {line.tax_class for line in lines}:
        raise ValueError(
            f"taxes: classes {sorted(set(classes))} differ from the lines' classes"
            f" {sorted({line.tax_class for line in lines})}"
        )
    tax = sum(t.tax_minor for t in taxes)
    if totals.tax_minor != tax:
        raise ValueError(f"totals.tax_minor {totals.tax_minor} is not the sum of taxes {tax}")
    taxable = sum(t.taxable_minor for t in taxes)
    if taxable != subtotal - saved:
        raise ValueError(
            f"taxes: taxable_minor adds up to {taxable},"
            f" not subtotal - savings = {subtotal - saved}"
        )
    for tax_line in taxes:
        gross = sum(line.gross_minor for line in lines if line.tax_class == tax_line.tax_class)
        if tax_line.taxable_minor > gross:
            raise ValueError(
                f"tax {tax_line.tax_class}: taxable_minor {tax_line.taxable_minor} exceeds"
                f" the class's gross {gross}"
            )


class Cart(Model):
    """A session's live cart; `version` grows with every change the shopper can see."""

    store_id: Identifier
    session_id: Identifier
    currency: CurrencyCode
    lines: list[CartLine] = []
    savings: list[Saving] = []
    taxes: list[TaxLine] = []
    totals: Totals
    version: Annotated[int, Field(ge=0)]
    updated_at: UtcTimestamp

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_priced(self.lines, self.savings, self.taxes, self.totals)
        return self


class ReviewStatus(StrEnum):
    """How the receipt's contents were decided."""

    AUTO = "auto"
    REVIEWED = "reviewed"
    # The review timed out: only the confident items were charged, and the session is
    # flagged for audit (DESIGN.md §5).
    TIMEOUT_PARTIAL = "timeout-partial"


class AdjustedLine(Model):
    """`qty` units of `sku` taken off the receipt, refunding `refund_minor`."""

    sku: Identifier
    qty: Annotated[int, Field(ge=1)]
    refund_minor: MinorUnits


class Adjustment(Model):
    """A change to an issued receipt (a dispute or a refund), recorded as a new version."""

    version: Annotated[int, Field(ge=2, description="the receipt version this adjustment made")]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    created_at: UtcTimestamp
    refund_minor: MinorUnits
    lines: list[AdjustedLine] = []

    @model_validator(mode="after")
    def _refund_matches_lines(self) -> Self:
        skus = [line.sku for line in self.lines]
        if len(skus) != len(set(skus)):
            raise ValueError(f"adjustment {self.version}: one line per sku")
        by_lines = sum(line.refund_minor for line in self.lines)
        # Without lines it is a goodwill refund; with lines the refund is theirs exactly.
        if self.lines and self.refund_minor != by_lines:
            raise ValueError(
                f"adjustment {self.version}: refund_minor {self.refund_minor} is not the"
                f" sum of its lines {by_lines}"
            )
        return self


class Receipt(Model):
    """An issued receipt. History is only appended: an adjustment adds a version."""

    receipt_id: Identifier
    store_id: Identifier
    session_id: Identifier
    currency: CurrencyCode
    lines: list[CartLine] = []
    savings: list[Saving] = []
    taxes: list[TaxLine] = []
    totals: Totals
    review_status: ReviewStatus
    version: Annotated[int, Field(ge=1)] = 1
    issued_at: UtcTimestamp
    adjustments: list[Adjustment] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_priced(self.lines, self.savings, self.taxes, self.totals)
        previous_version, previous_time = 1, self.issued_at
        for adjustment in self.adjustments:
            if adjustment.version <= previous_version:
                raise ValueError(
                    f"adjustments: version {adjustment.version} does not follow"
                    f" {previous_version} (versions strictly increase)"
                )
            if adjustment.created_at < previous_time:
                raise ValueError(
                    f"adjustments: version {adjustment.version} is dated before what it amends"
                )
            previous_version, previous_time = adjustment.version, adjustment.created_at
        if previous_version > self.version:
            raise ValueError(
                f"adjustments: version {previous_version} is newer than the receipt's"
                f" version {self.version}"
            )
        if self.refunded_minor > self.totals.total_minor:
            raise ValueError(
                f"adjustments: refunds of {self.refunded_minor} exceed the total"
                f" {self.totals.total_minor}"
            )
        bought = {line.sku: line.qty for line in self.lines}
        taken_off: Counter[str] = Counter()
        for adjustment in self.adjustments:
            for line in adjustment.lines:
                taken_off[line.sku] += line.qty
        for sku, qty in sorted(taken_off.items()):
            if qty > bought.get(sku, 0):
                raise ValueError(
                    f"adjustments: {qty} x {sku} taken off, but the receipt has"
                    f" {bought.get(sku, 0)}"
                )
        return self

    @property
    def refunded_minor(self) -> int:
        return sum(a.refund_minor for a in self.adjustments)

    @classmethod
    def from_cart(
        cls, cart: Cart, *, receipt_id: str, review_status: ReviewStatus, issued_at: datetime
    ) -> Receipt:
        """Version 1 of the receipt for a final cart: the same lines, savings and totals."""
        return cls(
            receipt_id=receipt_id,
            store_id=cart.store_id,
            session_id=cart.session_id,
            currency=cart.currency,
            lines=cart.lines,
            savings=cart.savings,
            taxes=cart.taxes,
            totals=cart.totals,
            review_status=review_status,
            issued_at=issued_at,
        )

    def with_adjustment(
        self,
        *,
        reason: str,
        created_at: datetime,
        refund_minor: int,
        lines: Sequence[AdjustedLine] = (),
    ) -> Receipt:
        """The next version of this receipt, with one more adjustment appended."""
        adjustment = Adjustment(
            version=self.version + 1,
            reason=reason,
            created_at=created_at,
            refund_minor=refund_minor,
            lines=list(lines),
        )
        return type(self).model_validate(
            {
                **dict(self),
                "version": adjustment.version,
                "adjustments": [*self.adjustments, adjustment],
            }
        )
