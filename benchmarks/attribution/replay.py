"""An in-memory replay of ingest's attribution path (pure, no AWS): the same domain calls
the ingest service makes, on the same state (open sessions, their carts, lane memory,
ambiguity intervals, readiness), so the study measures what production would decide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from benchmarks.attribution.derive import EventTruth
from walkout.attribution import (
    DEFAULT_PARAMS,
    Ambiguity,
    Attribution,
    AttributionParams,
    Floor,
    ShelfContext,
    attribute,
    cart_after,
    lane_after,
    picked_from_after,
    receipt_confidence,
)
from walkout.attribution.identity import bound_later, shaping
from walkout.attribution.record import Action
from walkout.definition import StoreDefinition
from walkout.events import (
    Event,
    Heartbeat,
    SessionEntered,
    SessionJoined,
    ShelfChanged,
    TrackAmbiguity,
    TrackExited,
)
from walkout.ingest.lifecycle import is_ready, last_exit, people_present

AMBIGUITY_HORIZON = timedelta(hours=3)


@dataclass
class SessionState:
    tracks: list[str]
    entered: datetime
    exits: dict[str, datetime] = field(default_factory=dict)
    ready: bool = False
    items: dict[str, int] = field(default_factory=dict)
    picked_from: dict[str, dict[str, int]] = field(default_factory=dict)
    factors: dict[str, float] = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return receipt_confidence(self.factors)


@dataclass
class Replay:
    attributions: list[Attribution] = field(default_factory=list)
    sessions: dict[str, SessionState] = field(default_factory=dict)
    # event id -> was the cart change right (only when the replay was given the truth)
    right: dict[str, bool] = field(default_factory=dict)


class _Provenance:
    """Whose units each cart holds, by the true taker (evaluation only, never read by the
    model). A return is right when it removes a unit the returner's session really took
    (even from the cart an earlier mistake put it in: that mends both receipts), or removes
    nothing when no cart holds such a unit."""

    def __init__(self) -> None:
        self.held: dict[str | None, dict[str, list[str]]] = {}

    def judge(self, record: Attribution, truth: EventTruth) -> bool:
        d = record.decision
        if truth.kind == "none":  # a false detection: right when it changes no cart
            return not d.changes_a_cart
        same_item = (d.sku, d.qty) == (truth.sku, truth.qty)
        if record.action is Action.PICK:
            if d.changes_a_cart and d.sku is not None:
                self.held.setdefault(d.session_id, {}).setdefault(d.sku, []).extend(
                    [truth.session_id] * d.qty
                )
            return same_item and d.session_id == truth.session_id
        if not d.changes_a_cart or d.sku is None:
            holders = [
                s
                for s, cart in self.held.items()
                if s is not None and truth.session_id in cart.get(truth.sku, [])
            ]
            return d.sku is not None and same_item and not holders
        units = self.held.setdefault(d.session_id, {}).setdefault(d.sku, [])
        mine = [u for u in units if u == truth.session_id]
        right = same_item and len(mine) >= d.qty
        for _ in range(min(d.qty, len(units))):
            units.remove(truth.session_id if truth.session_id in units else units[0])
        return right


def replay(
    definition: StoreDefinition,
    events: list[Event],
    params: AttributionParams = DEFAULT_PARAMS,
    *,
    grace_s: float = 5.0,
    truth: Mapping[str, EventTruth] | None = None,
    present_sessions: bool = True,
) -> Replay:
    floor = Floor.of(definition)
    out = Replay()
    sessions = out.sessions
    lanes: dict[str, dict[str, int]] = {}
    ambiguities: list[Ambiguity] = []
    watermarks: dict[str, datetime] = {}
    provenance = _Provenance()
    joined: set[str] = set()  # tracks bound by a session.joined

    def track_sessions() -> dict[str, str]:
        return {t: sid for sid, s in sessions.items() if not s.ready for t in s.tracks}

    # As ingest does: a join or exit before its session.entered is held until it opens.
    pending: dict[str, list[SessionJoined | TrackExited]] = {}

    def membership(event: SessionJoined | TrackExited) -> None:
        s = sessions.get(event.data.session_id or "")
        if s is None:
            if event.data.session_id is not None:
                pending.setdefault(event.data.session_id, []).append(event)
        elif isinstance(event, SessionJoined):
            if event.data.track_id not in s.tracks:
                s.tracks.append(event.data.track_id)
                joined.add(event.data.track_id)
        elif event.data.track_id in s.tracks:
            s.exits.setdefault(event.data.track_id, event.ts)

    for event in events:
        if isinstance(event, SessionEntered):
            sessions.setdefault(
                event.data.session_id,
                SessionState(tracks=list(event.data.track_ids), entered=event.ts),
            )
            for held in sorted(pending.pop(event.data.session_id, []), key=lambda e: (e.ts, e.seq)):
                membership(held)
        elif isinstance(event, SessionJoined | TrackExited):
            membership(event)
        elif isinstance(event, Heartbeat):
            watermarks[event.device_id] = max(
                watermarks.get(event.device_id, event.data.watermark_ts), event.data.watermark_ts
            )
            for s in sessions.values():
                exit_at = last_exit(s.tracks, s.exits)
                if not s.ready and exit_at is not None and is_ready(exit_at, watermarks, grace_s):
                    s.ready = True
        elif isinstance(event, TrackAmbiguity):
            mapping = track_sessions()
            a, b = event.data.track_ids
            ambiguities.append(
                Ambiguity(
                    event.event_id,
                    event.data.t_start,
                    event.data.t_end,
                    a,
                    b,
                    event.data.swap_probability,
                    mapping.get(a),
                    mapping.get(b),
                )
            )
        elif isinstance(event, ShelfChanged):
            data = event.data
            recent = [a for a in ambiguities if a.t_start >= data.t_end - AMBIGUITY_HORIZON]
            relevant = bound_later(
                shaping(recent, {c.track_id for c in data.candidates}, data.t_end),
                track_sessions(),
            )
            wanted = {c.session_id for c in data.candidates if c.session_id is not None}
            wanted |= {s for a in relevant for s in (a.session_a, a.session_b) if s is not None}
            chargeable = {s for s in wanted if s in sessions and not sessions[s].ready}
            foreign = lanes.get(data.lane_id, {})
            context = ShelfContext(
                foreign=foreign,
                carts={s: sessions[s].items for s in chargeable},
                picked_from={s: sessions[s].picked_from for s in chargeable},
                ambiguities=relevant,
                open_sessions=chargeable,
                joined={c.track_id for c in data.candidates if c.track_id in joined},
            )
            record = attribute(event, floor, context, params)
            if record.p_nobody >= params.runner_up_min and present_sessions:
                # As ingest does: only then are the store's present sessions looked up.
                present = {
                    sid: people_present(s.tracks, s.exits, s.entered, data.t_start, data.t_end)
                    for sid, s in sessions.items()
                    if not s.ready
                }
                context = replace(context, present=present)
                record = attribute(event, floor, context, params)
            out.attributions.append(record)
            if truth is not None and record.event_id in truth:
                out.right[record.event_id] = provenance.judge(record, truth[record.event_id])
            for share in record.sessions:
                state = sessions[share.session_id]
                state.factors[record.event_id] = share.factor
                if share.chosen:
                    state.items = cart_after(state.items, record, share.session_id)
                    state.picked_from = picked_from_after(
                        state.picked_from, record, share.session_id
                    )
            if record.lane_change is not None:
                lanes[data.lane_id] = lane_after(foreign, record.lane_change)
    return out
