"""The pipeline from readings to events, without cameras: seq, ts, data and the watermark."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from walkout.catalog import Catalog, Planogram
from walkout.definition import StoreDefinition
from walkout.events import Event, ShelfChanged, event_to_json, parse_event
from walkout.store import Camera, Floor, Gate, Lane, LoadCell, Point, Rect, Shelf, Store
from walkout_edge.perception.appearance import BINS, Appearance
from walkout_edge.perception.gates import GateEvent, untracked_member_id
from walkout_edge.perception.pipeline import PerceptionPipeline
from walkout_edge.perception.sources import LoadCellReadings
from walkout_edge.perception.tracking import Track
from walkout_edge.sinks import EvidenceImage

T0 = 1_795_608_000.0


class ListSink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event, evidence: Sequence[EvidenceImage] = ()) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


def definition() -> StoreDefinition:
    lanes = [
        Lane(
            lane_id=f"s1-l0-p{k}",
            level=0,
            height_m=0.25,
            front_center=Point(x=1.0, y=2.25 + 0.5 * k),
            width_m=0.5,
            load_cell=LoadCell(cell_id=f"lc-s1-l0-p{k}", hub_id="hub-s1", rate_hz=20),
        )
        for k in range(2)
    ]
    store = Store(
        store_id="store-t",
        retailer_id="r",
        name="Test store",
        currency="EUR",
        floor=Floor(width_m=4, depth_m=4),
        cameras=[
            Camera.overhead(
                "cam-1", x=2, y=2, height_m=4, resolution=(640, 480), fps=10, hfov_deg=110
            )
        ],
        shelves=[
            Shelf(
                shelf_id="s1",
                aisle=0,
                footprint=Rect(x0=0.5, y0=2.0, x1=1.0, y1=3.0),
                facing="east",
                lanes=lanes,
            )
        ],
        gates=[
            Gate(gate_id="entry-1", kind="entry", area=Rect(x0=0.5, y0=0, x1=1.5, y1=0.8)),
            Gate(gate_id="exit-1", kind="exit", area=Rect(x0=2.5, y0=0, x1=3.5, y1=0.8)),
        ],
    )
    return StoreDefinition(
        store=store,
        catalog=Catalog(currency="EUR", products=[], tax_classes=[]),
        planogram=Planogram(entries=[]),
    )


def _gate(pipe: PerceptionPipeline, *events: tuple[float, str, str | None]) -> None:
    """Feed gate events `(ts, kind, account_ref)` of entry-1."""
    for ts, kind, account in events:
        pipe.feed(GateEvent(ts, "entry-1", kind, account))


def _queue(pipe: PerceptionPipeline, first: str, second: str) -> None:
    """Two scans 0.6 s apart, each followed 0.5 s later by its turnstile pulse."""
    _gate(
        pipe,
        (T0, "scan", first),
        (T0 + 0.5, "enter", None),
        (T0 + 0.6, "scan", second),
        (T0 + 1.1, "enter", None),
    )


def _confirmed(track_id: str, born: float, x: float, y: float, from_entry: bool = True) -> Track:
    """A track confirmed at (x, y) when first seen."""
    return Track(
        track_id=track_id,
        born_t=born,
        x=np.array([x, y, 0.0, 0.0]),
        p=np.eye(4),
        appearance=Appearance(),
        last_seen_t=born,
        confirmed=True,
        from_entry=from_entry,
    )


def _step(pipe: PerceptionPipeline, t: float, *births: Track) -> None:
    """A time step of the cameras at `t` in which `births` were confirmed."""
    pipe.vision.tracker.births.extend(births)
    pipe.vision.last_step_t = t
    pipe._after_step()


def test_a_pick_on_a_load_cell_becomes_one_valid_shelf_event() -> None:
    # Given a pipeline and ten seconds of two load cells, one losing a 355 g can at +5 s
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    rng = np.random.default_rng(0)
    for k in range(200):
        ts = T0 + k / 20
        lifted = 355.0 * min(1.0, max(0.0, (k / 20 - 5.0) / 0.2))
        grams = (2000 - lifted + rng.normal(0, 1.5), 1500 + rng.normal(0, 1.5))
        pipe.feed(LoadCellReadings(ts, (("lc-s1-l0-p0", grams[0]), ("lc-s1-l0-p1", grams[1]))))
        mark = pipe.watermark()
        assert mark is not None and mark <= ts
    pipe.finish()
    # Then one shelf.changed for lane p0, numbered from 0, about the change's end
    (event,) = sink.events
    assert isinstance(event, ShelfChanged)
    assert event.seq == 0
    assert event.data.lane_id == "s1-l0-p0" and event.data.shelf_id == "s1"
    assert abs(event.data.delta_g + 355.0) < 3
    assert event.ts == event.data.t_end
    assert event.data.t_start <= datetime.fromtimestamp(T0 + 5.05, UTC) <= event.data.t_end
    assert event.data.candidates == [] and event.data.evidence == []
    # And it survives the wire
    assert parse_event(event_to_json(event)) == event


def test_the_watermark_holds_back_while_a_change_is_settling() -> None:
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    for k in range(120):
        grams = 2000.0 - (300.0 if k >= 100 else 0.0)
        pipe.feed(LoadCellReadings(T0 + k / 20, (("lc-s1-l0-p0", grams),)))
    # The drop began at +5 s and is not settled yet: nothing after +4.5 s is final
    mark = pipe.watermark()
    assert mark is not None and mark <= T0 + 5.0
    assert sink.events == []


def test_unknown_cells_are_counted_not_fatal() -> None:
    pipe = PerceptionPipeline(definition(), ListSink(), store_id="store-t", device_id="edge-1")
    pipe.feed(LoadCellReadings(T0, (("lc-elsewhere", 10.0),)))
    assert pipe.unknown_cells == {"lc-elsewhere"}


def test_seq_comes_from_the_given_counter() -> None:
    sink = ListSink()
    numbers = iter(range(41, 100))
    pipe = PerceptionPipeline(
        definition(), sink, store_id="store-t", device_id="edge-1", next_seq=lambda: next(numbers)
    )
    pipe.feed(GateEvent(T0, "entry-1", "scan", "acct-1"))
    for k in range(200):
        grams = 2000.0 - (300.0 if k >= 100 else 0.0)
        pipe.feed(LoadCellReadings(T0 + k / 20, (("lc-s1-l0-p1", grams),)))
    pipe.finish()
    assert [e.seq for e in sink.events] == [41]


def test_a_track_seen_late_takes_the_pulse_of_when_it_passed_the_turnstile() -> None:
    # Given two scans and two turnstile pulses 0.6 s apart (a queue at the gate)
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    _queue(pipe, "acct-first", "acct-second")
    # When the first person is first seen only at the second pulse (merged with the one
    # behind until then) and confirmed 1 m past the turnstile (the gate's centre) at 1.35 s
    first_seen = T0 + 1.1
    track = _confirmed("trk-1", first_seen, 1.0, 1.4)
    track.last_seen_t = T0 + 1.35
    pipe.vision.tracker.births.append(track)
    pipe.vision.last_step_t = T0 + 1.35
    pipe._after_step()
    pipe.feed(LoadCellReadings(T0 + 1.4, ()))  # the store's clock moves on
    pipe.flush()
    # Then the track is bound to the first scan: it passed the turnstile ~1 s earlier
    (entered,) = [e for e in sink.events if e.type == "session.entered"]
    assert entered.data.account_ref == "acct-first"
    assert entered.data.track_ids == ["trk-1"]


def _look(*bins: int) -> Appearance:
    """A look with most of its pixels in `bins`."""
    hist = np.full(BINS, 0.002)
    for b in bins:
        hist[b] += 1.0
    return Appearance(hist / hist.sum())


def _standing(track_id: str, x: float, y: float, until: float, look: object) -> object:
    """A confirmed track that stood at (x, y) from T0 to `until`, seen every 0.1 s."""
    from collections import deque  # noqa: PLC0415

    from walkout_edge.perception.tracking import TrackPoint  # noqa: PLC0415

    track = Track(
        track_id=track_id,
        born_t=T0,
        x=np.array([x, y, 0.0, 0.0]),
        p=np.eye(4) * 0.01,
        appearance=look,  # type: ignore[arg-type]
        last_seen_t=until,
        confirmed=True,
    )
    for k in range(round((until - T0) * 10) + 1):
        track.record(TrackPoint(T0 + k / 10, x, y, seen=True))
    track.recent_looks = deque([look] * 3, maxlen=5)  # type: ignore[list-item]
    return track


def _can_taken_at_five(pipe: PerceptionPipeline) -> None:
    """A 355 g can leaves lane p0 at +5 s (load cell readings at 20 Hz to +10 s), and the
    cameras have seen up to +10 s."""
    rng = np.random.default_rng(0)
    for k in range(200):
        lifted = 355.0 * min(1.0, max(0.0, (k / 20 - 5.0) / 0.2))
        grams = 2000 - lifted + rng.normal(0, 1.5)
        pipe.feed(LoadCellReadings(T0 + k / 20, (("lc-s1-l0-p0", grams),)))
    pipe.vision.last_step_t = T0 + 10.0
    pipe._after_step()


def _encounter_at_the_shelf(
    same_session: bool = False,
) -> tuple[ListSink, PerceptionPipeline, object]:
    """Two shoppers in an encounter since +3 s, A at lane p0's front; a 355 g can leaves
    p0 at +5 s; the cameras have seen up to +10 s and the encounter is still open."""
    from walkout_edge.perception.tracking import Encounter  # noqa: PLC0415

    red, blue = _look(3), _look(40)
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    tracker = pipe.vision.tracker
    for track in (
        _standing("trk-a", 1.25, 2.25, T0 + 10, red),
        _standing("trk-b", 1.7, 2.4, T0 + 10, blue),
    ):
        tracker.tracks[track.track_id] = track  # type: ignore[attr-defined]
        tracker._live[track.track_id] = track  # type: ignore[attr-defined]
    if same_session:
        pipe.binder.session_of.update({"trk-a": "ses-family", "trk-b": "ses-family"})
    enc = Encounter("trk-a", "trk-b", T0 + 3.0, T0 + 9.0, merged_steps=3)
    tracker._encounters[("trk-a", "trk-b")] = enc
    _can_taken_at_five(pipe)
    return sink, pipe, enc


def test_a_change_waits_for_an_open_encounter_and_names_the_tracks_as_decided() -> None:
    # Given a can taken by A while A and B are too close to be told apart
    sink, pipe, enc = _encounter_at_the_shelf()
    # Then nothing is emitted while the encounter is open, though the cameras are past it
    assert [e for e in sink.events if e.type == "shelf.changed"] == []
    # When they separate and their looks say the labels had swapped (the red shopper at the
    # shelf now carries label B): the tracker relabels both paths from the encounter's start
    tracker = pipe.vision.tracker
    a, b = tracker.tracks["trk-a"], tracker.tracks["trk-b"]
    a.recent_looks, b.recent_looks = b.recent_looks, a.recent_looks
    tracker._close_encounter(("trk-a", "trk-b"), enc, decide=True)
    pipe.vision.last_step_t = T0 + 10.1  # (decided in the cameras' next step)
    pipe._after_step()
    # Then the change is emitted, naming as its likeliest actor the label now on that path
    (shelf,) = [e for e in sink.events if e.type == "shelf.changed"]
    (amb,) = [e for e in sink.events if e.type == "track.ambiguity"]
    assert shelf.data.candidates[0].track_id == "trk-b"
    assert tracker.tracks["trk-b"].xy == (1.25, 2.25)  # the swap was made
    assert amb.data.track_ids == ["trk-a", "trk-b"]


def test_a_change_does_not_wait_for_members_of_one_session_nor_for_ever() -> None:
    # Two members of one party in an encounter: whoever reached, the same cart pays
    sink, _pipe, _enc = _encounter_at_the_shelf(same_session=True)
    assert len([e for e in sink.events if e.type == "shelf.changed"]) == 1
    # Strangers whose encounter never ends: released once held MAX_UNDECIDED_HOLD_S
    from walkout_edge.perception.pipeline import (  # noqa: PLC0415
        CAMERA_LAG_S,
        MAX_UNDECIDED_HOLD_S,
    )

    sink, pipe, _enc = _encounter_at_the_shelf()
    ((_lane, held),) = pipe.held_shelf_changes()
    seen_by = held.t_end + pipe.params.reach.after_s + CAMERA_LAG_S
    pipe.feed(LoadCellReadings(seen_by + MAX_UNDECIDED_HOLD_S - 0.1, ()))
    assert [e for e in sink.events if e.type == "shelf.changed"] == []
    pipe.feed(LoadCellReadings(seen_by + MAX_UNDECIDED_HOLD_S + 0.1, ()))
    assert len([e for e in sink.events if e.type == "shelf.changed"]) == 1


def test_the_hand_colours_are_taken_when_the_cameras_pass_a_change_not_at_its_release(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Full frames are kept for a few seconds only and a change may wait longer for an
    # encounter: the hand zone's colours must be taken while its frames are still there.
    from walkout_edge.perception.pipeline import (  # noqa: PLC0415
        CAMERA_LAG_S,
        MAX_UNDECIDED_HOLD_S,
    )
    from walkout_edge.perception.reach import ReachCandidate, ReachScorer  # noqa: PLC0415

    taken: list[float | None] = []
    hands = [np.full(12, 3)]

    def hand_samples(self: ReachScorer, lane_id: str, t0: float, t1: float) -> list[np.ndarray]:
        taken.append(self.vision.last_step_t)
        return hands

    used: list[object] = []
    candidates = ReachScorer.candidates

    def recording(
        self: ReachScorer,
        lane_id: str,
        t0: float,
        t1: float,
        given: list[np.ndarray] | None = None,
    ) -> list[ReachCandidate]:
        used.append(given)
        return candidates(self, lane_id, t0, t1, given)

    monkeypatch.setattr(ReachScorer, "hand_samples", hand_samples)
    monkeypatch.setattr(ReachScorer, "candidates", recording)
    # Given a change held for an open encounter, the cameras past it
    sink, pipe, _enc = _encounter_at_the_shelf()
    assert [e for e in sink.events if e.type == "shelf.changed"] == []
    # Then its hand colours were taken once, already
    assert taken == [T0 + 10.0]
    # When it is released long after, the colours taken then are the ones used
    ((_lane, held),) = pipe.held_shelf_changes()
    seen_by = held.t_end + pipe.params.reach.after_s + CAMERA_LAG_S
    pipe.feed(LoadCellReadings(seen_by + MAX_UNDECIDED_HOLD_S + 0.1, ()))
    assert len([e for e in sink.events if e.type == "shelf.changed"]) == 1
    assert taken == [T0 + 10.0]
    assert used == [hands]


def test_leaving_as_another_of_ones_own_group_is_still_leaving_as_the_session() -> None:
    # Given a family of two (born in red and in blue) and a stranger born in green; by the
    # exit the blue-born family track and the stranger's track both follow somebody in red
    red, blue, green = _look(3), _look(40), _look(20)
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    tracker = pipe.vision.tracker
    tracks = {}
    for track_id, born_as in (("trk-a", red), ("trk-b", blue), ("trk-c", green)):
        track = _standing(track_id, 1.5, 2.0, T0 + 10, red)
        track.identity = born_as  # type: ignore[attr-defined]
        tracker.tracks[track_id] = track  # type: ignore[attr-defined]
        tracker._live[track_id] = track  # type: ignore[attr-defined]
        tracks[track_id] = track
    pipe.binder.session_of.update({"trk-a": "ses-family", "trk-b": "ses-family", "trk-c": "ses-x"})
    # When the red-born member leaves first and the tracker has forgotten it by the time
    # the other two leave, minutes later
    pipe._exit(tracks["trk-a"], "exit-1", T0 + 10)  # type: ignore[arg-type]
    del tracker.tracks["trk-a"]
    pipe._exit(tracks["trk-b"], "exit-1", T0 + 400)  # type: ignore[arg-type]
    pipe._exit(tracks["trk-c"], "exit-1", T0 + 400)  # type: ignore[arg-type]
    # Then the family's second track left as one of its own (the red-born member), the
    # stranger's most likely as somebody else
    same = {e.data.track_id: e.data.same_person_probability for e in sink.events}
    assert same["trk-a"] is not None and same["trk-a"] > 0.9
    assert same["trk-b"] is not None and same["trk-b"] > 0.9
    assert same["trk-c"] is not None and same["trk-c"] < 0.1


def test_each_candidate_says_how_likely_its_track_was_on_its_sessions_person(
    tmp_path: Path,
) -> None:
    from collections import deque  # noqa: PLC0415

    from walkout_edge.perception.pipeline import checks_path, open_track_log  # noqa: PLC0415

    # Given A (born red, seen red) and B (born blue, but seen green through the last ten
    # seconds: its track drifted onto somebody else) at lane p0, of two sessions
    red, blue, green = _look(3), _look(40), _look(20)
    sink = ListSink()
    log = open_track_log(tmp_path / "run.tracks.csv")
    pipe = PerceptionPipeline(
        definition(), sink, store_id="store-t", device_id="edge-1", track_log=log
    )
    tracker = pipe.vision.tracker
    for track_id, x, y, born_as, seen_as in (
        ("trk-a", 1.25, 2.25, red, red),
        ("trk-b", 1.7, 2.4, blue, green),
    ):
        track = _standing(track_id, x, y, T0 + 10, seen_as)
        track.identity = born_as  # type: ignore[attr-defined]
        track.timed_looks = deque((T0 + k / 10, seen_as) for k in range(101))  # type: ignore[attr-defined]
        tracker.tracks[track_id] = track  # type: ignore[attr-defined]
        tracker._live[track_id] = track  # type: ignore[attr-defined]
    pipe.binder.session_of.update({"trk-a": "ses-a", "trk-b": "ses-b"})
    # When a 355 g can leaves p0 at +5 s and the cameras have seen up to +10 s
    _can_taken_at_five(pipe)
    pipe.finish()
    # Then A is very likely on its own person, B most likely on somebody else
    (shelf,) = [e for e in sink.events if e.type == "shelf.changed"]
    same = {c.track_id: c.same_person_probability for c in shelf.data.candidates}
    assert same["trk-a"] is not None and same["trk-a"] > 0.9
    assert same["trk-b"] is not None and same["trk-b"] < 0.1
    # And the track log has the check behind each, for fitting it against the truth
    rows = checks_path(tmp_path / "run.tracks.csv").read_text().splitlines()
    assert rows[0].startswith("event_id,track_id,t_start,t_end,similarity,doubts,")
    assert sorted(row.split(",")[1] for row in rows[1:]) == ["trk-a", "trk-b"]
    assert all(row.split(",")[0] == shelf.event_id for row in rows[1:])


def test_a_doubt_of_the_gate_is_an_ambiguity_and_lowers_the_exits_word() -> None:
    from walkout_edge.perception.gates import BindingDoubt  # noqa: PLC0415

    # Given two strangers' tracks, each looking at the exit as it did at the gate
    red, blue = _look(3), _look(40)
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    tracker = pipe.vision.tracker
    tracks = {}
    for track_id, look in (("trk-a", red), ("trk-b", blue)):
        track = _standing(track_id, 1.5, 2.0, T0 + 10, look)
        track.identity = look  # type: ignore[attr-defined]
        tracker.tracks[track_id] = track  # type: ignore[attr-defined]
        tracker._live[track_id] = track  # type: ignore[attr-defined]
        tracks[track_id] = track
    pipe.binder.session_of.update({"trk-a": "ses-a", "trk-b": "ses-b"})
    # When the gate doubted (0.4) which of the two pulses each took
    pipe.binder.doubts.append(BindingDoubt(("trk-a", "trk-b"), T0 + 1.0, T0 + 2.0, 0.4))
    pipe._gate_doubts()
    # Then the cloud hears it as an ambiguity of the two from the earlier one's start
    (amb,) = [e for e in sink.events if e.type == "track.ambiguity"]
    assert amb.data.track_ids == ["trk-a", "trk-b"]
    assert amb.data.swap_probability == 0.4
    assert amb.data.t_start.timestamp() == pytest.approx(T0 + 1.0, abs=1e-3)
    assert amb.data.t_end.timestamp() == pytest.approx(T0 + 2.0, abs=1e-3)
    # And at the exit, looking like the person it was born on counts for 60 % only
    pipe._exit(tracks["trk-a"], "exit-1", T0 + 10)  # type: ignore[arg-type]
    (exited,) = [e for e in sink.events if e.type == "track.exited"]
    looks_alone = tracker.same_person_probability(tracks["trk-a"])  # type: ignore[arg-type]
    assert looks_alone is not None and looks_alone > 0.9
    assert exited.data.same_person_probability == pytest.approx(0.6 * looks_alone, abs=1e-3)


def test_an_entry_track_takes_the_pulse_of_whom_it_follows_a_second_after_confirmation() -> None:
    # Given two strangers through the turnstile 0.6 s apart, the gate's centre at (1.0, 0.4)
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    _queue(pipe, "acct-ahead", "acct-behind")
    # When trk-1 is confirmed at the turnstile as the one ahead passes ...
    first = _confirmed("trk-1", T0 + 0.5, 1.0, 0.4)
    _step(pipe, T0 + 0.6, first)
    # ... and slides onto the one behind, while trk-2 is born on the one ahead further in
    second = _confirmed("trk-2", T0 + 0.8, 1.0, 0.9)
    _step(pipe, T0 + 1.0, second)
    assert pipe.binder.session_of == {}  # nothing bound before they settle
    first.x[:2] = (1.0, 0.9)  # a second later: 0.5 m past the gate, 0.5 s after its pulse
    second.x[:2] = (1.0, 1.5)  # 1.1 m past it, ~1.1 s after the first pulse
    _step(pipe, T0 + 1.6)
    _step(pipe, T0 + 2.0)
    pipe.feed(LoadCellReadings(T0 + 4.5, ()))
    pipe.flush()

    # Then each is bound to the session of the person it stands on a second later
    sessions = {
        e.data.account_ref: e.data.track_ids for e in sink.events if e.type == "session.entered"
    }
    assert sessions == {"acct-ahead": ["trk-2"], "acct-behind": ["trk-1"]}


def test_a_track_born_inside_the_store_does_not_take_the_person_the_gate_missed() -> None:
    # Given a scan and a pulse nobody at the gate claimed (a member the cameras missed)
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    _gate(pipe, (T0, "scan", "acct-1"), (T0 + 0.5, "enter", None))

    # When a track is born inside the store just as the pulse expires, and walks on
    person = _confirmed("trk-inside", T0 + 4.0, 2.0, 3.0, from_entry=False)
    _step(pipe, T0 + 4.0, person)
    person.x[:2] = (2.0, 4.2)
    for t in (T0 + 5.0, T0 + 8.0, T0 + 11.0):
        _step(pipe, t)

    # Then the visit opens with a stand-in for the person, and the track is nobody's
    (entered,) = [e for e in sink.events if e.type == "session.entered"]
    assert entered.data.track_ids == [untracked_member_id(entered.data.session_id, 0)]
    assert "trk-inside" not in pipe.binder.session_of


def test_a_doubt_made_while_flushing_is_sent() -> None:
    # Given two scans and their pulses 0.6 s apart; trk-1, reckoned to pass at +1.3 s, took
    # the second pulse; trk-2, reckoned at +1.25 s, fits neither closely enough and waits
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    _gate(
        pipe,
        (T0, "scan", "acct-a"),
        (T0 + 0.5, "scan", "acct-b"),
        (T0 + 0.6, "enter", None),
        (T0 + 1.2, "enter", None),
    )
    pipe.binder.on_track_born("trk-1", T0 + 0.3, True, T0 + 1.4, T0 + 1.3)
    pipe.binder.on_track_born("trk-2", T0 + 0.4, True, T0 + 1.4, T0 + 1.25)
    pipe._gate_doubts()
    assert pipe.binder.session_of.keys() == {"trk-1"}
    # When the daemon stops 5 s in: the first pulse expires, and trk-2 takes it
    pipe.feed(LoadCellReadings(T0 + 5.0, ()))
    pipe.flush()
    # Then the gate's doubt that the two are the other way round reaches the cloud
    assert pipe.binder.session_of.keys() == {"trk-1", "trk-2"}
    (amb,) = [e for e in sink.events if e.type == "track.ambiguity"]
    assert set(amb.data.track_ids) == {"trk-1", "trk-2"}
    assert amb.data.swap_probability == pytest.approx(0.32, abs=0.01)


@pytest.mark.parametrize("still_inside", [0, 1])
def test_a_sessions_track_left_in_an_empty_store_is_made_to_leave(still_inside: int) -> None:
    # Given a session's track standing in the store, bound by its turnstile pulse
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    pipe.feed(GateEvent(T0, "entry-1", "scan", "acct-1"))
    for _ in range(1 + still_inside):
        pipe.feed(GateEvent(T0 + 0.5, "entry-1", "enter", None))
    pipe.binder.on_track_born("trk-a", T0 + 0.4, True, T0 + 1.0, T0 + 0.5)
    track = _standing("trk-a", 2.0, 3.0, T0 + 30, _look(3))
    tracker = pipe.vision.tracker
    tracker.tracks["trk-a"] = track  # type: ignore[attr-defined]
    tracker._live["trk-a"] = track  # type: ignore[attr-defined]
    # When the exit turnstile lets somebody out whom the cameras did not see leave
    pipe.feed(GateEvent(T0 + 10.0, "exit-1", "exit", None))
    for t in (T0 + 11.0, T0 + 13.0, T0 + 16.0, T0 + 19.0):
        pipe.vision.last_step_t = t
        pipe._after_step()
    # Then, the store empty by the pulses for 5 s, the track leaves (its session closes);
    # with somebody still inside by the pulses, it stays
    exits = [e for e in sink.events if e.type == "track.exited"]
    if still_inside:
        assert exits == []
    else:
        (left,) = exits
        assert left.data.track_id == "trk-a"
        assert left.data.session_id == pipe.binder.session_of["trk-a"]
        assert left.ts.timestamp() == pytest.approx(T0 + 19.0, abs=1e-3)


@pytest.mark.parametrize("how", ["pulse", "overstay"])
def test_a_scan_no_track_took_opens_untracked_and_leaves_by_the_turnstile_or_overstaying(
    how: str,
) -> None:
    # Given a scan and its turnstile pulse, and nobody the cameras follow
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    _gate(pipe, (T0, "scan", "acct-1"), (T0 + 0.5, "enter", None))
    # When no track takes the pulse at the gate nor later inside the store
    for t in (T0 + 5.0, T0 + 21.0):
        _step(pipe, t)
    # Then the visit opens as of the pulse, with a stand-in for the person
    (entered,) = [e for e in sink.events if e.type == "session.entered"]
    (member,) = entered.data.track_ids
    assert entered.ts.timestamp() == pytest.approx(T0 + 0.5, abs=1e-3)
    assert [e for e in sink.events if e.type == "track.exited"] == []
    # And when the exit turnstile lets out somebody no track can have been, or the person
    # has been inside longer than 90 % of the visits the cameras followed (30 s here)
    if how == "pulse":
        pipe.feed(GateEvent(T0 + 40.0, "exit-1", "exit", None))
        pipe.feed(GateEvent(T0 + 40.0, "entry-1", "enter", None))  # the store is not empty
        _step(pipe, T0 + 41.0)
        _step(pipe, T0 + 43.0)
        left_at = T0 + 40.0
    else:
        pipe._visits.extend([30.0] * 10)
        _step(pipe, T0 + 30.0)
        assert [e for e in sink.events if e.type == "track.exited"] == []
        _step(pipe, T0 + 31.0)
        left_at = T0 + 31.0
    # Then the stand-in leaves, the edge not vouching that it was this session's person
    (left,) = [e for e in sink.events if e.type == "track.exited"]
    assert left.data.track_id == member
    assert left.data.session_id == entered.data.session_id
    assert left.data.same_person_probability == 0.0
    assert left.ts.timestamp() == pytest.approx(left_at, abs=1e-3)


def test_somebody_no_track_follows_at_the_lane_is_a_candidate_of_no_session(
    tmp_path: Path,
) -> None:
    from walkout_edge.perception.pipeline import open_track_log, unseen_path  # noqa: PLC0415
    from walkout_edge.perception.tracking import Unexplained  # noqa: PLC0415

    # Given A tracked 0.9 m from lane p0's front (at x 1.0, y 2.25, facing east), somebody
    # no track took standing 0.35 m from it, a ghost of A (0.1 m beside A), and a flicker
    # (two steps) at 0.3 m, through the change's window
    sink = ListSink()
    log = open_track_log(tmp_path / "run.tracks.csv")
    pipe = PerceptionPipeline(
        definition(), sink, store_id="store-t", device_id="edge-1", track_log=log
    )
    tracker = pipe.vision.tracker
    track = _standing("trk-a", 1.9, 2.25, T0 + 10, _look(3))
    tracker.tracks["trk-a"] = track  # type: ignore[assignment]
    tracker._live["trk-a"] = track  # type: ignore[assignment]
    pipe.binder.session_of["trk-a"] = "ses-a"
    for k in range(101):
        t = T0 + k / 10
        tracker.unexplained.append(Unexplained(t, 1.35, 2.25, _look(40)))
        tracker.unexplained.append(Unexplained(t, 1.9, 2.35, _look(3)))
        if k in (50, 51):
            tracker.unexplained.append(Unexplained(t, 1.3, 2.6, _look(20)))
    # When a 355 g can leaves p0 at +5 s and the cameras have seen up to +10 s
    _can_taken_at_five(pipe)
    # Then the untracked person is a candidate, nearer than A and of no session, under an
    # id of its own; neither the ghost nor the flicker is one
    (shelf,) = [e for e in sink.events if isinstance(e, ShelfChanged)]
    by_track = {c.track_id: c for c in shelf.data.candidates}
    assert len(by_track) == 2
    (unseen,) = [c for tid, c in by_track.items() if tid != "trk-a"]
    assert unseen.track_id.startswith("unseen-")
    assert unseen.session_id is None and unseen.same_person_probability is None
    assert unseen.distance_m == pytest.approx(0.35, abs=0.01)
    assert by_track["trk-a"].session_id == "ses-a"
    assert unseen.reach_score > by_track["trk-a"].reach_score
    # And the track log has where it was seen in the window, for judging it afterwards
    pipe.finish()
    rows = unseen_path(tmp_path / "run.tracks.csv").read_text().splitlines()
    assert rows[0] == "ts,track_id,x,y"
    assert {row.split(",", 1)[1] for row in rows[1:]} == {f"{unseen.track_id},1.350,2.250"}
    window = [float(row.split(",")[0]) for row in rows[1:]]
    assert min(window) < T0 + 5.0 < max(window)


def test_somebody_a_track_takes_up_right_after_is_that_track_listed_once() -> None:
    from walkout_edge.perception.tracking import TrackPoint, Unexplained  # noqa: PLC0415

    # Given B's track seen 1.2 m from lane p0's front until +4 s, then coasting there
    # (unseen) while somebody nobody's track took stood 0.35 m from the front, and seen
    # again where that somebody stood from +6.1 s (its person found again)
    sink = ListSink()
    pipe = PerceptionPipeline(definition(), sink, store_id="store-t", device_id="edge-1")
    tracker = pipe.vision.tracker
    track = _standing("trk-b", 2.2, 2.25, T0 + 10, _look(40))
    track.history.clear()  # type: ignore[attr-defined]
    for k in range(101):
        t = T0 + k / 10
        if k < 40:
            track.record(TrackPoint(t, 2.2, 2.25, seen=True))  # type: ignore[attr-defined]
        elif k <= 60:
            track.record(TrackPoint(t, 2.2, 2.25, seen=False))  # type: ignore[attr-defined]
            tracker.unexplained.append(Unexplained(t, 1.35, 2.25, _look(40)))
        else:
            track.record(TrackPoint(t, 1.38, 2.27, seen=True))  # type: ignore[attr-defined]
    tracker.tracks["trk-b"] = track  # type: ignore[assignment]
    tracker._live["trk-b"] = track  # type: ignore[assignment]
    pipe.binder.session_of["trk-b"] = "ses-b"
    # When a 355 g can leaves p0 at +5 s and the cameras have seen up to +10 s
    _can_taken_at_five(pipe)
    # Then B's track is the one candidate, where that somebody stood, of B's session
    (shelf,) = [e for e in sink.events if isinstance(e, ShelfChanged)]
    (only,) = shelf.data.candidates
    assert only.track_id == "trk-b" and only.session_id == "ses-b"
    assert only.distance_m == pytest.approx(0.35, abs=0.01)
