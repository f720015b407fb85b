"""The floor tracker on synthetic detections: crossing people, merges, births, lost tracks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from walkout.store import Rect
from walkout_edge.perception.appearance import BINS, Appearance, similarity
from walkout_edge.perception.tracking import DetectionIn, Tracker

DT = 0.1
EVERYWHERE = Rect(x0=-1, y0=-1, x1=11, y1=11)
ENTRY = Rect(x0=0.6, y0=0.0, x1=1.6, y1=0.8)
EXIT = Rect(x0=8.0, y0=0.0, x1=9.0, y1=0.8)


def look(*bins: int) -> Appearance:
    hist = np.full(BINS, 0.002)
    for b in bins:
        hist[b] += 1.0
    return Appearance(hist / hist.sum())


RED, BLUE = look(3, 7), look(40, 44)


def tracker(entry: Rect = EVERYWHERE) -> Tracker:
    numbers = itertools.count(1)
    return Tracker([entry], [EXIT], lambda: f"trk-{next(numbers)}")


def nearest(tr: Tracker, x: float, y: float) -> str:
    return min(tr.active(), key=lambda t: np.hypot(t.xy[0] - x, t.xy[1] - y)).track_id


def cross(tr: Tracker, a_look: Appearance, b_look: Appearance, merged_gap_m: float = 0.45) -> None:
    """A walks east along y = 2.0, B west along y = 2.25; one blob while they are close."""
    for k in range(60):
        t = k * DT
        ax, bx = 1.0 + 1.3 * t, 8.8 - 1.3 * t
        if abs(ax - bx) < merged_gap_m:
            dets = [DetectionIn((ax + bx) / 2, 2.12, 0.9, Appearance())]
        else:
            dets = [DetectionIn(ax, 2.0, 0.9, a_look), DetectionIn(bx, 2.25, 0.9, b_look)]
        tr.step(t, dets)


def test_two_people_brushing_past_keep_their_identities_and_report_the_encounter() -> None:
    # Given a red and a blue shopper walking towards each other, one blob while they pass
    tr = tracker()
    cross(tr, RED, BLUE)
    # Then after passing, the track that started as red is the one on the east side (red)
    red_track = next(t for t in tr.tracks.values() if t.born_t == 0.0 and t.xy[0] > 5)
    assert similarity(red_track.appearance, RED) > 0.9
    assert len(tr.tracks) == 2
    # And the pass is reported as an ambiguity, with a small swap probability
    reports = tr.take_ambiguities()
    assert len(reports) == 1
    assert reports[0].swap_probability < 0.2
    assert not reports[0].swapped


def test_look_alikes_passing_are_reported_as_uncertain() -> None:
    tr = tracker()
    cross(tr, RED, RED, merged_gap_m=0.8)
    reports = tr.take_ambiguities()
    assert len(reports) == 1
    assert reports[0].swap_probability >= 0.15


def test_a_swap_that_appearance_contradicts_is_undone() -> None:
    # Given red and blue standing close, one blob, then walking apart; the detections
    # after the blob come back with the colours on the opposite side of what the motion
    # model expects (they turned around inside the blob)
    tr = tracker()
    for k in range(10):
        tr.step(k * DT, [DetectionIn(3.1, 2.0, 0.9, RED), DetectionIn(3.7, 2.0, 0.9, BLUE)])
    left = nearest(tr, 3.0, 2.0)
    for k in range(10, 30):
        tr.step(k * DT, [DetectionIn(3.4, 2.0, 0.9, Appearance())])
    for k in range(30, 45):
        off = 0.3 + 0.1 * (k - 30)
        tr.step(
            k * DT, [DetectionIn(3.4 - off, 2.0, 0.9, BLUE), DetectionIn(3.4 + off, 2.0, 0.9, RED)]
        )
    reports = tr.take_ambiguities()
    assert len(reports) == 1
    # Then the track that was red on the left is the red one, now on the right
    assert tr.tracks[left].xy[0] > 3.4
    assert similarity(tr.tracks[left].appearance, RED) > 0.9


def test_people_are_born_only_at_the_entry() -> None:
    tr = tracker(entry=ENTRY)
    for k in range(20):
        tr.step(k * DT, [DetectionIn(5.0, 5.0, 0.9, RED)])
    assert tr.tracks == {}
    for k in range(20, 25):
        tr.step(k * DT, [DetectionIn(1.1, 0.4 + 0.05 * (k - 20), 0.9, RED)])
    assert len(tr.take_births()) == 1


def test_a_birth_needs_a_turnstile_pulse_when_the_gate_counts_people() -> None:
    tr = tracker(entry=ENTRY)
    for k in range(10):
        tr.step(k * DT, [DetectionIn(1.1, 0.4, 0.9, RED)], births_allowed=0)
    assert tr.tracks == {}
    tr.step(1.0, [DetectionIn(1.1, 0.4, 0.9, RED)], births_allowed=1)
    assert len(tr.tracks) == 1


def test_a_lost_track_is_given_back_a_detection_that_turns_up_where_it_could_be() -> None:
    # Given a tracked shopper who disappears (occluded) for three seconds
    tr = tracker(entry=ENTRY)
    for k in range(5):
        tr.step(k * DT, [DetectionIn(1.1, 0.4 + 0.1 * k, 0.9, BLUE)])
    (track_id,) = tr.tracks
    for k in range(5, 35):
        tr.step(k * DT, [])
    # When someone who looks like them appears 2.5 m away and stays
    for k in range(35, 45):
        tr.step(k * DT, [DetectionIn(2.5, 2.8, 0.9, BLUE)])
    # Then it is the same track, not a new person
    assert list(tr.tracks) == [track_id]
    assert np.hypot(tr.tracks[track_id].xy[0] - 2.5, tr.tracks[track_id].xy[1] - 2.8) < 0.2


def test_reported_positions_stop_after_a_while_without_detections() -> None:
    tr = tracker()
    for k in range(5):
        tr.step(k * DT, [DetectionIn(4.0, 4.0, 0.9, RED)])
    assert len(tr.reported_positions(0.4)) == 1
    for k in range(5, 30):
        tr.step(k * DT, [])
    assert tr.reported_positions(2.9) == []


def test_exited_tracks_are_forgotten_after_a_while_the_others_are_kept() -> None:
    # Given two people seen for a second at the entry; one then leaves, the other is lost
    tr = tracker()
    for k in range(10):
        tr.step(k * DT, [DetectionIn(2.0, 2.0, 0.9, RED), DetectionIn(6.0, 6.0, 0.9, BLUE)])
    gone, lost = sorted(tr.tracks)
    tr.mark_exited(gone)
    # When the store goes on empty for a minute, the one who left is still there
    tr.step(60.0, [])
    assert set(tr.tracks) == {gone, lost}
    # Then two minutes after their last point, only the one who left is forgotten
    tr.step(121.0, [])
    assert set(tr.tracks) == {lost}


def test_a_wrong_decision_is_undone_when_the_two_meet_again() -> None:
    from walkout_edge.perception.tracking import _swap_identity  # noqa: PLC0415

    # Given red (left) and blue (right), each seen alone for a second
    tr = tracker()
    for k in range(10):
        tr.step(k * DT, [DetectionIn(2.0, 2.0, 0.9, RED), DetectionIn(6.0, 2.25, 0.9, BLUE)])
    red_id, blue_id = nearest(tr, 2.0, 2.0), nearest(tr, 6.0, 2.25)
    # When an encounter was decided the wrong way round (red's track now follows blue), and
    # both go on apart for three seconds: each track's running look becomes the other colour
    _swap_identity(tr.tracks[red_id], tr.tracks[blue_id], 0.95)
    tr.tracks[red_id].met = tr.tracks[blue_id].met = True  # (as that encounter marked them)
    for k in range(10, 40):
        tr.step(k * DT, [DetectionIn(2.0, 2.0, 0.9, RED), DetectionIn(6.0, 2.25, 0.9, BLUE)])
    assert similarity(tr.tracks[red_id].appearance, BLUE) > 0.9
    tr.take_ambiguities()
    # And then they walk past each other, one blob while close
    for k in range(40, 90):
        t = k * DT
        rx, bx = 2.0 + 1.3 * (t - 4.0), 6.0 - 1.3 * (t - 4.0)
        if abs(rx - bx) < 0.45:
            dets = [DetectionIn((rx + bx) / 2, 2.12, 0.9, Appearance())]
        else:
            dets = [DetectionIn(rx, 2.0, 0.9, RED), DetectionIn(bx, 2.25, 0.9, BLUE)]
        tr.step(t, dets)
    # Then the tracks are compared with the looks they were born with, not the running
    # ones: red's track follows red again, and the swap is reported
    assert similarity(Appearance.mean(list(tr.tracks[red_id].recent_looks)[-3:]), RED) > 0.9
    (report,) = tr.take_ambiguities()
    assert report.swapped and report.swap_probability < 0.1


def test_a_swap_is_reported_however_sure() -> None:
    from walkout_edge.perception.tracking import Encounter  # noqa: PLC0415

    # Given red (left) and blue (right), close for a single step
    tr = tracker()
    for k in range(10):
        tr.step(k * DT, [DetectionIn(2.0, 2.0, 0.9, RED), DetectionIn(4.0, 2.0, 0.9, BLUE)])
    red_id, blue_id = nearest(tr, 2.0, 2.0), nearest(tr, 4.0, 2.0)
    # When they part and each track plainly sees the other's colour
    tr.tracks[red_id].recent_looks.extend([BLUE] * 3)
    tr.tracks[blue_id].recent_looks.extend([RED] * 3)
    key = (min(red_id, blue_id), max(red_id, blue_id))
    enc = Encounter(*key, 0.95, 1.0, merged_steps=1)
    tr._encounters[key] = enc
    tr._close_encounter(key, enc, decide=True)
    # Then the swap is made and reported (the track log relabels on it), with what is left
    (report,) = tr.take_ambiguities()
    assert report.swapped and report.swap_probability < 0.03


def _unseen_then_back(gap_steps: int, back_look: Appearance) -> tuple[Tracker, list[object]]:
    """Red at (2, 2) and blue at (3, 2), seen for a second; red is then unseen for
    `gap_steps` steps and a detection with `back_look` turns up beside where red was."""
    tr = tracker()
    for k in range(10):
        tr.step(k * DT, [DetectionIn(2.0, 2.0, 0.9, RED), DetectionIn(3.0, 2.0, 0.9, BLUE)])
    for k in range(10, 10 + gap_steps):
        tr.step(k * DT, [DetectionIn(3.0, 2.0, 0.9, BLUE)])
    for k in range(10 + gap_steps, 15 + gap_steps):
        tr.step(k * DT, [DetectionIn(2.1, 2.0, 0.9, back_look), DetectionIn(3.0, 2.0, 0.9, BLUE)])
    return tr, list(tr.take_ambiguities())


def test_a_track_taking_an_unlike_detection_after_a_while_unseen_is_reported() -> None:
    # Red's track, a second unseen, takes a detection that looks blue: likely someone else
    tr, (report,) = _unseen_then_back(10, BLUE)
    assert report.swap_probability > 0.5 and not report.swapped  # type: ignore[attr-defined]
    assert report.t_end - report.t_start >= 0.9  # type: ignore[attr-defined]
    # named against the other track there, blue's
    assert set(report.track_ids) == {nearest(tr, 2.1, 2.0), nearest(tr, 3.0, 2.0)}  # type: ignore[attr-defined]
    # Back after a moment, looking like itself: nothing to report
    assert _unseen_then_back(3, RED)[1] == []


def test_at_the_exit_a_track_says_how_likely_it_still_follows_who_it_was_born_on() -> None:
    # Given red and blue walking side by side from the entry, far enough apart never to be
    # confused, each seen with their own colours
    tr = tracker()
    for k in range(30):
        tr.step(
            k * DT,
            [DetectionIn(1.0 + 0.1 * k, 2.0, 0.9, RED), DetectionIn(1.0 + 0.1 * k, 4.0, 0.9, BLUE)],
        )
    red, blue = nearest(tr, 4.0, 2.0), nearest(tr, 4.0, 4.0)
    # Then each is very likely still on its own person
    for track_id in (red, blue):
        same = tr.same_person_probability(tr.tracks[track_id])
        assert same is not None and same > 0.9
    # When the blue track's detections come back in red for a while (it drifted onto
    # somebody else without an encounter the tracker could see)
    for k in range(30, 40):
        tr.step(
            k * DT,
            [DetectionIn(1.0 + 0.1 * k, 2.0, 0.9, RED), DetectionIn(1.0 + 0.1 * k, 4.0, 0.9, RED)],
        )
    # Then that track is most likely on somebody else now; the red one is still sure
    drifted = tr.same_person_probability(tr.tracks[blue])
    assert drifted is not None and drifted < 0.1
    kept = tr.same_person_probability(tr.tracks[red])
    assert kept is not None and kept > 0.9


def test_a_track_with_no_look_to_compare_says_nothing_of_who_it_follows() -> None:
    # Given a shopper the cameras never took a look of
    tr = tracker()
    for k in range(10):
        tr.step(k * DT, [DetectionIn(1.0 + 0.1 * k, 2.0, 0.9, Appearance())])
    (track,) = tr.tracks.values()
    # Then nothing is said of whether it is still them
    assert tr.same_person_probability(track) is None


def test_a_track_on_another_member_of_its_group_is_still_on_its_session() -> None:
    # Given a track born blue whose detections are red by the exit
    tr = tracker()
    for k in range(30):
        tr.step(k * DT, [DetectionIn(1.0 + 0.1 * k, 4.0, 0.9, BLUE)])
    for k in range(30, 40):
        tr.step(k * DT, [DetectionIn(1.0 + 0.1 * k, 4.0, 0.9, RED)])
    (track,) = tr.tracks.values()
    # and another track, born red, of the same group
    other = tracker()
    for k in range(10):
        other.step(k * DT, [DetectionIn(1.0 + 0.1 * k, 2.0, 0.9, RED)])
    (member,) = other.tracks.values()
    # Then alone it is most likely somebody else; with its group, one of them
    alone = tr.same_person_probability(track)
    assert alone is not None and alone < 0.1
    grouped = tr.same_person_probability(track, [member.identity])
    assert grouped is not None and grouped > 0.9


def test_at_a_shelf_change_a_track_is_judged_by_how_it_looked_then() -> None:
    # Given a track born blue, seen blue until 3 s, then red (it drifted onto somebody else
    # without an encounter the tracker could see)
    tr = tracker()
    for k in range(60):
        colour = BLUE if k < 30 else RED
        tr.step(k * DT, [DetectionIn(1.0 + 0.05 * k, 4.0, 0.9, colour)])
    (track,) = tr.tracks.values()
    # Then during a change at 1.5-2.5 s it was its own person; at 4-5 s somebody else
    before = tr.identity_check(track, 1.5, 2.5)
    after = tr.identity_check(track, 4.0, 5.0)
    assert before is not None and after is not None
    assert before.similarity > 0.95 and before.same_person_probability > 0.9
    assert after.similarity < 0.2 and after.same_person_probability < 0.1
    # ... with no doubts reported about it either way
    assert before.doubts == after.doubts == 0
    # And a moment it has no looks of falls back on its latest looks
    latest = tr.identity_check(track, 20.0, 21.0)
    assert latest is not None and latest.similarity == pytest.approx(after.similarity)


def test_doubts_reported_by_the_change_lower_the_check_later_ones_do_not() -> None:
    # Given red and blue brushing past each other (one encounter, reported) at about 2.7 s
    tr = tracker()
    cross(tr, RED, BLUE)
    assert tr.take_ambiguities()
    red = next(t for t in tr.tracks.values() if t.born_t == 0.0 and t.xy[0] > 5)
    # Then a change before the encounter counts no doubt, one after it counts one
    early = tr.identity_check(red, 0.5, 1.5)
    late = tr.identity_check(red, 4.5, 5.5)
    assert early is not None and late is not None
    assert early.doubts == 0 and late.doubts == 1
    assert late.similarity > 0.9
    assert late.same_person_probability < early.same_person_probability


def test_a_swap_moves_the_looks_since_it_began_with_the_path() -> None:
    from walkout_edge.perception.tracking import _swap_identity  # noqa: PLC0415

    # Given red (left) and blue (right), each seen alone for two seconds
    tr = tracker()
    for k in range(20):
        tr.step(k * DT, [DetectionIn(2.0, 2.0, 0.9, RED), DetectionIn(6.0, 2.25, 0.9, BLUE)])
    red, blue = tr.tracks[nearest(tr, 2.0, 2.0)], tr.tracks[nearest(tr, 6.0, 2.25)]
    # When their labels are exchanged from 1 s on (a swap decided when an encounter ends)
    _swap_identity(red, blue, 1.0)
    # Then red's label carries blue's looks from then on, and its own before
    before, after = tr.identity_check(red, 0.2, 0.8), tr.identity_check(red, 1.2, 1.8)
    assert before is not None and before.similarity > 0.95
    assert after is not None and after.similarity < 0.2
    moved = tr.identity_check(blue, 1.2, 1.8)
    assert moved is not None and moved.similarity < 0.2


def test_the_detections_no_track_took_are_kept_for_the_looks_horizon() -> None:
    # Given one tracked shopper (born at the entry) and, from 1 s on, somebody standing
    # at (5, 5) whom no track takes (a lost person the tracker cannot explain)
    tr = tracker(entry=ENTRY)
    for k in range(10):
        tr.step(k * DT, [DetectionIn(1.1, 0.4 + 0.05 * k, 0.9, RED)])
    assert len(tr.active()) == 1
    for k in range(10, 40):
        tr.step(k * DT, [DetectionIn(1.1, 0.9, 0.9, RED), DetectionIn(5.0, 5.0, 0.9, BLUE)])
    # Then each step's untaken detection is kept with its time, position and look; of the
    # shopper's, only those before their track was confirmed (a birth takes three steps)
    stranger = [u for u in tr.unexplained if (u.x, u.y) == (5.0, 5.0)]
    assert [round(u.t, 1) for u in stranger] == [round(k * DT, 1) for k in range(10, 40)]
    assert all(u.look is BLUE for u in stranger)
    assert max(u.t for u in tr.unexplained if u not in stranger) < 0.3
    # And they are let go once older than the looks kept
    horizon = tr.params.looks_kept_s
    tr.step(3.9 + horizon - 0.95, [])
    assert len(tr.unexplained) == 10
    tr.step(3.9 + horizon + 0.05, [])
    assert len(tr.unexplained) == 0
