"""`walkout-edge replay` and `walkout-edge bench`: the perception pipeline on a recording.

    walkout-edge replay --recording DIR --out EVENTS.jsonl [--evidence-dir DIR]
                        [--tracks TRACKS.csv] [--store-id ID] [--device-id ID] [--speed S]
    walkout-edge bench --recording DIR [--frames N]

`replay` runs exactly the pipeline the daemon runs live, on a simulator recording, into a
JSONL sink; it also writes the track positions (`EVENTS.tracks.csv` unless `--tracks`
says otherwise) for `walkout eval perception`. `bench` times the camera pipeline per
frame on one core against bare `cv2.createBackgroundSubtractorMOG2().apply` on the very
same decoded frames, in the same run.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

# Registers the daemon's `replay` and `live` source kinds (a light import).
import walkout_edge.perception.runner  # noqa: F401

# The pipeline (OpenCV, numpy, scipy) is imported by the commands that run it, so that
# `walkout-edge --help` and `walkout-edge run` of another source start without it.
Subparsers = Any  # argparse's _SubParsersAction is private
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class NullSink:
    """Takes events and drops them (the bench times the pipeline, not the output)."""

    def emit(self, event: Any, evidence: Any = ()) -> None:
        pass

    def close(self) -> None:
        pass


def default_tracks_path(events: Path) -> Path:
    return events.with_name(events.stem + ".tracks.csv")


def register_replay(sub: Subparsers) -> None:
    p = sub.add_parser(
        "replay",
        help="run the perception pipeline on a simulator recording into a JSONL file",
        description="Run the perception pipeline (the same as live) on a simulator recording "
        "and write walkout.event/1 events, one per line.",
    )
    p.add_argument("--recording", required=True, type=Path, help="recording folder")
    p.add_argument("--out", required=True, type=Path, help="events file to write (JSONL)")
    p.add_argument("--evidence-dir", type=Path, help="write evidence JPEGs under this folder")
    p.add_argument(
        "--tracks", type=Path, help="track positions CSV (default: next to --out, .tracks.csv)"
    )
    p.add_argument("--store-id", help="store id of the events (default: the recording's)")
    p.add_argument("--device-id", default="edge-replay", help="device id of the events")
    p.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="store seconds per wall second (default 0: as fast as possible)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.set_defaults(handler=_replay)


def register_bench(sub: Subparsers) -> None:
    p = sub.add_parser(
        "bench",
        help="frames per second per core of the camera pipeline vs bare MOG2",
        description="Decode frames of a recording, then time the camera pipeline and bare "
        "cv2.createBackgroundSubtractorMOG2().apply on the same frames, one core.",
    )
    p.add_argument("--recording", required=True, type=Path, help="recording folder")
    p.add_argument("--frames", type=int, default=300, help="frames to time (default 300)")
    p.add_argument(
        "--start-s",
        type=float,
        default=None,
        help="time the frames from this many seconds into the recording; the pipeline runs "
        "untimed up to there so it tracks the people present (default: a third of the way)",
    )
    p.add_argument("--repeat", type=int, default=3, help="timed passes, best kept (default 3)")
    p.set_defaults(handler=_bench)


def _fail(command: str, message: str) -> int:
    print(f"walkout-edge {command}: {message}", file=sys.stderr)
    return 2


def _replay(args: argparse.Namespace) -> int:
    from walkout_edge.perception.errors import PerceptionError  # noqa: PLC0415
    from walkout_edge.perception.pipeline import (  # noqa: PLC0415
        PerceptionPipeline,
        open_track_log,
    )
    from walkout_edge.perception.sources import CameraFrame, RecordingSource  # noqa: PLC0415
    from walkout_edge.sinks import JsonlSink  # noqa: PLC0415

    try:
        source = RecordingSource(args.recording, speed=args.speed)
    except PerceptionError as exc:
        return _fail("replay", str(exc))
    store_id = args.store_id or source.definition.store.store_id
    for flag, value in (("--store-id", store_id), ("--device-id", args.device_id)):
        if not IDENTIFIER.fullmatch(value):
            return _fail("replay", f"{flag} {value!r}: letters, digits and . _ : - only (<= 64)")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        sink = JsonlSink(args.out, args.evidence_dir)
    except OSError as exc:
        return _fail("replay", f"--out {args.out}: {exc.strerror or exc}")
    tracks = args.tracks or default_tracks_path(args.out)
    try:
        pipeline = PerceptionPipeline(
            source.definition,
            sink,
            store_id=store_id,
            device_id=args.device_id,
            track_log=open_track_log(tracks),
        )
    except PerceptionError as exc:
        sink.close()
        return _fail("replay", str(exc))
    started = time.perf_counter()
    frames = 0
    last_report = started
    span = max(1e-9, source.end_ts - source.start_ts)
    try:
        for reading in source.readings(threading.Event()):
            pipeline.feed(reading)
            if isinstance(reading, CameraFrame):
                frames += 1
                now = time.perf_counter()
                if not args.quiet and now - last_report > 5:
                    last_report = now
                    done = (reading.ts - source.start_ts) / span
                    print(
                        f"replay {done:6.1%}  {frames} frames  {now - started:6.1f}s",
                        file=sys.stderr,
                    )
        pipeline.finish()
    except PerceptionError as exc:
        return _fail("replay", str(exc))
    finally:
        sink.close()
        source.close()
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{n} {t}" for t, n in sorted(pipeline.emitted.items()))
    print(f"replayed {args.recording} in {elapsed:.1f}s ({frames} frames): {counts or 'no events'}")
    print(f"  events: {args.out}   tracks: {tracks}")
    for status in source.health():
        if not status.ok:
            print(f"  warning: {status.kind} {status.sensor_id}: {status.detail}")
    if pipeline.unknown_cells:
        print(
            f"  warning: load cells not in store.json: {', '.join(sorted(pipeline.unknown_cells))}"
        )
    return 0


def _bench(args: argparse.Namespace) -> int:
    import cv2  # noqa: PLC0415

    from walkout_edge.perception.errors import PerceptionError  # noqa: PLC0415
    from walkout_edge.perception.gates import GateEvent  # noqa: PLC0415
    from walkout_edge.perception.pipeline import PerceptionPipeline  # noqa: PLC0415
    from walkout_edge.perception.sources import CameraFrame, RecordingSource  # noqa: PLC0415

    cv2.setNumThreads(1)
    try:
        source = RecordingSource(args.recording)
    except PerceptionError as exc:
        return _fail("bench", str(exc))
    store = source.definition.store
    span = source.end_ts - source.start_ts
    start_s = args.start_s if args.start_s is not None else span / 3
    start_ts = source.start_ts + max(0.0, start_s)
    try:
        warm = PerceptionPipeline(
            source.definition, NullSink(), store_id="bench", device_id="bench", run_tag="bench"
        )
    except PerceptionError as exc:
        return _fail("bench", str(exc))
    # Frames (and gate events, which bind and end tracks) of the timed window.
    window: list[CameraFrame | GateEvent] = []
    frames = 0
    decoded = 0
    t0 = time.perf_counter()
    for reading in source.readings(threading.Event()):
        decoded += isinstance(reading, CameraFrame)
        if reading.ts < start_ts:
            warm.feed(reading)  # untimed: the store as it is when the window starts
            continue
        if isinstance(reading, CameraFrame | GateEvent):
            window.append(reading)
            frames += isinstance(reading, CameraFrame)
            if frames >= args.frames:
                break
    decode_s = time.perf_counter() - t0
    source.close()
    first = next((r for r in window if isinstance(r, CameraFrame)), None)
    if first is None:
        return _fail("bench", f"{args.recording}: no camera frames after {start_s:.0f} s")
    width, height = first.image.shape[1], first.image.shape[0]
    people = len(warm.vision.tracker.reported_positions(first.ts))

    def run_pipeline() -> float:
        pipeline = copy.deepcopy(warm)
        start = time.process_time()
        for reading in window:
            pipeline.feed(reading)
        pipeline.vision.close_step()
        return time.process_time() - start

    def run_mog2() -> float:
        subtractors = {cam.camera_id: cv2.createBackgroundSubtractorMOG2() for cam in store.cameras}
        start = time.process_time()
        for reading in window:
            if isinstance(reading, CameraFrame):
                subtractors[reading.camera_id].apply(reading.image)
        return time.process_time() - start

    ours = min(run_pipeline() for _ in range(max(1, args.repeat)))
    mog2 = min(run_mog2() for _ in range(max(1, args.repeat)))
    n = frames
    ours_fps, mog2_fps = n / ours, n / mog2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"bench {args.recording}: {n} frames of {width}x{height} from {start_s:.0f} s, "
        f"{len(store.cameras)} cameras, {people} people tracked at the start"
    )
    print("  one core (cv2.setNumThreads(1)), CPU time per pass, best of", args.repeat)
    print(f"  camera pipeline : {ours_fps:8.1f} frames/s per core")
    print(f"  bare MOG2 apply : {mog2_fps:8.1f} frames/s per core")
    print(f"  ratio           : {ours_fps / mog2_fps:8.2f}x MOG2")
    print(
        f"  (not timed above: decoding and the untimed run up to the window, "
        f"{decoded / decode_s:.0f} frames/s)"
    )
    print(f"  load average (1 min) at the end: {load:.2f}")
    return 0
