"""Write a recording folder: store.json, recording.json, truth.json, gates.jsonl,
loadcells.csv and cameras/<id>.mp4 with cameras/<id>.frames.csv (see docs/simulator.md).

Cameras render in a pool of spawned processes (one camera per task); each camera draws its
noise and drops from its own seeded stream, so the output does not depend on the pool.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from simulator.loadcells import hub_cells, write_loadcells
from simulator.render import CameraRenderer
from simulator.scenario import Scenario
from simulator.simulate import simulate
from simulator.timebase import START_TS, epoch
from simulator.truth import build_truth, truth_json
from simulator.world import PersonTrack, World

RECORDING_SCHEMA = "walkout.recording/1"
TIME_CONVENTION = (
    "UNIX epoch seconds with millisecond precision everywhere; cameras and gates use the edge "
    "box clock (true time); load-cell rows use their hub's clock (skewed); truth.json is true time"
)
Progress = Callable[[str, float], None]


@dataclass
class CameraResult:
    camera_id: str
    frames_written: int
    frames_dropped: int
    cpu_s: float
    wall_s: float


@dataclass
class RecordingSummary:
    out: Path
    world: World
    loadcell_rows: int
    hard_cases: dict[str, Any]
    cameras: list[CameraResult] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def frames_written(self) -> int:
        return sum(c.frames_written for c in self.cameras)

    @property
    def render_fps_per_core(self) -> float:
        cpu = sum(c.cpu_s for c in self.cameras)
        return self.frames_written / cpu if cpu > 0 else 0.0


# What a pool worker renders from, set once per worker by `_init_worker`.
_WORKER: dict[str, Any] = {}


def render_camera(world: World, index: int, out: Path, counter: Any = None) -> CameraResult:
    """Render one camera's whole recording into `out/cameras/`."""
    cv2.setNumThreads(1)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    renderer = CameraRenderer(world, index)
    cam = renderer.camera
    video = out / "cameras" / f"{cam.camera_id}.mp4"
    writer = cv2.VideoWriter(
        str(video),
        cv2.VideoWriter.fourcc(*"mp4v"),
        float(cam.fps),
        (renderer.width, renderer.height),
    )
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a video writer for {video}")
    dropped = set(renderer.plan.dropped)
    people = sorted(world.people, key=lambda p: p.first_tick)
    active: list[PersonTrack] = []
    nxt = 0
    written = 0
    lines = ["frame,seq,ts\n"]
    for tick in range(world.n_ticks):
        while nxt < len(people) and people[nxt].first_tick <= tick:
            active.append(people[nxt])
            nxt += 1
        active = [p for p in active if p.first_tick + len(p.xy) > tick]
        if tick in dropped:
            continue
        writer.write(renderer.render(tick, active))
        lines.append(f"{written},{tick},{epoch(tick * world.dt):.3f}\n")
        written += 1
        if counter is not None and tick % 25 == 24:
            with counter.get_lock():
                counter.value += 25
    writer.release()
    (out / "cameras" / f"{cam.camera_id}.frames.csv").write_text("".join(lines), encoding="utf-8")
    return CameraResult(
        cam.camera_id,
        written,
        len(dropped),
        time.process_time() - start_cpu,
        time.perf_counter() - start_wall,
    )


def _init_worker(world: World, out: Path, counter: Any) -> None:
    _WORKER.update(world=world, out=out, counter=counter)


def _pool_task(index: int) -> CameraResult:
    return render_camera(_WORKER["world"], index, _WORKER["out"], _WORKER["counter"])


def _render_all(
    world: World, out: Path, workers: int, progress: Progress | None
) -> list[CameraResult]:
    n = len(world.definition.store.cameras)
    total = max(1, n * world.n_ticks)
    if workers <= 1 or n == 1:
        results = []
        for i in range(n):
            results.append(render_camera(world, i, out))
            if progress is not None:
                progress("render", (i + 1) / n)
        return results
    # Spawned, not forked: a fork of a process whose OpenCV thread pool is running can
    # deadlock in the child. Each worker receives the world once.
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    with ctx.Pool(
        min(workers, n), initializer=_init_worker, initargs=(world, out, counter)
    ) as pool:
        pending = pool.map_async(_pool_task, range(n), chunksize=1)
        while not pending.ready():
            pending.wait(0.25)
            if progress is not None:
                progress("render", min(1.0, counter.value / total))
        return pending.get()


def recording_metadata(world: World, results: list[CameraResult]) -> dict[str, Any]:
    scenario: Scenario = world.scenario
    by_id = {r.camera_id: r for r in results}
    return {
        "schema": RECORDING_SCHEMA,
        "scenario": scenario.model_dump(mode="json"),
        "start_ts": round(START_TS, 3),
        "end_ts": epoch(world.duration_s),
        "duration_s": round(world.duration_s, 3),
        "time": TIME_CONVENTION,
        "store": "store.json",
        "truth": "truth.json",
        "gates": "gates.jsonl",
        "loadcells": {
            "file": "loadcells.csv",
            "rate_hz": scenario.loadcells.rate_hz,
            "hubs": {
                hub: [f"lc-{lane}" for lane in lanes] for hub, lanes in hub_cells(world).items()
            },
        },
        "cameras": [
            {
                "camera_id": cam.camera_id,
                "video": f"cameras/{cam.camera_id}.mp4",
                "frames": f"cameras/{cam.camera_id}.frames.csv",
                "codec": "mp4v",
                "fps": cam.fps,
                "resolution": list(cam.resolution),
                "frames_captured": world.n_ticks,
                "frames_written": by_id[cam.camera_id].frames_written
                if cam.camera_id in by_id
                else None,
            }
            for cam in world.definition.store.cameras
        ],
        "network": {
            "outages": [
                {"start_ts": epoch(o.start_s), "end_ts": epoch(o.start_s + o.duration_s)}
                for o in scenario.network.outages
            ]
        },
    }


def write_gates(world: World, path: Path) -> None:
    lines = []
    for g in world.gate_log:
        doc: dict[str, Any] = {"ts": epoch(g.t), "gate_id": g.gate_id, "kind": g.kind}
        if g.account_ref is not None:
            doc["account_ref"] = g.account_ref
        lines.append(json.dumps(doc, sort_keys=True) + "\n")
    path.write_text("".join(lines), encoding="utf-8")


def record(
    scenario: Scenario,
    out: Path,
    progress: Progress | None = None,
    workers: int | None = None,
    cameras: bool = True,
) -> RecordingSummary:
    """Simulate `scenario` and write its recording into `out` (created if missing)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / "cameras").mkdir(exist_ok=True)
    world = simulate(scenario, None if progress is None else (lambda f: progress("simulate", f)))
    timings["simulate"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    (out / "store.json").write_text(world.definition.to_json() + "\n", encoding="utf-8")
    truth = build_truth(world)
    (out / "truth.json").write_text(truth_json(truth) + "\n", encoding="utf-8")
    write_gates(world, out / "gates.jsonl")
    rows = write_loadcells(
        world,
        out / "loadcells.csv",
        None if progress is None else (lambda f: progress("loadcells", f)),
    )
    timings["write"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    results: list[CameraResult] = []
    if cameras:
        results = _render_all(world, out, workers or os.cpu_count() or 1, progress)
    timings["render"] = time.perf_counter() - t2
    meta = recording_metadata(world, results)
    (out / "recording.json").write_text(
        json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    timings["total"] = time.perf_counter() - t0
    return RecordingSummary(out, world, rows, truth["hard_cases"], results, timings)
