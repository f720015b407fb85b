"""Gate binding: a scan opens a session, the people who come through under it join it."""

from __future__ import annotations

import itertools

from walkout_edge.perception.gates import (
    GateBinder,
    GateEvent,
    MemberJoined,
    SessionOpened,
    untracked_member_id,
)


def binder(**kw: float) -> GateBinder:
    numbers = itertools.count(1)
    return GateBinder(lambda ts: f"ses-{next(numbers)}", **kw)


def scan(ts: float, account: str) -> GateEvent:
    return GateEvent(ts, "entry-1", "scan", account)


def enter(ts: float) -> GateEvent:
    return GateEvent(ts, "entry-1", "enter")


def test_a_group_of_three_under_one_scan_is_one_session_entered() -> None:
    # Given one scan and three people through the turnstile, each seen as a new track
    b = binder(hold_s=2.0)
    b.on_gate(scan(100.0, "acct-a"))
    for k, ts in enumerate((100.8, 101.4, 102.1)):
        b.on_gate(enter(ts))
        b.on_track_born(f"trk-{k}", ts + 0.05, at_entry=True, now=ts + 0.3)
    # When the hold after the first member has passed
    assert b.poll(102.0) == []
    decisions = b.poll(103.2)
    # Then one session.entered lists all three tracks
    assert decisions == [
        SessionOpened(101.1, "ses-1", "entry-1", "acct-a", ("trk-0", "trk-1", "trk-2"))
    ]
    assert b.session_of == {"trk-0": "ses-1", "trk-1": "ses-1", "trk-2": "ses-1"}


def test_a_member_bound_after_the_announcement_joins() -> None:
    b = binder(hold_s=1.0)
    b.on_gate(scan(10.0, "acct-a"))
    b.on_gate(enter(10.8))
    b.on_track_born("trk-1", 10.8, at_entry=True, now=11.0)
    assert [type(d) for d in b.poll(12.5)] == [SessionOpened]
    b.on_gate(enter(13.0))
    b.on_track_born("trk-2", 13.0, at_entry=True, now=13.2)
    assert b.poll(13.3) == [MemberJoined(13.2, "ses-1", "trk-2")]


def test_the_next_scan_while_the_last_member_is_still_in_the_turnstile() -> None:
    # Given group A (two people) and group B scanning 0.1 s before A's second member passes
    b = binder(hold_s=1.0)
    b.on_gate(scan(0.5, "acct-a"))
    b.on_gate(enter(1.3))
    b.on_track_born("a1", 1.3, True, 1.6)
    b.on_gate(scan(1.8, "acct-b"))
    b.on_gate(enter(1.9))
    b.on_track_born("a2", 1.9, True, 2.2)
    b.on_gate(enter(2.6))
    b.on_track_born("b1", 2.6, True, 2.9)
    b.poll(10.0)
    # Then A's second member is A's, not B's: nobody passes 0.1 s after their own scan
    assert b.session_of["a1"] == b.session_of["a2"] != b.session_of["b1"]


def test_pulses_count_the_births_still_expected() -> None:
    b = binder()
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(0.8))
    b.on_gate(enter(1.5))
    assert b.unclaimed_pulses(1.6) == 2
    b.on_track_born("t1", 0.8, True, 1.6)
    assert b.unclaimed_pulses(1.7) == 1


def test_a_person_seen_late_at_the_gate_does_not_take_the_next_groups_session() -> None:
    # Given group A's last member seen only 1.2 s after their pulse (merged with the person
    # ahead), and group B's first member seen on time just before
    b = binder(hold_s=0.5)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(0.8))
    b.on_track_born("a1", 0.8, True, 1.1)
    b.on_gate(enter(1.4))
    b.on_gate(scan(1.5, "acct-b"))
    b.on_gate(enter(2.3))
    b.on_track_born("b1", 2.3, True, 2.6)
    b.on_track_born("a2", 2.6, True, 2.9)
    b.poll(10.0)
    # Then each takes the pulse nearest to when they were first seen
    assert b.session_of["a2"] == b.session_of["a1"] == "ses-1"
    assert b.session_of["b1"] == "ses-2"


def test_a_track_seen_before_its_pulse_waits_for_it() -> None:
    b = binder(hold_s=0.5)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(0.8))
    b.on_track_born("t1", 0.8, True, 1.0)
    b.on_track_born("t2", 1.4, True, 1.5)  # its pulse comes 0.2 s later (clocks)
    b.on_gate(enter(1.7))
    b.poll(5.0)
    assert b.session_of == {"t1": "ses-1", "t2": "ses-1"}


def test_without_turnstile_pulses_a_track_takes_the_latest_scan_before_it() -> None:
    b = binder()
    b.on_gate(scan(10.0, "acct-a"))
    b.on_gate(scan(30.0, "acct-b"))
    b.on_track_born("t1", 31.0, True, 31.3)
    assert b.unclaimed_pulses(31.3) is None
    assert b.session_of["t1"] == "ses-2"


def test_a_track_born_inside_the_store_is_bound_to_nobody() -> None:
    # Given a group's scan and two pulses, the second of which nobody claimed at the gate
    b = binder(pulse_window_s=2.0)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(0.8))
    b.on_track_born("t1", 0.8, True, 1.0)
    b.on_gate(enter(1.4))
    b.poll(5.0)
    # When a track turns up inside the store a few seconds later
    b.on_track_born("t2", 6.0, at_entry=False, now=6.5)
    # Then it is nobody's: in a crowd it is a second track on somebody tracked already
    assert b.session_of == {"t1": "ses-1"}
    assert b.poll(30.0) == []


def test_a_scan_no_track_took_opens_untracked_once_its_pulses_expired() -> None:
    # Given a group's scan and its two pulses, no track at the gate, one inside the store
    b = binder(pulse_window_s=2.0, hold_s=1.0)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(0.8))
    b.on_gate(enter(1.6))
    b.on_track_born("t9", 1.0, at_entry=False, now=3.0)
    # When time passes: the first pulse's window ends at 2.8, the second's at 3.6 (the
    # store time before which nothing more comes stays at the first pulse)
    assert b.poll(3.0) == [] and b.earliest_unannounced_t() == 0.8
    assert b.poll(3.7) == [] and b.earliest_unannounced_t() == 0.8
    assert b.poll(4.6) == [] and b.earliest_unannounced_t() == 0.8
    decisions = b.poll(4.8)
    # Then, the hold after the last expiry over, the visit opens as of the first pulse with
    # a stand-in for each person nobody tracked
    members = (untracked_member_id("ses-1", 0), untracked_member_id("ses-1", 1))
    assert decisions == [SessionOpened(0.8, "ses-1", "entry-1", "acct-a", members, members)]
    assert b.session_of == dict.fromkeys(members, "ses-1")
    assert b.earliest_unannounced_t() is None
    assert b.poll(30.0) == []


def test_a_track_with_no_scan_stays_unbound() -> None:
    b = binder()
    b.on_track_born("t1", 5.0, True, 5.3)
    assert b.session_of == {}
    assert b.poll(20.0) == []


def test_the_pulse_nearest_to_passing_the_turnstile_is_taken_not_the_first_sighting() -> None:
    # Given two scans in a queue and their pulses 0.6 s apart
    b = binder()
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(0.5))
    b.on_gate(scan(0.6, "acct-b"))
    b.on_gate(enter(1.1))
    # When the first person is first seen at the second pulse (merged with the one behind
    # until then) but reckoned to have passed the turnstile at 0.4
    b.on_track_born("a", 1.1, True, 1.4, passed_t=0.4)
    # and the one behind, first seen later, passed it at 1.0
    b.on_track_born("b", 1.5, True, 1.9, passed_t=1.0)
    # Then each takes their own pulse, and with it their own scan's session
    assert b.session_of == {"a": "ses-1", "b": "ses-2"}


def test_a_pulse_long_after_the_first_sighting_is_not_taken_however_it_was_reckoned() -> None:
    # Given a pulse 2 s after a track was first seen
    b = binder(pulse_lead_s=1.0)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(3.0))
    # When the track is reckoned to have passed the turnstile near that pulse
    b.on_track_born("early", 1.0, True, 1.2, passed_t=2.9)
    # Then it does not take it, now or when the pulse expires unclaimed: somebody else is
    # still expected
    assert b.session_of == {}
    assert b.unclaimed_pulses(1.2) == 1
    b.poll(7.1)
    assert b.session_of == {}


def queue(b: GateBinder) -> None:
    """Two people in a queue, each on their own scan: pulses at 0.8 (A) and 1.4 (B)."""
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(scan(0.6, "acct-b"))
    b.on_gate(enter(0.8))
    b.on_gate(enter(1.4))


def test_a_late_track_that_fits_no_pulse_does_not_take_the_next_persons() -> None:
    # Given three people in a queue on their own scans, pulses at 0.8 (A), 1.4 (B), 2.0 (C)
    b = binder(claim_gap_s=0.6)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(scan(0.6, "acct-b"))
    b.on_gate(scan(1.2, "acct-c"))
    for ts in (0.8, 1.4, 2.0):
        b.on_gate(enter(ts))
    b.on_track_born("a", 0.8, True, 1.0, passed_t=0.8)
    # When B, seen apart from A only late, is reckoned to have passed at 2.7 (0.7 s after
    # C's pulse, the nearest)
    b.on_track_born("b", 2.6, True, 2.9, passed_t=2.7)
    # Then B waits, and one more person is still expected
    assert "b" not in b.session_of
    assert b.unclaimed_pulses(2.9) == 1
    # and when C's track comes, it takes C's pulse; B's pulse goes to B when it expires
    b.on_track_born("c", 2.2, True, 3.0, passed_t=2.05)
    b.poll(10.0)
    assert b.session_of == {"a": "ses-1", "b": "ses-2", "c": "ses-3"}


def test_a_waiting_track_stops_counting_once_no_pulse_can_be_its_own() -> None:
    # Given A through on time, and a ghost of A seen at 1.5 that fits no pulse
    b = binder(claim_gap_s=0.6, pulse_window_s=4.0)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(0.8))
    b.on_track_born("a", 0.8, True, 1.0, passed_t=0.8)
    b.on_track_born("ghost", 1.5, True, 1.5, passed_t=0.5)
    assert b.session_of == {"a": "ses-1"}
    # When the next person comes through at 5.8, long after
    b.on_gate(scan(5.0, "acct-b"))
    b.on_gate(enter(5.8))
    # Then the ghost does not stand for them: their own track may still be born
    assert b.unclaimed_pulses(5.9) == 1


def test_a_pulse_nobody_fits_goes_at_the_end_of_its_window_to_the_nearest_waiting_track() -> None:
    # Given B seen only when clear of A, reckoned 0.8 s off its pulse
    b = binder(claim_gap_s=0.6, pulse_window_s=4.0)
    queue(b)
    b.on_track_born("a", 0.8, True, 1.0, passed_t=0.8)
    b.on_track_born("b", 2.2, True, 2.4, passed_t=2.2)
    # Then it waits, and the cameras expect nobody more
    assert "b" not in b.session_of
    assert b.unclaimed_pulses(2.5) == 0
    # When B's pulse has waited its window with no better track
    b.poll(5.5)
    # Then B takes it: its session is not left without anybody
    assert b.session_of == {"a": "ses-1", "b": "ses-2"}


def test_a_waiting_track_takes_a_later_pulse_that_fits_it() -> None:
    b = binder(claim_gap_s=0.6)
    b.on_gate(scan(0.0, "acct-a"))
    b.on_track_born("t", 1.0, True, 1.1, passed_t=1.05)  # no pulse yet (hub clock behind)
    b.on_gate(enter(1.3))
    assert b.session_of == {"t": "ses-1"}


def _two_strangers_through(b: GateBinder) -> None:
    """A scans at 0.0 and passes the turnstile at 1.0, B scans at 1.2 and passes at 1.6."""
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(1.0))
    b.on_gate(scan(1.2, "acct-b"))
    b.on_gate(enter(1.6))


def _two_strangers(b: GateBinder, passed_a: float, passed_b: float) -> None:
    """`_two_strangers_through`, their tracks reckoned to have passed at `passed_a` and
    `passed_b`."""
    _two_strangers_through(b)
    b.on_track_born("trk-a", passed_a, True, 2.0, passed_t=passed_a)
    b.on_track_born("trk-b", passed_b, True, 2.1, passed_t=passed_b)


def test_strangers_whose_passing_times_fit_each_others_pulses_too_are_doubted() -> None:
    # Given two strangers through the turnstile 0.6 s apart, each track reckoned to have
    # passed halfway between the two pulses (seen late, one blob at the gate)
    b = binder()
    _two_strangers(b, 1.25, 1.35)
    # Then each took the pulse nearer to it, and the pair is doubted: the chance that they
    # are the other way round, as far as the gate can tell (at most an even chance)
    assert b.session_of == {"trk-a": "ses-1", "trk-b": "ses-2"}
    (doubt,) = b.take_doubts()
    assert doubt.track_ids == ("trk-a", "trk-b")
    assert 0.1 < doubt.swap_probability < 0.5
    assert doubt.t_start == 1.25 and doubt.t_end == 2.1
    # And the bindings by pulse are there to be logged
    assert [(x.track_id, x.pulse_ts) for x in b.take_bindings()] == [
        ("trk-a", 1.0),
        ("trk-b", 1.6),
    ]


def test_a_doubt_is_never_more_than_the_gates_cap() -> None:
    b = binder(doubt_max_p=0.1)
    _two_strangers(b, 1.25, 1.35)
    assert [d.swap_probability for d in b.take_doubts()] == [0.1]


def test_strangers_seen_passing_with_their_own_pulses_are_not_doubted() -> None:
    b = binder()
    _two_strangers(b, 1.05, 1.55)
    assert b.session_of == {"trk-a": "ses-1", "trk-b": "ses-2"}
    assert b.take_doubts() == []


def test_strangers_whose_tracks_were_born_in_the_other_order_than_their_pulses_are_doubted() -> (
    None
):
    # Given A through the turnstile at 1.0 and B at 1.6, but A's track first seen at 1.5
    # (merged with B at the gate) and B's at 1.2, each reckoned to have passed right at
    # one of the pulses
    b = binder()
    _two_strangers_through(b)
    b.on_track_born("trk-b", 1.2, True, 2.0, passed_t=1.58)
    b.on_track_born("trk-a", 1.5, True, 2.1, passed_t=1.02)
    # Then each takes the pulse its passing time fits (the times alone leave no doubt)
    assert b.session_of == {"trk-a": "ses-1", "trk-b": "ses-2"}
    # but the one seen first took the later pulse: the pair is doubted all the same
    (doubt,) = b.take_doubts()
    assert doubt.track_ids == ("trk-b", "trk-a")
    assert doubt.swap_probability == b.crossed_birth_p
    # and born in the pulses' order, the same times give no doubt
    again = binder()
    _two_strangers(again, 1.02, 1.58)
    assert again.take_doubts() == []


def test_a_group_under_one_scan_is_never_doubted_among_itself() -> None:
    # Given two members of one group passing as close together as the doubted strangers
    b = binder()
    b.on_gate(scan(0.0, "acct-a"))
    b.on_gate(enter(1.0))
    b.on_gate(enter(1.6))
    b.on_track_born("trk-a", 1.25, True, 2.0, passed_t=1.25)
    b.on_track_born("trk-b", 1.35, True, 2.1, passed_t=1.35)
    # Then whichever is whom, the same cart pays: nothing to doubt
    assert set(b.session_of.values()) == {"ses-1"}
    assert b.take_doubts() == []
