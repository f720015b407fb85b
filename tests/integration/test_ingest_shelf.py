"""Shelf changes through the handler: crowded shelves, wrong-lane put-backs, swaps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ingest_support import STORE, Edge, MotoIngest, failures, moto_ingest

from walkout.config import DeploymentConfig


@pytest.fixture
def aws() -> Iterator[MotoIngest]:
    yield from moto_ingest()


def test_concurrent_sessions_at_the_same_shelf_each_get_their_own_items(aws: MotoIngest) -> None:
    # Given three shoppers working one shelf at once, each seen nearest their own lane
    edge = Edge()
    events = [edge.entered(s, [t], at_s=0) for s, t in (("s1", "t1"), ("s2", "t2"), ("s3", "t3"))]
    picks = [
        ("L1", -355.2, "t1", 1),
        ("L2", -150.3, "t2", 1),
        ("L3", -409.5, "t3", 1),
        ("L1", -354.6, "t1", 2),
        ("L2", -299.7, "t2", 2),
        ("L6", -60.4, "t3", 2),
    ]
    for n, (lane, delta, actor, _) in enumerate(picks):
        candidates = [
            (t, f"s{t[1]}", 0.9 if t == actor else 0.25, 0.35 if t == actor else 0.8)
            for t in ("t1", "t2", "t3")
        ]
        events.append(edge.shelf(lane, delta, candidates, at_s=10 + n * 0.5))
    # When ingested in one batch
    assert failures(aws.send(events)) == []
    # Then every pick went to the shopper who made it
    assert aws.items("s1") == {"cola": 2}
    assert aws.items("s2") == {"chips": 3}
    assert aws.items("s3") == {"soap": 1, "candy": 1}


def test_a_put_back_on_the_wrong_lane_leaves_the_cart_and_the_lane_remembers(
    aws: MotoIngest,
) -> None:
    # Given s1 took a tea (L5) and s2 stands nearby
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0),
            edge.entered("s2", ["t2"], at_s=0),
            edge.shelf("L5", -152.4, [("t1", "s1", 0.9, 0.4)], at_s=5),
        ]
    )
    assert aws.items("s1") == {"tea": 1}
    # When s1 puts the tea back on the chips lane (L2), with s2 close by
    aws.send([edge.shelf("L2", 151.6, [("t1", "s1", 0.7, 0.45), ("t2", "s2", 0.6, 0.5)], at_s=9)])
    # Then the tea left s1's cart although chips weigh almost the same, and s2's is empty
    assert aws.items("s1") == {}
    assert aws.items("s2") == {}
    lanes = aws.sessions().lanes(STORE)
    assert lanes["L2"].foreign == {"tea": 1}


def test_a_put_back_is_the_item_taken_from_that_lane_and_the_cart_keeps_where_it_came_from(
    aws: MotoIngest,
) -> None:
    # Given s1 took a chips (150 g) from L2 and then a tea (152 g) from L5
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0),
            edge.shelf("L2", -150.2, [("t1", "s1", 0.9, 0.4)], at_s=5),
            edge.shelf("L5", -152.1, [("t1", "s1", 0.9, 0.4)], at_s=8),
        ]
    )
    _, cart = aws.read("s1")
    assert cart is not None and cart.picked_from == {"chips": {"L2": 1}, "tea": {"L5": 1}}
    # When 151 g go back on the tea lane a moment later (either item would weigh that)
    put_back = edge.shelf("L5", 151.0, [("t1", "s1", 0.9, 0.4)], at_s=11)
    aws.send([put_back])
    # Then the tea left the cart, surely enough that nobody needs to review it
    _, cart = aws.read("s1")
    assert cart is not None and cart.items == {"chips": 1}
    assert cart.picked_from == {"chips": {"L2": 1}}
    record = aws.sessions().get_attribution(STORE, put_back.event_id)
    assert record is not None and record.decision.probability > 0.95


def test_a_foreign_unit_remembered_on_a_lane_is_charged_when_picked(aws: MotoIngest) -> None:
    # Given s1 left a soap (410 g) on the candy lane (60 g)
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0),
            edge.entered("s2", ["t2"], at_s=0),
            edge.shelf("L3", -409.0, [("t1", "s1", 0.9, 0.4)], at_s=5),
            edge.shelf("L6", 410.8, [("t1", "s1", 0.9, 0.4)], at_s=8),
        ]
    )
    assert aws.items("s1") == {}
    assert aws.sessions().lanes(STORE)["L6"].foreign == {"soap": 1}
    # When s2 takes 410 g off the candy lane
    pick = edge.shelf("L6", -411.5, [("t2", "s2", 0.9, 0.4)], at_s=20)
    aws.send([pick])
    # Then s2 is charged the soap with confidence, and the lane forgets it
    assert aws.items("s2") == {"soap": 1}
    record = aws.sessions().get_attribution(STORE, pick.event_id)
    assert record is not None and record.probability > 0.99
    assert any("foreign unit" in r for r in record.reasons)
    assert aws.sessions().lanes(STORE)["L6"].foreign == {}


def test_a_possible_identity_swap_spreads_the_doubt_over_both_receipts(aws: MotoIngest) -> None:
    # Given two shoppers who brushed past each other (swap probability 0.4)
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0),
            edge.entered("s2", ["t2"], at_s=0),
            edge.ambiguity("t1", "t2", 0.4, at_s=5),
        ]
    )
    # When the track labelled t1 picks a juice
    assert failures(aws.send([edge.shelf("L4", -1000.5, [("t1", "s1", 0.95, 0.3)], at_s=9)])) == []
    # Then s1 is charged, but with doubt, and s2's receipt carries the runner-up doubt too
    _, cart1 = aws.read("s1")
    _, cart2 = aws.read("s2")
    assert cart1 is not None and cart2 is not None
    assert cart1.items == {"juice": 1} and cart2.items == {}
    assert 0.5 < cart1.confidence < 0.7
    assert 0.5 < cart2.confidence < 0.7
    record = aws.sessions().get_attribution(STORE, next(iter(cart1.factors)))
    assert record is not None
    assert any("too close to tell apart" in r for r in record.reasons)
    assert record.alternatives[0].session_id == "s2"


def test_a_cart_keeps_the_order_it_took_its_events_in(aws: MotoIngest) -> None:
    # Given s1 shopping, and s2 near the shelf
    edge = Edge()
    aws.send([edge.entered("s1", ["t1"], at_s=0), edge.entered("s2", ["t2"], at_s=0)])
    # When a juice pick ending at 9 s arrives before one ending at 6 s (held at the edge),
    # and s2 is only a distant runner-up of the second
    later = edge.shelf("L4", -1000.5, [("t1", "s1", 0.95, 0.3)], at_s=9)
    earlier = edge.shelf("L4", -1000.5, [("t1", "s1", 0.9, 0.3), ("t2", "s2", 0.3, 0.9)], at_s=6)
    assert failures(aws.send([later])) == []
    assert failures(aws.send([earlier])) == []
    # Then s1's cart lists both in the order it took them; s2's took neither
    _, cart1 = aws.read("s1")
    _, cart2 = aws.read("s2")
    assert cart1 is not None and cart2 is not None
    assert cart1.items == {"juice": 2}
    assert cart1.applied == [later.event_id, earlier.event_id]
    assert cart2.applied == []


def test_a_shelf_change_after_hand_over_charges_nobody(aws: MotoIngest) -> None:
    # Given s1 left and was handed over
    edge = Edge()
    aws.send(
        [edge.entered("s1", ["t1"], at_s=0), edge.exited("s1", "t1", at_s=5), edge.heartbeat(20)]
    )
    _, before = aws.read("s1")
    # When a shelf change naming s1 arrives afterwards (a late record)
    response = aws.send([edge.shelf("L1", -355.0, [("t1", "s1", 0.9, 0.4)], at_s=4)])
    # Then the record is kept (not failed) but the handed-over cart does not change
    assert failures(response) == []
    _, after = aws.read("s1")
    assert before is not None and after is not None
    assert after.items == {} and after.rev == before.rev


def test_a_pick_nobody_was_seen_making_keeps_everyone_present_from_auto_finalising(
    aws: MotoIngest,
) -> None:
    # Given s1 and s2 shopping (s2's cart already read in an earlier batch), s3 gone
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0),
            edge.entered("s2", ["t2"], at_s=0),
            edge.entered("s3", ["t3"], at_s=0),
            edge.exited("s3", "t3", at_s=3),
            edge.shelf("L2", -150.2, [("t2", "s2", 0.95, 0.3)], at_s=4),
        ]
    )
    # When a juice leaves a shelf with nobody listed near it (the tracker missed the actor)
    assert failures(aws.send([edge.shelf("L4", -1000.5, [], at_s=9)])) == []
    # Then nobody is charged, but both shoppers still in the store may have taken it: their
    # receipts fall below the review threshold; s3, gone before, is untouched
    threshold = DeploymentConfig().review_threshold
    for session in ("s1", "s2"):
        _, cart = aws.read(session)
        assert cart is not None and "juice" not in cart.items
        assert cart.confidence < threshold
    _, cart3 = aws.read("s3")
    assert cart3 is not None and cart3.confidence == 1.0 and cart3.factors == {}
    _, cart1 = aws.read("s1")
    assert cart1 is not None
    record = aws.sessions().get_attribution(STORE, next(iter(cart1.factors)))
    assert record is not None and not record.decision.changes_a_cart
    assert record.p_nobody > 0.9
    assert {s.session_id for s in record.sessions} == {"s1", "s2"}
