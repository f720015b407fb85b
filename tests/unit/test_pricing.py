"""Pricing: examples of each promotion and rounding rule, and properties over random carts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walkout.cart import Cart
from walkout.catalog import Bundle, Catalog, MultiBuy, PercentOff, Product, TaxClass
from walkout.pricing import PricedItems, PricingError, price_items, round_half_up

NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)

# sku -> (price, tax class)
PRICES = {
    "cola": (199, "std"),
    "lemonade": (179, "std"),
    "sandwich": (350, "food"),
    "wrap": (420, "food"),
    "chips": (125, "food"),
    "apple": (45, "food"),
    "soap": (333, "std"),
}


def catalog(
    *promotions: MultiBuy | Bundle | PercentOff, food_bp: int = 700, std_bp: int = 2000
) -> Catalog:
    return Catalog(
        currency="EUR",
        tax_classes=[
            TaxClass(tax_class="std", name="Standard", rate_bp=std_bp),
            TaxClass(tax_class="food", name="Food", rate_bp=food_bp),
        ],
        products=[
            Product(
                sku=sku,
                name=sku.title(),
                price_minor=price,
                currency="EUR",
                unit_weight_g=100,
                weight_tolerance_g=5,
                tax_class=tax,
            )
            for sku, (price, tax) in PRICES.items()
        ],
        promotions=list(promotions),
    )


DRINKS_3_FOR_5 = MultiBuy(
    promotion_id="drinks-3",
    name="3 drinks for 5.00",
    skus=["cola", "lemonade"],
    buy_qty=3,
    price_minor=500,
)
MEAL_DEAL = Bundle(
    promotion_id="meal",
    name="Meal deal",
    components=[["sandwich", "wrap"], ["cola", "lemonade"], ["chips", "apple"]],
    price_minor=500,
)
SOAP_15 = PercentOff(promotion_id="soap-15", name="15% off soap", skus=["soap"], percent_bp=1500)
APPLE_BIG_PROMO = MultiBuy(
    promotion_id="apples", name="4 apples for 3.00", skus=["apple"], buy_qty=4, price_minor=300
)
ALL = catalog(DRINKS_3_FOR_5, MEAL_DEAL, SOAP_15, APPLE_BIG_PROMO)


def cart_of(priced_items: PricedItems) -> Cart:
    return priced_items.to_cart(store_id="store-1", session_id="s1", version=1, updated_at=NOW)


# --- examples ---------------------------------------------------------------------------------


def test_a_multi_buy_takes_the_dearest_eligible_units() -> None:
    # Given 2 colas and 2 lemonades under "3 drinks for 5.00"
    priced = price_items({"cola": 2, "lemonade": 2}, ALL, prices_include_tax=True, at=NOW)
    # Then one application takes 2 colas + 1 lemonade (the dearest): 577 - 500 = 77 off
    assert [(s.promotion_id, s.amount_minor) for s in priced.savings] == [("drinks-3", 77)]
    assert priced.totals.total_minor == 2 * 199 + 2 * 179 - 77


def test_a_bundle_beats_a_multi_buy_when_it_saves_more() -> None:
    # Given a sandwich, chips and three colas: the meal deal or 3 for 5?
    priced = price_items(
        {"sandwich": 1, "chips": 1, "cola": 3}, ALL, prices_include_tax=True, at=NOW
    )
    # Then the best for the shopper wins: meal deal (674 - 500 = 174) vs 3 colas (97)
    assert {s.promotion_id: s.amount_minor for s in priced.savings} == {"meal": 174}


def test_percent_off_is_per_line_rounded_half_up() -> None:
    # 3 soaps at 3.33 with 15 % off: 999 * 0.15 = 149.85 -> 150
    priced = price_items({"soap": 3}, ALL, prices_include_tax=True, at=NOW)
    assert [s.amount_minor for s in priced.savings] == [150]
    # 1 soap: 49.95 -> 50
    assert [
        s.amount_minor
        for s in price_items({"soap": 1}, ALL, prices_include_tax=True, at=NOW).savings
    ] == [50]


def test_tax_included_is_the_share_of_the_discounted_amount() -> None:
    # Given 3 soaps (999, minus 150) at 20 % included tax: 849 * 20 / 120 = 141.5 -> 142
    priced = price_items({"soap": 3}, ALL, prices_include_tax=True, at=NOW)
    assert [(t.taxable_minor, t.tax_minor) for t in priced.taxes] == [(849, 142)]
    assert priced.totals.total_minor == 849


def test_tax_excluded_is_added_on_top() -> None:
    priced = price_items({"soap": 3}, ALL, prices_include_tax=False, at=NOW)
    # 849 * 20 % = 169.8 -> 170, added to the total
    assert [(t.taxable_minor, t.tax_minor) for t in priced.taxes] == [(849, 170)]
    assert priced.totals.total_minor == 849 + 170


def test_a_bundle_saving_is_shared_over_tax_classes_by_price() -> None:
    # Given a meal deal of sandwich (food) + cola (std) + apple (food): 594 for 500, 94 off
    priced = price_items(
        {"sandwich": 1, "cola": 1, "apple": 1}, ALL, prices_include_tax=True, at=NOW
    )
    taxable = {t.tax_class: t.taxable_minor for t in priced.taxes}
    # shares in proportion to 350 : 199 : 45 -> 55.39, 31.49, 7.12 -> 55, 32, 7 (largest remainder)
    assert taxable == {"food": 350 + 45 - 55 - 7, "std": 199 - 32}
    assert sum(taxable.values()) == 594 - 94


def test_a_promotion_that_would_cost_more_is_not_applied() -> None:
    # "4 apples for 3.00" costs more than 4 apples at 0.45
    priced = price_items({"apple": 4}, ALL, prices_include_tax=True, at=NOW)
    assert priced.savings == ()
    assert priced.totals.total_minor == 180


def test_only_promotions_active_at_the_pricing_time_apply() -> None:
    later = MultiBuy(
        promotion_id="drinks-later",
        name="2 colas for 1.00",
        skus=["cola"],
        buy_qty=2,
        price_minor=100,
        valid_from=NOW + timedelta(days=1),
    )
    cat = catalog(later)
    assert price_items({"cola": 2}, cat, prices_include_tax=True, at=NOW).savings == ()
    assert price_items(
        {"cola": 2}, cat, prices_include_tax=True, at=NOW + timedelta(days=2)
    ).savings


def test_bad_items_are_refused_with_the_sku_named() -> None:
    with pytest.raises(PricingError, match="unknown skus: caviar"):
        price_items({"caviar": 1}, ALL, prices_include_tax=True, at=NOW)
    with pytest.raises(PricingError, match="cola: qty must not be negative"):
        price_items({"cola": -1}, ALL, prices_include_tax=True, at=NOW)


def test_an_empty_cart_costs_nothing() -> None:
    cart = cart_of(price_items({}, ALL, prices_include_tax=True, at=NOW))
    assert cart.lines == [] and cart.taxes == [] and cart.totals.total_minor == 0


@pytest.mark.parametrize(
    ("n", "d", "expected"), [(5, 2, 3), (3, 2, 2), (1, 3, 0), (2, 3, 1), (0, 7, 0)]
)
def test_round_half_up(n: int, d: int, expected: int) -> None:
    assert round_half_up(n, d) == expected


# --- properties -------------------------------------------------------------------------------

baskets = st.dictionaries(st.sampled_from(sorted(PRICES)), st.integers(0, 7), max_size=len(PRICES))
PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(items=baskets, included=st.booleans())
def test_totals_add_up_and_make_a_valid_cart(items: dict[str, int], included: bool) -> None:
    priced = price_items(items, ALL, prices_include_tax=included, at=NOW)
    cart = cart_of(priced)  # the Cart validators re-check every sum
    assert cart.totals.subtotal_minor == sum(line.gross_minor for line in cart.lines)
    assert cart.totals.savings_minor == sum(s.amount_minor for s in cart.savings)
    assert cart.totals.total_minor == (
        cart.totals.subtotal_minor
        - cart.totals.savings_minor
        + (0 if included else cart.totals.tax_minor)
    )
    assert {line.sku: line.qty for line in cart.lines} == {s: n for s, n in items.items() if n}


@PROPERTY
@given(items=baskets, included=st.booleans())
def test_promotions_never_raise_a_price(items: dict[str, int], included: bool) -> None:
    with_promotions = price_items(items, ALL, prices_include_tax=included, at=NOW)
    without = price_items(items, catalog(), prices_include_tax=included, at=NOW)
    assert with_promotions.totals.total_minor <= without.totals.total_minor
    assert all(s.amount_minor > 0 for s in with_promotions.savings)
    for tax, plain in zip(with_promotions.taxes, without.taxes, strict=True):
        assert tax.taxable_minor <= plain.taxable_minor


@PROPERTY
@given(
    items=st.lists(st.tuples(st.sampled_from(sorted(PRICES)), st.integers(1, 3)), max_size=8),
    data=st.data(),
)
def test_the_order_of_items_does_not_matter(
    items: list[tuple[str, int]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(items))
    one = price_items(items, ALL, prices_include_tax=True, at=NOW)
    two = price_items(shuffled, ALL, prices_include_tax=True, at=NOW)
    assert one == two


def cheapest_by_brute_force(items: dict[str, int]) -> int:
    """The lowest total over every way of grouping the units into promotion applications
    (the reference the search must match on small baskets). Prices include tax."""
    units = sorted(sku for sku, n in items.items() for _ in range(n))
    groups = [
        (p.price_minor, [list(p.skus)] * p.buy_qty)
        if isinstance(p, MultiBuy)
        else (p.price_minor, p.components)
        for p in ALL.promotions
        if not isinstance(p, PercentOff)
    ]

    def alone(sku: str) -> int:
        price = PRICES[sku][0]
        return price - round_half_up(price * 1500, 10_000) if sku == "soap" else price

    def best(rest: tuple[str, ...]) -> int:
        if not rest:
            return 0
        first, others = rest[0], rest[1:]
        result = alone(first) + best(others)
        for price, components in groups:
            for slot, component in enumerate(components):
                if first not in component:
                    continue
                for fill in fillings(
                    list(others), [c for i, c in enumerate(components) if i != slot]
                ):
                    left = list(others)
                    for sku in fill:
                        left.remove(sku)
                    result = min(result, price + best(tuple(left)))
        return result

    def fillings(pool: list[str], components: list[list[str]]) -> list[list[str]]:
        if not components:
            return [[]]
        out = []
        for sku in sorted(set(pool)):
            if sku in components[0]:
                rest = list(pool)
                rest.remove(sku)
                out += [[sku, *tail] for tail in fillings(rest, components[1:])]
        return out

    return best(tuple(units))


@settings(max_examples=120, deadline=None)
@given(
    items=st.dictionaries(st.sampled_from(sorted(PRICES)), st.integers(0, 3), max_size=4).filter(
        lambda d: sum(d.values()) <= 7
    )
)
def test_the_promotions_chosen_are_the_best_for_the_shopper(items: dict[str, int]) -> None:
    priced = price_items(items, ALL, prices_include_tax=True, at=NOW)
    assert priced.totals.total_minor == cheapest_by_brute_force(items)
