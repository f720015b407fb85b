"""Attribution invariants, as hypothesis properties over random shelf changes."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from attribution_support import LANES, PRODUCTS, T0, ShelfEventFactory
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from walkout.attribution import (
    DEFAULT_PARAMS,
    Ambiguity,
    Floor,
    ShelfContext,
    attribute,
    cart_after,
    identities,
    lane_after,
    posterior,
    receipt_confidence,
)
from walkout.attribution.identity import shaping
from walkout.attribution.record import Action

LANE_IDS = sorted(LANES)
SKUS = sorted(PRODUCTS)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

candidate = st.tuples(
    st.sampled_from(["t1", "t2", "t3", "t4"]),
    st.sampled_from(["s1", "s2", "s3", None]),
    st.floats(0, 1),
    st.floats(0, 3),
)
carts = st.dictionaries(
    st.sampled_from(["s1", "s2", "s3"]),
    st.dictionaries(st.sampled_from(SKUS), st.integers(0, 4), max_size=3),
    max_size=3,
)


@SETTINGS
@given(
    lane=st.sampled_from(LANE_IDS),
    delta=st.floats(-4000, 4000).filter(lambda d: abs(d) > 0.5),
    noise=st.floats(0, 20),
    candidates=st.lists(candidate, max_size=4, unique_by=lambda c: c[0]),
    held=carts,
    foreign=st.dictionaries(st.sampled_from(SKUS), st.integers(0, 3), max_size=2),
    swap=st.floats(0, 1),
)
def test_probabilities_form_a_distribution(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    lane: str,
    delta: float,
    noise: float,
    candidates: list[tuple[str, str | None, float, float]],
    held: dict[str, dict[str, int]],
    foreign: dict[str, int],
    swap: float,
) -> None:
    # Given any shelf change, any candidates, carts, lane memory and an identity swap
    event = shelf_event(lane, delta, candidates, noise_g=noise)
    ambiguity = Ambiguity(
        "01AMB", event.data.t_start, event.data.t_end, "t1", "t2", swap, "s1", "s2"
    )
    context = ShelfContext(foreign=foreign, carts=held, ambiguities=[ambiguity])
    # When it is attributed
    hypotheses = posterior(event, floor, context)
    record = attribute(event, floor, context)
    # Then the hypotheses' probabilities sum to 1, the decision is the most probable one,
    # and every reported share and factor is a probability
    assert math.isclose(sum(h.probability for h in hypotheses), 1.0, abs_tol=1e-9)
    assert all(0 <= h.probability <= 1 for h in hypotheses)
    assert record.decision == next(h for h in hypotheses if not h.unlisted)
    assert all(h.probability <= record.decision.probability for h in record.alternatives)
    assert 0 <= record.p_who <= 1 and 0 <= record.p_what <= 1
    assert record.decision.probability <= min(record.p_who, record.p_what) + 1e-12
    for share in record.sessions:
        assert 0 <= share.probability <= 1 and 0 <= share.factor <= 1
    assert sum(s.probability for s in record.sessions) <= 1 + 1e-9
    # ... and a return only ever takes from a cart that holds the item
    if record.action is Action.RETURN and record.decision.changes_a_cart:
        assert record.decision.session_id is not None and record.decision.sku is not None
        assert held[record.decision.session_id][record.decision.sku] >= record.decision.qty


@SETTINGS
@given(
    lane=st.sampled_from(LANE_IDS),
    qty=st.integers(1, 3),
    noise=st.floats(0.2, 3.0),
    error_sigmas=st.floats(-1.5, 1.5),
    reach=st.floats(0.8, 1.0),
    distance=st.floats(0.2, 0.5),
    bystanders=st.lists(st.tuples(st.floats(0, 0.1), st.floats(1.5, 3.0)), max_size=2),
)
def test_an_unambiguous_pick_is_attributed_with_confidence_near_one(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    lane: str,
    qty: int,
    noise: float,
    error_sigmas: float,
    reach: float,
    distance: float,
    bystanders: list[tuple[float, float]],
) -> None:
    # Given a pick from a lane by one shopper clearly reaching in (others far and idle),
    # whose weight is within 1.5 sensor sigmas of qty units
    sku = LANES[lane]
    weight, _, _ = PRODUCTS[sku]
    candidates = [("t1", "s1", reach, distance)] + [
        (f"t{i + 2}", f"s{i + 2}", r, d) for i, (r, d) in enumerate(bystanders)
    ]
    event = shelf_event(lane, -(qty * weight + error_sigmas * noise), candidates, noise_g=noise)
    # When it is attributed
    record = attribute(event, floor, ShelfContext())
    # Then the right shopper gets the right item, and the model is sure of it
    assert (record.decision.session_id, record.decision.sku, record.decision.qty) == (
        "s1",
        sku,
        qty,
    )
    assert record.probability > 0.97


@SETTINGS
@given(
    home_lane=st.sampled_from(LANE_IDS),
    other_lane=st.sampled_from(LANE_IDS),
    extra=st.dictionaries(st.sampled_from(SKUS), st.integers(1, 2), max_size=2),
    error_g=st.floats(-2, 2),
    reaches=st.tuples(st.floats(0.5, 1.0), st.floats(0.0, 0.5)),
    neighbour_distance=st.floats(0.4, 1.0),
)
def test_a_put_back_on_the_wrong_lane_leaves_the_cart_right(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    home_lane: str,
    other_lane: str,
    extra: dict[str, int],
    error_g: float,
    reaches: tuple[float, float],
    neighbour_distance: float,
) -> None:
    # Given s1 holds a unit taken from one lane, and a neighbour s2 whose cart lacks it
    # (s2 may be reaching too, at most as clearly as s1)
    sku = LANES[home_lane]
    weight = PRODUCTS[sku][0]
    # (items of nearly the same weight in one cart cannot be told apart by any model)
    assume(all(s == sku or abs(PRODUCTS[s][0] - weight) > 20 for s in extra))
    s1_cart = {**extra, sku: extra.get(sku, 0) + 1}
    s2_cart = {s: n for s, n in extra.items() if s != sku}
    context = ShelfContext(carts={"s1": s1_cart, "s2": s2_cart}, foreign={})
    # When s1 puts it back on any lane (its own, or the wrong one) with s2 next to them
    event = shelf_event(
        other_lane,
        weight + error_g,
        [("t1", "s1", reaches[0], 0.45), ("t2", "s2", reaches[1], neighbour_distance)],
    )
    record = attribute(event, floor, context)
    # Then the unit leaves s1's cart, s2's cart is untouched
    assert cart_after(s1_cart, record, "s1") == {
        k: v for k, v in {**s1_cart, sku: s1_cart[sku] - 1}.items() if v
    }
    assert cart_after(s2_cart, record, "s2") == s2_cart
    # ... and a lane that is not the unit's home remembers the foreign unit
    expected = {} if other_lane == home_lane else {sku: 1}
    assert lane_after({}, record.lane_change) == expected


@SETTINGS
@given(
    candidates=st.lists(candidate, min_size=1, max_size=4, unique_by=lambda c: c[0]),
    delta=st.floats(-1500, -50),
    data=st.data(),
)
def test_the_order_of_candidates_does_not_matter(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    candidates: list[tuple[str, str | None, float, float]],
    delta: float,
    data: st.DataObject,
) -> None:
    # Given the same change reported with the candidates in two orders
    shuffled = data.draw(st.permutations(candidates))
    one = attribute(shelf_event("L1", delta, candidates), floor, ShelfContext())
    two = attribute(shelf_event("L1", delta, shuffled), floor, ShelfContext())
    # Then the decisions and probabilities agree
    assert one.decision.model_dump() == pytest.approx(two.decision.model_dump()) or (
        one.decision.session_id == two.decision.session_id
        and one.decision.sku == two.decision.sku
        and math.isclose(one.decision.probability, two.decision.probability, rel_tol=1e-9)
    )


present_people = st.dictionaries(
    st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6"]), st.integers(0, 3), min_size=1
)


@SETTINGS
@given(
    lane=st.sampled_from(LANE_IDS),
    bystanders=st.lists(
        st.tuples(st.sampled_from(["s1", "s2", "s3"]), st.floats(0, 0.15), st.floats(1.2, 3.0)),
        max_size=2,
    ),
    present=present_people,
    threshold=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_a_pick_charged_to_nobody_lowers_everyone_who_may_have_made_it(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    lane: str,
    bystanders: list[tuple[str, float, float]],
    present: dict[str, int],
    threshold: float,
) -> None:
    # Given a clean pick whose actor the edge did not list (only idle people far away are
    # candidates), with some sessions' people in the store
    sku = LANES[lane]
    candidates = [(f"t{i}", s, r, d) for i, (s, r, d) in enumerate(bystanders)]
    event = shelf_event(lane, -PRODUCTS[sku][0], candidates)
    context = ShelfContext(present=present)
    # When it is attributed
    record = attribute(event, floor, context)
    hypotheses = posterior(event, floor, context)
    p_item = sum(h.probability for h in hypotheses if h.unlisted and h.sku is not None)
    p_nobody = sum(h.probability for h in hypotheses if h.session_id is None and h.sku)
    assume(p_item > 0.5)
    listed: dict[str, int] = {}
    for s, _, _ in bystanders:
        listed[s] = listed.get(s, 0) + 1
    unlisted = {s: max(0, n - listed.get(s, 0)) for s, n in present.items()}
    weights = unlisted if sum(unlisted.values()) else present
    total, everyone = sum(weights.values()), sum(present.values())
    # Then nobody is charged, and every session that may have made it (people in the store
    # the edge did not list first) has its factor lowered by exactly its share of the
    # uncharged part; a session with nobody present (the evidence excludes it) is untouched
    assert not record.decision.changes_a_cart
    assert math.isclose(record.p_nobody, p_nobody, rel_tol=1e-9)
    for session, n in present.items():
        share = record.share_of(session)
        if n == 0:
            assert share is None
            continue
        expected = p_item * weights[session] / total + (p_nobody - p_item) * n / everyone
        if expected < 0.01:  # below a runner-up's share: not worth a factor
            continue
        assert share is not None and not share.chosen
        assert math.isclose(share.p_unlisted, expected, rel_tol=1e-9)
        assert share.factor <= 1 - expected + 1e-12
        # ... so a session whose share exceeds what the threshold tolerates cannot be
        # finalised without review, whatever its other events
        if expected > 1 - threshold:
            assert receipt_confidence({"other": 1.0, event.event_id: share.factor}) < threshold
    assert sum(s.probability for s in record.sessions) <= 1 + 1e-9


@SETTINGS
@given(
    lane=st.sampled_from(LANE_IDS),
    people=st.integers(1, 4),
    threshold=st.sampled_from([0.9, 0.95, 0.99]),
)
@pytest.mark.parametrize("seen", [False, True], ids=["actor-not-listed", "actor-unbound"])
def test_in_a_quiet_store_a_pick_charged_to_nobody_leaves_no_session_confident(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    lane: str,
    people: int,
    threshold: float,
    seen: bool,
) -> None:
    # Given a pick nobody was seen making, or made by a person the gate bound to no
    # session, while a few sessions were in the store
    sku = LANES[lane]
    present = {f"s{i}": 1 for i in range(1, people + 1)}
    candidates = [("t9", None, 0.9, 0.3)] if seen else []
    event = shelf_event(lane, -PRODUCTS[sku][0], candidates)
    # When it is attributed
    record = attribute(event, floor, ShelfContext(present=present))
    # Then no session can be finalised without review
    for session in present:
        share = record.share_of(session)
        assert share is not None
        assert receipt_confidence({event.event_id: share.factor}) < threshold


@SETTINGS
@given(lane=st.sampled_from(LANE_IDS), reach=st.floats(0.85, 1.0))
def test_a_clearly_seen_pick_spreads_nothing_over_the_store(
    floor: Floor, shelf_event: ShelfEventFactory, lane: str, reach: float
) -> None:
    # Given a pick clearly made by a listed shopper, with other sessions in the store
    sku = LANES[lane]
    event = shelf_event(lane, -PRODUCTS[sku][0], [("t1", "s1", reach, 0.3)])
    record = attribute(event, floor, ShelfContext(present={"s1": 1, "s2": 2, "s3": 1}))
    # Then only s1 takes part: the others' receipts are not made doubtful by it
    assert [s.session_id for s in record.sessions] == ["s1"]


_TRACKS = [f"t{i}" for i in range(8)]


@st.composite
def _ambiguity_chains(draw: st.DrawFn) -> list[Ambiguity]:
    out = []
    for i in range(draw(st.integers(0, 30))):
        a, b = draw(st.lists(st.sampled_from(_TRACKS), min_size=2, max_size=2, unique=True))
        start = draw(st.integers(0, 60))
        t = T0 + timedelta(seconds=start)
        out.append(
            Ambiguity(
                f"A{i:02d}",
                t,
                t + timedelta(seconds=draw(st.integers(0, 5))),
                a,
                b,
                draw(st.sampled_from([0.0, 0.1, 0.3, 0.5])),
                draw(st.sampled_from([None, f"s-{a}"])),
                draw(st.sampled_from([None, f"s-{b}"])),
            )
        )
    return out


@given(
    ambiguities=_ambiguity_chains(),
    wanted=st.sets(st.sampled_from(_TRACKS), min_size=1, max_size=3),
    at_s=st.integers(0, 70),
)
def test_only_the_ambiguities_that_shape_the_identities_are_needed(
    ambiguities: list[Ambiguity], wanted: set[str], at_s: int
) -> None:
    # Given any tangle of swaps among eight tracks, and a few tracks asked about at a time
    before = T0 + timedelta(seconds=at_s)
    tracks = {t: f"s-{t}" for t in sorted(wanted)}
    # When only the ambiguities that shape those tracks' identities are applied
    chosen = shaping(ambiguities, tracks, before)
    # Then the identities are the same as with every ambiguity, from a subset of them
    full = identities(tracks, ambiguities, before=before)
    assert identities(tracks, chosen, before=before) == full
    assert {a.event_id for a in chosen} <= {a.event_id for a in ambiguities}


def test_a_later_swap_of_a_partner_does_not_shape_an_earlier_identity() -> None:
    # Given t1 swapped with t2, and afterwards t2 with t3
    first = Ambiguity("A", T0, T0 + timedelta(seconds=1), "t1", "t2", 0.3, "s1", "s2")
    later_start = T0 + timedelta(seconds=5)
    later = Ambiguity(
        "B", later_start, later_start + timedelta(seconds=1), "t2", "t3", 0.5, "s2", "s3"
    )
    # Then only the first shapes t1 (t2's later swap changed t2, not t1)
    assert shaping([first, later], {"t1"}, T0 + timedelta(seconds=10)) == [first]


@SETTINGS
@given(
    lane=st.sampled_from(LANE_IDS),
    candidates=st.lists(
        st.tuples(st.sampled_from(["s1", "s2", None]), st.floats(0, 1), st.floats(0.1, 3.0)),
        max_size=3,
    ),
    present=present_people,
)
def test_people_present_asked_for_only_when_needed_give_the_record_they_would_given(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    lane: str,
    candidates: list[tuple[str | None, float, float]],
    present: dict[str, int],
) -> None:
    # Given any pick, and the people of each session in the store then
    sku = LANES[lane]
    event = shelf_event(
        lane, -PRODUCTS[sku][0], [(f"t{i}", s, r, d) for i, (s, r, d) in enumerate(candidates)]
    )
    asked: list[bool] = []

    def people() -> dict[str, int]:
        asked.append(True)
        return present

    # When it is attributed with the people present asked for on demand
    record = attribute(event, floor, ShelfContext(), present=people)
    without = attribute(event, floor, ShelfContext())
    # Then they are asked for exactly when part of it was done by nobody charged
    needed = without.p_nobody >= DEFAULT_PARAMS.runner_up_min
    assert asked == ([True] if needed else [])
    # and the record is the one they give when known from the start
    if needed:
        assert record == attribute(event, floor, ShelfContext(present=present))
    else:
        assert record == without


# Tracks of people who came before the first session that can still be charged (their
# sessions closed, or none), and of those who came after (their sessions open).
_BEFORE = {"o1": "c1", "o2": "c2", "o3": None, "o4": None}
_AFTER = {"n1": "s1", "n2": "s2", "n3": "s3", "n4": None}
_FIRST_ENTRY_S = 100


@st.composite
def _a_day_of_ambiguities(draw: st.DrawFn) -> list[Ambiguity]:
    """Ambiguities among the earlier people before the first chargeable entry, and among
    anybody after it, each naming the sessions its tracks had."""
    people = {**_BEFORE, **_AFTER}
    out = []
    for i in range(draw(st.integers(0, 30))):
        start = draw(st.integers(0, 200))
        pool = sorted(_BEFORE) if start < _FIRST_ENTRY_S else sorted(people)
        a, b = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2, unique=True))
        t = T0 + timedelta(seconds=start)
        p = draw(st.sampled_from([0.1, 0.3, 0.5]))
        out.append(
            Ambiguity(f"A{i:02d}", t, t + timedelta(seconds=2), a, b, p, people[a], people[b])
        )
    return out


@SETTINGS
@given(
    ambiguities=_a_day_of_ambiguities(),
    candidates=st.lists(
        st.tuples(
            st.sampled_from(sorted({**_BEFORE, **_AFTER})), st.floats(0, 1), st.floats(0, 1.5)
        ),
        min_size=1,
        max_size=3,
        unique_by=lambda c: c[0],
    ),
    lane=st.sampled_from(LANE_IDS),
)
def test_ambiguities_older_than_every_chargeable_session_change_no_attribution(
    floor: Floor,
    shelf_event: ShelfEventFactory,
    ambiguities: list[Ambiguity],
    candidates: list[tuple[str, float, float]],
    lane: str,
) -> None:
    # Given a day of swaps, and a shelf change after the first chargeable session began
    people = {**_BEFORE, **_AFTER}
    sku = LANES[lane]
    event = shelf_event(
        lane, -PRODUCTS[sku][0], [(t, people[t], r, d) for t, r, d in candidates], at_s=210
    )
    chargeable = {"s1", "s2", "s3"}
    carts = {s: {} for s in chargeable}
    recent = [a for a in ambiguities if a.t_start >= T0 + timedelta(seconds=_FIRST_ENTRY_S)]
    # When it is attributed with every ambiguity, and with only those since that entry
    every = posterior(
        event, floor, ShelfContext(carts=carts, ambiguities=ambiguities, open_sessions=chargeable)
    )
    since = posterior(
        event, floor, ShelfContext(carts=carts, ambiguities=recent, open_sessions=chargeable)
    )
    # Then every hypothesis has the same probability (what the older ones moved between
    # closed sessions and nobody folds into "no session" either way)
    key = lambda h: (h.session_id or "", h.sku or "", h.qty, h.unlisted)  # noqa: E731
    assert [key(h) for h in sorted(every, key=key)] == [key(h) for h in sorted(since, key=key)]
    for a, b in zip(sorted(every, key=key), sorted(since, key=key), strict=True):
        assert math.isclose(a.probability, b.probability, rel_tol=1e-9, abs_tol=1e-12)
