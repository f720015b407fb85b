"""Who may have made a change nobody is charged for; bindings that came after an ambiguity;
devices that went silent (the pure rules ingest applies around attribution)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attribution_support import LANES, PRODUCTS, shelf_event_factory, small_definition

from walkout.attribution import DEFAULT_PARAMS, Floor, ShelfContext, attribute
from walkout.attribution.engine import unlisted_shares
from walkout.attribution.identity import Ambiguity, bound_later, identities
from walkout.attribution.record import Attribution
from walkout.ingest.lifecycle import is_ready, people_present, stale_devices

T0 = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_people_present_counts_those_not_gone_before_the_change_began() -> None:
    # Given a session of three: one left before the change, one during it, one stayed
    tracks = ["a", "b", "c"]
    exits = {"a": at(5), "b": at(10.5)}
    # Then two of them may have made a change during [10, 11]
    assert people_present(tracks, exits, at(0), at(10), at(11)) == 2
    # ... and nobody of a session that entered after it ended
    assert people_present(tracks, {}, at(12), at(10), at(11)) == 0


def test_the_unlisted_part_goes_to_people_the_edge_did_not_list() -> None:
    # Given s1 with two people present, one listed; s2 with one person, listed
    shares = unlisted_shares(0.6, 0.0, {"s1": 2, "s2": 1}, {"s1": 1, "s2": 1})
    # Then only s1's unlisted person may be the unseen actor
    assert shares == {"s1": 0.6}


def test_the_unbound_part_goes_to_everyone_present() -> None:
    # Given a person bound to no session took it while s1 (three people) and s2 (one) shop
    shares = unlisted_shares(0.0, 0.4, {"s1": 3, "s2": 1, "gone": 0}, {})
    # Then each person present is equally likely to be them
    assert shares == pytest.approx({"s1": 0.3, "s2": 0.1})


def test_when_everyone_present_was_listed_the_unlisted_part_is_shared_by_all() -> None:
    shares = unlisted_shares(0.5, 0.0, {"s1": 1, "s2": 1}, {"s1": 1, "s2": 1})
    assert shares == {"s1": 0.25, "s2": 0.25}


def test_nobody_present_means_nobody_shares() -> None:
    assert unlisted_shares(0.9, 0.1, {"s1": 0}, {}) == {}


def test_an_ambiguity_recorded_before_a_track_was_bound_takes_its_later_session() -> None:
    # Given t1 (s1) and t2 mixed up before t2's session.entered arrived (session_b None)
    amb = Ambiguity("01AMB", at(1), at(2), "t1", "t2", 0.3, "s1", None)
    # When t2 is bound to s2 by the time of the shelf change
    filled = bound_later([amb], {"t1": "s1", "t2": "s2"})
    # Then the swap mixes s1 with s2, not with "no session"
    assert filled[0].session_b == "s2" and filled[0].session_a == "s1"
    ids = identities({"t1": "s1"}, filled, before=at(3))
    assert ids["t1"] == {"s1": 0.7, "s2": 0.3}
    # ... while a recorded session is never overwritten
    assert bound_later([amb], {"t1": "s9"})[0].session_a == "s1"


def test_a_device_trailing_the_newest_watermark_too_far_is_stale() -> None:
    marks = {"gate": at(700), "hub": at(5), "cam": at(650)}
    assert stale_devices(marks, 600) == {"hub"}
    assert stale_devices({}, 600) == set()
    # Then readiness waits for the live devices only
    assert is_ready(at(10), marks, 2.0, stale_after_s=600)
    assert not is_ready(at(10), marks, 2.0)
    assert not is_ready(at(649), marks, 2.0, stale_after_s=600)


def test_a_track_that_joined_after_the_scan_is_trusted_less() -> None:
    # Given a clear pick by a track that joined its session after the scan
    floor = Floor.of(small_definition())
    event = shelf_event_factory()("L1", -PRODUCTS[LANES["L1"]][0], [("t2", "s1", 0.95, 0.3)])
    params = DEFAULT_PARAMS.model_copy(update={"joined_binding_error_rate": 0.4})
    scan_bound = attribute(event, floor, ShelfContext(present={"s1": 2, "s2": 1}), params)
    joined = attribute(
        event, floor, ShelfContext(present={"s1": 2, "s2": 1}, joined={"t2"}), params
    )
    # Then s1 is still charged, but 40 % of the session mass went to somebody else present
    assert joined.decision.session_id == "s1" == scan_bound.decision.session_id
    assert joined.probability == pytest.approx(0.6 * scan_bound.probability, rel=1e-3)
    assert joined.p_nobody == pytest.approx(0.4, abs=0.01)
    s2 = joined.share_of("s2")
    assert s2 is not None and s2.factor < 0.95


def _clear_pick_by_t1(
    same_person: dict[str, float] | None = None, ambiguities: tuple[Ambiguity, ...] = ()
) -> Attribution:
    """A clear pick by s1's track t1 with s2 also in the store, as the cloud attributes it
    given the edge's check of t1 (`same_person`) and the ambiguities reported."""
    event = shelf_event_factory()(
        "L1", -PRODUCTS[LANES["L1"]][0], [("t1", "s1", 0.95, 0.3)], same_person=same_person
    )
    context = ShelfContext(present={"s1": 1, "s2": 1}, ambiguities=ambiguities)
    return attribute(event, Floor.of(small_definition()), context)


def test_a_track_the_edge_finds_on_somebody_else_charges_its_session_less() -> None:
    plain = _clear_pick_by_t1()
    # When the edge's look check says the track was most likely on somebody else then
    doubted = _clear_pick_by_t1({"t1": 0.2})
    # Then s1 is still the one named, but only as likely as the check, and the rest is
    # somebody the candidates do not name (so the change goes to review)
    assert doubted.decision.session_id == "s1" == plain.decision.session_id
    assert doubted.probability == pytest.approx(0.2 * plain.probability, rel=1e-3)
    assert doubted.p_nobody == pytest.approx(0.8, abs=0.01)
    assert any("the edge gives 0.20 that track t1" in r for r in doubted.reasons)
    # ... and s2, present and not listed, may be the one who took it
    s2 = doubted.share_of("s2")
    assert s2 is not None and s2.factor < 0.5


def test_a_check_that_does_not_say_somebody_else_changes_nothing() -> None:
    plain = _clear_pick_by_t1()
    alarm = DEFAULT_PARAMS.same_person_alarm
    # A check at the alarm level or above, or none at all, leaves the attribution as it was
    for same in ({"t1": alarm}, {"t1": 0.97}, None):
        checked = _clear_pick_by_t1(same)
        assert checked.probability == pytest.approx(plain.probability)
        assert not any("the edge gives" in r for r in checked.reasons)


def test_a_check_caps_only_the_own_session_not_a_swap_already_reported() -> None:
    # Given t1 (s1) reported swapped with t2 (s2) with probability 0.7: t1 is s2's person
    amb = (Ambiguity("01AMB", at(1), at(2), "t1", "t2", 0.7, "s1", "s2"),)
    # When the edge's check gives 0.4 that t1 is still on s1's person (above s1's 0.3)
    checked = _clear_pick_by_t1({"t1": 0.4}, amb)
    plain = _clear_pick_by_t1(None, amb)
    # Then nothing moves: the check only ever lowers the own session's share
    assert checked.decision.session_id == "s2" == plain.decision.session_id
    assert checked.probability == pytest.approx(plain.probability)
