"""Builders for finalize unit tests: a catalog with every kind of promotion and two tax
classes, and attribution records written the way ingest writes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from walkout.attribution.record import Action, Attribution, Hypothesis, SessionShare
from walkout.catalog import Bundle, Catalog, MultiBuy, PercentOff, Product, TaxClass

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
STORE = "store-1"

# sku -> (price, tax class)
PRICES = {
    "cola": (199, "std"),
    "tea": (399, "std"),
    "chips": (249, "food"),
    "sandwich": (350, "food"),
    "candy": (99, "food"),
    "soap": (349, "std"),
}
# sku -> unit weight (g); apart enough that a change of one is no other's (a knock's 100 g
# is nobody's either)
WEIGHTS = {
    "cola": 330.0,
    "tea": 120.0,
    "chips": 150.0,
    "sandwich": 210.0,
    "candy": 40.0,
    "soap": 400.0,
}
PROMOTIONS = [
    MultiBuy(
        promotion_id="cola-2", name="2 colas for 3.00", skus=["cola"], buy_qty=2, price_minor=300
    ),
    Bundle(
        promotion_id="meal",
        name="Sandwich and a drink for 4.50",
        components=[["sandwich"], ["cola", "tea"]],
        price_minor=450,
    ),
    PercentOff(promotion_id="candy-10", name="10 % off candy", skus=["candy"], percent_bp=1000),
]


def catalog() -> Catalog:
    return Catalog(
        currency="EUR",
        tax_classes=[
            TaxClass(tax_class="std", name="Standard", rate_bp=2000),
            TaxClass(tax_class="food", name="Food", rate_bp=700),
        ],
        products=[
            Product(
                sku=sku,
                name=sku.title(),
                price_minor=price,
                currency="EUR",
                unit_weight_g=WEIGHTS[sku],
                weight_tolerance_g=5,
                tax_class=tax,
                image_url=f"https://img.example.com/{sku}.png" if sku != "soap" else None,
            )
            for sku, (price, tax) in PRICES.items()
        ],
        promotions=PROMOTIONS,
    )


def attribution(
    n: int,
    *,
    who: Sequence[tuple[str, float]],
    what: Sequence[tuple[str | None, int, float]],
    p: float,
    action: Action = Action.PICK,
    lane: str = "L1",
) -> Attribution:
    """Event `n` (in time order): `who[0]` and `what[0]` are the decision."""
    session, _ = who[0]
    sku, qty, _ = what[0]
    at = T0 + timedelta(seconds=10 * (n + 1))
    return Attribution(
        event_id=f"E{n:03d}",
        store_id=STORE,
        lane_id=lane,
        action=action,
        delta_g=(-1 if action is Action.PICK else 1) * WEIGHTS.get(sku or "", 100.0) * max(qty, 1),
        t_start=at - timedelta(seconds=1),
        t_end=at,
        decision=Hypothesis(session_id=session, sku=sku, qty=qty, probability=p),
        p_who=who[0][1],
        p_what=what[0][2],
        alternatives=[
            Hypothesis(session_id=session, sku=s, qty=q, probability=pp) for s, q, pp in what[1:]
        ]
        + [Hypothesis(session_id=s, sku=sku, qty=qty, probability=pp) for s, pp in who[1:]],
        sessions=[
            SessionShare(
                session_id=s, probability=pp, factor=p if i == 0 else 1 - pp, chosen=i == 0
            )
            for i, (s, pp) in enumerate(who)
            if s is not None
        ],
        reasons=["unit test"],
        model="test",
    )
