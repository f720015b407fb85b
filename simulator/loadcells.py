"""Load-cell readings (`loadcells.csv`, columns `ts,cell_id,grams`).

A reading is the lane's true weight (tray plus every unit on it) plus what real plates add:
a short press of the hand before a lift, a damped oscillation after a unit leaves or lands,
knocks (a push that comes back), slow drift (creep and temperature) and white noise. Each
hub samples its cells together at `rate_hz` and stamps them with its own clock, which is off
from true time by the hub's skew; rows are in time order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simulator.rng import stream
from simulator.timebase import START_TS
from simulator.world import ShelfEvent, World

LIFT_S = 0.2  # a unit leaves (or lands on) the plate over this long


def hub_cells(world: World) -> dict[str, list[str]]:
    hubs: dict[str, list[str]] = {}
    for lane in world.definition.store.lanes().values():
        hubs.setdefault(lane.load_cell.hub_id, []).append(lane.lane_id)
    return {hub: sorted(lanes) for hub, lanes in sorted(hubs.items())}


def lane_signal(
    world: World,
    lane_id: str,
    t: np.ndarray,
    rng: np.random.Generator,
    events: list[ShelfEvent] | None = None,
) -> np.ndarray:
    """Grams a lane's cell reads at true times `t` (seconds since the start)."""
    spec = world.scenario.loadcells
    units = world.lane_initial.get(lane_id, [])
    g = np.full(t.shape, world.lane_tare_g.get(lane_id, 0.0) + sum(w for _, w in units))
    if events is None:
        events = [e for e in world.events if e.lane_id == lane_id]
    for e in events:
        ramp = np.clip((t - (e.t - LIFT_S / 2)) / LIFT_S, 0, 1)
        g += e.delta_g * ramp
        lo, hi = np.searchsorted(t, e.t - 0.6), np.searchsorted(t, e.t + 2.0)
        seg = t[lo:hi]
        if e.kind == "pick":
            # The hand presses the pack down a little as it grips, just before lifting.
            press = float(rng.uniform(5, 30))
            s = (seg - (e.t - 0.45)) / 0.35
            g[lo:hi] += np.where((s > 0) & (s < 1), press * np.sin(np.pi * np.clip(s, 0, 1)), 0)
        amp = (0.15 + 0.2 * float(rng.random())) * abs(e.delta_g) + 5
        freq, tau = float(rng.uniform(3, 7)), float(rng.uniform(0.12, 0.25))
        after = seg - (e.t + LIFT_S / 2)
        g[lo:hi] += np.where(
            after > 0,
            amp * np.exp(-np.maximum(after, 0) / tau) * np.sin(2 * np.pi * freq * after),
            0,
        )
    for k in world.knocks:
        share = k.lane_gain.get(lane_id)
        if not share:
            continue
        lo, hi = np.searchsorted(t, k.t), np.searchsorted(t, k.t + k.duration_s + 1.5)
        seg = t[lo:hi] - k.t
        push = np.where(
            seg < k.duration_s, np.sin(np.pi * np.clip(seg / k.duration_s, 0, 1)) ** 2, 0
        )
        after = seg - k.duration_s
        ring = np.where(
            after > 0, 0.15 * np.exp(-np.maximum(after, 0) / 0.2) * np.sin(2 * np.pi * 5 * after), 0
        )
        g[lo:hi] += k.peak_g * share * (push + ring)
    drift = spec.drift_g_per_hour
    if drift > 0:
        rate = float(rng.uniform(-1, 1)) * drift
        # Creep: a steady rate plus a slow random walk of similar size over an hour.
        knots = np.arange(0, t[-1] + 61 if len(t) else 61, 60.0)
        walk = np.cumsum(rng.normal(0, 0.5 * drift / math.sqrt(60), len(knots)))
        g += rate * t / 3600 + np.interp(t, knots, walk)
    if spec.noise_g > 0:
        g += rng.normal(0, spec.noise_g, t.shape)
    return g


def write_loadcells(
    world: World, path: Path, progress: Callable[[float], None] | None = None
) -> int:
    """Write `loadcells.csv`; returns the number of rows."""
    spec = world.scenario.loadcells
    hubs = hub_cells(world)
    cell_of = {lid: lane.load_cell.cell_id for lid, lane in world.definition.store.lanes().items()}
    phase_rng = stream(world.scenario.seed, "hub-phase")
    by_lane: dict[str, list[ShelfEvent]] = {}
    for e in world.events:
        by_lane.setdefault(e.lane_id, []).append(e)
    blocks = []
    for h, (hub, lanes) in enumerate(hubs.items()):
        period = 1.0 / spec.rate_hz
        phase = float(phase_rng.uniform(0, period))
        offset = world.hub_offset_s[hub]
        hub_t = phase + np.arange(int((world.duration_s - phase) * spec.rate_hz)) * period
        true_t = hub_t - offset
        stamps = np.round((START_TS + hub_t) * 1000).astype(np.int64)
        grams = []
        for i, lane in enumerate(lanes):
            rng = stream(world.scenario.seed, f"cell:{lane}")
            grams.append(np.round(lane_signal(world, lane, true_t, rng, by_lane.get(lane, [])), 1))
            if progress is not None:
                progress((h + (i + 1) / len(lanes)) / len(hubs))
        blocks.append((stamps, [cell_of[lane] for lane in lanes], np.array(grams).T.tolist()))
    all_ts = np.concatenate([b[0] for b in blocks]) if blocks else np.zeros(0, dtype=np.int64)
    hub_no = (
        np.concatenate([np.full(len(b[0]), i) for i, b in enumerate(blocks)]) if blocks else all_ts
    )
    sample_no = np.concatenate([np.arange(len(b[0])) for b in blocks]) if blocks else all_ts
    order = np.lexsort((hub_no, all_ts))
    rows = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("ts,cell_id,grams\n")
        chunk: list[str] = []
        for j in order.tolist():
            stamps, cells, grams = blocks[hub_no[j]]
            k = sample_no[j]
            ms = int(stamps[k])
            ts = f"{ms // 1000}.{ms % 1000:03d}"
            chunk.extend(f"{ts},{cell},{g:.1f}\n" for cell, g in zip(cells, grams[k], strict=True))
            if len(chunk) > 50_000:
                out.write("".join(chunk))
                rows += len(chunk)
                chunk = []
        out.write("".join(chunk))
        rows += len(chunk)
    return rows
