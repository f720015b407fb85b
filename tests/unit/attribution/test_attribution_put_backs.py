"""Put-backs: the item a cart took from the very lane it goes back to is the likelier one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from attribution_support import T0, ShelfEventFactory, small_definition

from benchmarks.attribution.cases import Case
from benchmarks.attribution.fit import fit_picked_here, put_back_choices
from walkout.attribution import (
    DEFAULT_PARAMS,
    Action,
    Attribution,
    Floor,
    Hypothesis,
    ShelfContext,
    attribute,
    picked_from_after,
)

# s1 holds a chips (150 g, taken from L2) and a tea (152 g, taken from L5).
CART = {"s1": {"chips": 1, "tea": 1}}
ORIGINS = {"s1": {"chips": {"L2": 1}, "tea": {"L5": 1}}}


def put_back(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    lane: str,
    grams: float,
    origins: dict[str, dict[str, dict[str, int]]] | None = None,
) -> Attribution:
    event = shelf_event(lane, grams, [("t1", "s1", 0.9, 0.4)])
    return attribute(event, floor, ShelfContext(carts=CART, picked_from=origins or {}))


def test_a_put_back_is_the_item_taken_from_that_lane(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # When 151 g go back on the tea lane, a weight that fits chips and tea alike
    record = put_back(floor, shelf_event, "L5", 151.0, ORIGINS)
    # Then it is the tea, taken from there, and the model is sure of it
    assert (record.decision.sku, record.decision.qty) == ("tea", 1)
    assert record.decision.probability > 0.95
    assert any("took from this lane" in r for r in record.reasons)
    # And on the chips lane it is the chips, as sure
    record = put_back(floor, shelf_event, "L2", 151.0, ORIGINS)
    assert record.decision.sku == "chips" and record.decision.probability > 0.95


def test_without_knowing_where_the_items_came_from_the_lane_alone_cannot_tell(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given the same cart with no record of where its items were taken
    record = put_back(floor, shelf_event, "L5", 151.0)
    # Then the home lane's tea is likelier, but a misplaced chips stays a real alternative
    assert record.decision.sku == "tea"
    expected = 1 / (1 + DEFAULT_PARAMS.misplaced_return_prior)
    assert record.decision.probability == pytest.approx(expected, abs=0.02)


def test_a_put_back_of_more_units_than_the_lane_gave_gets_no_weight_from_it(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given s1 took one chips from L2 and one from L5 (a unit left there), and a tea from L5
    carts = {"s1": {"chips": 2, "tea": 2}}
    origins = {"s1": {"chips": {"L2": 1, "L5": 1}, "tea": {"L5": 2}}}
    event = shelf_event("L5", 302.0, [("t1", "s1", 0.9, 0.4)])
    # When two units go back on L5 (two chips and two teas weigh nearly the same)
    record = attribute(event, floor, ShelfContext(carts=carts, picked_from=origins))
    # Then the two teas, both taken there, are far likelier than two chips, one from there
    assert (record.decision.sku, record.decision.qty) == ("tea", 2)
    assert record.decision.probability > 0.95


def test_the_weight_still_decides_what_went_back(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given s1 also took a cola (355 g) from L1
    carts = {"s1": {"chips": 1, "tea": 1, "cola": 1}}
    origins = {"s1": {**ORIGINS["s1"], "cola": {"L1": 1}}}
    event = shelf_event("L5", 355.4, [("t1", "s1", 0.9, 0.4)])
    # When 355 g are put on the tea lane
    record = attribute(event, floor, ShelfContext(carts=carts, picked_from=origins))
    # Then it is the cola, misplaced: no tea weighs that
    assert record.decision.sku == "cola" and record.decision.probability > 0.95


def _record(action: Action, lane: str, sku: str, qty: int, session: str = "s1") -> Attribution:
    t = T0 + timedelta(seconds=10)
    return Attribution(
        event_id=f"e-{action.value}-{lane}-{sku}-{qty}",
        store_id="store-1",
        lane_id=lane,
        action=action,
        delta_g=1.0,
        t_start=t - timedelta(seconds=1),
        t_end=t,
        decision=Hypothesis(session_id=session, sku=sku, qty=qty, probability=0.99),
        p_who=0.99,
        p_what=0.99,
        p_unlisted=0.0,
        p_nobody=0.0,
        alternatives=[],
        sessions=[],
        reasons=[],
        model="test",
    )


def test_where_the_units_came_from_follows_picks_and_put_backs() -> None:
    origins = picked_from_after({}, _record(Action.PICK, "L2", "chips", 2), "s1")
    origins = picked_from_after(origins, _record(Action.PICK, "L5", "chips", 1), "s1")
    assert origins == {"chips": {"L2": 2, "L5": 1}}
    # A put-back takes from its own lane first
    after = picked_from_after(origins, _record(Action.RETURN, "L5", "chips", 1), "s1")
    assert after == {"chips": {"L2": 2}}
    # elsewhere, from the lane that gave the most
    after = picked_from_after(origins, _record(Action.RETURN, "L6", "chips", 2), "s1")
    assert after == {"chips": {"L5": 1}}
    # between lanes that gave as many, the first by lane id
    even = {"chips": {"L5": 1, "L2": 1}}
    assert picked_from_after(even, _record(Action.RETURN, "L6", "chips", 1), "s1") == {
        "chips": {"L5": 1}
    }
    # all of it: the sku is gone; more than the cart held: nothing below zero
    assert picked_from_after(origins, _record(Action.RETURN, "L1", "chips", 5), "s1") == {}
    # another session's decision changes nothing here
    assert picked_from_after(origins, _record(Action.PICK, "L1", "cola", 1, "s2"), "s1") == origins


def _move(
    kind: str, session: str, sku: str, lane: str, ts: float, qty: int = 1
) -> dict[str, object]:
    return {"kind": kind, "session_id": session, "sku": sku, "lane_id": lane, "qty": qty, "ts": ts}


def test_each_put_back_is_a_choice_among_the_items_its_cart_held() -> None:
    events = [
        # s1 took a chips from L2 and one from L5 (left there by someone), then puts one
        # back on L5 and one on L2: each went back where a unit of it was taken
        _move("pick", "s1", "chips", "L2", 1),
        _move("pick", "s1", "chips", "L5", 2),
        _move("pick", "s1", "tea", "L5", 3),
        _move("return", "s1", "chips", "L5", 4),
        _move("return", "s1", "chips", "L2", 5),
        # s2 puts back two teas on L5, only one of which it took there
        _move("pick", "s2", "tea", "L5", 1),
        _move("pick", "s2", "tea", "L4", 2),
        _move("return", "s2", "tea", "L5", 3, qty=2),
        # s3 returns something it never took: no choice to learn from
        _move("return", "s3", "cola", "L1", 1),
    ]
    case = Case("busy", 1, small_definition(), {"events": events}, 1.0)
    # (the item's home is the lane, its cart took the units put back from the lane), by sku
    # in time order
    assert put_back_choices([case]) == [
        (0, [(True, False)]),  # s2's two teas on L5: one of them came from L4
        (0, [(False, True), (True, True)]),  # chips on L5 (tea's lane): chips, tea
        (0, [(True, True), (False, False)]),  # chips on L2: the L2 unit is still there
    ]


def test_the_ratio_is_the_likeliest_in_the_models_own_terms() -> None:
    # Three put-backs of the lane's own item taken there, one of an item from elsewhere,
    # each from a cart holding both: L(r) = (r / (r + m))^3 * m / (r + m), largest at 3 m
    events: list[dict[str, object]] = []
    for n in range(4):
        session = f"s{n}"
        events += [
            _move("pick", session, "tea", "L5", 10 * n + 1),
            _move("pick", session, "chips", "L2", 10 * n + 2),
            _move("return", session, "tea" if n < 3 else "chips", "L5", 10 * n + 3),
        ]
    case = Case("busy", 1, small_definition(), {"events": events}, 1.0)
    assert fit_picked_here([case], 0.5) == pytest.approx(1.5, rel=1e-3)


def test_an_actor_the_edge_did_not_list_gets_no_weight_from_a_cart_they_may_not_have(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given the only candidate reaching weakly (so an unlisted actor keeps a share)
    event = shelf_event("L5", 152.0, [("t1", "s1", 0.4, 0.6)])
    context = ShelfContext(carts={"s1": {"tea": 1}}, picked_from={"s1": {"tea": {"L5": 1}}})

    def odds(ratio: float) -> float:
        params = DEFAULT_PARAMS.model_copy(update={"picked_here_ratio": ratio})
        record = attribute(event, floor, context, params)
        return record.p_unlisted / record.decision.probability

    # Then the ratio moves s1's put-back against the unlisted one by exactly its size
    assert odds(1.0) / odds(10.0) == pytest.approx(10.0, rel=1e-6)
