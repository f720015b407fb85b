"""Ground truth (`truth.json`): sessions and receipts, trajectories, every pick, return and
hand-over, and the hard cases the recording contains. All times are true epoch seconds."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from simulator.timebase import START_TS, epoch
from simulator.world import ShelfEvent, World

TRUTH_SCHEMA = "walkout.truth/1"
ADJACENT_LANE_M = 0.8  # as Store.neighbour_lanes: lanes this close cannot be told apart by eye


def receipts(world: World) -> dict[str, dict[str, int]]:
    """Session -> {sku: qty}: what its members took minus what they put back."""
    out: dict[str, Counter[str]] = {s.session_id: Counter() for s in world.sessions}
    for e in world.events:
        out.setdefault(e.session_id, Counter())[e.sku] += e.qty if e.kind == "pick" else -e.qty
    return {sid: {sku: q for sku, q in sorted(c.items()) if q != 0} for sid, c in out.items()}


def final_stock(world: World) -> dict[str, dict[str, int]]:
    stock: dict[str, Counter[str]] = {
        lane: Counter(sku for sku, _ in units) for lane, units in world.lane_initial.items()
    }
    for e in world.events:
        stock[e.lane_id][e.sku] += e.qty if e.kind == "return" else -e.qty
    return {
        lane: {sku: q for sku, q in sorted(c.items()) if q} for lane, c in sorted(stock.items())
    }


def adjacent_reaches(world: World) -> list[dict[str, Any]]:
    """Pairs of reaches by two people into neighbouring lanes with overlapping windows."""
    store = world.definition.store
    near = {lid: set(store.neighbour_lanes(lid, ADJACENT_LANE_M)) for lid in store.lanes()}
    ordered = sorted(world.events, key=lambda e: (e.reach_start, e.event_id))
    pairs = []
    open_: list[ShelfEvent] = []
    for e in ordered:
        open_ = [o for o in open_ if o.reach_end > e.reach_start]
        for o in open_:
            if o.person_id != e.person_id and e.lane_id in near[o.lane_id]:
                pairs.append(
                    {
                        "event_ids": [o.event_id, e.event_id],
                        "person_ids": [o.person_id, e.person_id],
                        "lane_ids": [o.lane_id, e.lane_id],
                        "overlap_s": round(min(o.reach_end, e.reach_end) - e.reach_start, 3),
                    }
                )
        open_.append(e)
    return pairs


def similar_weight_lanes(world: World) -> list[dict[str, Any]]:
    """Lane pairs on one shelf whose products weigh the same within their tolerances."""
    products = world.definition.catalog.by_sku()
    sku_of = world.definition.planogram.sku_by_lane()
    pairs = []
    for shelf in world.definition.store.shelves:
        lanes = [lane.lane_id for lane in shelf.lanes if lane.lane_id in sku_of]
        for i, a in enumerate(lanes):
            for b in lanes[i + 1 :]:
                pa, pb = products[sku_of[a]], products[sku_of[b]]
                if pa.sku != pb.sku and abs(pa.unit_weight_g - pb.unit_weight_g) <= max(
                    pa.weight_tolerance_g, pb.weight_tolerance_g
                ):
                    pairs.append(
                        {
                            "shelf_id": shelf.shelf_id,
                            "lane_ids": [a, b],
                            "skus": [pa.sku, pb.sku],
                            "unit_weights_g": [pa.unit_weight_g, pb.unit_weight_g],
                        }
                    )
    return pairs


def _event(e: ShelfEvent, cell_of: dict[str, str], shelf_of: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": e.event_id,
        "kind": e.kind,
        "ts": epoch(e.t),
        "reach_start_ts": epoch(e.reach_start),
        "reach_end_ts": epoch(e.reach_end),
        "person_id": e.person_id,
        "session_id": e.session_id,
        "shelf_id": shelf_of[e.lane_id],
        "lane_id": e.lane_id,
        "cell_id": cell_of[e.lane_id],
        "sku": e.sku,
        "qty": e.qty,
        "delta_g": e.delta_g,
        "distance_m": e.distance_m,
    }
    if e.kind == "return":
        doc["misplaced"] = e.misplaced
        doc["home_lane_id"] = e.home_lane_id
    else:
        doc["foreign"] = e.foreign
    return doc


def build_truth(world: World) -> dict[str, Any]:
    store = world.definition.store
    lanes = store.lanes()
    cell_of = {lid: lane.load_cell.cell_id for lid, lane in lanes.items()}
    shelf_of = {lid: shelf.shelf_id for lid, shelf in store.shelf_of().items()}
    adjacent = adjacent_reaches(world)
    similar = similar_weight_lanes(world)
    rec = receipts(world)
    dropped = {c.camera_id: c.dropped for c in world.cameras}
    returns = [e for e in world.events if e.kind == "return"]
    picks = [e for e in world.events if e.kind == "pick"]
    hard_cases = {
        "adjacent_simultaneous_reaches": len(adjacent),
        "misplacements": sum(1 for e in returns if e.misplaced),
        "merges": len(world.merges),
        "passing_merges": sum(1 for m in world.merges if m.passing),
        "knocks": len(world.knocks),
        "dropped_frames": sum(len(d) for d in dropped.values()),
        "multi_item_picks": sum(1 for e in picks if e.qty > 1),
        "put_backs": len(returns),
        "foreign_item_picks": sum(1 for e in picks if e.foreign),
        "handoffs": len(world.handoffs),
        "similar_weight_lane_pairs": len(similar),
        "lighting_changes": len(world.lighting),
        "max_clock_skew_ms": round(
            max((abs(v) for v in world.hub_offset_s.values()), default=0.0) * 1000, 1
        ),
        "open_sessions": sum(1 for s in world.sessions if s.exit_t is None),
    }
    return {
        "schema": TRUTH_SCHEMA,
        "scenario": world.scenario.name,
        "seed": world.scenario.seed,
        "start_ts": round(START_TS, 3),
        "end_ts": epoch(world.duration_s),
        "trajectory_dt_s": round(world.dt, 6),
        "sessions": [
            {
                "session_id": s.session_id,
                "account_ref": s.account_ref,
                "members": s.members,
                "scan_ts": epoch(s.scan_t),
                "enter_ts": epoch(s.enter_t),
                "exit_ts": None if s.exit_t is None else epoch(s.exit_t),
                "receipt": rec.get(s.session_id, {}),
            }
            for s in world.sessions
        ],
        "people": [
            {
                "person_id": p.person_id,
                "session_id": p.session_id,
                "enter_ts": epoch(p.enter_t),
                "exit_ts": None if p.exit_t is None else epoch(p.exit_t),
                "height_m": round(p.appearance.height_m, 3),
                "shoulder_m": round(p.appearance.shoulder_m, 3),
                "shirt_bgr": list(p.appearance.shirt),
                "trajectory": {
                    "t0_ts": epoch(p.first_tick * world.dt),
                    "dt_s": round(world.dt, 6),
                    "xy": [[round(float(x), 3), round(float(y), 3)] for x, y in p.xy],
                },
            }
            for p in world.people
        ],
        "events": [_event(e, cell_of, shelf_of) for e in world.events],
        "handoffs": [
            {
                "handoff_id": h.handoff_id,
                "ts": epoch(h.t),
                "session_id": h.session_id,
                "from_person": h.from_person,
                "to_person": h.to_person,
                "sku": h.sku,
                "qty": h.qty,
            }
            for h in world.handoffs
        ],
        "knocks": [
            {
                "knock_id": k.knock_id,
                "shelf_id": k.shelf_id,
                "ts": epoch(k.t),
                "duration_s": k.duration_s,
                "peak_g": k.peak_g,
                "person_id": k.person_id,
                "cells": {cell_of[lid]: share for lid, share in sorted(k.lane_gain.items())},
            }
            for k in world.knocks
        ],
        "merges": [
            {
                "person_ids": list(m.person_ids),
                "start_ts": epoch(m.t_start),
                "end_ts": epoch(m.t_end),
                "min_distance_m": m.min_distance_m,
                "passing": m.passing,
            }
            for m in world.merges
        ],
        "adjacent_reaches": adjacent,
        "similar_weight_lanes": similar,
        "lighting_changes": [
            {
                "ts": epoch(c.t),
                "ramp_s": c.ramp_s,
                "gain_before": c.gain_before,
                "gain_after": c.gain_after,
            }
            for c in world.lighting
        ],
        "dropped_frames": dropped,
        "hub_clock_offset_ms": {
            hub: round(v * 1000, 1) for hub, v in sorted(world.hub_offset_s.items())
        },
        "stock_final": final_stock(world),
        "hard_cases": hard_cases,
    }


def truth_json(truth: dict[str, Any]) -> str:
    """The canonical text of a truth document (sorted keys, compact): same seed, same bytes."""
    return json.dumps(truth, sort_keys=True, separators=(",", ":"))
