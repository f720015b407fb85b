"""Attribution on hand-made cases: who, what, swaps, lane memory, confidence."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from attribution_support import T0, ShelfEventFactory

from walkout.attribution import (
    DEFAULT_PARAMS,
    Ambiguity,
    AttributionError,
    Floor,
    ShelfContext,
    attribute,
    events_to_review,
    identities,
    receipt_confidence,
)


def amb(
    event_id: str, at_s: float, a: str, b: str, p: float, sa: str | None, sb: str | None
) -> Ambiguity:
    t = T0 + timedelta(seconds=at_s)
    return Ambiguity(event_id, t, t + timedelta(seconds=1), a, b, p, sa, sb)


def test_a_swap_mixes_two_identities_and_chains_propagate() -> None:
    # Given t1 (s1) and t2 (s2) swapped with p 0.3, then t2 and t3 (s3) with p 0.5
    ambiguities = [
        amb("A", 1, "t1", "t2", 0.3, "s1", "s2"),
        amb("B", 2, "t2", "t3", 0.5, "s2", "s3"),
    ]
    # When identities are taken after both
    ids = identities(
        {"t1": "s1", "t2": "s2", "t3": "s3"}, ambiguities, before=T0 + timedelta(seconds=5)
    )
    # Then t1 is s1 or s2; t2's doubt spread on to t3; each identity sums to 1
    assert ids["t1"] == pytest.approx({"s1": 0.7, "s2": 0.3})
    assert ids["t2"] == pytest.approx({"s2": 0.35, "s1": 0.15, "s3": 0.5})
    assert ids["t3"] == pytest.approx({"s3": 0.5, "s2": 0.35, "s1": 0.15})
    for identity in ids.values():
        assert sum(identity.values()) == pytest.approx(1.0)


def test_an_ambiguity_after_the_event_does_not_count() -> None:
    ids = identities({"t1": "s1"}, [amb("A", 100, "t1", "t2", 0.5, "s1", "s2")], before=T0)
    assert ids["t1"] == {"s1": 1.0}


def test_a_fifty_fifty_swap_makes_both_sessions_equally_likely(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given a certain reach by the track labelled t1, after a 50/50 swap with t2
    event = shelf_event("L4", -1000.0, [("t1", "s1", 0.95, 0.3)], at_s=10)
    context = ShelfContext(ambiguities=[amb("A", 2, "t1", "t2", 0.5, "s1", "s2")])
    # When attributed
    record = attribute(event, floor, context)
    # Then each session carries half: the receipt factor of each is about one half
    shares = {s.session_id: s for s in record.sessions}
    assert shares["s1"].probability == pytest.approx(shares["s2"].probability, abs=1e-3)
    assert record.decision.probability == pytest.approx(0.5, abs=0.01)
    assert [s.factor for s in shares.values()] == pytest.approx([0.5, 0.5], abs=0.01)


def test_a_reason_names_the_likely_sessions_of_a_track_and_counts_the_thin_rest(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given a track that brushed past thirty others (swap probability 0.005 each), then reached
    event = shelf_event("L4", -1000.0, [("t0", "s0", 0.95, 0.3)], at_s=50)
    brushes = [amb(f"A{i:02d}", i, "t0", f"t{i}", 0.005, "s0", f"s{i}") for i in range(1, 31)]
    # When attributed
    record = attribute(event, floor, ShelfContext(ambiguities=brushes))
    # Then the reason names s0 and counts the thirty thin ones, and keeps their mass
    who = next(r for r in record.reasons if r.startswith("who: track t0"))
    assert "identity: s0 0.86, 30 more sessions 0.14 together" in who
    assert sum(r.startswith("who: tracks t0 and") for r in record.reasons) == 30


def test_a_pick_nobody_was_seen_making_is_left_to_review(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given a cola gone with no candidate listed (the tracker missed whoever took it)
    record = attribute(shelf_event("L1", -355.0, []), floor, ShelfContext())
    # Then nobody is charged, and the record says that is unlikely to be right
    assert record.decision.session_id is None and not record.decision.changes_a_cart
    assert record.p_unlisted > 0.9
    assert record.probability < 0.1
    assert record.sessions == []
    assert "no candidate" in " ".join(record.reasons)


def test_a_change_no_product_explains_is_not_an_item(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given 37 g off the cola lane (no product weighs 37 g or a multiple near it)
    record = attribute(shelf_event("L1", -37.0, [("t1", "s1", 0.9, 0.4)]), floor, ShelfContext())
    # Then nobody's cart changes, and s1's receipt keeps the doubt that it was a cola
    assert record.decision.sku is None and not record.decision.changes_a_cart
    assert [(s.session_id, s.chosen) for s in record.sessions] == [("s1", False)]
    assert record.decision.probability > 0.5


def test_a_closed_session_is_never_charged(floor: Floor, shelf_event: ShelfEventFactory) -> None:
    event = shelf_event("L1", -355.0, [("t1", "s1", 0.95, 0.3)])
    record = attribute(event, floor, ShelfContext(open_sessions=set()))
    assert record.decision.session_id is None
    assert any("not open" in r for r in record.reasons)


def test_a_multi_unit_pick_is_told_from_one_unit(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    record = attribute(shelf_event("L6", -181.0, [("t1", "s1", 0.9, 0.4)]), floor, ShelfContext())
    assert (record.decision.sku, record.decision.qty) == ("candy", 3)


def test_a_lane_unknown_to_the_store_is_an_error(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    with pytest.raises(AttributionError, match="lane L9"):
        attribute(shelf_event("L9", -355.0, []), floor, ShelfContext())


def test_the_runner_up_factor_is_one_minus_its_share(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given two shoppers both plausibly reaching
    event = shelf_event("L2", -150.0, [("t1", "s1", 0.8, 0.4), ("t2", "s2", 0.6, 0.5)])
    record = attribute(event, floor, ShelfContext())
    chosen = next(s for s in record.sessions if s.chosen)
    runner = next(s for s in record.sessions if not s.chosen)
    # Then the chosen session's factor is the decision's probability, the other's 1 - share
    assert chosen.factor == pytest.approx(record.decision.probability)
    assert runner.factor == pytest.approx(1 - runner.probability)


def test_receipt_confidence_is_the_product_and_review_takes_the_weakest_events() -> None:
    factors = {"e1": 0.99, "e2": 0.6, "e3": 0.98, "e4": 0.9}
    assert receipt_confidence(factors) == pytest.approx(0.99 * 0.6 * 0.98 * 0.9)
    assert receipt_confidence({}) == 1.0
    # Reviewing e2 leaves 0.99 * 0.98 * 0.9 = 0.873: not enough for 0.95, so e4 too
    assert events_to_review(factors, 0.95) == ["e2", "e4"]
    assert events_to_review(factors, 0.5) == []
    assert math.isclose(receipt_confidence({"e": 0.0}), 1e-12)


def test_linked_ranks_whom_encounters_may_have_swapped_without_moving_probability(
    floor: Floor, shelf_event: ShelfEventFactory
) -> None:
    # Given a sure reach by t1 (s1), which met t2 (s2) with a reported swap probability of
    # 0.002 and, before that, t2 had met t3 (s3) with 0.001; t9 (s9) met nobody
    event = shelf_event("L4", -1000.0, [("t1", "s1", 0.95, 0.3)], at_s=10)
    ambiguities = [
        amb("A", 1, "t2", "t3", 0.001, "s2", "s3"),
        amb("B", 3, "t1", "t2", 0.002, "s1", "s2"),
        amb("C", 4, "t9", "t8", 0.4, "s9", "s8"),
    ]
    context = ShelfContext(ambiguities=ambiguities)
    # When attributed
    record = attribute(event, floor, context)
    # Then s2 and s3 are too unlikely for a share of the event, yet linked: the direct
    # partner first, then the one two encounters away; s8/s9 are not linked to t1
    assert {s.session_id for s in record.sessions} == {"s1"}
    assert record.linked == ["s1", "s2", "s3"]
    # and the ranking moves no probability
    unfloored = attribute(
        event, floor, context, DEFAULT_PARAMS.model_copy(update={"linked_swap_floor": 0.0})
    )
    assert unfloored.sessions == record.sessions
    assert unfloored.decision == record.decision
