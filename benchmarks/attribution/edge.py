"""Study cases from the edge agent's real replay output instead of truth-derived events.

`walkout-edge replay --recording DIR --out EVENTS.jsonl` runs the live perception pipeline
on a simulator recording without reading its truth. Here those events are scored against
the recording's `truth.json`:

- each `shelf.changed` is matched to the true pick or return it stands for: same lane, the
  true time within the event's [t_start, t_end] widened by 1 s (the hubs' clocks are
  skewed), one-to-one per lane (`walkout eval perception`'s matching). A matched event is
  right when its cart change is the true one (`replay._Provenance`); an unmatched one is a
  false detection (truth "none": right only when it changes no cart); a true pick or
  return no event stands for is a miss (it stays missing from the receipt);
- the edge's sessions are the truth's through the scan's account_ref; a true session the
  edge never opened keeps its true receipt against an empty cart, an edge session with no
  true one should stay empty;
- the actor's candidate (for fitting who, never read by the model) is the listed track
  nearest the true actor at the change (the tracks file the replay writes), if within
  0.5 m; else the tracker did not list the actor;
- the edge stream has no heartbeats (the uplink adds them), so one is inserted after each
  second of event time with the exact watermark of the stream: the earliest observation
  time (a shelf change's t_start, else its ts) of any later event, so sessions become
  ready as they would in the store.
"""

from __future__ import annotations

import bisect
import csv
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.attribution.cases import Case, recorded
from benchmarks.attribution.derive import Derived, EventTruth
from walkout.events import Event, ShelfChanged, make_event, parse_event
from walkout_cli.eval import Detected, match_weight_events

MATCH_TOL_S = 1.0
ACTOR_GATE_M = 0.5
HEARTBEAT_S = 1.0
FALSE_DETECTION = "none"  # EventTruth.kind of an edge event no true change stands for


@dataclass(frozen=True)
class EdgeCase:
    case: Case
    derived: Derived
    counts: dict[str, int]  # matched, false detections, misses, sessions ...


def load_edge_events(path: Path) -> list[Event]:
    events = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(parse_event(line))
        except ValueError as exc:
            raise ValueError(f"{path} line {number}: {exc}") from None
    return events


class _Tracks:
    """Track positions written by the replay (`ts,track_id,x,y`)."""

    def __init__(self, path: Path) -> None:
        rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                rows[row["track_id"]].append((float(row["ts"]), float(row["x"]), float(row["y"])))
        self.rows = {k: sorted(v) for k, v in rows.items()}
        self.times = {k: [r[0] for r in v] for k, v in self.rows.items()}

    def at(self, track: str, ts: float, within_s: float = 0.5) -> tuple[float, float] | None:
        times = self.times.get(track)
        if not times:
            return None
        i = bisect.bisect_left(times, ts)
        best = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - ts))
        if abs(times[best] - ts) > within_s:
            return None
        _, x, y = self.rows[track][best]
        return x, y


def _person_at(person: dict[str, Any], ts: float) -> tuple[float, float] | None:
    traj = person["trajectory"]
    k = round((ts - traj["t0_ts"]) / traj["dt_s"])
    if k < 0 or k >= len(traj["xy"]):
        return None
    x, y = traj["xy"][k]
    return float(x), float(y)


def _observed(event: Event) -> datetime:
    return event.data.t_start if isinstance(event, ShelfChanged) else event.ts


def with_heartbeats(events: list[Event], store_id: str) -> list[Event]:
    """The stream with a heartbeat after each second of event time, carrying the exact
    watermark (nothing observed before it comes later), and a last one past the end."""
    later: list[datetime | None] = [None] * (len(events) + 1)
    for i in range(len(events) - 1, -1, -1):
        seen = _observed(events[i])
        nxt = later[i + 1]
        later[i] = seen if nxt is None else min(seen, nxt)
    out: list[Event] = []
    seq = 0
    last: datetime | None = None

    def beat(ts: datetime, watermark: datetime) -> None:
        nonlocal seq
        seq += 1
        out.append(
            make_event(
                "heartbeat",
                {
                    "watermark_ts": watermark,
                    "outbox_depth": 0,
                    "cameras_ok": True,
                    "loadcells_ok": True,
                },
                store_id=store_id,
                device_id="edge-heartbeat",
                seq=seq,
                ts=ts,
            )
        )

    for i, event in enumerate(events):
        out.append(event)
        if last is None or (event.ts - last).total_seconds() >= HEARTBEAT_S:
            nxt = later[i + 1]
            beat(event.ts, event.ts if nxt is None else min(event.ts, nxt))
            last = event.ts
    if events:
        end = max(e.ts for e in events)
        beat(end, end + timedelta(hours=1))  # the store closed: nothing more to come
    return out


def edge_case(recording: Path, events_path: Path) -> EdgeCase:
    case = recorded(recording)
    truth = case.truth
    raw = load_edge_events(events_path)
    tracks_path = events_path.with_name(events_path.name.removesuffix(".jsonl") + ".tracks.csv")
    tracks = _Tracks(tracks_path) if tracks_path.is_file() else None
    people = {p["person_id"]: p for p in truth["people"]}

    account_session = {s["account_ref"]: s["session_id"] for s in truth["sessions"]}
    edge_of: dict[str, str] = {}  # true session -> edge session
    edge_sessions: list[str] = []
    for e in raw:
        if e.type == "session.entered":
            edge_sessions.append(e.data.session_id)
            true_sid = account_session.get(e.data.account_ref)
            if true_sid is not None:
                edge_of.setdefault(true_sid, e.data.session_id)

    true_events = [e for e in truth["events"] if e.get("kind") in ("pick", "return")]
    shelf = [e for e in raw if isinstance(e, ShelfChanged)]
    detected = [
        Detected(
            e.data.lane_id,
            e.data.t_start.timestamp(),
            e.data.t_end.timestamp(),
            [(c.track_id, c.session_id, c.reach_score) for c in e.data.candidates],
        )
        for e in shelf
    ]
    pairs = match_weight_events(true_events, detected, MATCH_TOL_S)
    truth_of: dict[int, int] = {j: i for i, j in pairs.items()}

    event_truth: dict[str, EventTruth] = {}
    actors = Counter[str]()
    for j, event in enumerate(shelf):
        i = truth_of.get(j)
        if i is None:
            event_truth[event.event_id] = EventTruth(
                session_id="", sku="", qty=0, kind=FALSE_DETECTION, misplaced=False,
                foreign=False, actor_track=None,
            )  # fmt: skip
            continue
        t = true_events[i]
        actor = _actor_track(event, people[t["person_id"]], float(t["ts"]), tracks)
        actors["listed" if actor else ("unknown" if tracks is None else "not listed")] += 1
        event_truth[event.event_id] = EventTruth(
            session_id=edge_of.get(t["session_id"], f"unentered-{t['session_id']}"),
            sku=t["sku"],
            qty=int(t["qty"]),
            kind=t["kind"],
            misplaced=bool(t.get("misplaced", False)),
            foreign=bool(t.get("foreign", False)),
            actor_track=actor,
        )
    receipts: dict[str, dict[str, int]] = {}
    for s in truth["sessions"]:
        receipts[edge_of.get(s["session_id"], f"unentered-{s['session_id']}")] = dict(s["receipt"])
    for sid in edge_sessions:
        receipts.setdefault(sid, {})  # an edge session nobody scanned for: nothing to charge
    counts = {
        "true_changes": len(true_events),
        "edge_shelf_events": len(shelf),
        "matched": len(pairs),
        "false_detections": len(shelf) - len(pairs),
        "misses": len(true_events) - len(pairs),
        "true_sessions": len(truth["sessions"]),
        "edge_sessions": len(edge_sessions),
        "true_sessions_never_opened": sum(
            1 for s in truth["sessions"] if s["session_id"] not in edge_of
        ),
        "actor_listed": actors["listed"],
        "actor_not_listed": actors["not listed"],
    }
    events = with_heartbeats(raw, case.definition.store.store_id)
    summary = {"events": len(events), "shelf_events": len(shelf), "sessions": len(receipts)}
    return EdgeCase(case, Derived(events, event_truth, receipts, summary), counts)


def _actor_track(
    event: ShelfChanged, person: dict[str, Any], ts: float, tracks: _Tracks | None
) -> str | None:
    """The listed candidate whose track was nearest the true actor at the change."""
    if tracks is None:
        return None
    where = _person_at(person, ts)
    if where is None:
        return None
    best: tuple[float, str] | None = None
    for c in event.data.candidates:
        pos = tracks.at(c.track_id, ts)
        if pos is None:
            continue
        d = math.dist(pos, where)
        if d <= ACTOR_GATE_M and (best is None or d < best[0]):
            best = (d, c.track_id)
    return best[1] if best else None
