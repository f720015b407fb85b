"""The finalize data modules against moto's DynamoDB: receipts (append-only versions, flags)
and review tasks (the console queue, answers), and the console adapter over them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from finalize_support import Pick, attribution_of
from ingest_support import REGION, create_tables
from moto import mock_aws

from localcloud import moto_speed
from walkout.attribution.record import Hypothesis, OtherShare
from walkout.cart import ReviewStatus
from walkout.catalog import Catalog, MultiBuy, Product, TaxClass
from walkout.config import DeploymentConfig, ReviewBackend
from walkout.data import dynamo
from walkout.data.receipts import FlagKind, ReceiptsTable, ReceiptVersionError
from walkout.data.review_tasks import (
    AnswerConflictError,
    ReviewTasksTable,
    ReviewTaskStatus,
)
from walkout.data.sessions import (
    CartRecord,
    RecordedAnswers,
    SessionRecord,
    SessionsTable,
    SettledEvent,
    session_ids_in_store,
    session_stays,
    sessions_in_store,
)
from walkout.finalize.messages import AttentionInput
from walkout.finalize.receipt import issue_receipt
from walkout.finalize.service import AttentionMarker
from walkout.ingest.lifecycle import SessionStatus
from walkout.pricing import price_items
from walkout.review.console import ConsoleReview, NotYourTaskError, UnknownTaskError
from walkout.review.contract import EventAnswer, ReviewAnswer, ReviewAnswerError, ReviewTask

NOW = datetime(2026, 11, 25, 18, 30, tzinfo=UTC)
CATALOG = Catalog(
    currency="EUR",
    tax_classes=[TaxClass(tax_class="std", name="Standard", rate_bp=2000)],
    products=[
        Product(
            sku="cola",
            name="Cola",
            price_minor=199,
            currency="EUR",
            unit_weight_g=355,
            weight_tolerance_g=5,
            tax_class="std",
        )
    ],
    promotions=[
        MultiBuy(promotion_id="cola-2", name="2 for 3", skus=["cola"], buy_qty=2, price_minor=300)
    ],
)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ddb() -> Iterator[Any]:
    saved = dict(os.environ)
    os.environ.update(
        AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )
    try:
        with mock_aws():
            dynamo.client.cache_clear()
            create_tables(DeploymentConfig(stage="data"))
            yield dynamo.client("dynamodb")
    finally:
        dynamo.client.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


def receipt(session: str = "s-1", qty: int = 2) -> Any:
    return issue_receipt(
        store_id="store-1",
        session_id=session,
        items={"cola": qty},
        catalog=CATALOG,
        prices_include_tax=True,
        priced_at=NOW - timedelta(minutes=10),
        status=ReviewStatus.AUTO,
        issued_at=NOW,
    )


# --- receipts ---------------------------------------------------------------------------------


def test_a_receipt_is_issued_once_and_a_retry_gets_the_first(ddb: Any) -> None:
    table = ReceiptsTable(ddb, "walkout-data-receipts", clock=Clock())
    first = receipt()
    later = first.model_copy(update={"issued_at": NOW + timedelta(seconds=5)})

    assert table.issue(first) == (first, True)
    assert table.issue(later) == (first, False)
    assert table.versions("store-1", "s-1") == [first]


def test_adjustments_append_versions_and_never_rewrite(ddb: Any) -> None:
    table = ReceiptsTable(ddb, "walkout-data-receipts", clock=Clock())
    v1 = receipt()
    table.issue(v1)
    v2 = v1.with_adjustment(
        reason="dented can", created_at=NOW + timedelta(hours=1), refund_minor=50
    )

    table.append(v2)

    assert table.versions("store-1", "s-1") == [v1, v2]
    assert table.latest("store-1", "s-1") == v2
    with pytest.raises(ReceiptVersionError):
        table.append(v2)  # version 2 exists: no rewrite
    v4 = v2.with_adjustment(reason="x", created_at=NOW + timedelta(hours=2), refund_minor=1)
    with pytest.raises(ReceiptVersionError, match="version 3 is missing"):
        table.append(v4.model_copy(update={"version": 4}))


def test_receipts_are_listed_by_store_and_time(ddb: Any) -> None:
    table = ReceiptsTable(ddb, "walkout-data-receipts", clock=Clock())
    table.issue(receipt("s-1"))
    table.issue(receipt("s-2", qty=1))

    listed = table.by_store("store-1", NOW - timedelta(minutes=1), NOW + timedelta(minutes=1))

    assert {r.session_id for r in listed} == {"s-1", "s-2"}
    assert table.by_store("store-1", NOW + timedelta(hours=1), NOW + timedelta(hours=2)) == []


def test_an_audit_flag_is_stored_with_the_receipt_and_listed_per_store(ddb: Any) -> None:
    table = ReceiptsTable(ddb, "walkout-data-receipts", clock=Clock())

    table.issue(receipt(), audit=["review timed out"])

    [flag] = table.flags("store-1", FlagKind.AUDIT)
    assert (flag.session_id, flag.reason) == ("s-1", "review timed out")
    assert table.flags("store-1", FlagKind.ATTENTION) == []


def test_the_first_attention_flag_stays(ddb: Any) -> None:
    table = ReceiptsTable(ddb, "walkout-data-receipts", clock=Clock())

    assert table.flag("store-1", "s-9", FlagKind.ATTENTION, "first", {"execution": "e1"})
    assert not table.flag("store-1", "s-9", FlagKind.ATTENTION, "second")
    [flag] = table.flags("store-1", FlagKind.ATTENTION)
    assert (flag.reason, flag.details) == ("first", {"execution": "e1"})


# --- review tasks and the console -------------------------------------------------------------


def task(task_id: str = "rt-1", created: datetime = NOW, timeout_s: int = 3600) -> ReviewTask:
    return ReviewTask.model_validate(
        {
            "task_id": task_id,
            "store_id": "store-1",
            "retailer_id": "retailer-1",
            "session_id": f"s-{task_id}",
            "backend": "console",
            "created_at": created,
            "timeout_s": timeout_s,
            "heartbeat_s": 600,
            "questions": [
                {
                    "event_id": "E1",
                    "action": "pick",
                    "lane_id": "L1",
                    "t_start": NOW - timedelta(minutes=20),
                    "t_end": NOW - timedelta(minutes=20),
                    "delta_g": -355.0,
                    "prompt": "Who took what from lane L1?",
                    "local_time": "18:10:00 UTC",
                    "shoppers": [
                        {
                            "label": "A",
                            "colour": "orange",
                            "colour_hex": "#E69F00",
                            "session_id": f"s-{task_id}",
                        }
                    ],
                    "products": [{"sku": "cola", "name": "Cola"}],
                    "max_qty": 3,
                }
            ],
        }
    )


@dataclass
class Callbacks:
    """Step Functions' side: tokens in `dead` are no longer waited for."""

    dead: set[str] = field(default_factory=set)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)

    def succeed(self, token: str, output: Any) -> bool:
        self.calls.append(("succeed", token, output))
        return token not in self.dead

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.calls.append(("fail", token, error))
        return token not in self.dead

    def heartbeat(self, token: str) -> bool:
        self.calls.append(("heartbeat", token, None))
        return token not in self.dead


def console(ddb: Any, clock: Clock, callbacks: Callbacks) -> tuple[ConsoleReview, ReviewTasksTable]:
    tasks = ReviewTasksTable(ddb, "walkout-data-sessions", ttl_days=14, clock=clock)
    return ConsoleReview(tasks, callbacks, clock=clock, claim_timeout_s=900), tasks  # type: ignore[arg-type]


ANSWER = [EventAnswer(event_id="E1", shopper="A", sku="cola", qty=1)]


def test_next_task_gives_the_oldest_task_and_tells_the_workflow(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks()
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-new", created=NOW - timedelta(minutes=1)), "tok-new")
    review.enqueue(task("rt-old", created=NOW - timedelta(minutes=5)), "tok-old")

    view = review.next_task("retailer-1", "alice")

    assert view is not None and view.task_id == "rt-old"
    assert ("heartbeat", "tok-old", None) in callbacks.calls
    stored = tasks.get("rt-old")
    assert stored is not None and (stored.status, stored.claimed_by) == (
        ReviewTaskStatus.CLAIMED,
        "alice",
    )
    # a second reviewer gets the next one, and nobody gets a third
    second = review.next_task("retailer-1", "bob")
    assert second is not None and second.task_id == "rt-new"
    assert review.next_task("retailer-1", "carol") is None
    assert review.next_task("retailer-2", "dave") is None


def test_a_stale_claim_goes_to_the_next_reviewer(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks()
    review, _ = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok")
    review.next_task("retailer-1", "alice")

    clock.now = NOW + timedelta(minutes=20)
    view = review.next_task("retailer-1", "bob")

    assert view is not None and view.task_id == "rt-1"


def test_tasks_whose_workflow_moved_on_are_closed_and_skipped(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks(dead={"tok-dead"})
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-dead", created=NOW - timedelta(minutes=9)), "tok-dead")
    review.enqueue(task("rt-late", created=NOW - timedelta(hours=2)), "tok-late")
    review.enqueue(task("rt-live", created=NOW - timedelta(minutes=1)), "tok-live")

    view = review.next_task("retailer-1", "alice")

    assert view is not None and view.task_id == "rt-live"
    closed = [tasks.get(t) for t in ("rt-dead", "rt-late")]
    assert [c.status for c in closed if c] == [ReviewTaskStatus.CLOSED] * 2


def test_an_answer_is_checked_recorded_and_sent_back_with_the_token(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks()
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")
    review.next_task("retailer-1", "alice")

    with pytest.raises(ReviewAnswerError, match="sku: soap"):
        review.answer_task(
            "rt-1",
            [EventAnswer(event_id="E1", shopper="A", sku="soap", qty=1)],
            reviewer_id="alice",
            retailer_id="retailer-1",
        )
    result = review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1")

    assert result.status == "delivered"
    [(kind, token, output)] = [c for c in callbacks.calls if c[0] == "succeed"]
    assert (kind, token) == ("succeed", "tok-1")
    assert ReviewAnswer.model_validate(output).answers == ANSWER
    recorded = tasks.answer("rt-1")
    assert recorded is not None and recorded.answered_by == "alice"


def test_answering_twice_the_same_is_harmless_and_differently_is_refused(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks()
    review, _ = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")
    review.next_task("retailer-1", "alice")
    review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1")

    # (even after the claim timeout: an answered task keeps its reviewer)
    clock.now = NOW + timedelta(hours=1)
    again = review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1")
    with pytest.raises(AnswerConflictError):
        review.answer_task(
            "rt-1",
            [EventAnswer(event_id="E1", shopper=None, sku=None, qty=0)],
            reviewer_id="alice",
            retailer_id="retailer-1",
        )

    assert again.status == "delivered"


def test_a_retried_review_step_gets_the_recorded_answer_with_its_new_token(ddb: Any) -> None:
    # Given a task answered under its first token, then queued again by a retried step
    clock, callbacks = Clock(), Callbacks(dead={"tok-1"})
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")
    # (alice took it while the first token was alive)
    waiting = tasks.get("rt-1")
    assert waiting is not None and tasks.claim(waiting, "alice", claim_timeout_s=900)
    assert (
        review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1").status
        == "expired"
    )

    queued = review.enqueue(task("rt-1"), "tok-2")

    assert not queued
    assert callbacks.calls[-1][:2] == ("succeed", "tok-2")


def test_a_retried_step_before_any_answer_takes_the_new_token(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks()
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")

    assert review.enqueue(task("rt-1"), "tok-2")
    stored = tasks.get("rt-1")
    assert stored is not None and stored.token == "tok-2"


def test_another_retailers_task_is_unknown_to_a_reviewer(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks()
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")

    with pytest.raises(UnknownTaskError):
        review.answer_task("rt-1", ANSWER, reviewer_id="mallory", retailer_id="retailer-2")
    stored = tasks.get("rt-1")
    assert stored is not None and stored.status is ReviewTaskStatus.OPEN
    assert [c for c in callbacks.calls if c[0] == "succeed"] == []


def test_only_the_reviewer_holding_the_claim_may_answer(ddb: Any) -> None:
    # Given a task alice took
    clock, callbacks = Clock(), Callbacks()
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")
    review.next_task("retailer-1", "alice")

    # When bob, a reviewer of the same retailer, answers it, he is told it is unknown
    with pytest.raises(NotYourTaskError):
        review.answer_task("rt-1", ANSWER, reviewer_id="bob", retailer_id="retailer-1")

    # Then nothing was recorded or sent, and alice still may answer
    assert tasks.answer("rt-1") is None
    assert [c for c in callbacks.calls if c[0] == "succeed"] == []
    result = review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1")
    assert result.status == "delivered"


def test_a_task_nobody_took_cannot_be_answered(ddb: Any) -> None:
    clock, callbacks = Clock(), Callbacks()
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")

    with pytest.raises(UnknownTaskError):
        review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1")

    stored = tasks.get("rt-1")
    assert stored is not None and stored.status is ReviewTaskStatus.OPEN


def test_a_lapsed_claim_is_answered_by_whoever_takes_it_again(ddb: Any) -> None:
    # Given alice's claim older than the claim timeout (900 s here)
    clock, callbacks = Clock(), Callbacks()
    review, tasks = console(ddb, clock, callbacks)
    review.enqueue(task("rt-1"), "tok-1")
    review.next_task("retailer-1", "alice")
    clock.now = NOW + timedelta(seconds=901)

    # Then alice may not answer on it any more
    with pytest.raises(NotYourTaskError, match="lapsed"):
        review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1")

    # When bob takes it through next_task, bob answers and alice still may not
    view = review.next_task("retailer-1", "bob")
    assert view is not None and view.task_id == "rt-1"
    with pytest.raises(NotYourTaskError):
        review.answer_task("rt-1", ANSWER, reviewer_id="alice", retailer_id="retailer-1")
    assert review.answer_task(
        "rt-1", ANSWER, reviewer_id="bob", retailer_id="retailer-1"
    ).status == ("delivered")
    recorded = tasks.answer("rt-1")
    assert recorded is not None and recorded.answered_by == "bob"


def test_the_first_recorded_answer_of_a_task_wins(ddb: Any) -> None:
    tasks = ReviewTasksTable(ddb, "walkout-data-sessions", ttl_days=14, clock=Clock())
    first = ReviewAnswer(
        task_id="rt-9",
        answers=ANSWER,
        reviewers=3,
        agreement=0.67,
        source=ReviewBackend.GROUNDTRUTH,
        answered_at=NOW,
    )
    second = first.model_copy(update={"reviewers": 5})

    tasks.record_answer(first, answered_by="groundtruth", deadline=NOW)
    kept = tasks.record_answer(second, answered_by="groundtruth", deadline=NOW)

    assert kept.answer == first


# --- attribution records, read in batches -------------------------------------------------------


def test_attributions_are_read_in_batches_by_event_id_and_missing_ones_left_out(
    ddb: Any,
) -> None:
    # Given 130 attribution records (more than one BatchGetItem takes) written as ingest does
    table = SessionsTable(ddb, "walkout-data-sessions", ttl_days=14, clock=Clock())
    pick = Pick(lane="lane-1", who=[("s-1", 0.9)], what=[("cola", 1, 0.95)], p=0.85)
    written = [f"ev-{n:03d}" for n in range(130)]
    for n, event_id in enumerate(written):
        record = attribution_of(pick, event_id, NOW + timedelta(seconds=n), store_id="store-1")
        assert table.commit_attribution(record, [], None)

    # When they are read with two ids that have no record
    wanted = [*reversed(written), "ev-missing", "ev-other"]
    found = table.get_attributions("store-1", wanted)

    # Then each written record comes back under its event id, as a single read gives it
    assert sorted(found) == written
    assert found["ev-042"] == table.get_attribution("store-1", "ev-042")
    assert "ev-missing" not in found
    # and another store's records are not among them
    assert table.get_attributions("store-2", written) == {}


@pytest.mark.parametrize("fast", [False, True], ids=["moto", "moto-speed"])
def test_the_sessions_in_the_store_during_a_span_are_read_whatever_their_status(
    ddb: Any, fast: bool
) -> None:
    # Given sessions of every status, in and out of the span [NOW, NOW + 60 s], in moto as
    # it is or as the local cloud speeds it up
    undo = moto_speed.install() if fast else None
    try:
        _sessions_in_store_during_a_span(ddb)
    finally:
        if undo is not None:
            undo()


def _sessions_in_store_during_a_span(ddb: Any) -> None:
    table = SessionsTable(ddb, "walkout-data-sessions", ttl_days=14, clock=Clock())

    def stay(name: str, entered_s: int, left_s: int | None, store: str = "store-1") -> None:
        entered = NOW + timedelta(seconds=entered_s)
        left = None if left_s is None else NOW + timedelta(seconds=left_s)
        status = (
            SessionStatus.OPEN
            if left is None
            else SessionStatus.READY
            if name.startswith("ready")
            else SessionStatus.CLOSING
        )
        record = SessionRecord(
            store_id=store,
            session_id=name,
            status=status,
            tracks=["t-1"],
            exits={} if left is None else {"t-1": left},
            gate_id="in",
            account_ref=f"acct-{name}",
            entered_at=entered,
            opened_by=f"open-{name}",
            exit_at=left,
            ready_at=None if left is None else left + timedelta(seconds=5),
        )
        empty = price_items({}, CATALOG, prices_include_tax=True, at=entered).to_cart(
            store_id=store, session_id=name, version=0, updated_at=entered
        )
        cart = CartRecord(store_id=store, session_id=name, cart=empty)
        assert table.open_session(record, cart) is None

    stay("open-in", -600, None)
    stay("open-for-ever", -4 * 3600, None)  # lost its exit: open longer than any visit
    stay("open-later", 61, None)
    stay("closing-in", -30, 30)
    stay("closing-before", -300, -1)
    stay("ready-in", 10, 20)
    stay("ready-before", -900, -60)
    stay("ready-after", 70, 90)
    stay("ready-edge", -100, 0)  # left at the very start: still there then
    stay("elsewhere", 0, None, store="store-2")
    for n in range(8):  # ready since the span began, all in after it
        stay(f"ready-later-{n}", 61 + n, 62 + n)
    stay("ready-long", -10, 500)  # ready after all of them: on the last page

    span = (NOW, NOW + timedelta(seconds=60))
    found = sessions_in_store(table, "store-1", *span, page_size=3)
    ids = session_ids_in_store(table, "store-1", *span, page_size=3)

    expected = ["closing-in", "open-in", "ready-edge", "ready-in", "ready-long"]
    assert sorted(s.session_id for s in found) == expected
    # and the ids alone, read with only the attributes that tell them, are the same
    assert sorted(ids) == expected
    # and each status's stays, every one of the store's, only what tells a stay
    ready = session_stays(table, "store-1", SessionStatus.READY, page_size=3)
    assert sorted(s["session_id"] for s in ready) == sorted(
        ["ready-in", "ready-before", "ready-after", "ready-edge", "ready-long"]
        + [f"ready-later-{n}" for n in range(8)]
    )
    assert all(set(s) == {"session_id", "entered_at", "exit_at"} for s in ready)
    open_now = session_stays(table, "store-1", SessionStatus.OPEN)
    assert sorted(s["session_id"] for s in open_now) == ["open-for-ever", "open-in", "open-later"]
    assert all("exit_at" not in s or s["exit_at"] is None for s in open_now)


def test_sessions_done_asking_are_read_back_in_batches_per_store(ddb: Any) -> None:
    # Given 130 sessions of one store (more than one BatchGetItem takes), every third done
    table = SessionsTable(ddb, "walkout-data-sessions", ttl_days=14, clock=Clock())
    sessions = [f"s-{n:03d}" for n in range(130)]
    done = sessions[::3]
    for session in done:
        table.mark_questions_done("store-1", session)
    table.mark_questions_done("store-1", done[0])  # noted twice (a retried step)

    # Then exactly those are read back as done, another store's sessions of the same id not
    found = table.questions_done("store-1", [*sessions, "s-unknown"])
    assert found.keys() == set(done)
    assert set(found.values()) == {NOW}  # when each was noted
    assert table.questions_done("store-2", sessions) == {}
    # and the note is apart from the session's own items (and expires with the TTL)
    [item] = ddb.scan(TableName="walkout-data-sessions")["Items"][:1]
    assert item["pk"]["S"].startswith("DONE#store-1#") and "expires_at" in item


# --- reviewers' answers, kept for every session an event touches ------------------------------


def settled(event_id: str, session: str | None, task_id: str = "rt-1") -> SettledEvent:
    return SettledEvent(
        event_id=event_id,
        decision=Hypothesis(
            session_id=session,
            sku="cola" if session else None,
            qty=1 if session else 0,
            probability=1.0,
        ),
        task_id=task_id,
        asked_for="s-1",
        shown=["s-1", "s-2", "s-3"],
        answered_at=NOW,
    )


def test_the_first_answer_about_an_event_stays_and_a_different_later_one_is_reported(
    ddb: Any,
) -> None:
    table = SessionsTable(ddb, "walkout-data-sessions", ttl_days=14, clock=Clock())
    first = [settled("ev-1", "s-2"), settled("ev-2", None)]

    assert table.record_settled("store-1", first) == RecordedAnswers(("ev-1", "ev-2"), {})
    # The same answers again (a retried step) are no disagreement; they are reported again,
    # so that the step redoes what follows them
    assert table.record_settled("store-1", first) == RecordedAnswers(("ev-1", "ev-2"), {})
    # the same answer from another review is nothing new
    again = [a.model_copy(update={"task_id": "rt-9"}) for a in first]
    assert table.record_settled("store-1", again) == RecordedAnswers((), {})
    # Another review answering ev-1 otherwise: reported, and the first answer stays
    other = settled("ev-1", "s-3", task_id="rt-2")
    recorded = table.record_settled("store-1", [other, settled("ev-3", "s-3")])
    assert recorded == RecordedAnswers(("ev-3",), {"ev-1": first[0]})

    found = table.settled_events("store-1", ["ev-1", "ev-2", "ev-3", "ev-4"])
    assert found == {"ev-1": first[0], "ev-2": first[1], "ev-3": settled("ev-3", "s-3")}
    # another store's events are its own
    assert table.settled_events("store-2", ["ev-1"]) == {}
    # and the answers live beside the attribution records, which they leave alone
    assert table.get_attributions("store-1", ["ev-1"]) == {}
    # Answers naming a session are listed under it; "none of them" names nobody
    assert table.answers_naming("store-1", "s-2") == {"ev-1": first[0]}
    assert table.answers_naming("store-1", "s-3") == {"ev-3": settled("ev-3", "s-3")}
    assert table.answers_naming("store-1", "s-1") == {}
    assert table.answers_naming("store-2", "s-2") == {}


def test_none_of_them_answers_add_up_until_one_names_somebody(ddb: Any) -> None:
    table = SessionsTable(ddb, "walkout-data-sessions", ttl_days=14, clock=Clock())

    def nobody(shown: list[str]) -> SettledEvent:
        return settled("ev-9", None).model_copy(update={"shown": shown})

    assert table.record_settled("store-1", [nobody(["s-1", "s-2"])]).new == ("ev-9",)
    assert table.record_settled("store-1", [nobody(["s-3", "s-2"])]) == RecordedAnswers((), {})
    kept = table.settled_events("store-1", ["ev-9"])["ev-9"]
    assert kept.shown == ["s-1", "s-2", "s-3"] and kept.decision.session_id is None
    # A later review names s-4, whom nobody had ruled out: that answer replaces the rest
    named = settled("ev-9", "s-4", task_id="rt-4")
    assert table.record_settled("store-1", [named]) == RecordedAnswers(("ev-9",), {})
    assert table.settled_events("store-1", ["ev-9"])["ev-9"] == named
    assert table.answers_naming("store-1", "s-4") == {"ev-9": named}
    # One naming somebody else contradicts it, and changes nothing
    wrong = settled("ev-9", "s-2", task_id="rt-5")
    assert table.record_settled("store-1", [wrong]).conflicts == {"ev-9": named}


def test_questions_are_claimed_all_or_none_until_released_or_expired(ddb: Any) -> None:
    clock = Clock()
    table = SessionsTable(ddb, "walkout-data-sessions", ttl_days=14, clock=clock)
    until = NOW + timedelta(hours=1)

    assert table.claim_questions("store-1", ["ev-1", "ev-2"], task_id="rt-a", until=until)
    # Another review wanting one of them gets none (ev-3 stays unclaimed)
    assert not table.claim_questions("store-1", ["ev-3", "ev-2"], task_id="rt-b", until=until)
    assert table.claim_questions("store-1", ["ev-3"], task_id="rt-c", until=until)
    table.release_questions("store-1", ["ev-3"], task_id="rt-c")
    # the same review claiming again (a retried step) is fine; another store is its own
    assert table.claim_questions("store-1", ["ev-1"], task_id="rt-a", until=until)
    assert table.claim_questions("store-2", ["ev-1"], task_id="rt-b", until=until)
    # Releasing is only the claimant's
    table.release_questions("store-1", ["ev-1", "ev-2"], task_id="rt-b")
    assert not table.claim_questions("store-1", ["ev-2"], task_id="rt-b", until=until)
    # A failed session's review, flagged for attention, lets them go
    marker = AttentionMarker(ReceiptsTable(ddb, "walkout-data-receipts", clock=clock), table)
    state = {
        "store_id": "store-1",
        "session_id": "s-1",
        "error": {"Error": "CartMismatchError", "Cause": "x"},
        "review": {"task_id": "rt-a", "questions": [{"event_id": "ev-1"}, {"event_id": "ev-2"}]},
    }
    assert marker.mark(AttentionInput.model_validate({"input": state, "execution": "arn:x"}))
    assert table.claim_questions("store-1", ["ev-1", "ev-2"], task_id="rt-b", until=until)
    # and a claim left behind ends at its `until`
    assert not table.claim_questions("store-1", ["ev-2"], task_id="rt-d", until=until)
    clock.now = until + timedelta(seconds=1)
    assert table.claim_questions(
        "store-1", ["ev-2"], task_id="rt-d", until=clock.now + timedelta(hours=1)
    )


def test_a_reviewer_taking_the_oldest_task_reads_one_page_of_the_queue(ddb: Any) -> None:
    # Given a backlog of twenty waiting tasks
    clock, callbacks = Clock(), Callbacks()
    review, _ = console(ddb, clock, callbacks)
    for k in range(20):
        review.enqueue(task(f"rt-{k:02d}", created=NOW - timedelta(minutes=30 - k)), f"tok-{k}")
    queries: list[dict[str, Any]] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        queries.append(params)

    ddb.meta.events.register("provide-client-params.dynamodb.Query", seen)
    # When a reviewer takes the next task
    view = review.next_task("retailer-1", "alice")
    # Then it is the oldest, and the queue was read one short page (not all twenty tasks)
    assert view is not None and view.task_id == "rt-00"
    assert len(queries) == 1 and 0 < queries[0]["Limit"] < 20
    # And a reviewer after a page's worth of others still gets the next one in order
    for k in range(1, 12):
        nxt = review.next_task("retailer-1", f"r{k}")
        assert nxt is not None and nxt.task_id == f"rt-{k:02d}"


def test_an_answer_naming_two_takers_is_listed_under_each(ddb: Any) -> None:
    table = SessionsTable(ddb, "walkout-data-sessions", ttl_days=14, clock=Clock())
    # Given reviewers who saw s-2 take one cola and s-4 another from the same lane at once
    both = settled("ev-5", "s-2").model_copy(
        update={
            "decision": Hypothesis(
                session_id="s-2",
                sku="cola",
                qty=1,
                probability=1.0,
                also=[OtherShare(session_id="s-4", qty=1)],
            )
        }
    )

    assert table.record_settled("store-1", [both]) == RecordedAnswers(("ev-5",), {})

    # each session finds it (neither need carry the event in its cart), the record whole
    assert table.answers_naming("store-1", "s-2") == {"ev-5": both}
    assert table.answers_naming("store-1", "s-4") == {"ev-5": both}
    assert table.settled_events("store-1", ["ev-5"]) == {"ev-5": both}
    # An answer naming only one of them contradicts it; the same pair again does not
    one = settled("ev-5", "s-2", task_id="rt-7")
    assert table.record_settled("store-1", [one]).conflicts == {"ev-5": both}
    assert table.record_settled("store-1", [both.model_copy(update={"task_id": "rt-8"})]) == (
        RecordedAnswers((), {})
    )
    # "none of them" from reviewers shown the second taker contradicts it too
    nobody = settled("ev-5", None, task_id="rt-9").model_copy(update={"shown": ["s-4"]})
    assert table.record_settled("store-1", [nobody]).conflicts == {"ev-5": both}
