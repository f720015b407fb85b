"""`walkout-edge replay` and `walkout eval perception` on a short simulator recording.

The simulator records a small store (two cameras, 40 s); the edge pipeline replays it into
a JSONL file exactly as it would run live, and its events are checked against the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from walkout.events import ShelfChanged, parse_event
from walkout_cli.main import main as walkout
from walkout_edge.cli import main as walkout_edge

SMALL = {
    "name": "perception-small",
    "seed": 5,
    "duration_s": 40,
    "store": {
        "width_m": 6,
        "depth_m": 6,
        "aisles": 2,
        "shelves_per_aisle": 2,
        "lanes_per_shelf": 6,
    },
    "cameras": {"resolution": [640, 480], "fps": 10},
    "loadcells": {"vibration_per_hour": 60},
    "shoppers": {"arrivals_per_hour": 500, "items_per_visit_mean": 2, "linger_prob": 0.1},
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("perception")
    scenario = folder / "small.yaml"
    scenario.write_text(yaml.safe_dump(SMALL))
    out = folder / "rec"
    args = ["sim", "record", "--scenario", str(scenario), "--out", str(out), "--workers", "2"]
    assert walkout(args) == 0
    return out


@pytest.mark.slow
def test_a_replay_gives_valid_events_that_match_the_truth(recording: Path, tmp_path: Path) -> None:
    # Given a recorded store, when the edge pipeline replays it
    events_file = tmp_path / "events.jsonl"
    evidence = tmp_path / "evidence"
    code = walkout_edge(
        [
            "replay",
            "--recording",
            str(recording),
            "--out",
            str(events_file),
            "--evidence-dir",
            str(evidence),
            "--quiet",
        ]
    )
    assert code == 0
    # Then every line is a valid walkout.event/1 with seq increasing by one
    events = [parse_event(line) for line in events_file.read_bytes().splitlines()]
    assert [e.seq for e in events] == list(range(len(events)))
    truth = json.loads((recording / "truth.json").read_text())
    types = [e.type for e in events]
    # And every visit was opened and every person left
    assert types.count("session.entered") == len(truth["sessions"])
    assert types.count("track.exited") == len(truth["people"])
    # And each shelf event references evidence that was written
    shelf = [e for e in events if isinstance(e, ShelfChanged)]
    assert shelf
    for e in shelf:
        for key in e.data.evidence:
            image = cv2.imread(str(evidence / key))
            assert image is not None and image.size > 0
    # And the scores against the truth are what the pipeline is built for
    report = tmp_path / "eval.json"
    args = [
        "eval",
        "perception",
        "--recording",
        str(recording),
        "--events",
        str(events_file),
        "--json",
        str(report),
    ]
    assert walkout(args) == 0
    figures = json.loads(report.read_text())
    assert figures["weight_events"]["f1"] >= 0.95
    assert figures["tracking"]["idf1"] >= 0.85
    assert figures["actor_top1_accuracy"] >= 0.8


def _mini_recording(folder: Path) -> Path:
    """A recording the simulator could have written, by hand: one camera, three frames."""
    from walkout.catalog import Catalog, Planogram  # noqa: PLC0415
    from walkout.definition import StoreDefinition  # noqa: PLC0415
    from walkout.store import Camera, Floor, Gate, Rect, Store  # noqa: PLC0415

    store = Store(
        store_id="store-mini",
        retailer_id="r",
        name="Mini",
        currency="EUR",
        floor=Floor(width_m=4, depth_m=4),
        cameras=[
            Camera.overhead(
                "cam-1", x=2, y=2, height_m=4, resolution=(640, 480), fps=10, hfov_deg=110
            )
        ],
        shelves=[],
        gates=[
            Gate(gate_id="entry-1", kind="entry", area=Rect(x0=0.5, y0=0, x1=1.5, y1=0.8)),
            Gate(gate_id="exit-1", kind="exit", area=Rect(x0=2.5, y0=0, x1=3.5, y1=0.8)),
        ],
    )
    definition = StoreDefinition(
        store=store,
        catalog=Catalog(currency="EUR", products=[], tax_classes=[]),
        planogram=Planogram(entries=[]),
    )
    (folder / "cameras").mkdir(parents=True)
    (folder / "store.json").write_text(definition.to_json())
    (folder / "recording.json").write_text(json.dumps({"start_ts": 1000.0, "end_ts": 1000.3}))
    writer = cv2.VideoWriter(
        str(folder / "cameras/cam-1.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (640, 480)
    )
    for _ in range(3):
        writer.write(np.full((480, 640, 3), 150, np.uint8))
    writer.release()
    (folder / "cameras/cam-1.frames.csv").write_text(
        "frame,seq,ts\n0,0,1000.0\n1,1,1000.1\n2,2,1000.2\n"
    )
    (folder / "loadcells.csv").write_text("ts,cell_id,grams\n")
    (folder / "gates.jsonl").write_text("")
    return folder


def test_a_tiny_hand_made_recording_replays_without_events(tmp_path: Path) -> None:
    folder = _mini_recording(tmp_path / "rec")
    out = tmp_path / "events.jsonl"
    assert walkout_edge(["replay", "--recording", str(folder), "--out", str(out), "--quiet"]) == 0
    assert out.read_text() == ""
    assert (tmp_path / "events.tracks.csv").read_text() == "ts,track_id,x,y\n"


def test_a_camera_that_misses_the_floor_is_one_readable_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a calibration whose camera hangs 30 m east of the store
    folder = _mini_recording(tmp_path / "rec")
    doc = json.loads((folder / "store.json").read_text())
    doc["store"]["cameras"][0]["position_m"] = [32.0, 2.0, 4.0]
    (folder / "store.json").write_text(json.dumps(doc))
    # When it is replayed / Then the command fails with one line naming the camera
    code = walkout_edge(["replay", "--recording", str(folder), "--out", str(tmp_path / "e.jsonl")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "camera cam-1: looks at (32.0, 2.0) m, outside the 4 x 4 m floor" in err


def test_a_broken_store_json_is_one_readable_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _mini_recording(tmp_path / "rec")
    (folder / "store.json").write_text('{"store": 3}')
    code = walkout_edge(["replay", "--recording", str(folder), "--out", str(tmp_path / "e.jsonl")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("walkout-edge replay: store.json: ")
    assert len(err.splitlines()) == 1


def test_a_bad_events_file_is_one_readable_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _mini_recording(tmp_path / "rec")
    (folder / "truth.json").write_text(
        json.dumps({"schema": "walkout.truth/1", "events": [], "people": [], "sessions": []})
    )
    bad = tmp_path / "events.jsonl"
    bad.write_text('{"schema": "walkout.event/1"}\n')
    code = walkout(["eval", "perception", "--recording", str(folder), "--events", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("walkout eval: --events events.jsonl line 1: ")
