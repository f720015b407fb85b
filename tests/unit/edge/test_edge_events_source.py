"""Source `kind: events`: replay as recorded, paced, resumable, with an honest watermark."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from edge_events import STORE, exited, shelf_changed

from walkout.events import Event, event_to_json
from walkout_edge.config import EventsSourceConfig
from walkout_edge.events_source import RecordedEventsSource
from walkout_edge.sinks import EvidenceImage
from walkout_edge.sources_registry import SourceContext, SourceError


class SpySink:
    """Records what was emitted, with the watermark at the moment of emitting."""

    def __init__(self) -> None:
        self.context: SourceContext | None = None
        self.events: list[Event] = []
        self.images: list[EvidenceImage] = []
        self.watermark_at_emit: list[datetime | None] = []
        self.calls = 0

    def emit(self, event: Event, evidence: Sequence[EvidenceImage] = ()) -> None:
        self.emit_many([(event, evidence)])

    def emit_many(self, items: Sequence[tuple[Event, Sequence[EvidenceImage]]]) -> None:
        assert self.context is not None
        self.calls += 1
        for event, evidence in items:
            self.watermark_at_emit.append(self.context.watermark.value)
            self.events.append(event)
            self.images.extend(evidence)

    def close(self) -> None:
        pass


def _write(path: Path, events: list[Event], evidence_dir: Path | None = None) -> None:
    path.write_bytes(b"".join(event_to_json(e) + b"\n" for e in events))
    if evidence_dir is not None:
        for event in events:
            for key in getattr(event.data, "evidence", []):
                (evidence_dir / key).parent.mkdir(parents=True, exist_ok=True)
                (evidence_dir / key).write_bytes(b"jpeg:" + key.encode())


def _source(
    tmp_path: Path,
    events: list[Event],
    *,
    speed: float = 0,
    resume: dict[str, int] | None = None,
    evidence: bool = False,
    errors: list[str] | None = None,
) -> tuple[RecordedEventsSource, SpySink, SourceContext]:
    path = tmp_path / "events.jsonl"
    evidence_dir = tmp_path / "evidence" if evidence else None
    if evidence_dir is not None:
        evidence_dir.mkdir(exist_ok=True)
    _write(path, events, evidence_dir)
    sink = SpySink()
    context = SourceContext(
        store_id=STORE,
        device_id="edge-1",
        sink=sink,
        next_seq=lambda: 0,
        last_seq=(resume or {}).get,
        report_error=(errors if errors is not None else []).append,
    )
    sink.context = context
    config = EventsSourceConfig(
        kind="events", path=path, evidence_dir=evidence_dir, speed=speed, tail_s=60
    )
    return RecordedEventsSource(config, context), sink, context


def test_as_fast_as_possible_sends_every_event_as_recorded_in_batches(tmp_path: Path) -> None:
    events = [exited(i) for i in range(600)]
    source, sink, context = _source(tmp_path, events)

    source.run(threading.Event())

    assert sink.events == events  # ids, devices and seqs as recorded
    assert sink.calls == 3  # 256 + 256 + 88: one commit per batch
    assert context.watermark.value == events[-1].ts + timedelta(seconds=60)


def test_paced_replay_follows_store_time_and_never_vouches_for_unsent_events(
    tmp_path: Path,
) -> None:
    # Given 2 s of store time (events 0.2 s apart, one out of order) replayed at 10x
    events = [exited(i, at_s=i * 0.2) for i in range(10)]
    events[6] = exited(6, at_s=0.9)  # recorded late: earlier than the one before it
    source, sink, context = _source(tmp_path, events, speed=10)

    started = time.monotonic()
    source.run(threading.Event())
    elapsed = time.monotonic() - started

    assert sink.events == events
    assert 0.17 <= elapsed < 1.5  # 1.8 s of store time / 10
    for event, mark in zip(sink.events, sink.watermark_at_emit, strict=True):
        assert mark is None or mark <= event.ts
    assert context.clock.now() >= events[-1].ts


def test_a_restart_resumes_after_what_the_outbox_already_holds(tmp_path: Path) -> None:
    events = [exited(i) for i in range(10)]
    source, sink, _ = _source(tmp_path, events, resume={"edge-rec": 6})

    source.run(threading.Event())

    assert [e.seq for e in sink.events] == [7, 8, 9]
    assert source.skipped == 7


def test_stop_interrupts_a_paced_replay(tmp_path: Path) -> None:
    events = [exited(0, at_s=0), exited(1, at_s=3600)]
    source, sink, _ = _source(tmp_path, events, speed=1)
    stop = threading.Event()
    runner = threading.Thread(target=source.run, args=(stop,))

    runner.start()
    time.sleep(0.2)
    stop.set()
    runner.join(2)

    assert not runner.is_alive()
    assert [e.seq for e in sink.events] == [0]


def test_evidence_images_come_from_the_directory_and_a_missing_one_is_counted(
    tmp_path: Path,
) -> None:
    events = [shelf_changed(0, images=2), shelf_changed(1)]
    errors: list[str] = []
    source, sink, _ = _source(tmp_path, events, evidence=True, errors=errors)
    missing = events[1].data.evidence[0]  # type: ignore[union-attr]
    (tmp_path / "evidence" / missing).unlink()

    source.run(threading.Event())

    assert [i.key for i in sink.images] == list(events[0].data.evidence)  # type: ignore[union-attr]
    assert sink.images[0].jpeg.startswith(b"jpeg:stores/store-042/evidence/")
    assert len(sink.events) == 2  # the event still goes
    assert errors == ["evidence_missing"]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([exited(0), exited(0)], "line 2: seq 0 of device 'edge-rec' does not follow 0"),
        ([exited(0, store="store-9")], "line 1: store_id 'store-9' is not this box's store"),
        ([exited(0, device="edge-1")], "line 1: recorded device_id 'edge-1' is the daemon's own"),
    ],
)
def test_a_recording_that_cannot_be_sent_as_is_is_refused_before_sending_anything(
    tmp_path: Path, events: list[Event], expected: str
) -> None:
    with pytest.raises(SourceError, match=expected):
        _source(tmp_path, events)


def test_a_line_that_is_not_an_event_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(event_to_json(exited(0)) + b"\n\n" + b'{"schema": "walkout.event/1"}\n')
    context = SourceContext(
        store_id=STORE,
        device_id="edge-1",
        sink=SpySink(),
        next_seq=lambda: 0,
        last_seq=lambda d: None,
    )
    config = EventsSourceConfig(kind="events", path=path)

    with pytest.raises(
        SourceError, match=r"source.path: events.jsonl line 3: type: Field required"
    ):
        RecordedEventsSource(config, context)
