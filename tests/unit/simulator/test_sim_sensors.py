"""Load cells, determinism and camera pixels, checked through the files and the calibration."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from simulator.loadcells import write_loadcells
from simulator.render import CameraRenderer
from simulator.simulate import simulate
from simulator.timebase import START_TS
from simulator.truth import build_truth, truth_json
from simulator.world import World


def _read_cells(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with path.open() as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["ts", "cell_id", "grams"]
        for ts, cell, grams in reader:
            rows[cell].append((float(ts), float(grams)))
    return {c: (np.array([r[0] for r in v]), np.array([r[1] for r in v])) for c, v in rows.items()}


def test_same_seed_same_bytes_other_seed_other_truth(make_scenario: Any, tmp_path: Path) -> None:
    # Given one scenario simulated twice and once with another seed
    a, b = simulate(make_scenario(5, duration_s=40)), simulate(make_scenario(5, duration_s=40))
    c = simulate(make_scenario(6, duration_s=40))
    # Then truth and load-cell files are byte-identical for the same seed
    assert truth_json(build_truth(a)) == truth_json(build_truth(b))
    write_loadcells(a, tmp_path / "a.csv")
    write_loadcells(b, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    # And another seed gives another store visit
    assert truth_json(build_truth(a)) != truth_json(build_truth(c))


def test_a_settled_weight_change_equals_the_true_change(
    tiny_worlds: dict[int, World], tmp_path: Path
) -> None:
    # Given a recording's load-cell file, read back through each hub's true clock offset
    world = tiny_worlds[1]
    write_loadcells(world, tmp_path / "loadcells.csv")
    cells = _read_cells(tmp_path / "loadcells.csv")
    truth = build_truth(world)
    offset_s = {hub: ms / 1000 for hub, ms in truth["hub_clock_offset_ms"].items()}
    lanes = world.definition.store.lanes()
    noise = world.scenario.loadcells.noise_g
    busy: dict[str, list[float]] = defaultdict(list)
    for e in world.events:
        busy[e.lane_id].append(e.t)
    for k in world.knocks:
        for lane_id in k.lane_gain:
            busy[lane_id].extend([k.t, k.t + k.duration_s])
    checked = 0
    for e in world.events:
        # (only changes with nothing else on that lane within 4 s either side)
        if any(abs(t - e.t) < 4 for t in busy[e.lane_id] if t != e.t):
            continue
        cell = lanes[e.lane_id].load_cell
        ts, grams = cells[cell.cell_id]
        true_t = ts - START_TS - offset_s[cell.hub_id]
        before = grams[(true_t > e.t - 2.0) & (true_t < e.t - 0.8)]
        after = grams[(true_t > e.t + 1.5) & (true_t < e.t + 3.0)]
        # When the plate has settled on both sides of the change
        settled = after.mean() - before.mean()
        # Then the step equals the true weight change within the noise (and a little drift)
        allowed = 5 * noise * math.sqrt(1 / len(before) + 1 / len(after)) + 0.5
        assert abs(settled - e.delta_g) <= allowed, (e.event_id, settled, e.delta_g)
        checked += 1
    assert checked >= 10


def test_hub_clocks_are_skewed_within_the_scenario_bound(tiny_worlds: dict[int, World]) -> None:
    world = tiny_worlds[2]
    bound = world.scenario.loadcells.clock_skew_ms / 1000
    offsets = list(world.hub_offset_s.values())
    assert len(set(offsets)) == len(offsets) > 1
    assert all(abs(o) <= bound for o in offsets)


def test_rendered_frames_show_each_person_where_the_truth_says(
    tiny_worlds: dict[int, World],
) -> None:
    # Given a simulated store and each camera's renderer (noise off, to compare exactly)
    world = tiny_worlds[1]
    checked = 0
    for index, camera in enumerate(world.definition.store.cameras):
        renderer = CameraRenderer(world, index)
        for tick in range(0, world.n_ticks, 37):
            here = [p for p in world.people if p.index(tick) is not None]
            if not here:
                continue
            frame = renderer.render(tick, here, noise=False)
            gain = float(world.cameras[index].gain[tick])
            for p in here:
                k = p.index(tick)
                assert k is not None
                x, y = p.xy[k]
                # When the top of the head is projected through the camera's calibration
                uv = camera.floor_to_image(float(x), float(y), p.appearance.height_m - 0.11)
                assert uv is not None
                u, v = round(uv[0]), round(uv[1])
                if not (3 <= u < camera.resolution[0] - 3 and 3 <= v < camera.resolution[1] - 3):
                    continue
                # Then the head (hair, and the face a few pixels forward) is there, not the
                # empty store (grey hair over a grey shelf alone can be near the background)
                seen = frame[v - 3 : v + 4, u - 3 : u + 4].astype(float)
                empty = renderer.background[v - 3 : v + 4, u - 3 : u + 4].astype(float) * gain
                assert np.abs(seen - empty).sum(axis=2).max() > 40, (
                    camera.camera_id,
                    tick,
                    p.person_id,
                )
                checked += 1
    assert checked >= 20


def test_an_empty_store_renders_its_background(tiny_worlds: dict[int, World]) -> None:
    # Given nobody inside / When a frame is drawn without noise / Then it is the background
    # (lit by the camera's gain, which is applied in steps of 1/256)
    world = tiny_worlds[1]
    renderer = CameraRenderer(world, 0)
    frame = renderer.render(0, [], noise=False)
    gain = float(world.cameras[0].gain[0])
    expected = np.clip(renderer.background.astype(float) * gain + 0.5, 0, 255)
    assert np.abs(frame.astype(float) - expected).max() <= 2


def test_noise_and_lighting_change_the_frame(tiny_worlds: dict[int, World]) -> None:
    world = tiny_worlds[3]
    renderer = CameraRenderer(world, 0)
    noisy = renderer.render(0, [], noise=True).astype(float)
    clean = renderer.render(0, [], noise=False).astype(float)
    assert 1.0 < np.std(noisy - clean) < 3 * world.scenario.cameras.noise_sigma
    change = world.lighting[0]
    before = int(max(0, change.t - 2) / world.dt)
    after = min(world.n_ticks - 1, int((change.t + change.ramp_s + 2) / world.dt))
    g = world.cameras[0].gain
    assert abs(float(g[after] - g[before])) > 0.3 * abs(change.gain_after - change.gain_before)
