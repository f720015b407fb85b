"""`walkout eval perception` scoring on hand-made truth, events and tracks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from walkout.events import Event, make_event
from walkout_cli.eval import Detected, evaluate, match_weight_events, prf

T0 = 1_795_608_000.0


def at(s: float) -> datetime:
    return datetime.fromtimestamp(T0 + s, UTC)


def truth() -> dict[str, Any]:
    def person(pid: str, sid: str, x: float) -> dict[str, Any]:
        return {
            "person_id": pid,
            "session_id": sid,
            "trajectory": {"t0_ts": T0, "dt_s": 0.1, "xy": [[x, 2.0]] * 50},
        }

    return {
        "schema": "walkout.truth/1",
        "start_ts": T0,
        "trajectory_dt_s": 0.1,
        "sessions": [
            {"session_id": "s1", "account_ref": "acct-1", "members": ["p1"]},
            {"session_id": "s2", "account_ref": "acct-2", "members": ["p2"]},
        ],
        "people": [person("p1", "s1", 1.0), person("p2", "s2", 3.0)],
        "events": [
            {
                "kind": "pick",
                "lane_id": "L1",
                "ts": T0 + 1.0,
                "person_id": "p1",
                "session_id": "s1",
            },
            {
                "kind": "pick",
                "lane_id": "L2",
                "ts": T0 + 2.0,
                "person_id": "p2",
                "session_id": "s2",
            },
            {
                "kind": "return",
                "lane_id": "L1",
                "ts": T0 + 3.5,
                "person_id": "p1",
                "session_id": "s1",
            },
        ],
        "merges": [],
    }


def shelf(seq: int, lane: str, t0: float, t1: float, cands: list[tuple[str, str, float]]) -> Event:
    data = {
        "shelf_id": "S",
        "lane_id": lane,
        "delta_g": -100.0,
        "t_start": at(t0),
        "t_end": at(t1),
        "noise_g": 1.0,
        "candidates": [
            {"track_id": t, "session_id": s, "reach_score": r, "distance_m": 0.4}
            for t, s, r in cands
        ],
        "evidence": [],
    }
    return make_event("shelf.changed", data, store_id="st", device_id="d", seq=seq, ts=at(t1))


def entered(seq: int, session: str, account: str, track: str) -> Event:
    data = {
        "session_id": session,
        "gate_id": "entry-1",
        "account_ref": account,
        "track_ids": [track],
    }
    return make_event("session.entered", data, store_id="st", device_id="d", seq=seq, ts=at(0))


def test_events_match_in_time_and_lane_one_to_one() -> None:
    t = truth()["events"]
    detected = [
        Detected("L1", T0 + 0.8, T0 + 1.2, []),
        Detected("L1", T0 + 0.9, T0 + 1.1, []),  # a double: only one can match
        Detected("L2", T0 + 5.0, T0 + 5.5, []),  # the right lane, 3 s late
        Detected("L1", T0 + 3.3, T0 + 3.6, []),
    ]
    pairs = match_weight_events(t, detected, tol_s=1.0)
    assert pairs.keys() == {0, 2}
    assert prf(len(pairs), len(detected), len(t)) == {
        "precision": 0.5,
        "recall": 0.6667,
        "f1": 0.5714,
        "true": 3,
        "detected": 4,
        "matched": 2,
    }


def test_actor_accuracy_follows_the_idf1_assignment_and_counts_misses() -> None:
    events = [
        entered(0, "e1", "acct-1", "trk-a"),
        entered(1, "e2", "acct-2", "trk-b"),
        shelf(2, "L1", 0.9, 1.1, [("trk-a", "e1", 0.9), ("trk-b", "e2", 0.2)]),
        shelf(
            3, "L2", 1.9, 2.1, [("trk-a", "e1", 0.6), ("trk-b", "e2", 0.5)]
        ),  # wrong, small margin
    ]
    tracks = [(T0 + k * 0.1, "trk-a", 1.05, 2.0) for k in range(50)]
    tracks += [(T0 + k * 0.1, "trk-b", 3.1, 2.0) for k in range(50)]
    result = evaluate(truth(), events, tracks)
    assert result["tracking"]["idf1"] == 1.0
    assert result["tracking"]["id_switches"] == 0
    # one right, one wrong, the return at 3.5 s missed: 1 of 3
    assert result["actor_top1_accuracy"] == 0.3333
    assert result["session_top1_accuracy"] == 0.3333
    assert result["candidates"]["wrong_top"] == 1
    assert result["candidates"]["wrong_top_with_margin_ge_0_3"] == 0
    assert result["gates"]["people_bound_to_their_session"] == 2


def test_a_binding_is_judged_by_the_person_the_track_followed_when_born() -> None:
    # Given three tracks the gate bound to e1 (acct-1, true session s1): trk-a born on p1
    # (s1) that later drifts onto p2, trk-b born on p2 (s2), trk-c born where nobody was
    events = [
        entered(0, "e1", "acct-1", "trk-a"),
        entered(1, "e1b", "acct-1", "trk-b"),
        entered(2, "e1c", "acct-1", "trk-c"),
    ]
    tracks = [(T0 + k * 0.1, "trk-a", 1.05 if k < 12 else 3.0, 2.0) for k in range(40)]
    tracks += [(T0 + 0.5 + k * 0.1, "trk-b", 2.95, 2.0) for k in range(20)]
    tracks += [(T0 + k * 0.1, "trk-c", 2.0, 4.0) for k in range(20)]
    # When the events are scored
    gates = evaluate(truth(), events, tracks)["gates"]
    # Then the binding of trk-a is right (its first second was on p1, whatever came later),
    # trk-b's is wrong, trk-c cannot be judged
    assert gates["bound_at_birth"] == {"tracks": 3, "right": 1, "wrong": 1, "unjudged": 1}
    # And judged once past the entry (from 1.5 s after birth), trk-a is on p2 by then: wrong
    assert gates["bound_after_entry"] == {"tracks": 3, "right": 0, "wrong": 2, "unjudged": 1}


def test_without_tracks_bindings_are_not_judged() -> None:
    events = [entered(0, "e1", "acct-1", "trk-a")]
    gates = evaluate(truth(), events, None)["gates"]
    assert gates["bound_at_birth"] is None
    assert gates["bound_after_entry"] is None


def test_a_candidate_no_track_followed_stands_for_the_person_it_was_seen_on() -> None:
    # Given p2's pick at L2 made by somebody no track followed (seen at p2's spot), and an
    # unseen candidate at L1 seen 1.3 m from everybody
    events = [
        entered(0, "e1", "acct-1", "trk-a"),
        entered(1, "e2", "acct-2", "trk-b"),
        shelf(2, "L1", 0.9, 1.1, [("unseen-x-2", None, 0.9), ("trk-a", "e1", 0.5)]),
        shelf(3, "L2", 1.9, 2.1, [("unseen-x-1", None, 0.8), ("trk-a", "e1", 0.3)]),
    ]
    tracks = [(T0 + k * 0.1, "trk-a", 1.05, 2.0) for k in range(50)]
    unseen = [(T0 + 1.6 + k * 0.1, "unseen-x-1", 3.05, 2.1) for k in range(6)]
    unseen += [(T0 + 0.6 + k * 0.1, "unseen-x-2", 2.0, 3.0) for k in range(6)]
    # Then the L2 pick's top candidate is right (p2) and the L1 one is nobody: wrong
    result = evaluate(truth(), events, tracks, unseen_rows=unseen)
    assert result["actor_top1_accuracy"] == 0.3333
    # Without where they were seen, neither counts
    assert evaluate(truth(), events, tracks)["actor_top1_accuracy"] == 0.0
    # And nobody's session is right for a candidate of no session
    assert result["session_top1_accuracy"] == 0.0
