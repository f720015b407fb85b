"""The sessions table: sessions, live carts, attribution records, lane memory, ambiguities.

Items (docs/data-model.md has the full table):

    pk                               sk                     what
    SESSION#<store>#<session>        META                   the session (GSI by-store-status)
    SESSION#<store>#<session>        CART                   its live cart and receipt factors
    EVENT#<store>#<event_id>         ATTRIBUTION            one shelf change's attribution
    EVENT#<store>#<event_id>         SETTLED                what reviewers answered about it
    EVENT#<store>#<event_id>         ASKED                  the open review that asks about it
    STORE#<store>#LANES              <lane_id>              foreign units a lane holds
    STORE#<store>#AMBIGUITY          <t_start>#<event_id>   a track.ambiguity interval

A session's META and CART share a partition, so one `Query` on it reads the live cart with
its session. Everything here expires `transient_ttl_days` after its last write (receipts,
in their own table, are the permanent record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from walkout._base import Identifier, Model
from walkout.attribution import Ambiguity, Attribution, receipt_confidence
from walkout.attribution.record import Hypothesis
from walkout.cart import Cart
from walkout.data.dynamo import (
    Clock,
    batch_get,
    batch_put,
    cancellation_codes,
    conditional_write,
    from_item,
    key,
    query_all,
    to_item,
    ttl_attribute,
    value,
)
from walkout.events import UtcTimestamp, format_timestamp, parse_timestamp
from walkout.ingest.lifecycle import SessionStatus

META = "META"
CART = "CART"
ATTRIBUTION = "ATTRIBUTION"
SETTLED = "SETTLED"
ASKED = "ASKED"
# A session whose own questions are settled (its review's answers are kept, or it had
# none): `DONE#<store>#<session>` / `QUESTIONS`, apart from the session's own items.
QUESTIONS = "QUESTIONS"
# DynamoDB's limit on the items of one transaction.
TRANSACTION_MAX_ITEMS = 100
# Reads and conditional writes of an event's answers before giving up (concurrent reviews).
SETTLED_WRITE_ATTEMPTS = 5
STATUS_INDEX = "by-store-status"
# How far back ambiguity intervals are read for a shelf change: longer than any visit.
AMBIGUITY_HORIZON = timedelta(hours=3)


def session_pk(store_id: str, session_id: str) -> str:
    return f"SESSION#{store_id}#{session_id}"


def done_pk(store_id: str, session_id: str) -> str:
    return f"DONE#{store_id}#{session_id}"


def event_pk(store_id: str, event_id: str) -> str:
    return f"EVENT#{store_id}#{event_id}"


def lanes_pk(store_id: str) -> str:
    return f"STORE#{store_id}#LANES"


def ambiguity_pk(store_id: str) -> str:
    return f"STORE#{store_id}#AMBIGUITY"


def store_gsi_pk(store_id: str) -> str:
    return f"STORE#{store_id}"


def named_gsi_pk(store_id: str, session_id: str) -> str:
    """The index key listing the answers that name a session."""
    return f"NAMED#{store_id}#{session_id}"


class ConcurrentUpdateError(RuntimeError):
    """An item changed under us (its `rev` moved): retry the record with fresh state."""


# --- storage models -------------------------------------------------------------------------


class SessionRecord(Model):
    """A session's META item."""

    store_id: Identifier
    session_id: Identifier
    status: SessionStatus
    tracks: list[Identifier]
    exits: dict[str, UtcTimestamp] = {}
    # track -> how likely the person who left on it came in under this session (from
    # `track.exited`; tracks the edge could not judge are absent).
    same_person: dict[str, float] = {}
    # Tracks added by `session.joined` (not the scan's own): attribution trusts their
    # binding less (issue 6).
    joined: list[Identifier] = []
    # Evidence keys of the members' looks at the gate (`session.entered` / `joined`):
    # what review questions show reviewers to recognise this session's people by.
    looks: list[str] = []
    gate_id: Identifier
    # The scan's opaque account token: needed for the receipt, never logged.
    account_ref: str = Field(repr=False)
    entered_at: UtcTimestamp
    opened_by: str
    exit_at: UtcTimestamp | None = None
    ready_at: UtcTimestamp | None = None
    execution_arn: str | None = None

    def status_key(self) -> str:
        """The GSI sort key: status, then the time that status is ordered by."""
        when = {
            SessionStatus.OPEN: self.entered_at,
            SessionStatus.CLOSING: self.exit_at or self.entered_at,
            SessionStatus.READY: self.ready_at or self.exit_at or self.entered_at,
        }[self.status]
        return f"{self.status.value}#{format_timestamp(when)}#{self.session_id}"


class CartRecord(Model):
    """A session's CART item: item counts and where they were taken, the priced cart, and
    per-event receipt factors."""

    store_id: Identifier
    session_id: Identifier
    items: dict[str, int] = {}
    # sku -> lane -> units of `items` taken from that lane (what a put-back most likely is)
    picked_from: dict[str, dict[str, int]] = {}
    cart: Cart
    # event id -> P(this session's receipt is right about that event)
    factors: dict[str, float] = {}
    # The events whose decision was applied to `items`, in the order ingest applied them
    # (the edge sends a change held for an encounter after later ones, and a return of an
    # item the cart does not hold changes nothing, so the order matters to a replay).
    applied: list[Identifier] = []
    rev: int = 0

    @property
    def confidence(self) -> float:
        return receipt_confidence(self.factors)


class LaneMemory(Model):
    store_id: Identifier
    lane_id: Identifier
    foreign: dict[str, int] = {}
    rev: int = 0


class SettledEvent(Model):
    """What reviewers answered about one shelf event, for every session it touches: the
    answer is a fact about the event (who moved what), not about the session whose review
    asked it. `decision` charges the session named (`session_id` None: nobody)."""

    event_id: Identifier
    decision: Hypothesis
    task_id: Identifier
    asked_for: Identifier = Field(description="the session whose review asked it")
    shown: list[Identifier] = Field(
        description="the candidates the reviewers were shown by letter (not the people"
        ' present); for "none of them", every candidate any such answer ruled out'
    )
    answered_at: UtcTimestamp

    def settles_for(self, session_id: str) -> bool:
        """Whether the answer decides the event for `session_id`: an answer naming a
        session does (whoever it names, the others did not move the item); "none of them"
        only for the candidates the reviewers were shown by letter (a question lists a few)."""
        return self.decision.session_id is not None or session_id in self.shown


def merge_answers(
    stored: SettledEvent | None, answer: SettledEvent
) -> tuple[SettledEvent | None, bool]:
    """What to keep about an event after `answer`, given what was kept (None: nothing to
    write), and whether the two contradict each other (then the stored one stays).

    - An answer naming a session (or several: `Hypothesis.also`) stays; another naming
      somebody else, or other units, contradicts it, and so does "none of them" from
      reviewers who were shown one of those it names.
    - "None of them" answers add up the sessions they were shown (all ruled out), and one
      naming only sessions not ruled out replaces them.
    """
    if stored is None:
        return answer, False
    kept, given = stored.decision.charged, answer.decision.charged
    if kept:
        if not given:
            return None, any(s in answer.shown for s in kept)
        return None, not stored.decision.same_effect(answer.decision)
    if given:
        if any(s in stored.shown for s in given):
            return None, True
        return answer, False
    ruled_out = sorted({*stored.shown, *answer.shown})
    if ruled_out == sorted(stored.shown):
        return None, False
    return stored.model_copy(update={"shown": ruled_out}), False


@dataclass(frozen=True)
class RecordedAnswers:
    """`new`: the events that got their first answer, or one naming who moved the item, from
    this review (now, or in an earlier attempt of the same step); `conflicts`: the events
    answered before otherwise (event id -> the answer kept, which stays)."""

    new: tuple[str, ...]
    conflicts: dict[str, SettledEvent]


@dataclass(frozen=True)
class CartWrite:
    """A cart to store in place of the one at `expected_rev`."""

    record: CartRecord
    expected_rev: int


@dataclass(frozen=True)
class LaneWrite:
    record: LaneMemory
    expected_rev: int


# --- the table ------------------------------------------------------------------------------


class SessionsTable:
    def __init__(self, ddb: Any, table_name: str, *, ttl_days: int, clock: Clock) -> None:
        self.ddb = ddb
        self.table = table_name
        self.ttl_days = ttl_days
        self.clock = clock
        self.write_items = 0  # items written (a transaction counts each of its items)

    # sessions ------------------------------------------------------------------------------

    def _meta_item(self, record: SessionRecord) -> dict[str, Any]:
        return to_item(
            {
                "pk": session_pk(record.store_id, record.session_id),
                "sk": META,
                "gsi1pk": store_gsi_pk(record.store_id),
                "gsi1sk": record.status_key(),
                **record.model_dump(mode="json"),
                **ttl_attribute(self.clock(), self.ttl_days),
            }
        )

    def _cart_item(self, record: CartRecord) -> dict[str, Any]:
        return to_item(
            {
                "pk": session_pk(record.store_id, record.session_id),
                "sk": CART,
                **record.model_dump(mode="json"),
                **ttl_attribute(self.clock(), self.ttl_days),
            }
        )

    def open_session(self, session: SessionRecord, cart: CartRecord) -> SessionRecord | None:
        """Store a new session with its empty cart. Returns None when stored, else the
        session already stored under that id (nothing is written then)."""
        not_there = "attribute_not_exists(pk)"
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._meta_item(session),
                            "ConditionExpression": not_there,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._cart_item(cart),
                            "ConditionExpression": not_there,
                        }
                    },
                ]
            )
        except self.ddb.exceptions.TransactionCanceledException as exc:
            if "ConditionalCheckFailed" not in cancellation_codes(exc):
                raise
            existing = self.get_session(session.store_id, session.session_id)
            if existing is None:
                raise ConcurrentUpdateError("session vanished while being opened") from exc
            return existing
        self.write_items += 2
        return None

    def get_session(self, store_id: str, session_id: str) -> SessionRecord | None:
        page = self.ddb.get_item(
            TableName=self.table,
            Key=key(session_pk(store_id, session_id), META),
            ConsistentRead=True,
        )
        return _session(from_item(page["Item"])) if "Item" in page else None

    def get_cart(self, store_id: str, session_id: str) -> CartRecord | None:
        page = self.ddb.get_item(
            TableName=self.table,
            Key=key(session_pk(store_id, session_id), CART),
            ConsistentRead=True,
        )
        return _cart(from_item(page["Item"])) if "Item" in page else None

    def read_session(
        self, store_id: str, session_id: str
    ) -> tuple[SessionRecord | None, CartRecord | None]:
        """The session and its live cart in one query (what the shopper's app reads)."""
        items = list(
            query_all(
                self.ddb,
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": value(session_pk(store_id, session_id))},
            )
        )
        meta = next((_session(i) for i in items if i["sk"] == META), None)
        cart = next((_cart(i) for i in items if i["sk"] == CART), None)
        return meta, cart

    def get_sessions_with_carts(
        self, store_id: str, session_ids: Iterable[str]
    ) -> tuple[dict[str, SessionRecord], dict[str, CartRecord]]:
        ids = sorted(set(session_ids))
        keys = [key(session_pk(store_id, s), sk) for s in ids for sk in (META, CART)]
        sessions: dict[str, SessionRecord] = {}
        carts: dict[str, CartRecord] = {}
        for item in batch_get(self.ddb, self.table, keys):
            if item["sk"] == META:
                s = _session(item)
                sessions[s.session_id] = s
            elif item["sk"] == CART:
                c = _cart(item)
                carts[c.session_id] = c
        return sessions, carts

    def list_sessions(self, store_id: str, status: SessionStatus) -> list[SessionRecord]:
        return [
            _session(i)
            for i in query_all(
                self.ddb,
                TableName=self.table,
                IndexName=STATUS_INDEX,
                KeyConditionExpression="gsi1pk = :pk AND begins_with(gsi1sk, :status)",
                ExpressionAttributeValues={
                    ":pk": value(store_gsi_pk(store_id)),
                    ":status": value(f"{status.value}#"),
                },
            )
        ]

    def update_session(self, before: SessionRecord, after: SessionRecord) -> None:
        """Store `after` in place of `before` (its tracks, exits and status)."""
        if not conditional_write(
            self.ddb.put_item,
            TableName=self.table,
            Item=self._meta_item(after),
            ConditionExpression="#status = :status AND size(tracks) = :tracks",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": value(before.status.value),
                ":tracks": value(len(before.tracks)),
            },
        ):
            raise ConcurrentUpdateError(f"session {before.session_id} changed")
        self.write_items += 1

    # attribution ---------------------------------------------------------------------------

    def commit_attribution(
        self,
        attribution: Attribution,
        carts: Sequence[CartWrite],
        lane: LaneWrite | None,
    ) -> bool:
        """Store an attribution and its effects atomically. False: it was stored before
        (a duplicate event), and nothing is written."""
        now = self.clock()
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {
                            "pk": event_pk(attribution.store_id, attribution.event_id),
                            "sk": ATTRIBUTION,
                            "record": attribution.model_dump(mode="json", by_alias=True),
                            **ttl_attribute(now, self.ttl_days),
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        for write in carts:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._cart_item(write.record),
                        "ConditionExpression": "rev = :rev",
                        "ExpressionAttributeValues": {":rev": value(write.expected_rev)},
                    }
                }
            )
        if lane is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(
                            {
                                "pk": lanes_pk(lane.record.store_id),
                                "sk": lane.record.lane_id,
                                **lane.record.model_dump(mode="json"),
                                **ttl_attribute(now, self.ttl_days),
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk) OR rev = :rev",
                        "ExpressionAttributeValues": {":rev": value(lane.expected_rev)},
                    }
                }
            )
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            codes = cancellation_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False
            if "ConditionalCheckFailed" in codes:
                raise ConcurrentUpdateError(
                    f"event {attribution.event_id}: a cart or lane changed meanwhile"
                ) from exc
            raise
        self.write_items += len(items)
        return True

    def get_attribution(self, store_id: str, event_id: str) -> Attribution | None:
        page = self.ddb.get_item(
            TableName=self.table, Key=key(event_pk(store_id, event_id), ATTRIBUTION)
        )
        if "Item" not in page:
            return None
        return Attribution.model_validate(from_item(page["Item"])["record"])

    def get_attributions(self, store_id: str, event_ids: Iterable[str]) -> dict[str, Attribution]:
        """The attribution records of `event_ids` that exist, by event id: `BatchGetItem`s of
        up to 100 keys instead of a `GetItem` each (the same eventually consistent reads)."""
        found = (
            Attribution.model_validate(r) for r in self._records(store_id, event_ids, ATTRIBUTION)
        )
        return {a.event_id: a for a in found}

    def _records(self, store_id: str, event_ids: Iterable[str], sk: str) -> list[Any]:
        """The `record` of each event's `sk` item that exists, read in batches."""
        keys = [key(event_pk(store_id, e), sk) for e in sorted(set(event_ids))]
        return [i["record"] for i in batch_get(self.ddb, self.table, keys)]

    # settled events ------------------------------------------------------------------------

    def record_settled(self, store_id: str, settled: Sequence[SettledEvent]) -> RecordedAnswers:
        """Store reviewers' answers about events, merged with what was answered before
        (`merge_answers`): an answer naming who moved the item stays; "none of them" answers
        add up the sessions they rule out, until one names somebody else. An answer naming
        a session is also listed under each session it names (the `by-store-status` index,
        `gsi1pk = NAMED#<store>#<session>`), which need not carry the event in its cart."""
        new: list[str] = []
        conflicts: dict[str, SettledEvent] = {}
        for answer in settled:
            pk = event_pk(store_id, answer.event_id)
            for _ in range(SETTLED_WRITE_ATTEMPTS):
                page = self.ddb.get_item(
                    TableName=self.table, Key=key(pk, SETTLED), ConsistentRead=True
                )
                item = from_item(page["Item"]) if "Item" in page else None
                stored = SettledEvent.model_validate(item["record"]) if item else None
                merged, conflict = merge_answers(stored, answer)
                if conflict:
                    assert stored is not None
                    conflicts[answer.event_id] = stored
                    break
                if merged is None:
                    if stored is not None and stored.task_id == answer.task_id:
                        # This review stored it before (a retried step): report it again,
                        # so that what follows a new answer (audit flags) is done again.
                        new.append(answer.event_id)
                    break
                rev = int(item.get("rev", 0)) if item else 0
                if self._put_settled(store_id, merged, rev):
                    if stored is None or stored.decision.charged != merged.decision.charged:
                        new.append(answer.event_id)
                    break
            else:
                raise ConcurrentUpdateError(f"event {answer.event_id}: answers kept changing")
        return RecordedAnswers(new=tuple(new), conflicts=conflicts)

    def _put_settled(self, store_id: str, answer: SettledEvent, rev: int) -> bool:
        """Write the answer over revision `rev` (0: none yet); False if it changed meanwhile.

        An answer naming more than one session (`Hypothesis.also`) is listed under each:
        the first on the answer's item, each other on an item of its own beside it
        (`SETTLED#<session>`, the same record), all in one transaction. An answer naming
        somebody is never replaced (`merge_answers`), so those items never go stale."""
        pk = event_pk(store_id, answer.event_id)
        record = answer.model_dump(mode="json")
        expires = ttl_attribute(self.clock(), self.ttl_days)
        named = answer.decision.session_id
        item = {"pk": pk, "sk": SETTLED, "record": record, "rev": rev + 1, **expires}
        if named is not None:
            item |= {"gsi1pk": named_gsi_pk(store_id, named), "gsi1sk": answer.event_id}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if rev == 0
            else {
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": {":rev": value(rev)},
            }
        )
        others = [o.session_id for o in answer.decision.also]
        if not others:
            stored = conditional_write(
                self.ddb.put_item, TableName=self.table, Item=to_item(item), **condition
            )
            self.write_items += stored
            return stored
        listings = [
            {
                "pk": pk,
                "sk": f"{SETTLED}#{other}",
                "record": record,
                "gsi1pk": named_gsi_pk(store_id, other),
                "gsi1sk": answer.event_id,
                **expires,
            }
            for other in others
        ]
        writes = [
            {"Put": {"TableName": self.table, "Item": to_item(item), **condition}},
            *({"Put": {"TableName": self.table, "Item": to_item(i)}} for i in listings),
        ]
        try:
            self.ddb.transact_write_items(TransactItems=writes)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            if cancellation_codes(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        self.write_items += len(writes)
        return True

    def answers_naming(self, store_id: str, session_id: str) -> dict[str, SettledEvent]:
        """Reviewers' answers that name `session_id` as the one who moved the item, by event
        id (read from the index: an answer stored a moment ago may be missing)."""
        found = (
            SettledEvent.model_validate(i["record"])
            for i in query_all(
                self.ddb,
                TableName=self.table,
                IndexName=STATUS_INDEX,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": value(named_gsi_pk(store_id, session_id))},
            )
        )
        return {s.event_id: s for s in found}

    def claim_questions(
        self, store_id: str, event_ids: Sequence[str], *, task_id: str, until: datetime
    ) -> bool:
        """Mark `event_ids` as asked by review `task_id` until `until`, all or none: False
        when another review, still open, asks one of them (the caller waits for its answer
        instead of asking again). Claiming again under the same task id is harmless."""
        if not event_ids:
            return True
        if len(event_ids) > TRANSACTION_MAX_ITEMS:
            # More than one transaction holds: ask them without claims (a duplicate question
            # costs a reviewer's minute, it never makes a receipt wrong).
            return True
        now = self.clock()
        items = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {
                            "pk": event_pk(store_id, event_id),
                            "sk": ASKED,
                            "task_id": task_id,
                            "until": until.timestamp(),
                            **ttl_attribute(now, self.ttl_days),
                        }
                    ),
                    "ConditionExpression": (
                        "attribute_not_exists(pk) OR task_id = :task OR #until < :now"
                    ),
                    "ExpressionAttributeNames": {"#until": "until"},
                    "ExpressionAttributeValues": {
                        ":task": value(task_id),
                        ":now": value(now.timestamp()),
                    },
                }
            }
            for event_id in sorted(set(event_ids))
        ]
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                return False
            raise
        self.write_items += len(items)
        return True

    def release_questions(self, store_id: str, event_ids: Iterable[str], *, task_id: str) -> None:
        """Drop review `task_id`'s claims on `event_ids` (answered, or given up): sessions
        waiting for them go on, with the answers kept or asking themselves."""
        for event_id in sorted(set(event_ids)):
            self.write_items += conditional_write(
                self.ddb.delete_item,
                TableName=self.table,
                Key=key(event_pk(store_id, event_id), ASKED),
                ConditionExpression="task_id = :task",
                ExpressionAttributeValues={":task": value(task_id)},
            )

    def mark_questions_done(self, store_id: str, session_id: str) -> None:
        """Note that the session asks no more: its review's answers are kept (or it needed
        none). A session holding its receipt for those in the store with it waits for this
        (`questions_done`). Idempotent."""
        self.ddb.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": done_pk(store_id, session_id),
                    "sk": QUESTIONS,
                    "done_at": format_timestamp(self.clock()),
                    **ttl_attribute(self.clock(), self.ttl_days),
                }
            ),
        )
        self.write_items += 1

    def questions_done(self, store_id: str, session_ids: Iterable[str]) -> dict[str, datetime]:
        """Those of `session_ids` whose questions are done (`mark_questions_done`), with
        when, read in batches (eventually consistent: one marked a moment ago may be
        missing)."""
        ids = sorted(set(session_ids))
        keys = [key(done_pk(store_id, s), QUESTIONS) for s in ids]
        found = {str(i["pk"]): i["done_at"] for i in batch_get(self.ddb, self.table, keys)}
        return {
            s: parse_timestamp(found[done_pk(store_id, s)])
            for s in ids
            if done_pk(store_id, s) in found
        }

    def settled_events(self, store_id: str, event_ids: Iterable[str]) -> dict[str, SettledEvent]:
        """Reviewers' answers about those of `event_ids` that were answered, by event id."""
        found = (
            SettledEvent.model_validate(r) for r in self._records(store_id, event_ids, SETTLED)
        )
        return {s.event_id: s for s in found}

    def lanes(self, store_id: str) -> dict[str, LaneMemory]:
        out = {}
        for item in query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": value(lanes_pk(store_id))},
        ):
            lane = LaneMemory.model_validate(_fields(item, LaneMemory))
            out[lane.lane_id] = lane
        return out

    # ambiguity -----------------------------------------------------------------------------

    def put_ambiguities(self, store_id: str, ambiguities: Iterable[Ambiguity]) -> None:
        """Store the ambiguities (distinct events), up to 25 in one request: a crowded store
        reports thousands a day, and one `PutItem` each was the ingest function's longest
        wait (37% of its time in a profile of a stadium-rush feed)."""
        ttl = ttl_attribute(self.clock(), self.ttl_days)
        items = [
            to_item(
                {
                    "pk": ambiguity_pk(store_id),
                    "sk": f"{format_timestamp(a.t_start)}#{a.event_id}",
                    "event_id": a.event_id,
                    "t_start": format_timestamp(a.t_start),
                    "t_end": format_timestamp(a.t_end),
                    "tracks": [a.track_a, a.track_b],
                    "sessions": [a.session_a or "", a.session_b or ""],
                    "swap_probability": a.swap_probability,
                    **ttl,
                }
            )
            for a in ambiguities
        ]
        batch_put(self.ddb, self.table, items)
        self.write_items += len(items)

    def ambiguities(self, store_id: str, since: datetime) -> list[Ambiguity]:
        out = []
        for item in query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={
                ":pk": value(ambiguity_pk(store_id)),
                ":since": value(format_timestamp(since)),
            },
        ):
            out.append(
                Ambiguity(
                    event_id=item["event_id"],
                    t_start=parse_timestamp(item["t_start"]),
                    t_end=parse_timestamp(item["t_end"]),
                    track_a=item["tracks"][0],
                    track_b=item["tracks"][1],
                    swap_probability=float(item["swap_probability"]),
                    session_a=item["sessions"][0] or None,
                    session_b=item["sessions"][1] or None,
                )
            )
        return out


def _fields(item: Mapping[str, Any], model: type[Model]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in model.model_fields}


def _session(item: Mapping[str, Any]) -> SessionRecord:
    return SessionRecord.model_validate(_fields(item, SessionRecord))


def _cart(item: Mapping[str, Any]) -> CartRecord:
    return CartRecord.model_validate(_fields(item, CartRecord))


# --- reads for the HTTP API (issue 8) -------------------------------------------------------


@dataclass(frozen=True)
class SessionPage:
    sessions: list[SessionRecord]
    last_key: dict[str, Any] | None  # low-level `LastEvaluatedKey`, for the next page


def sessions_page(
    table: SessionsTable,
    store_id: str,
    status: SessionStatus,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    start_key: Mapping[str, Any] | None = None,
) -> SessionPage:
    """One page of a store's sessions in `status` whose status time (entry for open, exit
    for closing, readiness for ready: the time in `gsi1sk`) lies in [since, until], oldest
    first; one `Query` on `by-store-status` of at most `limit` items."""
    items, last_key = _status_page(
        table, store_id, status, since=since, until=until, limit=limit, start_key=start_key
    )
    return SessionPage(sessions=[_session(i) for i in items], last_key=last_key)


def _status_page(
    table: SessionsTable,
    store_id: str,
    status: SessionStatus,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    start_key: Mapping[str, Any] | None = None,
    attributes: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """`sessions_page`'s items as they are stored (only `attributes` of each, if given) and
    the key of the next page."""
    prefix = f"{status.value}#"
    low = prefix + format_timestamp(since) if since else prefix
    # "~" sorts after "#" and every timestamp character: `until` itself is included, and an
    # open end takes the whole status.
    high = prefix + format_timestamp(until) + "~" if until else prefix + "~"
    params: dict[str, Any] = {
        "TableName": table.table,
        "IndexName": STATUS_INDEX,
        "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":pk": value(store_gsi_pk(store_id)),
            ":low": value(low),
            ":high": value(high),
        },
        "Limit": limit,
    }
    if attributes:
        params["ProjectionExpression"] = ", ".join(attributes)
    if start_key:
        params["ExclusiveStartKey"] = dict(start_key)
    page = table.ddb.query(**params)
    return [from_item(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")


# Sessions read per page when listing who was in the store (DynamoDB stops a page at 1 MB
# anyway; moto reads the whole table once per page of an index query).
PRESENT_PAGE = 1000
# What `session_ids_in_store` reads of each session: its id and stay, not the whole item.
STAY_ATTRIBUTES = ("session_id", "entered_at", "exit_at")


def sessions_in_store(
    table: SessionsTable,
    store_id: str,
    since: datetime,
    until: datetime,
    *,
    page_size: int = PRESENT_PAGE,
) -> list[SessionRecord]:
    """The store's sessions in the store at some moment of [since, until]: entered by
    `until` and not gone before `since`. Read from `by-store-status`: open ones by entry
    time (up to `until`, from `AMBIGUITY_HORIZON` before `since`: a session open longer
    than any visit lost its exit and is not in the store), closing ones by exit time and
    ready ones by readiness time (from `since`: a session is ready only after it left)."""
    return [_session(i) for i in _in_store(table, store_id, since, until, page_size=page_size)]


def session_stays(
    table: SessionsTable, store_id: str, status: SessionStatus, *, page_size: int = PRESENT_PAGE
) -> list[dict[str, Any]]:
    """Every session of the store in `status`, only its `STAY_ATTRIBUTES` (id, entry,
    exit) as stored: how many there are and who has left, without whole records."""
    return _all_status_pages(
        table,
        store_id,
        status,
        since=None,
        until=None,
        page_size=page_size,
        attributes=STAY_ATTRIBUTES,
    )


def _all_status_pages(
    table: SessionsTable,
    store_id: str,
    status: SessionStatus,
    *,
    since: datetime | None,
    until: datetime | None,
    page_size: int,
    attributes: Sequence[str],
) -> list[dict[str, Any]]:
    """Every page of `_status_page`'s items, in order."""
    found: list[dict[str, Any]] = []
    start: Mapping[str, Any] | None = None
    while True:
        items, start = _status_page(
            table,
            store_id,
            status,
            since=since,
            until=until,
            limit=page_size,
            start_key=start,
            attributes=attributes,
        )
        found.extend(items)
        if not start:
            return found


def session_ids_in_store(
    table: SessionsTable,
    store_id: str,
    since: datetime,
    until: datetime,
    *,
    page_size: int = PRESENT_PAGE,
) -> set[str]:
    """The ids of `sessions_in_store`, reading only what tells them (`STAY_ATTRIBUTES`):
    a held receipt looks at who was in the store with it on every round."""
    items = _in_store(
        table, store_id, since, until, page_size=page_size, attributes=STAY_ATTRIBUTES
    )
    return {i["session_id"] for i in items}


def _in_store(
    table: SessionsTable,
    store_id: str,
    since: datetime,
    until: datetime,
    *,
    page_size: int,
    attributes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    ranges = (
        (SessionStatus.OPEN, since - AMBIGUITY_HORIZON, until),
        (SessionStatus.CLOSING, since, None),
        (SessionStatus.READY, since, None),
    )
    found: list[dict[str, Any]] = []
    for status, low, high in ranges:
        found += _all_status_pages(
            table,
            store_id,
            status,
            since=low,
            until=high,
            page_size=page_size,
            attributes=attributes,
        )
    return [
        i
        for i in found
        if parse_timestamp(i["entered_at"]) <= until
        and (i.get("exit_at") is None or parse_timestamp(i["exit_at"]) >= since)
    ]


def attributions_of(
    table: SessionsTable, store_id: str, event_ids: Iterable[str]
) -> list[Attribution]:
    """The attribution records of `event_ids` (missing ones left out), in time order."""
    records = table.get_attributions(store_id, event_ids).values()
    return sorted(records, key=lambda a: (a.t_end, a.event_id))


def sessions_by_id(
    table: SessionsTable, store_id: str, session_ids: Iterable[str]
) -> dict[str, SessionRecord]:
    """The META items of `session_ids` that still exist (they expire with the TTL)."""
    keys = [key(session_pk(store_id, s), META) for s in sorted(set(session_ids))]
    found = (_session(i) for i in batch_get(table.ddb, table.table, keys))
    return {s.session_id: s for s in found}
