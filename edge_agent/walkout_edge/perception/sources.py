"""Where the pipeline's sensor readings come from: one interface, a replay and live feeds.

A `SensorSource` yields readings roughly in time order: camera frames, load-cell samples
(one hub tick at a time) and gate events, with UNIX-second timestamps as the sensors
stamped them. The pipeline does not know which source it runs on:

- `RecordingSource` replays a simulator recording folder (`store.json`, `recording.json`,
  `cameras/<id>.mp4` with `<id>.frames.csv`, `loadcells.csv`, `gates.jsonl`), paced in
  store time at `speed` (1.0 = real time) or as fast as possible (`speed` 0). It never
  opens `truth.json`.
- `LiveSource` (in `live.py`) reads RTSP/device cameras and line-based load-cell and gate
  feeds, reconnecting with backoff.
"""

from __future__ import annotations

import csv
import heapq
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import cv2
import numpy as np
from pydantic import ValidationError

from walkout.definition import StoreDefinition
from walkout_edge.perception.errors import RecordingError
from walkout_edge.perception.gates import GateEvent

GATE_KINDS = frozenset({"scan", "enter", "exit"})
# Frames per second are measured over each camera's last this many frames handed out.
FPS_WINDOW = 50


@dataclass(frozen=True)
class CameraFrame:
    camera_id: str
    ts: float
    image: np.ndarray


@dataclass(frozen=True)
class LoadCellReadings:
    """The samples one hub took at one instant (its own clock)."""

    ts: float
    samples: tuple[tuple[str, float], ...]


Reading: TypeAlias = CameraFrame | LoadCellReadings | GateEvent


@dataclass(frozen=True)
class SensorStatus:
    kind: str  # "camera", "loadcell" or "gate"
    sensor_id: str
    ok: bool
    fps: float | None = None
    detail: str = ""


class SensorSource(Protocol):
    definition: StoreDefinition

    def readings(self, stop: threading.Event) -> Iterator[Reading]:
        """Readings until `stop` is set or (for a finite source) the input ends."""
        ...

    def health(self) -> list[SensorStatus]: ...

    def close(self) -> None: ...


def load_definition(path: Path) -> StoreDefinition:
    """`store.json`, with a one-line error naming the file and the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return StoreDefinition.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "document"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RecordingError(f"{path.name}: {where}: {err['msg']}{more}") from None


# --- replay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayCamera:
    camera_id: str
    video: Path
    frame_times: list[float]


class RecordingSource:
    """A simulator recording, replayed as if its sensors were live (see module docstring)."""

    def __init__(self, folder: Path, speed: float = 0.0) -> None:
        if speed < 0:
            raise RecordingError("speed must be >= 0 (0 = as fast as possible)")
        if not folder.is_dir():
            raise RecordingError(f"recording {folder}: no such folder")
        self.folder = folder
        self.speed = speed
        meta = _read_json(folder / "recording.json")
        self.definition = load_definition(folder / str(meta.get("store", "store.json")))
        self.start_ts = float(meta.get("start_ts", 0.0))
        self.end_ts = float(meta.get("end_ts", 0.0))
        self.cameras = self._cameras(meta)
        self.loadcells = folder / str(_get(meta, "loadcells", {}).get("file", "loadcells.csv"))
        self.gates = folder / str(meta.get("gates", "gates.jsonl"))
        for path in (self.loadcells, self.gates):
            if not path.is_file():
                raise RecordingError(f"recording {folder}: {path.name} is missing")
        known_cells = {lane.load_cell.cell_id for lane in self.definition.store.lanes().values()}
        self._check_loadcell_header(known_cells)
        self._status: dict[str, SensorStatus] = {}
        self._captures: list[Any] = []
        self._handed_out: dict[str, deque[float]] = {
            cam.camera_id: deque(maxlen=FPS_WINDOW) for cam in self.cameras
        }

    def _cameras(self, meta: dict[str, Any]) -> list[ReplayCamera]:
        listed = {c.get("camera_id"): c for c in _get(meta, "cameras", [])}
        out = []
        for cam in self.definition.store.cameras:
            entry = listed.get(cam.camera_id, {})
            video = self.folder / str(entry.get("video", f"cameras/{cam.camera_id}.mp4"))
            frames = self.folder / str(entry.get("frames", f"cameras/{cam.camera_id}.frames.csv"))
            if not video.is_file():
                raise RecordingError(
                    f"recording {self.folder}: camera {cam.camera_id}: "
                    f"{video.relative_to(self.folder)} is missing (recorded without video?)"
                )
            if not frames.is_file():
                raise RecordingError(
                    f"recording {self.folder}: camera {cam.camera_id}: "
                    f"{frames.relative_to(self.folder)} is missing"
                )
            out.append(ReplayCamera(cam.camera_id, video, _frame_times(frames)))
        return out

    def _check_loadcell_header(self, known_cells: set[str]) -> None:
        with self.loadcells.open(encoding="utf-8") as f:
            header = f.readline().strip()
            first = f.readline().strip()
        if header.replace(" ", "") != "ts,cell_id,grams":
            raise RecordingError(
                f"{self.loadcells.name}: header must be 'ts,cell_id,grams', not {header[:60]!r}"
            )
        if first:
            parts = first.split(",")
            if len(parts) != 3 or parts[1] not in known_cells:
                raise RecordingError(
                    f"{self.loadcells.name} line 2: {first[:80]!r} is not ts,cell_id,grams "
                    "of a load cell in store.json"
                )

    # --- reading -------------------------------------------------------------------------

    def readings(self, stop: threading.Event) -> Iterator[Reading]:
        streams: list[Iterator[tuple[float, int, Reading]]] = [
            self._camera_stream(cam, k) for k, cam in enumerate(self.cameras)
        ]
        streams.append(self._loadcell_stream(len(streams)))
        streams.append(self._gate_stream(len(streams)))
        wall0: float | None = None
        ts0: float | None = None
        for ts, _, reading in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            if stop.is_set():
                return
            if self.speed > 0:
                if wall0 is None or ts0 is None:
                    wall0, ts0 = time.monotonic(), ts
                due = wall0 + (ts - ts0) / self.speed
                while not stop.is_set():
                    wait = due - time.monotonic()
                    if wait <= 0:
                        break
                    stop.wait(min(wait, 0.2))
            if isinstance(reading, CameraFrame):
                self._handed_out[reading.camera_id].append(time.monotonic())
            yield reading

    def _camera_stream(self, cam: ReplayCamera, order: int) -> Iterator[tuple[float, int, Reading]]:
        capture = cv2.VideoCapture(str(cam.video))
        if not capture.isOpened():
            raise RecordingError(f"{cam.video}: cannot open the video")
        self._captures.append(capture)
        decoded = 0
        try:
            for ts in cam.frame_times:
                ok, image = capture.read()
                if not ok:
                    self._status[cam.camera_id] = SensorStatus(
                        "camera",
                        cam.camera_id,
                        False,
                        detail=f"video ended after {decoded} of {len(cam.frame_times)} frames",
                    )
                    return
                decoded += 1
                yield ts, order, CameraFrame(cam.camera_id, ts, image)
        finally:
            capture.release()

    def _loadcell_stream(self, order: int) -> Iterator[tuple[float, int, Reading]]:
        name = self.loadcells.name
        with self.loadcells.open(encoding="utf-8") as f:
            f.readline()
            batch: list[tuple[str, float]] = []
            batch_ts = ""
            for number, line in enumerate(f, start=2):
                try:
                    # The common case in one go (float() ignores the line end).
                    ts_text, cell, grams = line.split(",")
                    sample = (cell, float(grams))
                except ValueError:
                    parts = line.rstrip("\n").split(",")
                    if len(parts) != 3:
                        if not line.strip():
                            continue
                        raise RecordingError(
                            f"{name} line {number}: expected ts,cell_id,grams"
                        ) from None
                    ts_text, cell, grams = parts
                    if ts_text != batch_ts and batch:
                        yield (
                            float(batch_ts),
                            order,
                            LoadCellReadings(float(batch_ts), tuple(batch)),
                        )
                    raise RecordingError(
                        f"{name} line {number}: grams {grams!r} is not a number"
                    ) from None
                if ts_text != batch_ts and batch:
                    yield float(batch_ts), order, LoadCellReadings(float(batch_ts), tuple(batch))
                    batch = []
                batch_ts = ts_text
                batch.append(sample)
            if batch:
                try:
                    ts_value = float(batch_ts)
                except ValueError:
                    raise RecordingError(f"{name}: bad timestamp {batch_ts!r}") from None
                yield ts_value, order, LoadCellReadings(ts_value, tuple(batch))

    def _gate_stream(self, order: int) -> Iterator[tuple[float, int, Reading]]:
        events = []
        with self.gates.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                events.append(parse_gate_line(line, f"{self.gates.name} line {number}"))
        events.sort(key=lambda e: e.ts)
        for event in events:
            yield event.ts, order, event

    def health(self) -> list[SensorStatus]:
        out = []
        for cam in self.cameras:
            status = self._status.get(cam.camera_id)
            out.append(status or SensorStatus("camera", cam.camera_id, True, self._fps(cam)))
        return out

    def _fps(self, cam: ReplayCamera) -> float:
        """Frames handed to the pipeline per wall-clock second (the camera's rate at speed 1)."""
        walls = self._handed_out[cam.camera_id]
        if len(walls) < 2 or walls[-1] <= walls[0]:
            return 0.0
        return (len(walls) - 1) / (walls[-1] - walls[0])

    def close(self) -> None:
        for capture in self._captures:
            capture.release()


def parse_gate_line(line: str | bytes, where: str) -> GateEvent:
    """One gate record: `{"kind": "scan"|"enter"|"exit", "gate_id", "ts", "account_ref"?}`."""
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise RecordingError(f"{where}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise RecordingError(f"{where}: must be a JSON object")
    kind = doc.get("kind")
    if kind not in GATE_KINDS:
        raise RecordingError(f"{where}: kind must be one of scan, enter, exit (got {kind!r})")
    ts = doc.get("ts")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        raise RecordingError(f"{where}: ts must be a number of UNIX seconds")
    gate_id = doc.get("gate_id")
    if not isinstance(gate_id, str) or not gate_id:
        raise RecordingError(f"{where}: gate_id must be a non-empty string")
    account = doc.get("account_ref")
    if kind == "scan" and (not isinstance(account, str) or not account):
        raise RecordingError(f"{where}: a scan needs its account_ref")
    return GateEvent(float(ts), gate_id, kind, account if isinstance(account, str) else None)


def _frame_times(path: Path) -> list[float]:
    times: list[float] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "ts" not in reader.fieldnames:
            raise RecordingError(f"{path.name}: needs a header with a ts column")
        for number, row in enumerate(reader, start=2):
            try:
                times.append(float(row["ts"]))
            except (TypeError, ValueError):
                raise RecordingError(
                    f"{path.name} line {number}: ts {row.get('ts')!r} is not a number"
                ) from None
    return times


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordingError(f"recording {path.parent}: {path.name} is missing") from None
    except ValueError as exc:
        raise RecordingError(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise RecordingError(f"{path.name}: must be a JSON object")
    return doc


def _get(doc: dict[str, Any], key: str, default: Any) -> Any:
    value = doc.get(key, default)
    return default if value is None else value
