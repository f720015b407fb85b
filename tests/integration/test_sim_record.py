"""`walkout sim record` and `walkout sim preview` end to end on a tiny store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest
import yaml

from simulator.timebase import START_TS
from walkout.definition import StoreDefinition
from walkout_cli.main import main

TINY = {
    "name": "tiny-record",
    "seed": 4,
    "duration_s": 30,
    "store": {
        "width_m": 6,
        "depth_m": 6,
        "aisles": 2,
        "shelves_per_aisle": 2,
        "lanes_per_shelf": 6,
    },
    "cameras": {"resolution": [320, 240], "fps": 5, "frame_drop_rate": 0.05},
    "shoppers": {"arrivals_per_hour": 600, "items_per_visit_mean": 2},
    "network": {"outages": [{"start_s": 10, "duration_s": 5}]},
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    scenario = folder / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(TINY))
    out = folder / "rec"
    assert (
        main(["sim", "record", "--scenario", str(scenario), "--out", str(out), "--workers", "2"])
        == 0
    )
    return out


def test_a_recording_has_every_file_of_the_format(recording: Path) -> None:
    # Given a recorded tiny store / Then every file of the format is there and readable
    meta = json.loads((recording / "recording.json").read_text())
    assert meta["schema"] == "walkout.recording/1"
    assert meta["start_ts"] == round(START_TS, 3)
    assert meta["scenario"]["name"] == "tiny-record"
    assert meta["network"]["outages"] == [
        {"start_ts": round(START_TS + 10, 3), "end_ts": round(START_TS + 15, 3)}
    ]
    definition = StoreDefinition.load(recording / "store.json")
    assert [c["camera_id"] for c in meta["cameras"]] == [
        c.camera_id for c in definition.store.cameras
    ]
    truth = json.loads((recording / "truth.json").read_text())
    assert truth["schema"] == "walkout.truth/1" and truth["sessions"]
    gates = [json.loads(line) for line in (recording / "gates.jsonl").read_text().splitlines()]
    assert {g["kind"] for g in gates} == {"scan", "enter", "exit"}
    assert sum(1 for g in gates if g["kind"] == "scan") == len(truth["sessions"])
    with (recording / "loadcells.csv").open() as fh:
        head = fh.readline().strip()
        first = fh.readline().strip().split(",")
    assert head == "ts,cell_id,grams"
    assert first[1] in {lane.load_cell.cell_id for lane in definition.store.lanes().values()}


def test_videos_hold_every_frame_but_the_dropped_ones(recording: Path) -> None:
    # Given each camera's video and frame file
    meta = json.loads((recording / "recording.json").read_text())
    truth = json.loads((recording / "truth.json").read_text())
    for cam in meta["cameras"]:
        with (recording / cam["frames"]).open() as fh:
            rows = list(csv.DictReader(fh))
        capture = cv2.VideoCapture(str(recording / cam["video"]))
        decoded = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            assert frame.shape[:2] == (cam["resolution"][1], cam["resolution"][0])
            decoded += 1
        # Then the video has one frame per row, and the missing sequence numbers are the drops
        assert decoded == len(rows) == cam["frames_written"]
        seqs = {int(r["seq"]) for r in rows}
        missing = set(range(cam["frames_captured"])) - seqs
        assert missing == set(truth["dropped_frames"][cam["camera_id"]])
        assert [int(r["frame"]) for r in rows] == list(range(len(rows)))
        stamps = [float(r["ts"]) for r in rows]
        assert stamps == sorted(stamps) and stamps[0] >= START_TS


def test_preview_draws_a_picture_of_the_recording(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "preview.png"
    assert main(["sim", "preview", "--recording", str(recording), "--out", str(out)]) == 0
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 500 and image.shape[1] > 800


def test_preview_of_a_folder_that_is_no_recording_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sim", "preview", "--recording", str(tmp_path), "--out", str(tmp_path / "p.png")])
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == f"walkout sim: --recording {tmp_path}: missing store.json"
    )


@pytest.mark.slow
def test_the_bundled_demo_records(tmp_path: Path) -> None:
    # Given the bundled demo scenario / When recorded by name / Then it writes its videos
    assert main(["sim", "record", "--scenario", "demo", "--out", str(tmp_path / "demo")]) == 0
    meta = json.loads((tmp_path / "demo" / "recording.json").read_text())
    assert all(c["frames_written"] > 0 for c in meta["cameras"])
