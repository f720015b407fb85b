"""The daemon's `replay` and `live` source kinds: the pipeline behind the source registry.

A stop (SIGTERM) mid-stream must not lose what the pipeline holds: the stop tests replay a
tiny simulator recording and stop it right after a pick has settled on its load cell,
while its shopper is still in the store.
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from test_perception_pipeline import definition as small_store
from test_perception_sources import T0, write_recording

from walkout.events import Event, ShelfChanged, format_timestamp
from walkout_edge.config import ReplaySourceConfig
from walkout_edge.perception import runner
from walkout_edge.perception.gates import GateBinder, GateEvent, MemberJoined, SessionOpened
from walkout_edge.perception.pipeline import PerceptionPipeline, open_track_log, utc
from walkout_edge.perception.sources import (
    LoadCellReadings,
    Reading,
    RecordingSource,
    SensorStatus,
)
from walkout_edge.perception.weights import WeightChange
from walkout_edge.sinks import EvidenceImage
from walkout_edge.sources_registry import SourceContext, SourceError, resolve_source

# Shared with the edge integration tests; their support module lives beside them.
_EDGE_KIT = str(Path(__file__).resolve().parents[3] / "integration" / "edge")
if _EDGE_KIT not in sys.path:
    sys.path.append(_EDGE_KIT)
from edge_kit import tiny_scenario  # noqa: E402

# A 10 m x 6 m store seen by two overhead cameras, 30 s at 5 fps: the first shopper enters
# at ~2 s and picks at ~5 s (beside a knock on another shelf), and stays until ~28 s.
TINY_SCENARIO = tiny_scenario("runner-stop", duration_s=30)


class ListSink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event, evidence: Sequence[EvidenceImage] = ()) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


def context(sink: ListSink) -> SourceContext:
    numbers = itertools.count(7)
    return SourceContext(
        store_id="store-t",
        device_id="edge-1",
        sink=sink,
        next_seq=lambda: next(numbers),
        last_seq=lambda device: None,
    )


def test_replay_and_live_are_registered_kinds() -> None:
    assert resolve_source("replay") is runner.create_replay
    assert resolve_source("live") is runner.create_live


def test_a_replay_source_runs_the_pipeline_into_the_daemons_sink(tmp_path: Path) -> None:
    # Given a recording with a pick on its load cell
    folder = write_recording(tmp_path / "rec")
    rows = ["ts,cell_id,grams"]
    rng = np.random.default_rng(0)
    for k in range(200):
        grams = 1000.0 - (120.0 if k >= 100 else 0.0) + rng.normal(0, 1.0)
        rows.append(f"{T0 + k / 20:.3f},lc-s1-l0-p0,{grams:.1f}")
    (folder / "loadcells.csv").write_text("\n".join(rows) + "\n")
    meta = json.loads((folder / "recording.json").read_text())
    meta["end_ts"] = T0 + 10
    (folder / "recording.json").write_text(json.dumps(meta))
    sink = ListSink()
    ctx = context(sink)
    config = ReplaySourceConfig(kind="replay", recording=folder, speed=0)
    # When the daemon runs it to the end
    runner.create_replay(config, ctx).run(threading.Event())
    # Then the shelf event is numbered by the daemon's counter, and the watermark passed it
    (event,) = sink.events
    assert event.type == "shelf.changed" and event.seq == 7
    mark = ctx.watermark.value
    assert mark is not None and mark.timestamp() >= T0 + 10
    assert ctx.sensors.snapshot().cameras_ok


def test_a_bad_recording_is_a_source_error_naming_it(tmp_path: Path) -> None:
    folder = write_recording(tmp_path / "rec")
    (folder / "gates.jsonl").unlink()
    config = ReplaySourceConfig(kind="replay", recording=folder, speed=0)
    with pytest.raises(SourceError, match=r"source\.recording: .*gates\.jsonl is missing"):
        runner.create_replay(config, context(ListSink()))


# --- a stop mid-stream ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator.recording import record  # noqa: PLC0415 - heavy, only for this fixture
    from simulator.scenario import parse_scenario  # noqa: PLC0415

    out = tmp_path_factory.mktemp("runner-stop") / "rec"
    record(parse_scenario(TINY_SCENARIO), out, workers=1)
    return out


class StopAfterPick:
    """The recording, with the stop flag set (SIGTERM) once a true pick's change is held."""

    def __init__(self, recording: Path) -> None:
        truth = json.loads((recording / "truth.json").read_text())
        self.pick_lanes = {e["lane_id"] for e in truth["events"] if e["kind"] == "pick"}
        self.inner = RecordingSource(recording, speed=0)
        self.definition = self.inner.definition
        self.pipeline: PerceptionPipeline | None = None
        self.held: list[tuple[str, WeightChange]] = []
        self.stopped_at: float | None = None

    def readings(self, stop: threading.Event) -> Iterator[Reading]:
        for reading in self.inner.readings(stop):
            yield reading
            assert self.pipeline is not None
            if not self.held:
                held = self.pipeline.held_shelf_changes()
                if any(lane in self.pick_lanes for lane, _ in held):
                    self.held = held
                    self.stopped_at = reading.ts
                    stop.set()

    def health(self) -> list[SensorStatus]:
        statuses: list[SensorStatus] = self.inner.health()
        return statuses

    def close(self) -> None:
        self.inner.close()


def full_replay(recording: Path, sink: ListSink | None = None) -> list[Event]:
    sink = sink or ListSink()
    source = RecordingSource(recording, speed=0)
    pipeline = PerceptionPipeline(source.definition, sink, store_id="store-t", device_id="e")
    for reading in source.readings(threading.Event()):
        pipeline.feed(reading)
    pipeline.finish()
    source.close()
    return sink.events


def weight_facts(event: Event) -> tuple[str, float, str, str]:
    """What the load cell says about a shelf event: lane, grams, start and end."""
    assert isinstance(event, ShelfChanged)
    d = event.data
    return d.lane_id, d.delta_g, format_timestamp(d.t_start), format_timestamp(d.t_end)


def held_facts(held: list[tuple[str, WeightChange]]) -> set[tuple[str, float, str, str]]:
    return {
        (lane, c.delta_g, format_timestamp(utc(c.t_start)), format_timestamp(utc(c.t_end)))
        for lane, c in held
    }


@pytest.mark.parametrize("finite", [True, False], ids=["replay", "live"])
def test_a_stop_right_after_a_pick_emits_the_held_change_and_nobody_leaves(
    tiny_recording: Path, finite: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the daemon's runner on a recording, stopped as soon as a pick has settled on
    # its load cell (held for confirmation and reach scoring, not emitted yet)
    sink = ListSink()
    ctx = context(sink)
    source = StopAfterPick(tiny_recording)
    run = runner.PipelineRunner(source, ctx, finite=finite, tail_s=0.0)
    source.pipeline = run.pipeline

    # When it runs until the stop
    with caplog.at_level(logging.INFO, logger="walkout_edge.perception.runner"):
        run.run(threading.Event())

    # Then every change held at the stop was emitted
    assert source.held and source.stopped_at is not None
    shelf = [e for e in sink.events if e.type == "shelf.changed"]
    assert held_facts(source.held) <= {weight_facts(e) for e in shelf}
    # and the pick is the change an uninterrupted run reports for it
    picks = [(lane, c) for lane, c in source.held if lane in source.pick_lanes]
    complete = [weight_facts(e) for e in full_replay(tiny_recording) if e.type == "shelf.changed"]
    assert picks and held_facts(picks) <= set(complete)
    # and nobody was made to leave: the shoppers in the store still have open tracks
    assert [e for e in sink.events if e.type == "track.exited"] == []
    inside = [tr for tr in run.pipeline.vision.tracker.active() if tr.confirmed]
    assert inside
    truth = json.loads((tiny_recording / "truth.json").read_text())
    assert all(person["exit_ts"] > source.stopped_at for person in truth["people"])
    # and the flush was logged with what it emitted
    (flushed,) = [r for r in caplog.records if r.getMessage() == "pipeline flushed"]
    assert flushed.__dict__["reason"] == "stop"
    assert flushed.__dict__["flushed"].get("shelf.changed", 0) >= len(source.held)
    # and the watermark does not claim anything past the stop
    mark = ctx.watermark.value
    assert mark is not None and mark.timestamp() <= source.stopped_at


def test_a_source_that_fails_still_flushes_what_the_pipeline_holds(tiny_recording: Path) -> None:
    # Given a source whose sensors fail right after a pick has settled
    class FailingAfterPick(StopAfterPick):
        def readings(self, stop: threading.Event) -> Iterator[Reading]:
            yield from super().readings(stop)
            raise OSError("camera link lost")

    sink = ListSink()
    source = FailingAfterPick(tiny_recording)
    run = runner.PipelineRunner(source, context(sink), finite=False, tail_s=0.0)
    source.pipeline = run.pipeline

    # When it runs, the failure reaches the daemon
    with pytest.raises(OSError, match="camera link lost"):
        run.run(threading.Event())

    # Then the held pick was emitted first
    shelf = {weight_facts(e) for e in sink.events if e.type == "shelf.changed"}
    assert source.held and held_facts(source.held) <= shelf


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (7, "source.options.track_log: must be a file path, not 7"),
        ("", "source.options.track_log: must be a file path, not ''"),
        ("tracks.csv", "source.options.track_log: 'tracks.csv' must be an absolute path"),
    ],
)
def test_a_bad_track_log_option_is_a_source_error_naming_it(
    tmp_path: Path, value: Any, message: str
) -> None:
    folder = write_recording(tmp_path / "rec")
    config = ReplaySourceConfig(
        kind="replay", recording=folder, speed=0, options={"track_log": value}
    )
    with pytest.raises(SourceError) as error:
        runner.create_replay(config, context(ListSink()))
    assert str(error.value) == message


def test_a_track_log_that_cannot_be_written_is_a_source_error_naming_it(tmp_path: Path) -> None:
    folder = write_recording(tmp_path / "rec")
    (tmp_path / "file").write_text("")
    for path, why in ((tmp_path, "is a directory"), (tmp_path / "file" / "t.csv", "cannot write")):
        config = ReplaySourceConfig(
            kind="replay", recording=folder, speed=0, options={"track_log": str(path)}
        )
        with pytest.raises(SourceError, match=rf"^source\.options\.track_log: .*{why}"):
            runner.create_replay(config, context(ListSink()))


def test_a_stopped_source_leaves_a_complete_track_log(tiny_recording: Path, tmp_path: Path) -> None:
    from walkout_cli.eval import load_tracks  # noqa: PLC0415

    # Given a live-like runner with a track log, stopped while shoppers are in the store
    path = tmp_path / "tracks.csv"
    source = StopAfterPick(tiny_recording)
    run = runner.PipelineRunner(
        source, context(ListSink()), finite=False, tail_s=0.0, track_log=open_track_log(path)
    )
    source.pipeline = run.pipeline

    # When it runs until the stop
    run.run(threading.Event())

    # Then the log holds the positions up to the stop (none is held back), as eval reads them
    rows = load_tracks(path)
    assert source.stopped_at is not None and rows
    assert max(ts for ts, _, _, _ in rows) <= source.stopped_at
    assert max(ts for ts, _, _, _ in rows) > source.stopped_at - 1.0
    inside = {tr.track_id for tr in run.pipeline.vision.tracker.active() if tr.confirmed}
    assert inside and inside <= {tid for _, tid, _, _ in rows}


def _cell_run(pipe: PerceptionPipeline, levels: list[tuple[float, float]], seconds: float) -> None:
    """Feed cell p0 at 20 Hz: `levels` are (from second, grams) steps, ramped over 0.1 s."""
    rng = np.random.default_rng(3)
    for k in range(int(seconds * 20)):
        t = k / 20
        grams = levels[0][1]
        for (_, g0), (t1, g1) in itertools.pairwise(levels):
            if t >= t1:
                grams = g1
            elif t >= t1 - 0.1:
                grams = g0 + (g1 - g0) * (t - (t1 - 0.1)) / 0.1
        grams += rng.normal(0, 1.0)
        pipe.feed(LoadCellReadings(T0 + t, (("lc-s1-l0-p0", grams),)))


def test_a_flush_while_the_next_change_is_moving_keeps_a_clear_pick() -> None:
    # Given a can lifted at 5 s (a fast, clear step) and a hand back on the plate at 6.5 s,
    # before the lift is confirmed: the pick is held and the plate is moving
    sink = ListSink()
    pipe = PerceptionPipeline(small_store(), sink, store_id="store-t", device_id="edge-1")
    _cell_run(pipe, [(0.0, 2000.0), (5.0, 1645.0), (6.5, 1900.0)], 6.6)
    assert pipe.changes_in_motion() == 1 and len(pipe.held_shelf_changes()) == 1
    assert sink.events == []

    # When the pipeline is flushed (the daemon stopping)
    flushed = pipe.flush()

    # Then the pick is emitted (its return could not undo it), the moving change is not
    assert flushed == {"shelf.changed": 1}
    (event,) = sink.events
    assert isinstance(event, ShelfChanged) and abs(event.data.delta_g + 355.0) < 3
    assert pipe.changes_in_motion() == 1


def test_a_gate_flush_announces_a_held_session_and_keeps_unclaimed_pulses() -> None:
    # Given a scan, two turnstile pulses, and one member's track confirmed late (at 3 s):
    # the session is held for its group (2 s), the other pulse not claimed yet (it may be
    # for 4 s)
    binder = GateBinder(lambda ts: f"ses-{ts:.0f}", hold_s=2.0, pulse_window_s=4.0)
    binder.on_gate(GateEvent(T0, "entry-1", "scan", "acct-1"))
    binder.on_gate(GateEvent(T0 + 0.3, "entry-1", "enter"))
    binder.on_gate(GateEvent(T0 + 0.4, "entry-1", "enter"))
    binder.on_track_born("trk-1", T0 + 0.45, True, T0 + 3.0)
    assert binder.poll(T0 + 3.5) == []

    # When it is flushed (the daemon stopping)
    (opened,) = binder.flush(T0 + 3.5)

    # Then the session is announced with its member, at the member's binding
    assert isinstance(opened, SessionOpened)
    assert opened.track_ids == ("trk-1",) and opened.t == T0 + 3.0
    # and time did not jump ahead: the other pulse can still be claimed, by a late member
    binder.on_track_born("trk-2", T0 + 0.35, True, T0 + 3.6)
    (joined,) = binder.poll(T0 + 3.6)
    assert isinstance(joined, MemberJoined) and joined.track_id == "trk-2"
    assert joined.session_id == opened.session_id


class ImageSink(ListSink):
    def __init__(self) -> None:
        super().__init__()
        self.images: dict[str, bytes] = {}

    def emit(self, event: Event, evidence: Sequence[EvidenceImage] = ()) -> None:
        super().emit(event, evidence)
        self.images.update((image.key, image.jpeg) for image in evidence)


def test_a_session_carries_each_members_look_at_the_gate(tiny_recording: Path) -> None:
    # Given the tiny store's recording, replayed with evidence
    sink = ImageSink()
    full_replay(tiny_recording, sink)

    # Then every session names one image per member, under its own event's evidence
    # prefix, and the sink was given that image: a picture of somebody, not an empty crop
    entered = [e for e in sink.events if e.type in ("session.entered", "session.joined")]
    assert entered
    for event in entered:
        data = event.data
        members = data.track_ids if event.type == "session.entered" else [data.track_id]
        assert len(data.evidence) == len(members)
        for key, track_id in zip(data.evidence, members, strict=True):
            assert key.startswith(f"stores/store-t/evidence/{event.event_id}/entry-{track_id}-")
            image = cv2.imdecode(np.frombuffer(sink.images[key], np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and min(image.shape[:2]) >= 16
            assert float(image.std()) > 5.0
