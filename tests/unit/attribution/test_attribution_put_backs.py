"""Put-backs: the item a cart took from the very lane it goes back to is the likelier one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from attribution_support import T0, ShelfEventFactory, small_definition

from benchmarks.attribution.cases import Case
from benchmarks.attribution.fit import picked_here_frequency
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


def test_the_ratio_is_fitted_as_how_much_likelier_the_item_put_back_was_taken_there() -> None:
    def move(kind: str, session: str, sku: str, lane: str, ts: float) -> dict[str, object]:
        return {
            "kind": kind,
            "session_id": session,
            "sku": sku,
            "lane_id": lane,
            "qty": 1,
            "ts": ts,
        }

    events = [
        # s1 puts back the tea it took from L5, and keeps the chips from L2
        move("pick", "s1", "tea", "L5", 1),
        move("pick", "s1", "chips", "L2", 2),
        move("return", "s1", "tea", "L5", 3),
        # s2 leaves chips from L2 on L5, and keeps a cola taken from L5's neighbour L1
        move("pick", "s2", "cola", "L1", 1),
        move("pick", "s2", "chips", "L2", 2),
        move("return", "s2", "chips", "L5", 3),
    ]
    case = Case("busy", 1, small_definition(), {"events": events}, 1.0)
    # Returned items taken there: 1 of 2; the others in the carts then: 0 of 2 (counted as
    # half a one, so the ratio stays finite)
    assert picked_here_frequency([case]) == pytest.approx((1 / 2) / (0.5 / 2))
