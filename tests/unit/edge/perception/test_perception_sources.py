"""The recording replay source: what it reads, in which order, and its errors on bad input."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from walkout.catalog import Catalog, Planogram
from walkout.definition import StoreDefinition
from walkout.store import Camera, Floor, Gate, Lane, LoadCell, Point, Rect, Shelf, Store
from walkout_edge.perception.errors import RecordingError
from walkout_edge.perception.gates import GateEvent
from walkout_edge.perception.sources import CameraFrame, LoadCellReadings, RecordingSource

T0 = 1_795_608_000.0


def definition() -> StoreDefinition:
    lane = Lane(
        lane_id="s1-l0-p0",
        level=0,
        height_m=0.25,
        front_center=Point(x=1.0, y=2.5),
        width_m=0.5,
        load_cell=LoadCell(cell_id="lc-s1-l0-p0", hub_id="hub-s1", rate_hz=20),
    )
    store = Store(
        store_id="store-t",
        retailer_id="r",
        name="Test store",
        currency="EUR",
        floor=Floor(width_m=4, depth_m=4),
        cameras=[
            Camera.overhead(
                "cam-1", x=2, y=2, height_m=4, resolution=(64, 48), fps=10, hfov_deg=110
            )
        ],
        shelves=[
            Shelf(
                shelf_id="s1",
                aisle=0,
                footprint=Rect(x0=0.5, y0=2.0, x1=1.0, y1=3.0),
                facing="east",
                lanes=[lane],
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


def write_recording(folder: Path, frames: int = 3) -> Path:
    (folder / "cameras").mkdir(parents=True)
    (folder / "store.json").write_text(definition().to_json())
    (folder / "recording.json").write_text(
        json.dumps({"schema": "walkout.recording/1", "start_ts": T0, "end_ts": T0 + 1})
    )
    writer = cv2.VideoWriter(
        str(folder / "cameras/cam-1.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (64, 48)
    )
    for k in range(frames):
        writer.write(np.full((48, 64, 3), 100 + k, np.uint8))
    writer.release()
    rows = "".join(f"{k},{k},{T0 + 0.1 * k:.3f}\n" for k in range(frames))
    (folder / "cameras/cam-1.frames.csv").write_text("frame,seq,ts\n" + rows)
    (folder / "loadcells.csv").write_text(
        f"ts,cell_id,grams\n{T0 + 0.05:.3f},lc-s1-l0-p0,1000.0\n{T0 + 0.1:.3f},lc-s1-l0-p0,1000.5\n"
    )
    (folder / "gates.jsonl").write_text(
        json.dumps({"kind": "scan", "gate_id": "entry-1", "account_ref": "acct-1", "ts": T0 + 0.15})
        + "\n"
    )
    return folder


def test_a_recording_is_replayed_in_time_order(tmp_path: Path) -> None:
    source = RecordingSource(write_recording(tmp_path / "rec"))
    readings = list(source.readings(threading.Event()))
    kinds = [type(r).__name__ for r in readings]
    assert kinds == [
        "CameraFrame",
        "LoadCellReadings",
        "CameraFrame",
        "LoadCellReadings",
        "GateEvent",
        "CameraFrame",
    ]
    assert [round(r.ts - T0, 2) for r in readings] == [0.0, 0.05, 0.1, 0.1, 0.15, 0.2]
    assert isinstance(readings[0], CameraFrame) and readings[0].image.shape == (48, 64, 3)
    assert isinstance(readings[1], LoadCellReadings) and readings[1].samples == (
        ("lc-s1-l0-p0", 1000.0),
    )
    assert readings[4] == GateEvent(T0 + 0.15, "entry-1", "scan", "acct-1")


def test_the_replay_never_opens_the_truth(tmp_path: Path) -> None:
    folder = write_recording(tmp_path / "rec")
    (folder / "truth.json").mkdir()  # reading it would fail loudly
    assert len(list(RecordingSource(folder).readings(threading.Event()))) == 6


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such folder"):
        RecordingSource(tmp_path / "nope")


def test_a_recording_without_video_says_so(tmp_path: Path) -> None:
    folder = write_recording(tmp_path / "rec")
    (folder / "cameras/cam-1.mp4").unlink()
    with pytest.raises(RecordingError, match=r"cam-1: cameras/cam-1\.mp4 is missing"):
        RecordingSource(folder)


def test_a_bad_calibration_names_the_field(tmp_path: Path) -> None:
    folder = write_recording(tmp_path / "rec")
    doc = json.loads((folder / "store.json").read_text())
    doc["store"]["cameras"][0]["rotation"] = [[1, 0, 0], [0, 1, 0], [0, 0, 1.5]]
    (folder / "store.json").write_text(json.dumps(doc))
    with pytest.raises(RecordingError, match=r"store\.json: store\.cameras\.0.*orthonormal"):
        RecordingSource(folder)


def test_a_bad_load_cell_file_is_named_with_its_line(tmp_path: Path) -> None:
    folder = write_recording(tmp_path / "rec")
    (folder / "loadcells.csv").write_text("ts,cell_id,grams\n1.0,lc-unknown,5\n")
    with pytest.raises(RecordingError, match=r"loadcells\.csv line 2"):
        RecordingSource(folder)


def test_a_bad_gate_line_is_named_when_read(tmp_path: Path) -> None:
    folder = write_recording(tmp_path / "rec")
    (folder / "gates.jsonl").write_text('{"kind": "teleport", "gate_id": "entry-1", "ts": 1}\n')
    source = RecordingSource(folder)
    with pytest.raises(RecordingError, match=r"gates\.jsonl line 1: kind must be one of"):
        list(source.readings(threading.Event()))


def test_a_stop_flag_ends_the_replay(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    assert list(RecordingSource(write_recording(tmp_path / "rec")).readings(stop)) == []
