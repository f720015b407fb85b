"""Pricing: a multiset of (sku, qty) and the store's catalog -> cart lines, savings, taxes.

One pure function, `price_items`, prices the live cart and the receipt alike, so the
savings a shopper watched in the store are the savings on the receipt (DESIGN.md section 6).
Money is integers in minor units throughout; rates are basis points.

Which promotions apply (deterministic, best for the shopper)
-----------------------------------------------------------
- Only promotions active at the pricing time `at` count (`valid_from <= at < valid_to`).
- A unit takes part in at most one promotion: promotions never stack on one unit.
- Percent-off is a per-unit price cut. When several percent-off promotions cover a SKU, the
  largest `percent_bp` wins (ties: the smallest `promotion_id`).
- Group promotions (multi-buy, bundle) are *applications*: one application of a multi-buy
  takes `buy_qty` eligible units, one of a bundle one unit from each component group. Inside
  an application the units of highest value are taken first (value = the price the unit
  would cost otherwise, i.e. after its percent-off; ties: higher shelf price, then SKU).
  For a bundle the component groups are served in order of fewest eligible units first.
- An application is made only if it is cheaper than the units it takes would cost
  otherwise (after their percent-off), so a promotion never raises a price.
- Which applications to make is an exact search for the largest total saving: promotions
  are tried in `promotion_id` order and the search explores how many applications of each
  to make (memoised on the remaining unit counts). Carts larger than the search budget
  (`SEARCH_BUDGET` states, far above any basket seen in the simulator) fall back to the
  greedy rule "repeatedly make the single application with the largest saving" (ties: the
  smallest `promotion_id`). Among equally good answers the first one found in that order is
  kept, so the result depends only on the multiset and the catalog, never on item order.

Rounding
--------
- Percent-off is computed per line on the line's units it covers, rounded half up:
  `round_half_up(units * unit_price * bp / 10_000)`.
- A group application's saving is exact (prices of the units taken minus the promotion
  price). For tax it is shared over the units it took in proportion to their shelf prices,
  by the largest-remainder method (ties: the order the units were taken), so every minor
  unit of saving lands on exactly one tax class and no unit gets more than its price.
- Tax is per tax class on the class's discounted amount (`taxable = gross - savings`),
  rounded half up once per class: tax-exclusive `taxable * rate / 10_000`, tax-inclusive
  (the tax contained in the price) `taxable * rate / (10_000 + rate)`.
- Totals: `total = subtotal - savings`, plus tax only when prices exclude tax.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from walkout.cart import Cart, CartLine, Saving, TaxLine, Totals
from walkout.catalog import Bundle, Catalog, MultiBuy, PercentOff, Product, Promotion

# Distinct (remaining counts, next promotion) states the exact search may visit.
SEARCH_BUDGET: Final = 20_000
BP: Final = 10_000


class PricingError(ValueError):
    """Items that cannot be priced (an unknown SKU, a negative quantity)."""


def round_half_up(numerator: int, denominator: int) -> int:
    """`numerator / denominator` rounded to the nearest integer, halves up (both >= 0)."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("round_half_up: needs numerator >= 0 and denominator > 0")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class PricedItems:
    """The priced form of a multiset: what a `Cart` or a `Receipt` carries."""

    currency: str
    lines: tuple[CartLine, ...]
    savings: tuple[Saving, ...]
    taxes: tuple[TaxLine, ...]
    totals: Totals

    def to_cart(
        self, *, store_id: str, session_id: str, version: int, updated_at: datetime
    ) -> Cart:
        """A validated `Cart` (its validators re-check every sum)."""
        return Cart(
            store_id=store_id,
            session_id=session_id,
            currency=self.currency,
            lines=list(self.lines),
            savings=list(self.savings),
            taxes=list(self.taxes),
            totals=self.totals,
            version=version,
            updated_at=updated_at,
        )


@dataclass(frozen=True)
class _Application:
    promotion_id: str
    units: tuple[str, ...]  # skus of the units taken, in the order taken
    saving_minor: int  # shelf prices of the units minus the promotion price


@dataclass(frozen=True)
class _Group:
    """A group promotion normalised to component groups: MultiBuy = buy_qty copies of one."""

    promotion: MultiBuy | Bundle
    components: tuple[tuple[str, ...], ...]

    @property
    def price_minor(self) -> int:
        return self.promotion.price_minor


def _percent_off_by_sku(promotions: Sequence[Promotion]) -> dict[str, PercentOff]:
    best: dict[str, PercentOff] = {}
    for promo in sorted(
        (p for p in promotions if isinstance(p, PercentOff)), key=lambda p: p.promotion_id
    ):
        for sku in promo.skus:
            current = best.get(sku)
            if current is None or promo.percent_bp > current.percent_bp:
                best[sku] = promo
    return best


def _groups(promotions: Sequence[Promotion]) -> list[_Group]:
    groups = []
    for promo in sorted(promotions, key=lambda p: p.promotion_id):
        if isinstance(promo, MultiBuy):
            eligible = tuple(sorted(set(promo.skus)))
            groups.append(_Group(promo, tuple(eligible for _ in range(promo.buy_qty))))
        elif isinstance(promo, Bundle):
            groups.append(_Group(promo, tuple(tuple(sorted(set(c))) for c in promo.components)))
    return groups


class _Pricer:
    """The search for the best set of group applications over one multiset."""

    def __init__(
        self,
        counts: Mapping[str, int],
        products: Mapping[str, Product],
        percent_off: Mapping[str, PercentOff],
        groups: Sequence[_Group],
    ) -> None:
        self.products = products
        self.percent_off = percent_off
        in_groups = {s for g in groups for c in g.components for s in c}
        self.skus = tuple(sorted(s for s in counts if s in in_groups))
        self.start = tuple(counts[s] for s in self.skus)
        self.index = {s: i for i, s in enumerate(self.skus)}
        self.groups = [g for g in groups if self._could_apply(g)]
        self.memo: dict[tuple[tuple[int, ...], int], tuple[int, tuple[_Application, ...]]] = {}
        # Value order of units: what a unit costs when left out of every group promotion.
        self.rank = sorted(
            self.skus,
            key=lambda s: (-self._value_x_bp(s), -products[s].price_minor, s),
        )

    def _could_apply(self, group: _Group) -> bool:
        return all(any(s in self.index for s in c) for c in group.components)

    def _value_x_bp(self, sku: str) -> int:
        """The unit's price after percent-off, times 10,000 (exact, for ordering)."""
        price = self.products[sku].price_minor
        promo = self.percent_off.get(sku)
        return price * (BP - (promo.percent_bp if promo else 0))

    def percent_off_saving(self, sku: str, units: int) -> int:
        promo = self.percent_off.get(sku)
        if promo is None or units <= 0:
            return 0
        return round_half_up(units * self.products[sku].price_minor * promo.percent_bp, BP)

    def leaf_saving(self, state: tuple[int, ...]) -> int:
        return sum(self.percent_off_saving(s, n) for s, n in zip(self.skus, state, strict=True))

    def take(
        self, group: _Group, state: tuple[int, ...]
    ) -> tuple[tuple[int, ...], _Application] | None:
        """One application of `group` on `state`, or None if impossible or not worth it."""
        left = list(state)
        taken: list[str] = []
        order = sorted(
            range(len(group.components)),
            key=lambda i: (
                sum(left[self.index[s]] for s in group.components[i] if s in self.index),
                i,
            ),
        )
        chosen: dict[int, str] = {}
        for i in order:
            component = set(group.components[i])
            pick = next((s for s in self.rank if s in component and left[self.index[s]] > 0), None)
            if pick is None:
                return None
            left[self.index[pick]] -= 1
            chosen[i] = pick
        taken = [chosen[i] for i in range(len(group.components))]
        taken.sort(key=self.rank.index)
        otherwise_x_bp = sum(self._value_x_bp(s) for s in taken)
        if otherwise_x_bp <= group.price_minor * BP:
            return None  # not cheaper than the units would cost anyway
        full = sum(self.products[s].price_minor for s in taken)
        app = _Application(group.promotion.promotion_id, tuple(taken), full - group.price_minor)
        return tuple(left), app

    def best(self) -> tuple[_Application, ...]:
        try:
            return self._search(self.start, 0)[1]
        except _BudgetExceededError:
            return self._greedy()

    def _search(self, state: tuple[int, ...], first: int) -> tuple[int, tuple[_Application, ...]]:
        key = (state, first)
        if key in self.memo:
            return self.memo[key]
        if len(self.memo) >= SEARCH_BUDGET:
            raise _BudgetExceededError
        best: tuple[int, tuple[_Application, ...]] = (self.leaf_saving(state), ())
        for g in range(first, len(self.groups)):
            step = self.take(self.groups[g], state)
            if step is None:
                continue
            after, app = step
            rest_saving, rest = self._search(after, g)
            total = app.saving_minor + rest_saving
            if total > best[0]:
                best = (total, (app, *rest))
        self.memo[key] = best
        return best

    def _greedy(self) -> tuple[_Application, ...]:
        state: tuple[int, ...] = self.start
        apps: list[_Application] = []
        while True:
            base = self.leaf_saving(state)
            best: tuple[int, tuple[int, ...], _Application] | None = None
            for group in self.groups:
                step = self.take(group, state)
                if step is None:
                    continue
                after, app = step
                gain = app.saving_minor + self.leaf_saving(after) - base
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, after, app)
            if best is None:
                return tuple(apps)
            state = best[1]
            apps.append(best[2])


class _BudgetExceededError(Exception):
    pass


def _share(amount: int, weights: Sequence[int]) -> list[int]:
    """`amount` split in proportion to `weights`, largest remainder, ties by position."""
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in remainders[: amount - sum(shares)]:
        shares[i] += 1
    return shares


def _validated_counts(items: Mapping[str, int] | Iterable[tuple[str, int]]) -> dict[str, int]:
    pairs = items.items() if isinstance(items, Mapping) else items
    counts: dict[str, int] = {}
    for sku, qty in pairs:
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise PricingError(f"item {sku}: qty must be an integer, got {qty!r}")
        if qty < 0:
            raise PricingError(f"item {sku}: qty must not be negative, got {qty}")
        counts[sku] = counts.get(sku, 0) + qty
    return {s: n for s, n in counts.items() if n > 0}


def price_items(
    items: Mapping[str, int] | Iterable[tuple[str, int]],
    catalog: Catalog,
    *,
    prices_include_tax: bool,
    at: datetime,
) -> PricedItems:
    """Price a multiset of (sku, qty) with the catalog's promotions active at `at`.

    `items` is a mapping sku -> qty or pairs (a SKU may repeat; quantities add up; zero
    quantities are dropped). Raises `PricingError` for an unknown SKU or a negative qty.
    """
    counts = _validated_counts(items)
    products = catalog.by_sku()
    unknown = sorted(s for s in counts if s not in products)
    if unknown:
        raise PricingError(f"unknown skus: {', '.join(unknown)}")
    active = [p for p in catalog.promotions if p.active_at(at)]
    percent_off = _percent_off_by_sku(active)
    pricer = _Pricer(counts, products, percent_off, _groups(active))
    applications = pricer.best()

    lines = tuple(
        CartLine(
            sku=sku,
            name=products[sku].name,
            qty=qty,
            unit_price_minor=products[sku].price_minor,
            gross_minor=qty * products[sku].price_minor,
            tax_class=products[sku].tax_class,
        )
        for sku, qty in sorted(counts.items())
    )

    saving_by_promotion: dict[str, int] = {}
    skus_by_promotion: dict[str, set[str]] = {}
    saving_by_class: dict[str, int] = {}
    in_groups: dict[str, int] = {}
    for app in applications:
        saving_by_promotion[app.promotion_id] = (
            saving_by_promotion.get(app.promotion_id, 0) + app.saving_minor
        )
        skus_by_promotion.setdefault(app.promotion_id, set()).update(app.units)
        shares = _share(app.saving_minor, [products[s].price_minor for s in app.units])
        for sku, share in zip(app.units, shares, strict=True):
            cls = products[sku].tax_class
            saving_by_class[cls] = saving_by_class.get(cls, 0) + share
            in_groups[sku] = in_groups.get(sku, 0) + 1
    for sku, qty in sorted(counts.items()):
        promo = percent_off.get(sku)
        amount = pricer.percent_off_saving(sku, qty - in_groups.get(sku, 0))
        if promo is None or amount == 0:
            continue
        saving_by_promotion[promo.promotion_id] = (
            saving_by_promotion.get(promo.promotion_id, 0) + amount
        )
        skus_by_promotion.setdefault(promo.promotion_id, set()).add(sku)
        cls = products[sku].tax_class
        saving_by_class[cls] = saving_by_class.get(cls, 0) + amount

    names = {p.promotion_id: p.name for p in active}
    savings = tuple(
        Saving(
            promotion_id=pid,
            name=names[pid],
            amount_minor=amount,
            skus=sorted(skus_by_promotion[pid]),
        )
        for pid, amount in sorted(saving_by_promotion.items())
        if amount > 0
    )

    rates = catalog.tax_rates()
    taxes = []
    for cls in sorted({line.tax_class for line in lines}):
        gross = sum(line.gross_minor for line in lines if line.tax_class == cls)
        taxable = gross - saving_by_class.get(cls, 0)
        rate = rates[cls]
        tax = (
            round_half_up(taxable * rate, BP + rate)
            if prices_include_tax
            else round_half_up(taxable * rate, BP)
        )
        taxes.append(TaxLine(tax_class=cls, rate_bp=rate, taxable_minor=taxable, tax_minor=tax))

    subtotal = sum(line.gross_minor for line in lines)
    saved = sum(s.amount_minor for s in savings)
    tax_total = sum(t.tax_minor for t in taxes)
    totals = Totals(
        subtotal_minor=subtotal,
        savings_minor=saved,
        tax_minor=tax_total,
        total_minor=subtotal - saved + (0 if prices_include_tax else tax_total),
        tax_included=prices_include_tax,
    )
    return PricedItems(
        currency=catalog.currency,
        lines=lines,
        savings=savings,
        taxes=tuple(taxes),
        totals=totals,
    )
