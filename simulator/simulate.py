"""From a scenario to a `World`: the store, the shoppers, and every sensor-side surprise
(knocks, dropped frames, lighting changes, hub clock skew), all drawn from the seed."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from simulator.catalog_gen import build_assortment
from simulator.layout import build_layout, facing_normal
from simulator.rng import stream
from simulator.scenario import Scenario
from simulator.shoppers import ShopperSim
from simulator.world import CameraPlan, Knock, LightingChange, ShelfEvent, World
from walkout.definition import StoreDefinition

LEVEL_KNOCK_SHARE = (0.35, 1.0, 0.6)  # a lean lands on the hip-high level most


def simulate(scenario: Scenario, progress: Callable[[float], None] | None = None) -> World:
    layout = build_layout(scenario)
    assortment, store = build_assortment(scenario, layout.store)
    definition = StoreDefinition(
        store=store, catalog=assortment.catalog, planogram=assortment.planogram
    )
    stock_rng = stream(scenario.seed, "stock")
    by_sku = assortment.catalog.by_sku()
    lane_initial: dict[str, list[tuple[str, float]]] = {}
    tare: dict[str, float] = {}
    for entry in sorted(assortment.planogram.entries, key=lambda e: e.lane_id):
        p = by_sku[entry.sku]
        # Each pack weighs its nominal weight give or take its tolerance.
        grams = np.clip(
            stock_rng.normal(p.unit_weight_g, p.weight_tolerance_g / 3, entry.initial_units),
            p.unit_weight_g - p.weight_tolerance_g,
            p.unit_weight_g + p.weight_tolerance_g,
        )
        lane_initial[entry.lane_id] = [(entry.sku, round(float(g), 1)) for g in grams]
        tare[entry.lane_id] = round(float(stock_rng.uniform(300, 900)), 1)
    fps = scenario.cameras.fps
    world = World(
        scenario=scenario,
        definition=definition,
        products=assortment.info,
        entry_point=layout.entry_point,
        exit_point=layout.exit_point,
        dt=1.0 / fps,
        n_ticks=math.floor(scenario.duration_s * fps),
        lane_tare_g=tare,
        lane_initial=lane_initial,
    )
    ShopperSim(world, stream(scenario.seed, "shoppers")).run(progress)
    _knocks(world)
    _cameras(world)
    skew_rng = stream(scenario.seed, "hubs")
    hubs = sorted({lane.load_cell.hub_id for lane in store.lanes().values()})
    skew = scenario.loadcells.clock_skew_ms / 1000
    world.hub_offset_s = {hub: round(float(skew_rng.uniform(-skew, skew)), 4) for hub in hubs}
    return world


def _knocks(world: World) -> None:
    rng = stream(world.scenario.seed, "knocks")
    rate = world.scenario.loadcells.vibration_per_hour / 3600
    duration = world.duration_s
    if rate <= 0 or duration < 12:
        return
    store = world.definition.store
    events_by_shelf: dict[str, list[ShelfEvent]] = {}
    shelf_of = store.shelf_of()
    for e in world.events:
        events_by_shelf.setdefault(shelf_of[e.lane_id].shelf_id, []).append(e)
    people = {p.person_id: p for p in world.people}
    knocks: list[tuple[float, str, float | None, str | None]] = []
    for shelf in store.shelves:
        count = int(rng.poisson(rate * duration))
        for _ in range(count):
            nearby = events_by_shelf.get(shelf.shelf_id, [])
            if nearby and rng.random() < 0.7:
                # Leaning on the shelf while looking, just after reaching into it.
                e = nearby[int(rng.integers(len(nearby)))]
                t = e.reach_end + float(rng.uniform(0.3, 3.0))
                knocks.append((t, shelf.shelf_id, None, e.person_id))
            else:
                knocks.append((float(rng.uniform(5, duration - 5)), shelf.shelf_id, None, None))
    if not knocks:
        # At least one knock per recording: the edge must not take it for a pick.
        shelf = store.shelves[int(rng.integers(len(store.shelves)))]
        knocks.append((float(rng.uniform(5, duration - 5)), shelf.shelf_id, None, None))
    shelves = {s.shelf_id: s for s in store.shelves}
    for n, (t, shelf_id, _, person_id) in enumerate(sorted(knocks, key=lambda k: (k[0], k[1]))):
        if t > duration - 4:
            continue
        shelf = shelves[shelf_id]
        nx, _ = facing_normal(shelf.facing)
        fr = shelf.footprint
        tick = int(t / world.dt)
        # Where along the front the push lands: at the leaning shopper, else anywhere.
        along = float(rng.uniform(fr.y0, fr.y1))
        who = person_id
        best = 1.0
        for p in people.values():
            k = p.index(tick)
            if k is None:
                continue
            x, y = p.xy[k]
            front_x = fr.x1 if nx > 0 else fr.x0
            gap = abs(x - front_x)
            if fr.y0 - 0.2 <= y <= fr.y1 + 0.2 and gap < best:
                best, who, along = gap, p.person_id, float(np.clip(y, fr.y0, fr.y1))
        gains = {}
        for lane in shelf.lanes:
            share = (
                math.exp(-(((lane.front_center.y - along) / 0.45) ** 2))
                * LEVEL_KNOCK_SHARE[min(lane.level, 2)]
            )
            if share > 0.05:
                gains[lane.lane_id] = round(share, 3)
        world.knocks.append(
            Knock(
                knock_id=f"k{n + 1:04d}",
                shelf_id=shelf_id,
                t=round(t, 3),
                duration_s=round(float(rng.uniform(0.5, 3.0)), 3),
                peak_g=round(float(rng.uniform(80, 1500)), 1),
                person_id=who,
                lane_gain=gains,
            )
        )


def _cameras(world: World) -> None:
    spec = world.scenario.cameras
    rng = stream(world.scenario.seed, "lighting")
    n = world.n_ticks
    t = np.arange(n) * world.dt
    drift = spec.lighting_drift
    base = np.ones(n)
    if drift > 0 and n > 0:
        period = float(rng.uniform(600, 1800))
        phase = float(rng.uniform(0, 2 * math.pi))
        base = 1 + 0.4 * drift * np.sin(2 * math.pi * t / period + phase)
        changes = max(1, int(rng.poisson(4 * world.duration_s / 3600)))
        level = 0.0
        for when in sorted(rng.uniform(0.1, 0.9, changes) * world.duration_s):
            ramp = float(rng.uniform(0.3, 3.0))
            new = float(
                np.clip(level + rng.choice([-1, 1]) * rng.uniform(0.5, 1.0) * drift, -drift, drift)
            )
            step = np.clip((t - when) / ramp, 0, 1) * (new - level)
            before = float(1 + level)
            base = base + step
            world.lighting.append(
                LightingChange(
                    round(float(when), 3), round(ramp, 3), round(before, 4), round(1 + new, 4)
                )
            )
            level = new
    for i, cam in enumerate(world.definition.store.cameras):
        crng = stream(world.scenario.seed, "camera", i)
        dropped = np.flatnonzero(crng.random(n) < spec.frame_drop_rate * 0.7).tolist()
        if spec.frame_drop_rate > 0 and n > 20:
            # Bursts: a switch hiccup loses a few frames in a row.
            bursts = max(1, int(crng.poisson(spec.frame_drop_rate * 0.3 * n / 3)))
            for start in crng.integers(5, n - 10, bursts):
                dropped.extend(range(int(start), int(start) + int(crng.integers(2, 6))))
        gain = base * (1 + float(crng.uniform(-0.03, 0.03)))
        world.cameras.append(
            CameraPlan(
                camera_id=cam.camera_id,
                dropped=sorted(set(dropped)),
                gain=gain.astype(np.float32),
                noise_seed=int(crng.integers(0, 2**31)),
            )
        )
