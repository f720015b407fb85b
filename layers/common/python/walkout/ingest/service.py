"""The ingest service: a batch of stream records in, sessions, carts and attributions out.

The Lambda handler hands every (deaggregated) record of an invocation to `start_batch` and
then each record, in order, to `IngestBatch.handle` (Powertools' record handler). What a
record may end as:

- applied: its effect is stored (or it was a duplicate and changes nothing);
- quarantined: not a valid event for this store (parse error, unknown type, store, lane or
  session); it is stored with the reason in the ingest table and the batch goes on;
- failed: a write failed (throttling, a conflict). The record raises, so Powertools reports
  it as a batch item failure, and every later record of the same store in this invocation
  fails too without being touched ("held"), so Lambda redelivers them in order.

Idempotency, per event type (a redelivered or duplicated record changes nothing):
- `shelf.changed`: its attribution record is written with `attribute_not_exists` in the same
  transaction as the carts and lane it changes: all of it happens once or not at all;
- `session.entered`: the session and its empty cart are created only if absent;
- `session.joined` / `track.exited`: no-ops once the track is in the session / has exited;
- `track.ambiguity`: a put keyed by the event id, made with the batch's other ambiguities
  (`StoreState.write_ambiguities`: before the store's ambiguities are first read, and in
  `finish`, which raises if it fails, so the whole batch is delivered again);
- `heartbeat`: watermarks only move forward. A device's watermark is written once per batch
  (by its last heartbeat in the batch, with the batch's highest value): a watermark only
  delays readiness when stale, it never makes anything wrong, so a heartbeat whose write
  was skipped loses nothing; if a later one fails, it is redelivered and written then.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from walkout import observability as obs
from walkout.attribution import (
    DEFAULT_PARAMS,
    Ambiguity,
    Attribution,
    AttributionError,
    AttributionParams,
    Floor,
    ShelfContext,
    attribute,
    cart_after,
    lane_after,
    picked_from_after,
)
from walkout.attribution.identity import bound_later, shaping
from walkout.cart import Cart
from walkout.data.dynamo import client, utc_clock
from walkout.data.evidence import own_evidence
from walkout.data.ingest import (
    IngestTable,
    Watermark,
    hold_pending,
    pending_events,
    release_pending,
)
from walkout.data.notifications import CartNotifier
from walkout.data.sessions import CartRecord, CartWrite, LaneWrite, SessionRecord, SessionsTable
from walkout.data.stores import StoreDefinitions
from walkout.data.workflow import FinalizeWorkflow
from walkout.definition import StoreDefinition
from walkout.events import (
    Event,
    EventError,
    Heartbeat,
    SessionEntered,
    SessionJoined,
    ShelfChanged,
    TrackAmbiguity,
    TrackExited,
    event_to_json,
    parse_event,
)
from walkout.ingest.lifecycle import (
    SessionStatus,
    is_ready,
    last_exit,
    people_present,
    stale_devices,
    status_after_exits,
)
from walkout.ingest.state import StoreState
from walkout.pricing import price_items
from walkout.settings import IngestSettings

Clock = Callable[[], datetime]


class QuarantineError(Exception):
    """An event that is well-formed but cannot be used here; the message says why."""


class StoreHeldError(RuntimeError):
    """An earlier record of this store failed in this invocation; this one waits for the
    redelivery so that the store's events stay in order."""


@dataclass(frozen=True)
class StreamRecord:
    """One (deaggregated) Kinesis record: all sub-records of a KPL aggregate share its
    sequence number, so the sub-sequence number tells them apart."""

    partition_key: str
    sequence_number: str
    sub_sequence_number: int | None
    data: bytes

    @property
    def position(self) -> tuple[str, int]:
        return (self.sequence_number, self.sub_sequence_number or 0)


@dataclass
class BatchSummary:
    records: int = 0
    events: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0
    duplicates: int = 0
    failed: int = 0
    held: int = 0
    late_shelf_events: int = 0
    stale_devices: int = 0  # devices skipped by readiness (most seen in one check)
    pending: int = 0  # joins / exits held until their session opens
    pending_applied: int = 0
    uncertain_shelf_events: int = 0
    sessions_opened: int = 0
    sessions_ready: int = 0
    sessions_below_threshold: int = 0
    cart_updates: int = 0
    notification_failures: int = 0
    write_items: int = 0
    max_event_age_ms: float = 0.0
    ready_sessions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class IngestService:
    """Long-lived (one per container): data access, settings and the attribution model."""

    stores: StoreDefinitions
    sessions: SessionsTable
    ingest: IngestTable
    workflow: FinalizeWorkflow
    notifier: CartNotifier
    review_threshold: float
    readiness_grace_s: float
    clock: Clock = utc_clock
    device_stale_after_s: float = 600.0
    params: AttributionParams = DEFAULT_PARAMS
    _floors: dict[tuple[str, int], Floor] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: IngestSettings, clock: Clock = utc_clock) -> IngestService:
        ddb = client("dynamodb")
        return cls(
            stores=StoreDefinitions(ddb, settings.stores_table, cache_s=settings.store_cache_s),
            sessions=SessionsTable(
                ddb, settings.sessions_table, ttl_days=settings.transient_ttl_days, clock=clock
            ),
            ingest=IngestTable(
                ddb, settings.ingest_table, ttl_days=settings.transient_ttl_days, clock=clock
            ),
            workflow=FinalizeWorkflow(client("stepfunctions"), settings.finalize_state_machine_arn),
            notifier=CartNotifier(client("events"), settings.event_bus_name),
            review_threshold=settings.review_threshold,
            readiness_grace_s=settings.readiness_grace_s,
            clock=clock,
            device_stale_after_s=settings.device_stale_after_s,
        )

    def floor(self, definition: StoreDefinition) -> Floor:
        # Keyed by the definition object: a refreshed definition builds a new floor.
        k = (definition.store.store_id, id(definition))
        if k not in self._floors:
            self._floors = {kk: v for kk, v in self._floors.items() if kk[0] != k[0]}
            self._floors[k] = Floor.of(definition)
        return self._floors[k]

    def start_batch(self, records: Sequence[StreamRecord]) -> IngestBatch:
        return IngestBatch(self, records)


class IngestBatch:
    """One invocation's records. `handle` each in order, then `finish` once."""

    def __init__(self, service: IngestService, records: Sequence[StreamRecord]) -> None:
        self.service = service
        self.summary = BatchSummary(records=len(records))
        self._writes_before = service.sessions.write_items + service.ingest.write_items
        self._parsed: dict[tuple[str, int], Event | EventError] = {}
        self._last_heartbeat: dict[tuple[str, str], tuple[str, int]] = {}
        for record in records:
            try:
                parsed: Event | EventError = parse_event(record.data)
            except EventError as exc:
                parsed = exc
            self._parsed[record.position] = parsed
            if isinstance(parsed, Heartbeat) and parsed.store_id == record.partition_key:
                self._last_heartbeat[(parsed.store_id, parsed.device_id)] = record.position
        self._states: dict[str, StoreState] = {}
        self._held: set[str] = set()
        self._notify: dict[tuple[str, str], tuple[Cart, float]] = {}

    # --- the record handler's entry point ---------------------------------------------------

    def handle(self, record: StreamRecord) -> str:
        """Apply one record; returns what happened ("applied", "duplicate", "quarantined").
        Raises when the record must be redelivered."""
        if record.partition_key in self._held:
            self.summary.held += 1
            raise StoreHeldError(
                f"store {record.partition_key}: an earlier record failed; waiting for redelivery"
            )
        try:
            try:
                return self._handle(record)
            except QuarantineError as exc:
                self._quarantine(record, str(exc), [])
                return "quarantined"
        except Exception:
            self._held.add(record.partition_key)
            self.summary.failed += 1
            raise

    def _handle(self, record: StreamRecord) -> str:
        parsed = self._parsed.get(record.position)
        if parsed is None:
            try:
                parsed = parse_event(record.data)
            except EventError as exc:
                parsed = exc
        if isinstance(parsed, EventError):
            self._quarantine(record, str(parsed), [f"{f}: {p}" for f, p in parsed.problems])
            return "quarantined"
        event = parsed
        if event.store_id != record.partition_key:
            raise QuarantineError(
                f"store_id: {event.store_id} differs from the record's partition key"
                f" {record.partition_key} (ordering is per partition key)"
            )
        state = self._state(event.store_id)
        self.summary.events[event.type] += 1
        age_ms = (self.service.clock() - event.ts).total_seconds() * 1000
        self.summary.max_event_age_ms = max(self.summary.max_event_age_ms, age_ms)
        if isinstance(event, ShelfChanged):
            return self._on_shelf(state, event)
        if isinstance(event, Heartbeat):
            return self._on_heartbeat(state, event, record)
        if isinstance(event, SessionEntered):
            return self._on_entered(state, event)
        if isinstance(event, SessionJoined):
            return self._on_joined(state, event)
        if isinstance(event, TrackExited):
            return self._on_exited(state, event)
        return self._on_ambiguity(state, event)

    def _state(self, store_id: str) -> StoreState:
        if store_id not in self._states:
            definition = self.service.stores.get(store_id)
            if definition is None:
                raise QuarantineError(f"store_id: unknown store {store_id}")
            self._states[store_id] = StoreState(
                definition,
                self.service.floor(definition),
                self.service.sessions,
                self.service.ingest,
            )
        return self._states[store_id]

    def _quarantine(self, record: StreamRecord, reason: str, problems: list[str]) -> None:
        self.service.ingest.quarantine(
            partition_key=record.partition_key,
            raw=record.data,
            reason=reason,
            problems=problems,
            sequence_number=f"{record.sequence_number}/{record.sub_sequence_number or 0}",
            received_at=self.service.clock(),
        )
        self.summary.quarantined += 1
        obs.logger.warning(
            "record quarantined",
            extra={
                "partition_key": record.partition_key,
                "sequence_number": record.sequence_number,
                "reason": reason[:300],
            },
        )

    # --- sessions -------------------------------------------------------------------------

    def _on_entered(self, state: StoreState, event: SessionEntered) -> str:
        data = event.data
        session = SessionRecord(
            store_id=event.store_id,
            session_id=data.session_id,
            status=SessionStatus.OPEN,
            tracks=list(data.track_ids),
            gate_id=data.gate_id,
            account_ref=data.account_ref,
            looks=self._own_looks(event),
            entered_at=event.ts,
            opened_by=event.event_id,
        )
        cart = CartRecord(
            store_id=event.store_id,
            session_id=data.session_id,
            cart=self._price(state, {}, data.session_id, version=0, at=event.ts),
        )
        existing = self.service.sessions.open_session(session, cart)
        if existing is not None:
            if existing.opened_by == event.event_id:
                self.summary.duplicates += 1
                # A redelivery: the first delivery may have failed before the held events.
                state.remember(existing)
                self._apply_pending(state, data.session_id)
                return "duplicate"
            raise QuarantineError(
                f"data.session_id: session {data.session_id} was already opened by event"
                f" {existing.opened_by}"
            )
        state.remember(session, cart)
        self.summary.sessions_opened += 1
        self._apply_pending(state, data.session_id)
        return "applied"

    def _own_looks(self, event: SessionEntered | SessionJoined) -> list[str]:
        """The event's look keys under its own evidence prefix. Any other is left out (the
        visit is kept): reviewers are shown what is kept, and another store's images, or
        a key a template would have to escape, must never reach them."""
        kept, refused = own_evidence(event.store_id, event.event_id, event.data.evidence)
        if refused:
            obs.logger.warning(
                "evidence keys outside the event's own prefix left out",
                extra={"event_id": event.event_id, "refused": len(refused)},
            )
            obs.count(obs.MetricName.EVIDENCE_KEYS_REFUSED, len(refused))
        return kept

    def _open_session(self, state: StoreState, session_id: str) -> SessionRecord:
        session = state.session(session_id)
        if session is None:
            raise QuarantineError(f"data.session_id: unknown session {session_id}")
        return session

    def _hold(self, state: StoreState, event: SessionJoined | TrackExited, session_id: str) -> str:
        """A join or exit whose session has not been opened yet: the edge may send it
        before the `session.entered` (another device, a retry); it is kept until then."""
        hold_pending(
            self.service.ingest, state.store_id, session_id, event.event_id, event_to_json(event)
        )
        self.summary.pending += 1
        return "pending"

    def _apply_pending(self, state: StoreState, session_id: str) -> None:
        """Apply the joins and exits held for a session that just opened, in their order,
        then forget them. Each is idempotent, so a retry after a failure changes nothing."""
        held = pending_events(self.service.ingest, state.store_id, session_id)
        events = []
        for event_id, raw in held.items():
            try:
                events.append(parse_event(raw))
            except EventError:
                release_pending(self.service.ingest, state.store_id, session_id, event_id)
        for event in sorted(events, key=lambda e: (e.ts, e.seq, e.event_id)):
            try:
                if isinstance(event, SessionJoined):
                    self._on_joined(state, event)
                elif isinstance(event, TrackExited):
                    self._on_exited(state, event)
            except QuarantineError as exc:
                self._quarantine(
                    StreamRecord(
                        state.store_id, f"pending/{event.event_id}", None, event_to_json(event)
                    ),
                    f"held until session {session_id} opened, then: {exc}",
                    [],
                )
            release_pending(self.service.ingest, state.store_id, session_id, event.event_id)
            self.summary.pending_applied += 1

    def _on_joined(self, state: StoreState, event: SessionJoined) -> str:
        data = event.data
        if state.session(data.session_id) is None:
            return self._hold(state, event, data.session_id)
        session = self._open_session(state, data.session_id)
        if data.track_id in session.tracks:
            self.summary.duplicates += 1
            return "duplicate"
        if session.status is SessionStatus.READY:
            raise QuarantineError(
                f"data.session_id: session {data.session_id} was already handed over"
            )
        tracks = [*session.tracks, data.track_id]
        after = session.model_copy(
            update={
                "tracks": tracks,
                "joined": [*session.joined, data.track_id],
                "looks": [*session.looks, *self._own_looks(event)],
                "status": status_after_exits(tracks, session.exits),
                "exit_at": last_exit(tracks, session.exits),
            }
        )
        self.service.sessions.update_session(session, after)
        state.remember(after)
        return "applied"

    def _on_exited(self, state: StoreState, event: TrackExited) -> str:
        data = event.data
        if data.session_id is None:
            return "applied"  # a track never bound to a scan: nothing to close
        if state.session(data.session_id) is None:
            return self._hold(state, event, data.session_id)
        session = self._open_session(state, data.session_id)
        if data.track_id not in session.tracks:
            raise QuarantineError(
                f"data.track_id: track {data.track_id} is not in session {data.session_id}"
            )
        if data.track_id in session.exits:
            self.summary.duplicates += 1
            return "duplicate"
        if session.status is SessionStatus.READY:
            raise QuarantineError(
                f"data.session_id: session {data.session_id} was already handed over"
            )
        exits = {**session.exits, data.track_id: event.ts}
        same_person = dict(session.same_person)
        if data.same_person_probability is not None:
            same_person[data.track_id] = data.same_person_probability
        after = session.model_copy(
            update={
                "exits": exits,
                "same_person": same_person,
                "status": status_after_exits(session.tracks, exits),
                "exit_at": last_exit(session.tracks, exits),
            }
        )
        self.service.sessions.update_session(session, after)
        state.remember(after)
        if after.status is SessionStatus.CLOSING:
            state.closing()[after.session_id] = after
            self._hand_over_ready(state)
        return "applied"

    def _on_heartbeat(self, state: StoreState, event: Heartbeat, record: StreamRecord) -> str:
        marks = state.watermarks()
        current = marks.get(event.device_id)
        outcome = "duplicate"
        if current is None or event.data.watermark_ts > current.watermark_ts:
            marks[event.device_id] = Watermark(
                store_id=event.store_id,
                device_id=event.device_id,
                watermark_ts=event.data.watermark_ts,
                seq=event.seq,
            )
            outcome = "applied"
        if self._last_heartbeat.get((event.store_id, event.device_id)) == record.position:
            self.service.ingest.advance_watermark(marks[event.device_id])
        self._hand_over_ready(state)
        return outcome

    def _hand_over_ready(self, state: StoreState) -> None:
        marks = {d: m.watermark_ts for d, m in state.watermarks().items()}
        if not marks:
            return
        stale = stale_devices(marks, self.service.device_stale_after_s)
        self.summary.stale_devices = max(self.summary.stale_devices, len(stale))
        if stale:
            marks = {d: m for d, m in marks.items() if d not in stale}
        closing = state.closing()
        for session_id in sorted(
            closing, key=lambda s: (closing[s].exit_at or closing[s].entered_at, s)
        ):
            session = closing[session_id]
            if session.exit_at is None or not is_ready(
                session.exit_at, marks, self.service.readiness_grace_s
            ):
                continue
            # The GSI is eventually consistent: confirm with a consistent read first.
            fresh = self.service.sessions.get_session(state.store_id, session_id)
            if fresh is None or fresh.status is not SessionStatus.CLOSING:
                closing.pop(session_id, None)
                if fresh is not None:
                    state.remember(fresh)
                continue
            arn = self.service.workflow.start(state.store_id, session_id)
            after = fresh.model_copy(
                update={
                    "status": SessionStatus.READY,
                    "ready_at": min(marks.values()),
                    "execution_arn": arn,
                }
            )
            self.service.sessions.update_session(fresh, after)
            state.remember(after)
            self.summary.sessions_ready += 1
            self.summary.ready_sessions.append((state.store_id, session_id))
            cart = state.cart(session_id)
            if cart is not None and cart.confidence < self.service.review_threshold:
                self.summary.sessions_below_threshold += 1

    def _on_ambiguity(self, state: StoreState, event: TrackAmbiguity) -> str:
        data = event.data
        sessions = state.track_sessions()
        a, b = data.track_ids
        ambiguity = Ambiguity(
            event_id=event.event_id,
            t_start=data.t_start,
            t_end=data.t_end,
            track_a=a,
            track_b=b,
            swap_probability=data.swap_probability,
            session_a=sessions.get(a),
            session_b=sessions.get(b),
        )
        state.remember_ambiguity(ambiguity)
        return "applied"

    # --- shelf changes ----------------------------------------------------------------------

    def _on_shelf(self, state: StoreState, event: ShelfChanged) -> str:
        data = event.data
        if not state.floor.has_lane(data.lane_id):
            raise QuarantineError(
                f"data.lane_id: lane {data.lane_id} is not in store {state.store_id}"
            )
        tracks = {c.track_id for c in data.candidates}
        while True:
            relevant = shaping(state.ambiguities(data.t_end), tracks, data.t_end)
            if any(a.session_a is None or a.session_b is None for a in relevant):
                relevant = bound_later(relevant, state.track_sessions())
            wanted = {c.session_id for c in data.candidates if c.session_id is not None}
            wanted |= {s for a in relevant for s in (a.session_a, a.session_b) if s is not None}
            state.load(wanted)
            if state.ambiguities_read:
                break  # else a session just read began earlier than they cover: read again
        chargeable = {
            s
            for s in wanted
            if s in state.carts
            and s in state.sessions
            and state.sessions[s].status is not SessionStatus.READY
        }
        if any(
            s in state.sessions and state.sessions[s].status is SessionStatus.READY for s in wanted
        ):
            self.summary.late_shelf_events += 1
        lane = state.lane(data.lane_id)
        context = ShelfContext(
            foreign=lane.foreign,
            carts={s: state.carts[s].items for s in chargeable},
            picked_from={s: state.carts[s].picked_from for s in chargeable},
            ambiguities=relevant,
            open_sessions=chargeable,
            joined={
                c.track_id
                for c in data.candidates
                if c.session_id in state.sessions
                and c.track_id in state.sessions[c.session_id].joined
            },
        )
        params = self.service.params

        def present() -> dict[str, int]:
            # Part of the change was done by somebody the edge did not list: every session
            # with people in the store then may have done it (their receipt confidence
            # drops by their share), so their carts are read too.
            people = self._present(state, event)
            state.load(s for s in people if people[s] > 0)
            return {s: n for s, n in people.items() if s in state.carts}

        try:
            attribution = attribute(event, state.floor, context, params, present=present)
        except AttributionError as exc:
            raise QuarantineError(str(exc)) from None
        cart_writes = [
            self._cart_write(state, attribution, s.session_id, event) for s in attribution.sessions
        ]
        lane_write = None
        if attribution.lane_change is not None:
            lane_write = LaneWrite(
                record=lane.model_copy(
                    update={
                        "foreign": lane_after(lane.foreign, attribution.lane_change),
                        "rev": lane.rev + 1,
                    }
                ),
                expected_rev=lane.rev,
            )
        if not self.service.sessions.commit_attribution(attribution, cart_writes, lane_write):
            self.summary.duplicates += 1
            return "duplicate"
        decision = attribution.decision
        charged = decision.session_id if decision.changes_a_cart else None
        for write in cart_writes:
            state.carts[write.record.session_id] = write.record
            if write.record.session_id == charged:
                self.summary.cart_updates += 1
                self._notify[(state.store_id, write.record.session_id)] = (
                    write.record.cart,
                    write.record.confidence,
                )
        if lane_write is not None:
            state.remember_lane(lane_write.record)
        if attribution.probability < self.service.review_threshold:
            self.summary.uncertain_shelf_events += 1
        return "applied"

    def _present(self, state: StoreState, event: ShelfChanged) -> dict[str, int]:
        """Session -> its people in the store during the change (sessions not handed over)."""
        state.track_sessions()  # lists the open sessions once per batch
        state.closing()  # and the closing ones
        data = event.data
        return {
            session.session_id: people_present(
                session.tracks, session.exits, session.entered_at, data.t_start, data.t_end
            )
            for session in state.sessions.values()
            if session.status is not SessionStatus.READY
        }

    def _cart_write(
        self, state: StoreState, attribution: Attribution, session_id: str, event: ShelfChanged
    ) -> CartWrite:
        current = state.carts[session_id]
        share = attribution.share_of(session_id)
        assert share is not None
        factors = {**current.factors, attribution.event_id: share.factor}
        update: dict[str, Any] = {"factors": factors, "rev": current.rev + 1}
        if share.chosen:
            items = cart_after(current.items, attribution, session_id)
            update["items"] = items
            update["applied"] = [*current.applied, attribution.event_id]
            update["picked_from"] = picked_from_after(current.picked_from, attribution, session_id)
            update["cart"] = self._price(
                state, items, session_id, version=current.cart.version + 1, at=event.ts
            )
        return CartWrite(record=current.model_copy(update=update), expected_rev=current.rev)

    def _price(
        self,
        state: StoreState,
        items: dict[str, int],
        session_id: str,
        *,
        version: int,
        at: datetime,
    ) -> Cart:
        priced = price_items(
            items,
            state.definition.catalog,
            prices_include_tax=state.definition.store.prices_include_tax,
            at=at,
        )
        return priced.to_cart(
            store_id=state.store_id, session_id=session_id, version=version, updated_at=at
        )

    # --- end of the batch -------------------------------------------------------------------

    def finish(self) -> BatchSummary:
        """Store the ambiguities not written yet (raises if that fails: the whole batch is
        then delivered again), send `CartUpdated` for every cart this batch changed, emit
        the batch's metrics."""
        for state in self._states.values():
            state.write_ambiguities()
        if self._notify:
            self.summary.notification_failures = self.service.notifier.publish(
                list(self._notify.values())
            )
        self.summary.write_items = (
            self.service.sessions.write_items
            + self.service.ingest.write_items
            - self._writes_before
        )
        emit_metrics(self.summary)
        return self.summary


def emit_metrics(summary: BatchSummary) -> None:
    name = obs.MetricName
    obs.count_by_event_type(summary.events)
    obs.count(name.QUARANTINED, summary.quarantined)
    obs.count(name.DUPLICATES, summary.duplicates)
    obs.count(name.LATE_EVENTS, summary.late_shelf_events)
    obs.count(name.UNCERTAIN_EVENTS, summary.uncertain_shelf_events)
    obs.count(name.SESSIONS_OPENED, summary.sessions_opened)
    obs.count(name.SESSIONS_READY, summary.sessions_ready)
    obs.count(name.STALE_DEVICES, summary.stale_devices)
    obs.count(name.HELD_EVENTS, summary.pending)
    obs.count(name.HELD_EVENTS_APPLIED, summary.pending_applied)
    obs.count(name.SESSIONS_BELOW_THRESHOLD, summary.sessions_below_threshold)
    obs.count(name.CART_UPDATES, summary.cart_updates)
    obs.count(name.NOTIFICATION_FAILURES, summary.notification_failures)
    obs.count(name.DYNAMODB_WRITES, summary.write_items)
    if summary.events and math.isfinite(summary.max_event_age_ms):
        obs.milliseconds(name.EVENT_AGE, max(0.0, summary.max_event_age_ms))
    obs.logger.info(
        "batch done",
        extra={
            "records": summary.records,
            "events": dict(summary.events),
            "quarantined": summary.quarantined,
            "duplicates": summary.duplicates,
            "failed": summary.failed,
            "held": summary.held,
            "sessions_ready": summary.sessions_ready,
            "pending": summary.pending,
            "pending_applied": summary.pending_applied,
            "write_items": summary.write_items,
        },
    )
