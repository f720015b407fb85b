"""Wire events derived from a recording's ground truth, with the edge's errors simulated.

Until the edge agent's replay output is used, this stands in for perception. Everything the
cloud gets is produced from `truth.json` (+ `store.json`) with the noise described here, all
drawn from one seeded generator:

Sessions, exits, heartbeats
  `session.entered` at the session's entry with every member's track; `track.exited` at each
  person's exit (with the session bound to the track label they carry then); one device
  sends a heartbeat every second with watermark = now - 0.5 s.

Identity swaps (`track.ambiguity`)
  Every merge of two people (blobs touching from above) is reported. The tracker, which
  re-identifies people by appearance after a merge, swaps their labels for real with
  probability p = clip(closeness * lookalike, 0.005, 0.5), where closeness = 0.5 * (1 -
  min_distance / 0.6) + (0.15 if passing else 0.05) and lookalike = 0.05 + 0.95 *
  exp(-(shirt colour distance / 50)^2) (BGR units: same shirt 1, clearly different ~0.05).
  It reports a swap probability whose logit is the true one's plus Normal(0, 0.25). After a
  real swap every later candidate, exit and swap of the two people carries the other's
  label (and the session bound to that label).

Shelf changes (`shelf.changed`)
  delta_g = true change (real pack weights) + Normal(0, s) with s = 0.8 * the scenario's
  load-cell noise; noise_g reported = s * Uniform(0.85, 1.15); with probability 0.5 % a knock
  during settling adds Uniform(-25, 25) g.
  Candidates: everyone within 1.6 m of the lane front at the change (from the trajectories),
  distance_m = true distance + Normal(0, 0.06) (>= 0). reach_score ~ Beta:
    the actor                                         Beta(5, 1.5)   (Beta(3, 2) beyond 0.6 m)
    another person reaching a lane within 0.8 m then  Beta(3, 2.5)
    another person within 0.9 m, not reaching         Beta(1.2, 6)
    anyone else                                       Beta(1, 12)
  The actor is missed by the tracker (absent from the candidates) with probability 1.5 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from walkout.definition import StoreDefinition
from walkout.events import Event, make_event

CANDIDATE_RADIUS_M = 1.6
SETTLE_S = 0.3
ADJACENT_M = 0.8
DEVICE = "edge-1"


@dataclass(frozen=True)
class NoiseModel:
    weight_noise_factor: float = 0.8
    noise_report_spread: float = 0.15
    knock_rate: float = 0.005
    knock_g: float = 25.0
    distance_sd_m: float = 0.06
    actor_missed: float = 0.015
    swap_logit_sd: float = 0.25
    heartbeat_s: float = 1.0


@dataclass(frozen=True)
class EventTruth:
    """What really happened at one shelf change."""

    session_id: str
    sku: str
    qty: int
    kind: str
    misplaced: bool
    foreign: bool
    actor_track: str | None  # the actor's candidate track (None: the tracker missed them)


@dataclass
class Derived:
    events: list[Event]
    truth: dict[str, EventTruth]  # shelf event id -> truth
    receipts: dict[str, dict[str, int]]  # session -> true receipt
    summary: dict[str, int] = field(default_factory=dict)


def _ts(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(round(epoch_s, 3), tz=UTC)


class _Positions:
    def __init__(self, truth: dict[str, Any]) -> None:
        self.people = {}
        for p in truth["people"]:
            traj = p["trajectory"]
            self.people[p["person_id"]] = (
                traj["t0_ts"],
                traj["dt_s"],
                np.asarray(traj["xy"], dtype=float),
            )

    def at(self, person: str, ts: float) -> tuple[float, float] | None:
        t0, dt, xy = self.people[person]
        k = round((ts - t0) / dt)
        if k < 0 or k >= len(xy):
            return None
        return float(xy[k, 0]), float(xy[k, 1])


def derive(
    definition: StoreDefinition,
    truth: dict[str, Any],
    seed: int,
    noise: NoiseModel = NoiseModel(),
    loadcell_noise_g: float = 1.5,
) -> Derived:
    rng = np.random.default_rng(seed)
    store = definition.store
    store_id = store.store_id
    lanes = store.lanes()
    shelf_of = {lid: s.shelf_id for lid, s in store.shelf_of().items()}
    near_lanes = {lid: set(store.neighbour_lanes(lid, ADJACENT_M)) | {lid} for lid in lanes}
    positions = _Positions(truth)
    session_of_person = {p["person_id"]: p["session_id"] for p in truth["people"]}
    shirts = {p["person_id"]: tuple(p["shirt_bgr"]) for p in truth["people"]}

    label = {p: f"t-{p}" for p in session_of_person}  # person -> track label carried now
    session_of_label = {f"t-{p}": s for p, s in session_of_person.items()}
    timeline: list[tuple[float, int, str, dict[str, Any]]] = []  # (ts, order, kind, payload)

    for s in truth["sessions"]:
        timeline.append((s["enter_ts"], 0, "entered", s))
    for p in truth["people"]:
        if p["exit_ts"] is not None:
            timeline.append((p["exit_ts"], 3, "exited", p))
    for m in truth["merges"]:
        timeline.append((m["end_ts"], 1, "merge", m))
    for e in truth["events"]:
        # Sent once the weight settled after the reach.
        timeline.append((max(e["ts"], e["reach_end_ts"]) + SETTLE_S, 2, "shelf", e))
    start, end = truth["start_ts"], truth["end_ts"]
    t = start + noise.heartbeat_s
    while t <= end + 10:
        timeline.append((t, 4, "heartbeat", {"watermark": t - 0.5}))
        t += noise.heartbeat_s
    timeline.sort(key=lambda x: (x[0], x[1]))

    reaching = [
        (e["reach_start_ts"], e["reach_end_ts"], e["person_id"], e["lane_id"])
        for e in truth["events"]
    ]
    events: list[Event] = []
    event_truth: dict[str, EventTruth] = {}
    seq = 0
    swaps = 0

    def emit(type_: str, data: dict[str, Any], ts: float) -> Event:
        nonlocal seq
        seq += 1
        event = make_event(type_, data, store_id=store_id, device_id=DEVICE, seq=seq, ts=_ts(ts))
        events.append(event)
        return event

    for ts, _, kind, doc in timeline:
        if kind == "entered":
            emit(
                "session.entered",
                {
                    "session_id": doc["session_id"],
                    "gate_id": "entry",
                    "account_ref": doc["account_ref"],
                    "track_ids": [label[m] for m in doc["members"]],
                },
                ts,
            )
        elif kind == "exited":
            track = label[doc["person_id"]]
            emit(
                "track.exited",
                {"track_id": track, "session_id": session_of_label[track], "gate_id": "exit"},
                ts,
            )
        elif kind == "heartbeat":
            emit(
                "heartbeat",
                {
                    "watermark_ts": _ts(doc["watermark"]),
                    "outbox_depth": 0,
                    "cameras_ok": True,
                    "loadcells_ok": True,
                },
                ts,
            )
        elif kind == "merge":
            a, b = doc["person_ids"]
            closeness = 0.5 * (1 - doc["min_distance_m"] / 0.6) + (0.15 if doc["passing"] else 0.05)
            colours = math.dist(shirts[a], shirts[b])
            lookalike = 0.05 + 0.95 * math.exp(-((colours / 50) ** 2))
            p_true = min(0.5, max(0.005, closeness * lookalike))
            logit = math.log(p_true / (1 - p_true)) + rng.normal(0, noise.swap_logit_sd)
            reported = 1 / (1 + math.exp(-logit))
            emit(
                "track.ambiguity",
                {
                    "track_ids": [label[a], label[b]],
                    "t_start": _ts(doc["start_ts"]),
                    "t_end": _ts(doc["end_ts"]),
                    "swap_probability": round(reported, 4),
                },
                ts,
            )
            if rng.random() < p_true:
                label[a], label[b] = label[b], label[a]
                swaps += 1
        else:
            event = _shelf_event(
                doc=doc,
                ts=ts,
                rng=rng,
                noise=noise,
                loadcell_noise_g=loadcell_noise_g,
                lanes=lanes,
                shelf_of=shelf_of,
                near_lanes=near_lanes,
                positions=positions,
                label=label,
                session_of_label=session_of_label,
                reaching=reaching,
                emit=emit,
            )
            tracks = {c.track_id for c in event.data.candidates}  # type: ignore[union-attr]
            event_truth[event.event_id] = EventTruth(
                session_id=doc["session_id"],
                sku=doc["sku"],
                qty=doc["qty"],
                kind=doc["kind"],
                misplaced=bool(doc.get("misplaced", False)),
                foreign=bool(doc.get("foreign", False)),
                actor_track=label[doc["person_id"]] if label[doc["person_id"]] in tracks else None,
            )
    receipts = {s["session_id"]: dict(s["receipt"]) for s in truth["sessions"]}
    summary = {
        "events": len(events),
        "shelf_events": len(event_truth),
        "ambiguities": len(truth["merges"]),
        "real_swaps": swaps,
        "sessions": len(receipts),
    }
    return Derived(events, event_truth, receipts, summary)


def _shelf_event(
    *,
    doc: dict[str, Any],
    ts: float,
    rng: np.random.Generator,
    noise: NoiseModel,
    loadcell_noise_g: float,
    lanes: dict[str, Any],
    shelf_of: dict[str, str],
    near_lanes: dict[str, set[str]],
    positions: _Positions,
    label: dict[str, str],
    session_of_label: dict[str, str],
    reaching: list[tuple[float, float, str, str]],
    emit: Callable[[str, dict[str, Any], float], Event],
) -> Event:
    lane_id = doc["lane_id"]
    front = lanes[lane_id].front_center
    actor = doc["person_id"]
    sigma = noise.weight_noise_factor * loadcell_noise_g
    delta = doc["delta_g"] + rng.normal(0, sigma)
    if rng.random() < noise.knock_rate:
        delta += rng.uniform(-noise.knock_g, noise.knock_g)
    if abs(delta) < 0.5:
        delta = math.copysign(0.5, doc["delta_g"])
    reported_noise = sigma * rng.uniform(
        1 - noise.noise_report_spread, 1 + noise.noise_report_spread
    )
    candidates = []
    for person in sorted(positions.people):
        xy = positions.at(person, doc["ts"])
        if xy is None:
            continue
        distance = math.hypot(xy[0] - front.x, xy[1] - front.y)
        if distance > CANDIDATE_RADIUS_M:
            continue
        if person == actor:
            if rng.random() < noise.actor_missed:
                continue
            reach = rng.beta(5, 1.5) if distance <= 0.6 else rng.beta(3, 2)
        elif any(
            p == person
            and s <= doc["reach_end_ts"]
            and e >= doc["reach_start_ts"]
            and lane in near_lanes[lane_id]
            for s, e, p, lane in reaching
        ):
            reach = rng.beta(3, 2.5)
        elif distance <= 0.9:
            reach = rng.beta(1.2, 6)
        else:
            reach = rng.beta(1, 12)
        track = label[person]
        candidates.append(
            {
                "track_id": track,
                "session_id": session_of_label[track],
                "reach_score": round(float(reach), 4),
                "distance_m": round(max(0.0, distance + rng.normal(0, noise.distance_sd_m)), 3),
            }
        )
    return emit(
        "shelf.changed",
        {
            "shelf_id": shelf_of[lane_id],
            "lane_id": lane_id,
            "delta_g": round(float(delta), 1),
            "t_start": _ts(doc["reach_start_ts"]),
            "t_end": _ts(max(doc["reach_end_ts"], doc["reach_start_ts"])),
            "noise_g": round(float(reported_noise), 3),
            "candidates": candidates,
            "evidence": [],
        },
        ts,
    )
