"""The daemon's `replay` source kind: the pipeline behind the source registry."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from test_perception_sources import T0, write_recording

from walkout.events import Event
from walkout_edge.config import ReplaySourceConfig
from walkout_edge.perception import runner
from walkout_edge.sinks import EvidenceImage
from walkout_edge.sources_registry import SourceContext, SourceError, resolve_source


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
