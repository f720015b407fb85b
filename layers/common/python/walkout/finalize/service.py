"""The finalize workflow's Lambda steps: pure finalize code wired to the data modules.

- `Assessor` (step Assess): score the session; when unsure, build the review task with only
  its uncertain events (their attributions, evidence and catalog entries).
- `ReceiptIssuer` (step IssueReceipt): settle the review outcome, price, store version 1;
  a session whose exit counts as doubted first holds its receipt (the
  `HoldForOthersInside` loop) until those in the store with it are done asking.
- `AttentionMarker` (step MarkForAttention): flag a session whose finalization failed.

Errors: a throttled or conflicting write becomes `TransientError` (the state machine
retries it with backoff); a `FinalizeError` means a person must look (no retry).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from botocore.exceptions import HTTPClientError

from walkout import observability as obs
from walkout.attribution.record import Attribution, Hypothesis
from walkout.cart import Cart, Receipt, ReviewStatus
from walkout.config import ReviewBackend
from walkout.data.dynamo import Clock, cancellation_codes, client, error_code, utc_clock
from walkout.data.evidence import EvidenceImages, evidence_of_store
from walkout.data.receipts import FlagKind, ReceiptsTable
from walkout.data.sessions import (
    ConcurrentUpdateError,
    SessionRecord,
    SessionsTable,
    SettledEvent,
    session_ids_in_store,
    sessions_by_id,
    sessions_in_store,
)
from walkout.data.stores import StoreDefinitions
from walkout.definition import StoreDefinition
from walkout.finalize.errors import (
    AttributionMissingError,
    FinalizeError,
    SessionNotFoundError,
    SessionNotReadyError,
    StoreNotFoundError,
    TransientError,
)
from walkout.finalize.messages import (
    AssessOutput,
    AttentionInput,
    HeldOutput,
    Hold,
    IssueInput,
    IssueOutput,
    ReceiptSummary,
    SessionKey,
)
from walkout.finalize.outcome import exit_doubted, settle
from walkout.finalize.questions import (
    build_review_task,
    people_span,
    shown_sessions,
    stay_of,
    task_id_for,
    with_looks,
    with_people,
    within_size,
)
from walkout.finalize.receipt import issue_receipt, receipt_issued_detail
from walkout.finalize.scoring import Route, assess, route
from walkout.finalize.settings import AssessSettings, AttentionSettings, IssueSettings
from walkout.ingest.lifecycle import SessionStatus
from walkout.review.contract import ReviewTask

TRANSIENT_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
TRANSIENT_CANCELLATIONS: Final = frozenset({"TransactionConflict", "ThrottlingError"})
# A session waits for other reviews at most this many rounds, then asks for itself (a
# duplicate question is harmless): each round adds 9 events to the execution's history
# (Assess 5, Route 2, the Wait 2), which Step Functions caps at 25,000.
MAX_AWAIT_ROUNDS: Final = 500
# A held receipt looks at most this many times (each look adds 9 events too), whatever
# `doubted_exit_hold_s` says.
MAX_HOLD_ROUNDS: Final = 500
# A held receipt looks again after `doubted_exit_poll_s`, then twice as long each time, at
# most this many times as long: those it waits for take a visit's length to leave, or a
# reviewer's queue, and every look costs an invocation and three state transitions.
HOLD_BACKOFF_MAX: Final = 8
# A held receipt is issued only once the newest note of those in the store with it is this
# old: the answers kept before the note are listed under the sessions they name through an
# eventually consistent index.
NOTE_SETTLE: Final = timedelta(seconds=2)


class MetricName:
    SESSIONS_ASSESSED: Final = "SessionsAssessed"
    SESSIONS_SENT_TO_REVIEW: Final = "SessionsSentToReview"
    EVENTS_SENT_TO_REVIEW: Final = "EventsSentToReview"
    EVENTS_SETTLED_BEFORE: Final = "EventsSettledByEarlierReviews"
    SESSIONS_AWAITING_ANSWERS: Final = "SessionsAwaitingOtherReviews"
    RECEIPTS_HELD: Final = "ReceiptsHeldForOthersInside"
    HOLDS_GIVEN_UP: Final = "ReceiptHoldsGivenUp"
    RECEIPTS_ISSUED: Final = "ReceiptsIssued"
    RECEIPTS_REVIEWED: Final = "ReceiptsReviewed"
    RECEIPTS_TIMEOUT_PARTIAL: Final = "ReceiptsTimeoutPartial"
    RECEIPTS_FOR_AUDIT: Final = "ReceiptsForAudit"
    EXIT_TO_RECEIPT: Final = "ExitToReceiptMs"
    SESSIONS_NEEDING_ATTENTION: Final = "SessionsNeedingAttention"


@contextmanager
def transient_errors() -> Iterator[None]:
    """Re-raise the errors worth retrying as `TransientError` (the state machine's Retry)."""
    try:
        yield
    except ConcurrentUpdateError as exc:
        raise TransientError(str(exc)) from exc
    except HTTPClientError as exc:
        # No answer from the service in time, or the connection dropped: try again.
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        code = error_code(exc)
        if code in TRANSIENT_CODES or TRANSIENT_CANCELLATIONS & set(cancellation_codes(exc)):
            raise TransientError(f"{code}: {exc}") from exc
        raise


def _store(stores: StoreDefinitions, store_id: str) -> StoreDefinition:
    definition = stores.get(store_id)
    if definition is None:
        raise StoreNotFoundError(f"store {store_id} has no definition")
    return definition


def _attributions(
    sessions: SessionsTable, store_id: str, event_ids: Sequence[str]
) -> list[Attribution]:
    """The attribution records of `event_ids`, in that order, read in batches; the first
    one missing is an `AttributionMissingError`."""
    found = sessions.get_attributions(store_id, event_ids)
    missing = next((e for e in event_ids if e not in found), None)
    if missing is not None:
        raise AttributionMissingError(f"event {missing}: no attribution record")
    return [found[e] for e in event_ids]


@dataclass
class Assessor:
    sessions: SessionsTable
    stores: StoreDefinitions
    evidence: EvidenceImages
    threshold: float
    backend: ReviewBackend
    timeout_s: int
    heartbeat_s: int
    await_s: int = 60
    every_exit: bool = False
    clock: Clock = utc_clock

    @classmethod
    def from_settings(cls, settings: AssessSettings) -> Assessor:
        ddb = client("dynamodb")
        return cls(
            sessions=SessionsTable(
                ddb, settings.sessions_table, ttl_days=settings.transient_ttl_days, clock=utc_clock
            ),
            stores=StoreDefinitions(ddb, settings.stores_table, cache_s=settings.store_cache_s),
            evidence=EvidenceImages(client("s3"), settings.evidence_bucket),
            threshold=settings.review_threshold,
            backend=settings.review_backend,
            timeout_s=settings.review_timeout_s,
            heartbeat_s=settings.review_heartbeat_s,
            await_s=settings.review_await_s,
            every_exit=settings.hold_every_exit,
        )

    def assess(self, key: SessionKey) -> AssessOutput:
        with transient_errors():
            session, cart = self.sessions.read_session(key.store_id, key.session_id)
            if session is None or cart is None:
                raise SessionNotFoundError(f"session {key.store_id}/{key.session_id} is unknown")
            if session.status is SessionStatus.OPEN:
                raise SessionNotReadyError(f"session {key.session_id} is still open")
            assessment = assess(cart.factors, self.threshold)
            # A session sure enough without other reviews' answers takes only those that
            # change its receipt; one below the threshold all of them, before asking anybody.
            answers, ruled_out = kept_answers(
                self.sessions,
                key.store_id,
                key.session_id,
                cart.factors,
                only_changes=not assessment.needs_review,
            )
            settled = sorted(answers)
            known = dict.fromkeys((e for e in settled if e in cart.factors), 1.0)
            if known:
                assessment = assess({**cart.factors, **known}, self.threshold)
            next_step = route(assessment, self.backend)
            if key.wait_rounds == 0:
                obs.count(MetricName.SESSIONS_ASSESSED)
            review = None
            wait_s = None
            if (
                next_step is not Route.ISSUE
                and key.wait_rounds < MAX_AWAIT_ROUNDS
                and not self.sessions.claim_questions(
                    key.store_id,
                    assessment.to_review,
                    task_id=task_id_for(key.store_id, key.session_id),
                    until=self.clock() + timedelta(seconds=self.timeout_s),
                )
            ):
                # Another open review asks about some of these events: its answer may make
                # this review needless, or smaller. Look again after a while (its claims end
                # when it is answered or given up, at the latest after the review timeout).
                next_step, wait_s = Route.AWAIT_ANSWERS, self.await_s
                if key.wait_rounds == 0:
                    obs.count(MetricName.SESSIONS_AWAITING_ANSWERS)
            elif next_step is not Route.ISSUE:
                definition = _store(self.stores, key.store_id)
                attributions = _attributions(
                    self.sessions, key.store_id, list(assessment.to_review)
                )
                review = build_review_task(
                    store_id=key.store_id,
                    retailer_id=definition.store.retailer_id,
                    session_id=key.session_id,
                    attributions=attributions,
                    catalog=definition.catalog,
                    evidence={
                        a.event_id: self.evidence.uris(key.store_id, a.event_id)
                        for a in attributions
                    },
                    timezone=definition.store.timezone,
                    lane_skus=definition.planogram.sku_by_lane(),
                    backend=self.backend,
                    created_at=self.clock(),
                    timeout_s=self.timeout_s,
                    heartbeat_s=self.heartbeat_s,
                    ruled_out=ruled_out,
                )
                in_store = self._in_store(review)
                stays = {
                    s: stay_of(m.entered_at, m.exit_at, m.same_person, every_exit=self.every_exit)
                    for s, m in in_store.items()
                }
                review = with_people(review, stays, ruled_out)
                looks = self._looks(key.store_id, shown_sessions(review), in_store)
                review = within_size(with_looks(review, looks))
                obs.count(MetricName.SESSIONS_SENT_TO_REVIEW)
                obs.count(MetricName.EVENTS_SENT_TO_REVIEW, len(assessment.to_review))
            if settled and next_step is not Route.AWAIT_ANSWERS:
                obs.count(MetricName.EVENTS_SETTLED_BEFORE, len(settled))
        obs.logger.info(
            "session assessed",
            extra={
                "store_id": key.store_id,
                "session_id": key.session_id,
                "route": next_step.value,
                "confidence": round(assessment.confidence, 6),
                "events": len(assessment.events),
                "reviewed_events": len(assessment.to_review),
                "settled_events": len(settled),
            },
        )
        return AssessOutput(
            store_id=key.store_id,
            session_id=key.session_id,
            route=next_step,
            confidence=assessment.confidence,
            events=len(assessment.events),
            reviewed_events=len(assessment.to_review),
            settled_events=settled,
            review=review,
            wait_s=wait_s,
            wait_rounds=key.wait_rounds + (next_step is Route.AWAIT_ANSWERS),
        )

    def _in_store(self, task: ReviewTask) -> dict[str, SessionRecord]:
        """The sessions that may have been in the store during the task's moments."""
        since, until = people_span(task)
        return {
            s.session_id: s for s in sessions_in_store(self.sessions, task.store_id, since, until)
        }

    def _looks(
        self, store_id: str, session_ids: set[str], known: Mapping[str, SessionRecord]
    ) -> dict[str, list[str]]:
        """Each shown session's looks at the gate, only those under the store's own evidence
        prefix (ingest keeps no other, this is the second check). Sessions not in `known`
        (the store's sessions already read) are read by their META items, in batches; one
        expired with the TTL shows none."""
        found = {s: known[s] for s in session_ids if s in known}
        found |= sessions_by_id(self.sessions, store_id, session_ids - set(found))
        mine = evidence_of_store(store_id)
        return {
            s: [self.evidence.uri(k) for k in m.looks if k.startswith(mine)]
            for s, m in found.items()
        }


def kept_answers(
    sessions: SessionsTable,
    store_id: str,
    session_id: str,
    factors: Mapping[str, float],
    *,
    only_changes: bool,
) -> tuple[dict[str, SettledEvent], dict[str, list[str]]]:
    """The answers other sessions' reviews gave that decide events for this session (a
    shelf event often touches several carts, and an answer says who moved what for all):

    - about its uncertain events, where they decide for it ("none of them" only if the
      reviewers were shown this session);
    - naming it, for events its cart does not carry (it was not among the close runners-up
      ingest wrote to): only an answer adds those.

    `only_changes`: only those that change what the system decided for this session. Also
    returns, per uncertain event still open for it, the sessions reviewers ruled out."""
    uncertain = [e for e, f in factors.items() if f < 1.0]
    kept = sessions.settled_events(store_id, uncertain)
    answers = {e: a for e, a in kept.items() if a.settles_for(session_id)}
    ruled_out = {e: a.shown for e, a in kept.items() if e not in answers}
    answers.update(
        (e, a) for e, a in sessions.answers_naming(store_id, session_id).items() if e not in factors
    )
    if answers and only_changes:
        records = sessions.get_attributions(store_id, answers)
        answers = {
            e: a
            for e, a in answers.items()
            if e in records
            and _effect_on(records[e].decision, session_id) != _effect_on(a.decision, session_id)
        }
    return answers, ruled_out


def _effect_on(decision: Hypothesis, session_id: str) -> tuple[str | None, int] | None:
    """What a decision does to one session's cart (None: nothing)."""
    units = decision.units_of(session_id)
    return (decision.sku, units) if units else None


def _same_prices(receipt: Receipt, cart: Cart) -> bool:
    return (receipt.lines, receipt.savings, receipt.taxes, receipt.totals) == (
        cart.lines,
        cart.savings,
        cart.taxes,
        cart.totals,
    )


@dataclass
class ReceiptIssuer:
    sessions: SessionsTable
    stores: StoreDefinitions
    receipts: ReceiptsTable
    clock: Clock = utc_clock
    # `doubted_exit_hold_s` (0: no session holds its receipt) and `doubted_exit_poll_s`.
    hold_s: int = 0
    poll_s: int = 30
    every_exit: bool = False
    _status_metric: dict[ReviewStatus, str] = field(
        default_factory=lambda: {
            ReviewStatus.REVIEWED: MetricName.RECEIPTS_REVIEWED,
            ReviewStatus.TIMEOUT_PARTIAL: MetricName.RECEIPTS_TIMEOUT_PARTIAL,
        }
    )

    @classmethod
    def from_settings(cls, settings: IssueSettings) -> ReceiptIssuer:
        ddb = client("dynamodb")
        return cls(
            sessions=SessionsTable(
                ddb, settings.sessions_table, ttl_days=settings.transient_ttl_days, clock=utc_clock
            ),
            stores=StoreDefinitions(ddb, settings.stores_table, cache_s=settings.store_cache_s),
            receipts=ReceiptsTable(ddb, settings.receipts_table, clock=utc_clock),
            hold_s=settings.doubted_exit_hold_s,
            poll_s=settings.doubted_exit_poll_s,
            every_exit=settings.hold_every_exit,
        )

    def issue(self, request: IssueInput) -> IssueOutput | HeldOutput:
        if request.review_outcome is not None and request.review is None:
            raise FinalizeError("a review outcome arrived without its review task")
        with transient_errors():
            hold = request.hold
            if hold is not None and hold.waiting_for and not self._hold_over(hold):
                # A look while held: only whether those it waits for are done asking.
                still, _ = self._asking(request.store_id, hold.waiting_for)
                if still:
                    return self._held(request, hold.model_copy(update={"waiting_for": still}))
            session, cart = self.sessions.read_session(request.store_id, request.session_id)
            if session is None or cart is None:
                raise SessionNotFoundError(
                    f"session {request.store_id}/{request.session_id} is unknown"
                )
            if hold is not None and hold.waiting_for:
                # It waited for some: look at the store's sessions again (somebody may have
                # come in) before reading the answers that name it (each is kept before its
                # note). A hold waiting for nobody only let the answers settle.
                again = self._hold(request, session)
                if again is not None:
                    return self._held(request, again)
            definition = _store(self.stores, request.store_id)
            settled = self._settled(request)
            answers_read_at = self.clock()
            if request.review is not None or self._may_hold(session):
                # Answers kept while this session's own review was open or its receipt held
                # (about events it did not ask): those that change its receipt; read here
                # too before a receipt may be held (it waits for answers given after this
                # read). Otherwise the assessment was a moment ago, and its answers are the
                # ones to apply.
                own = {q.event_id for q in request.review.questions} if request.review else set()
                late, _ = kept_answers(
                    self.sessions,
                    request.store_id,
                    request.session_id,
                    {e: f for e, f in cart.factors.items() if e not in own and e not in settled},
                    only_changes=True,
                )
                settled |= {e: a.decision for e, a in late.items() if e not in own}
            # Without answers of its own review to keep first, whether the receipt waits does
            # not depend on the attribution records: decide it before reading them (large
            # records; reading them was 8 % of the local cloud's samples in a profile of a
            # stadium-rush day). A held receipt reads them when its hold is over.
            first_look_at = answers_read_at if hold is None else None
            keeps_own_answers = request.review_outcome is not None
            if not keeps_own_answers:
                held = self._done_asking(request, session, first_look_at)
                if held is not None:
                    return held
            attributions = (
                _attributions(self.sessions, request.store_id, sorted({*cart.factors, *settled}))
                if keeps_own_answers or settled
                else []
            )
            settlement = settle(
                session_id=request.session_id,
                live_items=cart.items,
                applied=cart.applied,
                attributions=attributions,
                task=request.review,
                outcome=request.review_outcome,
                same_person=session.same_person,
                settled=settled,
            )
            audit = settlement.audit
            if request.review is not None and request.review_outcome is not None:
                if settlement.answers:
                    audit += self._keep_answers(
                        request.review,
                        settlement.answers,
                        {a.event_id: a for a in attributions},
                    )
                # Sessions waiting for this review go on: with its answers, or asking the
                # events it could not settle themselves.
                self.sessions.release_questions(
                    request.store_id,
                    [q.event_id for q in request.review.questions],
                    task_id=request.review.task_id,
                )
            if keeps_own_answers:
                held = self._done_asking(request, session, first_look_at)
                if held is not None:
                    return held
            now = self.clock()
            receipt = issue_receipt(
                store_id=request.store_id,
                session_id=request.session_id,
                items=settlement.items,
                catalog=definition.catalog,
                prices_include_tax=definition.store.prices_include_tax,
                priced_at=cart.cart.updated_at,
                status=settlement.status,
                issued_at=now,
            )
            if settlement.status is ReviewStatus.AUTO and not _same_prices(receipt, cart.cart):
                # The catalog changed during the visit: charge what the shopper was shown
                # (that cart was priced by the same function, with the catalog of then).
                obs.logger.warning(
                    "catalog changed during the visit; the receipt keeps the live cart's prices",
                    extra={"store_id": request.store_id, "session_id": request.session_id},
                )
                receipt = Receipt.from_cart(
                    cart.cart,
                    receipt_id=receipt.receipt_id,
                    review_status=ReviewStatus.AUTO,
                    issued_at=now,
                )
            stored, issued_now = self.receipts.issue(receipt, audit=audit)
        if issued_now:
            obs.count(MetricName.RECEIPTS_ISSUED)
            if stored.review_status in self._status_metric:
                obs.count(self._status_metric[stored.review_status])
            if audit:
                obs.count(MetricName.RECEIPTS_FOR_AUDIT)
            if session.exit_at is not None:
                obs.milliseconds(
                    MetricName.EXIT_TO_RECEIPT,
                    max(0.0, (stored.issued_at - session.exit_at).total_seconds() * 1000),
                )
        obs.logger.info(
            "receipt issued" if issued_now else "receipt was issued before",
            extra={
                "store_id": request.store_id,
                "session_id": request.session_id,
                "receipt_id": stored.receipt_id,
                "review_status": stored.review_status.value,
                "corrected_events": len(settlement.corrected_events),
            },
        )
        return IssueOutput(
            store_id=request.store_id,
            session_id=request.session_id,
            receipt=ReceiptSummary(
                receipt_id=stored.receipt_id,
                version=stored.version,
                review_status=stored.review_status,
                total_minor=stored.totals.total_minor,
                needs_audit=bool(audit),
                issued_now=issued_now,
            ),
            receipt_issued=receipt_issued_detail(stored, audit=audit),
        )

    def _hold(
        self, request: IssueInput, session: SessionRecord, answers_read_at: datetime | None = None
    ) -> Hold | None:
        """Whether to hold the receipt, and for whom: when the edge doubted the session's
        exit (or every exit counts as doubted: `every_exit`), its person may still have
        been in the store, lost by the tracker, and the review of another session in the
        store with it may yet name it (by letter, or by number among the people present).
        It waits until every session whose stay overlaps its own (as the people present
        count it: `stay_of`) has its questions done, at most `hold_s`. Those it waits for
        never wait for it (they are done asking before they hold), so holds do not chain.
        `answers_read_at`: when the answers naming it were read, if before this look."""
        if not self._may_hold(session):
            return None
        hold = request.hold or Hold(since=self.clock())
        if self._hold_over(hold):
            obs.count(MetricName.HOLDS_GIVEN_UP)
            return None
        since, until = stay_of(
            session.entered_at, session.exit_at, session.same_person, every_exit=self.every_exit
        )
        assert until is not None  # it has left (above)
        present = session_ids_in_store(self.sessions, session.store_id, since, until)
        others = present - {session.session_id}
        still, done = self._asking(session.store_id, others)
        # The answers kept before a note may not be listed under the sessions they name
        # until a moment later (the index is eventually consistent): a note written since
        # (or just before) the answers were read means one more look.
        newer = (answers_read_at or self.clock()) - NOTE_SETTLE
        settling = any(at > newer for at in done.values())
        if not still and not settling:
            return None
        if request.hold is None:
            obs.count(MetricName.RECEIPTS_HELD)
        return hold.model_copy(update={"waiting_for": still})

    def _may_hold(self, session: SessionRecord) -> bool:
        return (
            self.hold_s > 0
            and session.exit_at is not None
            and (self.every_exit or exit_doubted(session.same_person))
        )

    def _hold_over(self, hold: Hold) -> bool:
        return (
            self.clock() - hold.since >= timedelta(seconds=self.hold_s)
            or hold.rounds >= MAX_HOLD_ROUNDS
        )

    def _asking(
        self, store_id: str, session_ids: Collection[str]
    ) -> tuple[list[str], dict[str, datetime]]:
        """Those of `session_ids` whose questions are not done yet, and when the others
        noted they were. One with a receipt but no note is done too (issued before sessions
        noted it)."""
        done = self.sessions.questions_done(store_id, session_ids)
        missing = set(session_ids) - set(done)
        if missing:
            missing -= self.receipts.issued(store_id, missing)
        return sorted(missing), done

    def _next_look_s(self, hold: Hold) -> int:
        """The backoff, never past the end of the hold."""
        left = self.hold_s - (self.clock() - hold.since).total_seconds()
        factor = min(1 << min(hold.rounds, 16), HOLD_BACKOFF_MAX)
        return max(1, min(self.poll_s * factor, math.ceil(left)))

    def _done_asking(
        self, request: IssueInput, session: SessionRecord, first_look_at: datetime | None
    ) -> HeldOutput | None:
        """Its answers are kept: sessions holding their receipts for it may go on. Then, on
        the receipt's first look (`first_look_at`: when the answers naming it were read),
        whether it waits for those in the store with it (`_hold`); None to issue now."""
        self.sessions.mark_questions_done(request.store_id, request.session_id)
        if first_look_at is None:
            return None
        first = self._hold(request, session, first_look_at)
        return None if first is None else self._held(request, first)

    def _held(self, request: IssueInput, hold: Hold) -> HeldOutput:
        """This step's input again (every field of it) with the hold, for the state
        machine's next look."""
        obs.logger.info(
            "receipt held for the sessions in the store with it",
            extra={
                "store_id": request.store_id,
                "session_id": request.session_id,
                "waiting_for": len(hold.waiting_for),
                "rounds": hold.rounds,
            },
        )
        looked = hold.model_copy(
            update={"rounds": hold.rounds + 1, "wait_s": self._next_look_s(hold)}
        )
        return HeldOutput(**{**dict(request), "hold": looked})

    def _settled(self, request: IssueInput) -> dict[str, Hypothesis]:
        """The answers of other sessions' reviews that the assessment counted on."""
        if not request.settled_events:
            return {}
        found = self.sessions.settled_events(request.store_id, request.settled_events)
        missing = sorted(set(request.settled_events) - set(found))
        if missing:
            # Answers are kept for days and never deleted: a read that misses one was a stale
            # (eventually consistent) read; the state machine retries.
            raise TransientError(f"answers the assessment used are not readable yet: {missing}")
        return {e: found[e].decision for e in request.settled_events}

    def _keep_answers(
        self,
        task: ReviewTask,
        answers: Mapping[str, Hypothesis],
        attributions: Mapping[str, Attribution],
    ) -> tuple[str, ...]:
        """Keep the review's answers for the other sessions its events touch, and flag for
        audit the receipts of those already issued that an answer contradicts. Returns this
        receipt's audit reason when another review had answered one of them otherwise."""
        now = self.clock()
        recorded = self.sessions.record_settled(
            task.store_id,
            [
                SettledEvent(
                    event_id=event_id,
                    decision=decision,
                    task_id=task.task_id,
                    asked_for=task.session_id,
                    shown=task.shown(event_id),
                    answered_at=now,
                )
                for event_id, decision in sorted(answers.items())
            ],
        )
        for event_id in recorded.new:
            self._flag_contradicted(task, event_id, answers[event_id], attributions[event_id])
        if not recorded.conflicts:
            return ()
        return (
            f"another review answered {len(recorded.conflicts)} of this review's event(s)"
            f" otherwise ({', '.join(sorted(recorded.conflicts))}); this receipt follows its"
            " own review",
        )

    def _flag_contradicted(
        self, task: ReviewTask, event_id: str, answer: Hypothesis, attribution: Attribution
    ) -> None:
        """An answer may concern sessions other than the reviewed one: those it names, and
        the one the system had charged. A receipt already issued for one of them did not
        know the answer; where it differs, a person must look (the receipt is not rewritten:
        a correction is a new version, decided by the retailer)."""
        decision = attribution.decision
        others = {*answer.charged, *decision.charged} - {task.session_id}
        for other in sorted(others):
            before, after = _effect_on(decision, other), _effect_on(answer, other)
            if before == after or self.receipts.version(task.store_id, other, 1) is None:
                continue
            sku, qty = after or before or (None, 0)
            found = "took" if after else "did not take"
            on_receipt = "not charged" if after else "charged"
            flagged = self.receipts.flag(
                task.store_id,
                other,
                FlagKind.AUDIT,
                f"a later review of another visit found this shopper {found} {qty} x {sku}"
                f" (event {event_id}), {on_receipt} on the receipt",
                {"event_id": event_id, "task_id": task.task_id},
            )
            if flagged:
                obs.count(MetricName.RECEIPTS_FOR_AUDIT)


@dataclass
class AttentionMarker:
    receipts: ReceiptsTable
    sessions: SessionsTable

    @classmethod
    def from_settings(cls, settings: AttentionSettings) -> AttentionMarker:
        ddb = client("dynamodb")
        return cls(
            ReceiptsTable(ddb, settings.receipts_table, clock=utc_clock),
            SessionsTable(
                ddb, settings.sessions_table, ttl_days=settings.transient_ttl_days, clock=utc_clock
            ),
        )

    def mark(self, request: AttentionInput) -> bool:
        """Flag the session; True when flagged now (False: flagged before, or no key)."""
        state = request.state
        error = state.error
        reason = f"{error.error}: {error.cause or ''}" if error else "finalize failed"
        if state.store_id is None or state.session_id is None:
            obs.logger.error("finalize failed for an execution without a session key")
            return False
        with transient_errors():
            flagged = self.receipts.flag(
                state.store_id,
                state.session_id,
                FlagKind.ATTENTION,
                reason,
                {"execution": request.execution or "", "error": error.error if error else ""},
            )
            task_id, asked = state.asked()
            if task_id is not None:
                # Sessions waiting for this review's answers must not wait for ever.
                self.sessions.release_questions(state.store_id, asked, task_id=task_id)
            # Nor those holding their receipts until this session is done asking.
            self.sessions.mark_questions_done(state.store_id, state.session_id)
        if flagged:
            obs.count(MetricName.SESSIONS_NEEDING_ATTENTION)
        obs.logger.error(
            "session needs attention",
            extra={
                "store_id": state.store_id,
                "session_id": state.session_id,
                "error": error.error if error else None,
            },
        )
        return flagged
