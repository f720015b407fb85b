"""Heartbeats and the seq numbers they share with the pipeline of the same device."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from edge_events import STORE, T0

from walkout.events import Heartbeat, make_event, parse_event
from walkout_edge.sources_registry import SensorHealth, StoreClock, Watermark
from walkout_edge.uplink import heartbeat
from walkout_edge.uplink.heartbeat import BACKLOG_FAULT, HeartbeatEmitter
from walkout_edge.uplink.outbox import Outbox
from walkout_edge.uplink.sink import OutboxSink, Sequencer

DEVICE = "edge-1"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", store_id=STORE, depth_threshold=3)
    yield box
    box.close()


def _emitter(outbox: Outbox, sequencer: Sequencer, **kw: object) -> HeartbeatEmitter:
    return HeartbeatEmitter(
        sink=OutboxSink(outbox, store_id=STORE, sequencer=sequencer),
        sequencer=sequencer,
        outbox=outbox,
        store_id=STORE,
        device_id=DEVICE,
        period_s=0.01,
        watermark=kw.get("watermark", Watermark()),  # type: ignore[arg-type]
        clock=StoreClock(),
        sensors=kw.get("sensors", SensorHealth()),  # type: ignore[arg-type]
    )


def _queued(outbox: Outbox) -> list[Heartbeat]:
    return [parse_event(e.body) for e in outbox.iter_events()]  # type: ignore[misc]


def test_a_heartbeat_carries_watermark_depth_sensor_health_and_backlog(outbox: Outbox) -> None:
    # Given a watermark, a failing load cell, a camera, and an outbox at its threshold
    watermark, sensors = Watermark(), SensorHealth()
    watermark.advance(T0)
    sensors.report_camera("cam-1", fps=14.8)
    sensors.report_sensor("loadcell", "cell-7", ok=False)
    sequencer = Sequencer(DEVICE, None)
    emitter = _emitter(outbox, sequencer, watermark=watermark, sensors=sensors)
    for _ in range(3):
        emitter.emit_once()

    beats = _queued(outbox)

    assert [b.seq for b in beats] == [0, 1, 2]
    last = beats[-1].data
    assert last.watermark_ts == T0
    assert last.outbox_depth == 2
    assert last.cameras_ok and not last.loadcells_ok
    assert BACKLOG_FAULT not in last.faults and "cell-7" in last.faults
    emitter.emit_once()
    assert BACKLOG_FAULT in _queued(outbox)[-1].data.faults


def test_no_heartbeat_before_the_source_sets_a_watermark(outbox: Outbox) -> None:
    assert _emitter(outbox, Sequencer(DEVICE, None)).emit_once() is None
    assert outbox.depth == 0


def test_heartbeats_and_a_busy_pipeline_of_one_device_never_interleave_out_of_order(
    outbox: Outbox,
) -> None:
    # Given a pipeline thread numbering its events from the shared sequencer, and a
    # heartbeat thread firing every 10 ms on the same device
    sequencer = Sequencer(DEVICE, None)
    watermark = Watermark()
    watermark.advance(T0)
    emitter = _emitter(outbox, sequencer, watermark=watermark)
    sink = OutboxSink(outbox, store_id=STORE, sequencer=sequencer)
    stop = threading.Event()
    beats = threading.Thread(target=emitter.run, args=(stop,))
    beats.start()

    # When the pipeline emits 300 events as fast as it can
    for n in range(300):
        seq = sequencer.next_seq()
        data = {"track_id": f"t{n}", "session_id": None, "gate_id": "exit"}
        ts = T0 + timedelta(milliseconds=n)
        sink.emit(
            make_event("track.exited", data, store_id=STORE, device_id=DEVICE, seq=seq, ts=ts)
        )
    stop.set()
    beats.join(5)

    # Then the outbox accepted all of them (it refuses a seq that does not increase), and
    # heartbeats got their numbers in between
    queued = _queued(outbox)
    seqs = [e.seq for e in queued]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert sum(e.type == "track.exited" for e in queued) == 300
    assert sum(e.type == "heartbeat" for e in queued) >= 1


def test_a_seq_taken_and_never_emitted_delays_heartbeats_then_is_given_up(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequencer = Sequencer(DEVICE, last_seq=41)
    watermark = Watermark()
    watermark.advance(T0)
    emitter = _emitter(outbox, sequencer, watermark=watermark)
    taken = sequencer.next_seq()
    assert taken == 42

    with pytest.raises(TimeoutError), sequencer.exclusive(timeout=0.05):
        pass
    monkeypatch.setattr(heartbeat, "SEQ_WAIT_S", 0.01)

    results = [emitter.emit_once() for _ in range(heartbeat.ABANDON_AFTER + 1)]

    assert results[:-1] == [None] * heartbeat.ABANDON_AFTER
    assert results[-1] is not None and results[-1].seq == 43
