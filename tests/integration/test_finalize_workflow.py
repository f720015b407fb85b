"""The finalize state machine, run for real by moto's interpreter, its Lambda tasks in-process.

Sessions (store-1, small_definition: cola 1.99 with "2 colas for 3.00", chips 2.49, soap
3.49, juice 2.99, tea 3.99, candy 0.99; 20 % tax included):

- `s-auto`: three confident picks -> receipt at once, `ReceiptIssued` on the bus.
- `s-rev` : six picks, two of them uncertain (chips or tea? s-rev or s-other took the
  candy?) -> only those two go to review.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from finalize_support import FinalizeCloud, Pick, Seeded, finalize_cloud
from ingest_support import REGION, STORE

from walkout.cart import Receipt, ReviewStatus
from walkout.config import ReviewBackend
from walkout.data.receipts import Flag, FlagKind
from walkout.data.review_tasks import ReviewTaskStatus
from walkout.finalize.errors import TransientError
from walkout.finalize.questions import task_id_for
from walkout.finalize.receipt import RECEIPT_ISSUED, RECEIPT_SOURCE
from walkout.finalize.service import MAX_AWAIT_ROUNDS
from walkout.review.contract import EventAnswer, ReviewTask
from walkout.review.groundtruth import ANSWERS_FIELD, LABEL_ATTRIBUTE, task_of

AUTO = [
    Pick("L1", who=[("s-auto", 0.99)], what=[("cola", 1, 0.995)], p=0.995),
    Pick("L1", who=[("s-auto", 0.99)], what=[("cola", 1, 0.995)], p=0.995),
    Pick("L3", who=[("s-auto", 0.99)], what=[("soap", 1, 0.99)], p=0.99),
]
CHIPS_OR_TEA = Pick("L2", who=[("s-rev", 0.97)], what=[("chips", 1, 0.6), ("tea", 1, 0.37)], p=0.6)
WHO_TOOK_CANDY = Pick(
    "L6", who=[("s-rev", 0.55), ("s-other", 0.42)], what=[("candy", 1, 0.98)], p=0.55
)
REVIEWED = [
    Pick("L1", who=[("s-rev", 0.999)], what=[("cola", 2, 0.999)], p=0.999),
    CHIPS_OR_TEA,
    Pick("L3", who=[("s-rev", 0.998)], what=[("soap", 1, 0.998)], p=0.998),
    Pick("L4", who=[("s-rev", 0.997)], what=[("juice", 1, 0.997)], p=0.997),
    WHO_TOOK_CANDY,
    Pick("L1", who=[("s-rev", 0.999)], what=[("cola", 1, 0.999)], p=0.999),
]
CHIPS, CANDY = 1, 4  # positions of the uncertain picks


@pytest.fixture(scope="module")
def deployment() -> Iterator[FinalizeCloud]:
    yield from finalize_cloud()


@pytest.fixture
def cloud(deployment: FinalizeCloud) -> FinalizeCloud:
    return deployment.configure()


@pytest.fixture
def gt_cloud(deployment: FinalizeCloud) -> FinalizeCloud:
    return deployment.configure(backend=ReviewBackend.GROUNDTRUTH)


@pytest.fixture
def short_review_cloud(deployment: FinalizeCloud) -> FinalizeCloud:
    return deployment.configure(review_timeout_s=2, review_heartbeat_s=2)


def lines(receipt: dict[str, Any]) -> dict[str, int]:
    return {line["sku"]: line["qty"] for line in receipt["lines"]}


def charged(receipt: Receipt) -> dict[str, int]:
    return {line.sku: line.qty for line in receipt.lines}


def session_flags(cloud: FinalizeCloud, kind: FlagKind, session_id: str) -> list[Flag]:
    return [f for f in cloud.receipts().flags(STORE, kind) if f.session_id == session_id]


CORRECTED = {"cola": 3, "soap": 1, "juice": 1, "tea": 1}
CONFIDENT_ONLY = {"cola": 3, "soap": 1, "juice": 1}


# --- the confident path -----------------------------------------------------------------------


def test_a_confident_session_gets_its_receipt_and_a_receipt_issued_event(
    cloud: FinalizeCloud,
) -> None:
    # Given a session whose three picks are all confident
    session = cloud.seed(AUTO)["s-auto"]
    _, live = cloud.sessions().read_session(STORE, session)
    assert live is not None

    # When ingest hands it over
    execution = cloud.start(session)
    done = cloud.wait(execution)

    # Then the execution succeeds without review, the receipt is the live cart to the cent,
    assert done["status"] == "SUCCEEDED"
    receipt = cloud.receipts().latest(STORE, session)
    assert receipt is not None
    assert receipt.review_status is ReviewStatus.AUTO
    assert (receipt.lines, receipt.savings, receipt.taxes, receipt.totals) == (
        live.cart.lines,
        live.cart.savings,
        live.cart.taxes,
        live.cart.totals,
    )
    assert receipt.totals.total_minor == 300 + 349  # two colas on the multi-buy, one soap
    # and `ReceiptIssued` reached the bus with that receipt
    [event] = cloud.receipt_events(session)
    assert (event["source"], event["detail-type"]) == (RECEIPT_SOURCE, RECEIPT_ISSUED)
    assert event["detail"]["receipt_id"] == receipt.receipt_id
    assert event["detail"]["session_id"] == session
    assert event["detail"]["total_minor"] == receipt.totals.total_minor
    assert event["detail"]["review_status"] == "auto"


def test_a_confident_session_whose_shopper_likely_left_as_somebody_else_is_flagged(
    cloud: FinalizeCloud,
) -> None:
    # Given two sessions with the same three confident picks: at the exit, the edge judged
    # one's track still on the shopper who entered, the other's most likely on somebody else
    kept = cloud.seed(AUTO, same_person=0.93)["s-auto"]
    lost = cloud.seed(AUTO, same_person=0.12)["s-auto"]

    # When ingest hands them over
    for session in (kept, lost):
        assert cloud.wait(cloud.start(session))["status"] == "SUCCEEDED"

    # Then both get the live cart without review (review cannot settle who left)
    for session in (kept, lost):
        receipt = cloud.receipts().latest(STORE, session)
        assert receipt is not None
        assert receipt.review_status is ReviewStatus.AUTO
        assert charged(receipt) == {"cola": 2, "soap": 1}
    # and only the second is flagged for audit, saying why
    assert session_flags(cloud, FlagKind.AUDIT, kept) == []
    [flag] = session_flags(cloud, FlagKind.AUDIT, lost)
    assert "most likely followed somebody from outside the session" in flag.reason
    assert "0.12" in flag.reason
    [event] = cloud.receipt_events(lost)
    assert event["detail"]["needs_audit"] is True
    [event] = cloud.receipt_events(kept)
    assert event["detail"]["needs_audit"] is False


def test_the_auto_path_takes_five_transitions(cloud: FinalizeCloud) -> None:
    session = cloud.seed(AUTO)["s-auto"]

    execution = cloud.start(session)
    cloud.wait(execution)
    cloud.receipt_events(session)

    assert cloud.entered_states(execution) == [
        "Assess",
        "Route",
        "IssueReceipt",
        "IssuedOrHeld",
        "PublishReceiptIssued",
    ]


def test_a_transient_failure_is_retried_and_the_session_still_gets_one_receipt(
    cloud: FinalizeCloud,
) -> None:
    # Given a confident session, and an issue step that is throttled once
    session = cloud.seed(AUTO)["s-auto"]
    cloud.dispatcher.failures["finalize-issue"] = [TransientError("throttled")]

    execution = cloud.start(session)
    done = cloud.wait(execution)

    assert done["status"] == "SUCCEEDED"
    assert cloud.dispatcher.count("finalize-issue") == 2
    assert len(cloud.receipts().versions(STORE, session)) == 1
    assert len(cloud.receipt_events(session)) == 1


# --- a failing step ---------------------------------------------------------------------------


def test_a_failing_step_marks_the_session_for_attention_and_fails_visibly(
    cloud: FinalizeCloud,
) -> None:
    # Given a session handed over before ingest ever stored it
    execution = cloud.start("s-ghost")

    done = cloud.wait(execution)

    # Then the execution fails with the step's own error, after flagging the session
    assert done["status"] == "FAILED"
    assert done["error"] == "SessionNotFoundError"
    assert cloud.entered_states(execution)[-3:] == [
        "MarkForAttention",
        "WhoseError",
        "FinalizeFailed",
    ]
    [flag] = session_flags(cloud, FlagKind.ATTENTION, "s-ghost")
    assert flag.reason.startswith("SessionNotFoundError")
    assert flag.details["execution"] == execution
    assert cloud.receipt_events("s-ghost", wait_s=0.3) == []
    # and receipts held for the sessions in the store with it do not wait for it
    assert cloud.sessions().questions_done(STORE, ["s-ghost"]).keys() == {"s-ghost"}


def test_a_step_the_service_failed_fails_visibly_with_the_service_error_in_its_cause(
    cloud: FinalizeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a confident session, and a Lambda service that breaks down when the receipt
    # step calls it (not the handler raising: the call itself fails)
    session = cloud.seed(AUTO)["s-auto"]
    invoke = cloud.dispatcher.invoke

    def broken(function_name: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        if cloud.dispatcher.suffix_of(function_name) == "finalize-issue":
            raise ConnectionError("the Lambda service is unreachable")
        return invoke(function_name, body, response_headers)

    monkeypatch.setattr(cloud.dispatcher, "invoke", broken)

    execution = cloud.start(session)
    done = cloud.wait(execution)

    # Then the session is flagged, and the execution fails as a failed step whose cause
    # holds the service's error (States.*, which no Fail state may name)
    assert done["status"] == "FAILED"
    assert done["error"] == "Walkout.StepFailed"
    assert json.loads(done["cause"])["Error"].startswith("States.")
    assert cloud.entered_states(execution)[-3:] == [
        "MarkForAttention",
        "WhoseError",
        "FinalizeFailedInTheService",
    ]
    assert len(session_flags(cloud, FlagKind.ATTENTION, session)) == 1


# --- review through the console ---------------------------------------------------------------


def test_an_uncertain_session_sends_only_its_uncertain_events_to_review(
    cloud: FinalizeCloud,
) -> None:
    seeded = cloud.seed(REVIEWED)
    chips_event, candy_event = seeded.events[CHIPS], seeded.events[CANDY]
    cloud.put_evidence(chips_event)

    execution = cloud.start(seeded["s-rev"])
    task = cloud.queued_task(seeded["s-rev"])

    assert [q.event_id for q in task.questions] == [chips_event, candy_event]
    chips = task.question(chips_event)
    assert chips is not None
    assert {p.sku for p in chips.products} == {"chips", "tea"}
    assert len(chips.evidence) == 2
    candy = task.question(candy_event)
    assert candy is not None
    assert {s.session_id for s in candy.shoppers} == {seeded["s-rev"], seeded["s-other"]}
    # each shown with their look at the gate, to be recognised on the images by
    assert {s.session_id: s.looks for s in candy.shoppers} == {
        s: [cloud.look_uri(s)] for s in (seeded["s-rev"], seeded["s-other"])
    }
    # (answer it, so that the queue holds no task of this test for the next one)
    taken = cloud.console().next_task("retailer-1", "r0")
    assert taken is not None and taken.task_id == task.task_id
    cloud.console().answer_task(
        task.task_id,
        [EventAnswer(event_id=q.event_id, shopper=None, sku=None, qty=0) for q in task.questions],
        reviewer_id="r0",
        retailer_id="retailer-1",
    )
    assert cloud.wait(execution)["status"] == "SUCCEEDED"


def test_a_console_answer_finishes_the_session_with_the_corrected_receipt(
    cloud: FinalizeCloud,
) -> None:
    # Given an uncertain session waiting in the console queue
    seeded = cloud.seed(REVIEWED)
    session = seeded["s-rev"]
    execution = cloud.start(session)
    task = cloud.queued_task(session)
    console = cloud.console()

    # When a reviewer takes it and answers: tea, not chips; the other shopper took the candy
    view = console.next_task("retailer-1", "reviewer-7")
    assert view is not None and view.task_id == task.task_id
    chips_event, candy_event = seeded.events[CHIPS], seeded.events[CANDY]
    result = console.answer_task(
        view.task_id,
        [
            EventAnswer(
                event_id=chips_event, shopper=label(task, chips_event, session), sku="tea", qty=1
            ),
            EventAnswer(
                event_id=candy_event,
                shopper=label(task, candy_event, seeded["s-other"]),
                sku="candy",
                qty=1,
            ),
        ],
        reviewer_id="reviewer-7",
        retailer_id="retailer-1",
    )
    done = cloud.wait(execution)

    # Then the receipt charges tea and no candy, marked reviewed
    assert result.status == "delivered"
    assert done["status"] == "SUCCEEDED"
    receipt = cloud.receipts().latest(STORE, session)
    assert receipt is not None
    assert receipt.review_status is ReviewStatus.REVIEWED
    assert charged(receipt) == CORRECTED
    [event] = cloud.receipt_events(session)
    assert event["detail"]["review_status"] == "reviewed"
    assert lines(event["detail"]["receipt"]) == CORRECTED
    stored = cloud.review_tasks().get(view.task_id)
    assert stored is not None and stored.status is ReviewTaskStatus.ANSWERED
    assert cloud.entered_states(execution) == [
        "Assess",
        "Route",
        "ReviewInConsole",
        "IssueReceipt",
        "IssuedOrHeld",
        "PublishReceiptIssued",
    ]


def take(cloud: FinalizeCloud, task: ReviewTask, reviewer: str = "reviewer-7") -> None:
    """`reviewer` takes the oldest task in the console queue, which must be `task`."""
    view = cloud.console().next_task("retailer-1", reviewer)
    assert view is not None and view.task_id == task.task_id


def answer(
    cloud: FinalizeCloud,
    task: ReviewTask,
    answers: dict[str, tuple[str, str]],
    reviewer: str = "reviewer-7",
) -> None:
    """`reviewer`, who took `task`, answers per event: (the session that took it, the sku)."""
    cloud.console().answer_task(
        task.task_id,
        [
            EventAnswer(event_id=e, shopper=label(task, e, session), sku=sku, qty=1)
            for e, (session, sku) in answers.items()
        ],
        reviewer_id=reviewer,
        retailer_id="retailer-1",
    )


def tea_and_candy_to_other(cloud: FinalizeCloud, seeded: Seeded, task: ReviewTask) -> None:
    """A reviewer takes s-rev's task and answers: tea, not chips; s-other took the candy."""
    take(cloud, task)
    answer(
        cloud,
        task,
        {
            seeded.events[CHIPS]: (seeded["s-rev"], "tea"),
            seeded.events[CANDY]: (seeded["s-other"], "candy"),
        },
    )


def test_an_answer_settles_the_same_event_for_the_other_session_without_asking_again(
    cloud: FinalizeCloud,
) -> None:
    # Given two sessions that both could have taken the candy: s-rev was charged (0.55),
    # s-other was the runner-up (0.42), so neither receipt is sure enough
    seeded = cloud.seed(REVIEWED)
    me, other = seeded["s-rev"], seeded["s-other"]
    candy_event = seeded.events[CANDY]
    first = cloud.start(me)
    task = cloud.queued_task(me)
    # When s-rev's review says the other shopper took it (and tea, not chips)
    tea_and_candy_to_other(cloud, seeded, task)
    assert cloud.wait(first)["status"] == "SUCCEEDED"
    # and then s-other is finalized
    second = cloud.start(other)
    done = cloud.wait(second)

    # Then s-other is not reviewed again: the answer is applied to its receipt (the candy
    # it was not charged for), which says a person settled it
    assert done["status"] == "SUCCEEDED"
    assert cloud.entered_states(second) == [
        "Assess",
        "Route",
        "IssueReceipt",
        "IssuedOrHeld",
        "PublishReceiptIssued",
    ]
    receipt = cloud.receipts().latest(STORE, other)
    assert receipt is not None
    assert charged(receipt) == {"candy": 1}
    assert receipt.review_status is ReviewStatus.REVIEWED
    kept = cloud.sessions().settled_events(STORE, [candy_event])[candy_event]
    assert (kept.decision.session_id, kept.task_id, kept.asked_for) == (other, task.task_id, me)
    assert session_flags(cloud, FlagKind.AUDIT, other) == []


def test_a_session_waits_for_the_open_review_of_the_same_event_instead_of_asking_again(
    cloud: FinalizeCloud,
) -> None:
    # Given s-rev's review, open and asking who took the candy
    seeded = cloud.seed(REVIEWED)
    me, other = seeded["s-rev"], seeded["s-other"]
    first = cloud.start(me)
    task = cloud.queued_task(me)
    # When s-other, also unsure about the candy, is finalized meanwhile
    second = cloud.start(other)
    cloud.wait_for_state(second, "AwaitOtherReviews")
    # Then it asks nobody: it waits for s-rev's review
    assert cloud.review_tasks().get(task_id_for(STORE, other)) is None
    # And once s-rev's reviewer says the other shopper took it
    tea_and_candy_to_other(cloud, seeded, task)
    assert cloud.wait(first)["status"] == "SUCCEEDED"
    done = cloud.wait(second)
    # s-other's receipt takes that answer, without a review of its own
    assert done["status"] == "SUCCEEDED"
    states = cloud.entered_states(second)
    assert "ReviewInConsole" not in states
    assert states[-3:] == ["IssueReceipt", "IssuedOrHeld", "PublishReceiptIssued"]
    receipt = cloud.receipts().latest(STORE, other)
    assert receipt is not None and charged(receipt) == {"candy": 1}
    assert receipt.review_status is ReviewStatus.REVIEWED


def test_a_review_given_up_lets_the_waiting_session_ask_for_itself(
    deployment: FinalizeCloud,
) -> None:
    # A review nobody takes falls back after the 2 s heartbeat, long before its 30 s timeout
    # (until which its questions would otherwise stay marked as asked)
    cloud = deployment.configure(review_timeout_s=30, review_heartbeat_s=2)
    # Given s-rev's review asking about the candy, and s-other waiting for it
    seeded = cloud.seed(REVIEWED)
    me, other = seeded["s-rev"], seeded["s-other"]
    first = cloud.start(me)
    cloud.queued_task(me)
    second = cloud.start(other)
    cloud.wait_for_state(second, "AwaitOtherReviews")
    # When nobody answers s-rev's review (it falls back to the confident items)
    assert cloud.wait(first)["status"] == "SUCCEEDED"
    # Then s-other asks about the candy itself, at once
    own = cloud.queued_task(other, timeout_s=8.0)
    assert [q.event_id for q in own.questions] == [seeded.events[CANDY]]
    assert cloud.wait(second)["status"] == "SUCCEEDED"


# s-x was charged the candy (0.6); s-y, a distant runner-up (0.03), is sure enough anyway
CANDY_X_OR_Y = Pick("L6", who=[("s-x", 0.6), ("s-y", 0.03)], what=[("candy", 1, 0.98)], p=0.59)
COLA_Y = Pick("L1", who=[("s-y", 0.999)], what=[("cola", 1, 0.999)], p=0.999)


def answer_candy(cloud: FinalizeCloud, seeded: Seeded, reviewed: str, took: str) -> None:
    """s-x's review is in the queue: a reviewer answers that `took` took the candy."""
    task = cloud.queued_task(seeded[reviewed])
    take(cloud, task)
    [question] = task.questions
    answer(cloud, task, {question.event_id: (seeded[took], "candy")})


def test_an_answer_corrects_a_session_that_was_sure_enough_without_it(
    cloud: FinalizeCloud,
) -> None:
    seeded = cloud.seed([COLA_Y, CANDY_X_OR_Y])
    first = cloud.start(seeded["s-x"])
    # When s-x's reviewer says s-y took the candy
    answer_candy(cloud, seeded, "s-x", took="s-y")
    assert cloud.wait(first)["status"] == "SUCCEEDED"
    x_receipt = cloud.receipts().latest(STORE, seeded["s-x"])
    assert x_receipt is not None and x_receipt.lines == []
    # Then s-y, sure enough to be issued without review, is charged the candy too
    second = cloud.start(seeded["s-y"])
    assert cloud.wait(second)["status"] == "SUCCEEDED"
    assert cloud.entered_states(second) == [
        "Assess",
        "Route",
        "IssueReceipt",
        "IssuedOrHeld",
        "PublishReceiptIssued",
    ]
    receipt = cloud.receipts().latest(STORE, seeded["s-y"])
    assert receipt is not None
    assert charged(receipt) == {"cola": 1, "candy": 1}
    assert receipt.review_status is ReviewStatus.REVIEWED


def test_an_answer_naming_a_session_whose_cart_never_carried_the_event_reaches_it(
    cloud: FinalizeCloud,
) -> None:
    # s-z was weighed (0.01) but too unlikely for ingest to write its cart
    candy = Pick(
        "L6", who=[("s-x", 0.6)], what=[("candy", 1, 0.98)], p=0.59, unwritten=[("s-z", 0.01)]
    )
    soap = Pick("L3", who=[("s-z", 0.999)], what=[("soap", 1, 0.999)], p=0.999)
    seeded = cloud.seed([soap, candy])
    z_cart = cloud.sessions().get_cart(STORE, seeded["s-z"])
    assert z_cart is not None and seeded.events[1] not in z_cart.factors
    first = cloud.start(seeded["s-x"])
    answer_candy(cloud, seeded, "s-x", took="s-z")
    assert cloud.wait(first)["status"] == "SUCCEEDED"

    second = cloud.start(seeded["s-z"])

    assert cloud.wait(second)["status"] == "SUCCEEDED"
    receipt = cloud.receipts().latest(STORE, seeded["s-z"])
    assert receipt is not None
    assert charged(receipt) == {"soap": 1, "candy": 1}
    assert receipt.review_status is ReviewStatus.REVIEWED


# A pick the system gave s-x alone, and s-w in the store meanwhile, never weighed for it.
CANDY_X_ALONE = Pick("L6", who=[("s-x", 0.6)], what=[("candy", 1, 0.98)], p=0.59)
SOAP_W = Pick("L3", who=[("s-w", 0.999)], what=[("soap", 1, 0.999)], p=0.999)


def test_a_shopper_the_system_never_linked_to_the_event_is_named_from_the_people_present(
    cloud: FinalizeCloud,
) -> None:
    # Given a candy pick given to s-x alone, while s-w, never weighed for it, was in the store
    seeded = cloud.seed([SOAP_W, CANDY_X_ALONE])
    # and two who left 10 s before it: the edge doubted one's exit, not the other's
    tea = Pick("L2", who=[("s-gone", 0.999)], what=[("tea", 1, 0.999)], p=0.999)
    doubted = cloud.seed([tea], exit_s=10, same_person=0.2)["s-gone"]
    sure = cloud.seed([tea], exit_s=10, same_person=0.9)["s-gone"]
    first = cloud.start(seeded["s-x"])
    task = cloud.queued_task(seeded["s-x"])
    [question] = task.questions
    assert seeded["s-w"] not in {s.session_id for s in question.shoppers}
    # the doubted one may still be inside (its person lost by the tracker), the other not
    listed = {p.session_id for p in task.people}
    assert doubted in listed and sure not in listed
    # s-w is listed with the others in the store then, by number, with their look at the gate
    [person] = [p for p in task.people if p.session_id == seeded["s-w"]]
    assert person.label in question.present
    assert person.looks == [cloud.look_uri(seeded["s-w"])]

    # When the reviewer names s-w by that number
    answer_candy(cloud, seeded, "s-x", took="s-w")
    assert cloud.wait(first)["status"] == "SUCCEEDED"
    second = cloud.start(seeded["s-w"])

    # Then s-x pays nothing and s-w's receipt carries the candy
    assert cloud.wait(second)["status"] == "SUCCEEDED"
    x_receipt = cloud.receipts().latest(STORE, seeded["s-x"])
    assert x_receipt is not None and x_receipt.lines == []
    receipt = cloud.receipts().latest(STORE, seeded["s-w"])
    assert receipt is not None
    assert charged(receipt) == {"soap": 1, "candy": 1}


def test_none_of_them_rules_out_the_candidates_but_not_the_people_present(
    cloud: FinalizeCloud,
) -> None:
    # Given the candy pick given to s-x alone, while s-w was in the store
    seeded = cloud.seed([SOAP_W, CANDY_X_ALONE])
    execution = cloud.start(seeded["s-x"])
    task = cloud.queued_task(seeded["s-x"])
    [question] = task.questions
    assert seeded["s-w"] in {p.session_id for p in task.people}

    # When the reviewer answers "none of them"
    take(cloud, task)
    cloud.console().answer_task(
        task.task_id,
        [EventAnswer(event_id=question.event_id, shopper=None, sku="candy", qty=1)],
        reviewer_id="reviewer-7",
        retailer_id="retailer-1",
    )
    assert cloud.wait(execution)["status"] == "SUCCEEDED"

    # Then the answer kept rules out s-x, the candidate, and not s-w, whom the reviewer may
    # never have looked for among the people present: a later question may still show s-w
    kept = cloud.sessions().settled_events(STORE, [question.event_id])[question.event_id]
    assert kept.shown == [seeded["s-x"]]
    assert kept.settles_for(seeded["s-x"]) and not kept.settles_for(seeded["s-w"])


# --- a doubted exit holds its receipt for those in the store with it ---------------------------

# Each test seeds its sessions on a day of its own: a held receipt waits for every session in
# the store with it, and the module's other sessions were all in the store together.
TEA_ALONE = Pick("L2", who=[("s-gone", 0.999)], what=[("tea", 1, 0.999)], p=0.999)


@pytest.mark.parametrize(("own_review", "day"), [(True, 1), (False, 3)])
def test_a_doubted_exit_holds_its_receipt_until_a_review_of_somebody_inside_names_it(
    deployment: FinalizeCloud, own_review: bool, day: int
) -> None:
    cloud = deployment.configure(doubted_exit_hold_s=60)
    # Given s-gone, whose exit the edge doubted (its person may have stayed inside, lost
    # by the tracker), with a tea pick: sure, or unsure between chips and tea (its review)
    chips_or_tea = Pick(
        "L2", who=[("s-gone", 0.97)], what=[("chips", 1, 0.5), ("tea", 1, 0.45)], p=0.5
    )
    tea = chips_or_tea if own_review else TEA_ALONE
    gone = cloud.seed([tea], same_person=0.2, day=day)["s-gone"]
    # and s-x in the store with it, given the candy pick alone
    seeded = cloud.seed([CANDY_X_ALONE], day=day)
    held = cloud.start(gone)
    if own_review:
        own = cloud.queued_task(gone)
        take(cloud, own)
        answer(cloud, own, {own.questions[0].event_id: (gone, "tea")})
    # When it is done asking, it holds its receipt: s-x is not
    cloud.wait_for_state(held, "HoldForOthersInside")
    assert cloud.receipts().latest(STORE, gone) is None
    assert cloud.sessions().questions_done(STORE, [gone, seeded["s-x"]]).keys() == {gone}
    # and s-x's reviewer then names s-gone, among the people present, for the candy
    other = cloud.start(seeded["s-x"])
    task = cloud.queued_task(seeded["s-x"])
    [question] = task.questions
    assert label(task, question.event_id, gone) in question.present
    take(cloud, task, "reviewer-8")
    answer(cloud, task, {question.event_id: (gone, "candy")}, "reviewer-8")
    assert cloud.wait(other)["status"] == "SUCCEEDED"

    # Then s-gone's receipt, issued once s-x is done, has its own answer and the candy
    assert cloud.wait(held)["status"] == "SUCCEEDED"
    receipt = cloud.receipts().latest(STORE, gone)
    assert receipt is not None and charged(receipt) == {"tea": 1, "candy": 1}
    assert receipt.review_status is ReviewStatus.REVIEWED
    # (it was not flagged for the answer: it had not been issued when the answer came)
    flags = session_flags(cloud, FlagKind.AUDIT, gone)
    assert not any("a later review of another visit" in f.reason for f in flags)
    x_receipt = cloud.receipts().latest(STORE, seeded["s-x"])
    assert x_receipt is not None and x_receipt.lines == []
    states = cloud.entered_states(held)
    assert states[-3:] == ["IssueReceipt", "IssuedOrHeld", "PublishReceiptIssued"]
    assert "HoldForOthersInside" not in cloud.entered_states(other)


def test_a_sure_exit_is_not_held_and_a_doubted_one_stops_waiting_after_the_hold(
    deployment: FinalizeCloud,
) -> None:
    cloud = deployment.configure(doubted_exit_hold_s=2)
    # Given two sessions with one sure pick each, one exit doubted, the other not, and s-x
    # in the store with them, never done asking (its workflow never starts)
    doubted = cloud.seed([TEA_ALONE], same_person=0.2, day=2)["s-gone"]
    sure = cloud.seed([TEA_ALONE], same_person=0.9, day=2)["s-gone"]
    cloud.seed([CANDY_X_ALONE], day=2)

    started = time.monotonic()
    executions = {s: cloud.start(s) for s in (doubted, sure)}

    # Then the sure one is issued at once
    assert cloud.wait(executions[sure])["status"] == "SUCCEEDED"
    assert "HoldForOthersInside" not in cloud.entered_states(executions[sure])
    # and the doubted one once it has held 2 s, as it was
    assert cloud.wait(executions[doubted])["status"] == "SUCCEEDED"
    assert time.monotonic() - started >= 2
    assert "HoldForOthersInside" in cloud.entered_states(executions[doubted])
    for session in (doubted, sure):
        receipt = cloud.receipts().latest(STORE, session)
        assert receipt is not None and charged(receipt) == {"tea": 1}


def test_every_exit_holds_its_receipt_when_configured_so(deployment: FinalizeCloud) -> None:
    cloud = deployment.configure(doubted_exit_hold_s=2, hold_every_exit=True)
    # Given a session the edge was sure of at its exit, and s-x in the store with it, never
    # done asking
    sure = cloud.seed([TEA_ALONE], same_person=0.9, day=4)["s-gone"]
    cloud.seed([CANDY_X_ALONE], day=4)

    execution = cloud.start(sure)

    # Then it holds its receipt too, until the hold ends
    assert cloud.wait(execution)["status"] == "SUCCEEDED"
    assert "HoldForOthersInside" in cloud.entered_states(execution)
    receipt = cloud.receipts().latest(STORE, sure)
    assert receipt is not None and charged(receipt) == {"tea": 1}


def test_an_answer_that_contradicts_a_receipt_already_issued_flags_it_for_audit(
    cloud: FinalizeCloud,
) -> None:
    # Given s-y's receipt, issued without the candy before anybody answered
    seeded = cloud.seed([COLA_Y, CANDY_X_OR_Y])
    assert cloud.wait(cloud.start(seeded["s-y"]))["status"] == "SUCCEEDED"
    # When s-x's reviewer says s-y took the candy
    first = cloud.start(seeded["s-x"])
    answer_candy(cloud, seeded, "s-x", took="s-y")
    assert cloud.wait(first)["status"] == "SUCCEEDED"
    # Then s-y's receipt stays as issued, and is flagged for a person to look at
    receipt = cloud.receipts().latest(STORE, seeded["s-y"])
    assert receipt is not None and charged(receipt) == {"cola": 1}
    [flag] = session_flags(cloud, FlagKind.AUDIT, seeded["s-y"])
    assert "found this shopper took 1 x candy" in flag.reason
    assert "not charged on the receipt" in flag.reason
    assert session_flags(cloud, FlagKind.AUDIT, seeded["s-x"]) == []


def test_an_answer_given_while_a_session_is_in_its_own_review_still_reaches_its_receipt(
    cloud: FinalizeCloud,
) -> None:
    # s-y is unsure about chips or tea (asked in its review) and a little about the candy
    # (0.97: not asked, the rest is sure enough once chips or tea is answered)
    chips_or_tea = Pick(
        "L2", who=[("s-y", 0.97)], what=[("chips", 1, 0.5), ("tea", 1, 0.45)], p=0.5
    )
    seeded = cloud.seed([chips_or_tea, CANDY_X_OR_Y])
    own = cloud.start(seeded["s-y"])
    own_task = cloud.queued_task(seeded["s-y"])
    assert [q.event_id for q in own_task.questions] == [seeded.events[0]]
    take(cloud, own_task)  # s-y's, answered later
    # While it is open, s-x's reviewer says s-y took the candy
    other = cloud.start(seeded["s-x"])
    candy_task = cloud.queued_task(seeded["s-x"])
    take(cloud, candy_task, "reviewer-8")
    answer(cloud, candy_task, {seeded.events[1]: (seeded["s-y"], "candy")}, "reviewer-8")
    assert cloud.wait(other)["status"] == "SUCCEEDED"
    # When s-y's own review is answered (tea)
    answer(cloud, own_task, {seeded.events[0]: (seeded["s-y"], "tea")})
    assert cloud.wait(own)["status"] == "SUCCEEDED"
    # Then s-y's receipt has both answers
    receipt = cloud.receipts().latest(STORE, seeded["s-y"])
    assert receipt is not None and charged(receipt) == {"tea": 1, "candy": 1}


def test_a_session_stops_waiting_after_the_most_rounds_and_asks_itself(
    deployment: FinalizeCloud,
) -> None:
    # (nobody takes the review: it falls back after 5 s, leaving the queue as it found it)
    cloud = deployment.configure(review_timeout_s=30, review_heartbeat_s=5)
    # Given s-rev's open review asking about the candy
    seeded = cloud.seed(REVIEWED)
    first = cloud.start(seeded["s-rev"])
    cloud.queued_task(seeded["s-rev"])
    key = {"store_id": STORE, "session_id": seeded["s-other"]}
    # s-other, unsure about the candy too, waits for it
    assert cloud.invoke("finalize-assess", key)["route"] == "await-answers"
    waited = cloud.invoke("finalize-assess", {**key, "wait_rounds": 7})
    assert (waited["route"], waited["wait_rounds"]) == ("await-answers", 8)
    # but not for ever: after MAX_AWAIT_ROUNDS it asks itself
    last = cloud.invoke("finalize-assess", {**key, "wait_rounds": MAX_AWAIT_ROUNDS})
    assert last["route"] == "review-console"
    assert [q["event_id"] for q in last["review"]["questions"]] == [seeded.events[CANDY]]
    assert cloud.wait(first)["status"] == "SUCCEEDED"


# --- review through Ground Truth --------------------------------------------------------------


def test_a_ground_truth_review_finishes_the_session_with_the_corrected_receipt(
    gt_cloud: FinalizeCloud,
) -> None:
    cloud = gt_cloud
    # Given an uncertain session, and Ground Truth's input topic
    seeded = cloud.seed(REVIEWED)
    session = seeded["s-rev"]
    chips_event, candy_event = seeded.events[CHIPS], seeded.events[CANDY]
    cloud.put_evidence(chips_event)
    execution = cloud.start(session)

    # When Ground Truth takes the data object in (pre-annotation) ...
    [line] = cloud.gt_input_lines()
    job = f"arn:aws:sagemaker:{REGION}:123456789012:labeling-job/walkout-test-review-v1-abc"
    pre = cloud.invoke(
        "review-gt-pre", {"version": "2018-10-06", "labelingJobArn": job, "dataObject": line}
    )
    assert pre["isHumanAnnotationRequired"] == "true"
    questions = pre["taskInput"]["questions"]
    assert sorted(q["event_id"] for q in questions) == sorted([chips_event, candy_event])
    assert session not in json.dumps(pre["taskInput"])

    # ... three workers answer (two say tea and the other shopper, one says chips) ...
    task, _ = task_of(line)
    mine, other = label(task, chips_event, session), label(task, candy_event, seeded["s-other"])
    majority = [
        {"event_id": chips_event, "shopper": mine, "sku": "tea", "qty": 1},
        {"event_id": candy_event, "shopper": other, "sku": "candy", "qty": 1},
    ]
    dissent = [
        {"event_id": chips_event, "shopper": mine, "sku": "chips", "qty": 1},
        {"event_id": candy_event, "shopper": other, "sku": "candy", "qty": 1},
    ]
    payload = [
        {
            "datasetObjectId": "0",
            "dataObject": line,
            "annotations": [
                {
                    "workerId": f"private.{REGION}.worker{i}",
                    "annotationData": {"content": json.dumps({ANSWERS_FIELD: json.dumps(a)})},
                }
                for i, a in enumerate([majority, dissent, majority])
            ],
        }
    ]
    key = "output/walkout-test-review-v1-abc/annotations/consolidation-request/iteration-1/0.json"
    cloud.s3.put_object(Bucket=cloud.review_bucket, Key=key, Body=json.dumps(payload).encode())
    # ... GT calls the consolidation Lambda ...
    consolidated = cloud.invoke(
        "review-gt-consolidate",
        {
            "version": "2018-10-06",
            "labelingJobArn": job,
            "labelCategories": None,
            "labelAttributeName": LABEL_ATTRIBUTE,
            "roleArn": "arn:aws:iam::123456789012:role/walkout-test-groundtruth",
            "payload": {"s3Uri": f"s3://{cloud.review_bucket}/{key}"},
            "outputConfig": f"s3://{cloud.review_bucket}/output/",
        },
    )
    # ... and publishes the output-manifest line, twice (SNS delivers at least once)
    output_line = {
        **line,
        LABEL_ATTRIBUTE: consolidated[0]["consolidatedAnnotation"]["content"][LABEL_ATTRIBUTE],
        f"{LABEL_ATTRIBUTE}-metadata": {
            "type": "groundtruth/custom",
            "job-name": "walkout-test-review-v1-abc",
            "human-annotated": "yes",
            "creation-date": datetime.now(UTC).isoformat(),
        },
    }
    for _ in range(2):
        cloud.sns.publish(TopicArn=cloud.gt_output_topic, Message=json.dumps(output_line))
    done = cloud.wait(execution)

    # Then the majority answer corrected the receipt, once
    assert done["status"] == "SUCCEEDED"
    receipt = cloud.receipts().latest(STORE, session)
    assert receipt is not None
    assert receipt.review_status is ReviewStatus.REVIEWED
    assert charged(receipt) == CORRECTED
    assert len(cloud.receipts().versions(STORE, session)) == 1
    assert cloud.dispatcher.count("review-gt-result") == 2
    recorded = cloud.review_tasks().answer(task.task_id)
    assert recorded is not None
    assert recorded.answer.reviewers == 3
    chips_answer = recorded.answer.answer(chips_event)
    assert chips_answer is not None and chips_answer.agreement == pytest.approx(2 / 3)
    assert len(cloud.receipt_events(session)) == 1
    assert cloud.entered_states(execution) == [
        "Assess",
        "Route",
        "ReviewByGroundTruth",
        "IssueReceipt",
        "IssuedOrHeld",
        "PublishReceiptIssued",
    ]


def test_a_ground_truth_review_nobody_settled_falls_back_at_once(gt_cloud: FinalizeCloud) -> None:
    cloud = gt_cloud
    # Given an uncertain session sent to Ground Truth
    session = cloud.seed(REVIEWED)["s-rev"]
    execution = cloud.start(session)
    [line] = cloud.gt_input_lines()

    # When Ground Truth gives the object back without a label (no worker answered in time)
    failed_line = {
        **line,
        f"{LABEL_ATTRIBUTE}-metadata": {"failure-reason": "ClientError: expired"},
    }
    cloud.sns.publish(TopicArn=cloud.gt_output_topic, Message=json.dumps(failed_line))
    done = cloud.wait(execution)

    # Then the session is finalized with the fallback, long before the review timeout
    assert done["status"] == "SUCCEEDED"
    assert "FallBackToConfidentItems" in cloud.entered_states(execution)
    receipt = cloud.receipts().latest(STORE, session)
    assert receipt is not None
    assert receipt.review_status is ReviewStatus.TIMEOUT_PARTIAL
    assert charged(receipt) == CONFIDENT_ONLY


# --- review timeout ---------------------------------------------------------------------------


def test_a_review_that_times_out_charges_only_confident_items_and_flags_an_audit(
    short_review_cloud: FinalizeCloud,
) -> None:
    cloud = short_review_cloud
    # Given an uncertain session whose review nobody answers (2 s in this deployment)
    session = cloud.seed(REVIEWED)["s-rev"]

    execution = cloud.start(session)
    task = cloud.queued_task(session)
    # (a reviewer took it, but answers only after the review timed out)
    taken = cloud.console().next_task("retailer-1", "late-reviewer")
    assert taken is not None and taken.task_id == task.task_id
    done = cloud.wait(execution, timeout_s=20)

    # Then the receipt leaves off the uncertain picks (chips, candy), is timeout-partial,
    assert done["status"] == "SUCCEEDED"
    assert "FallBackToConfidentItems" in cloud.entered_states(execution)
    receipt = cloud.receipts().latest(STORE, session)
    assert receipt is not None
    assert receipt.review_status is ReviewStatus.TIMEOUT_PARTIAL
    assert charged(receipt) == CONFIDENT_ONLY
    # and the session is flagged for audit
    assert len(session_flags(cloud, FlagKind.AUDIT, session)) == 1
    [event] = cloud.receipt_events(session)
    assert event["detail"]["needs_audit"] is True
    assert event["detail"]["review_status"] == "timeout-partial"

    # And an answer arriving after that is recorded but changes nothing
    late = cloud.console().answer_task(
        task.task_id,
        [EventAnswer(event_id=q.event_id, shopper=None, sku=None, qty=0) for q in task.questions],
        reviewer_id="late-reviewer",
        retailer_id="retailer-1",
    )
    assert late.status == "expired"
    assert cloud.receipts().versions(STORE, session) == [receipt]


# --- helpers ----------------------------------------------------------------------------------


def label(task: ReviewTask, event_id: str, session_id: str) -> str:
    """The letter reviewers see for `session_id`, or its number among the people present
    (only the task maps them to sessions)."""
    question = task.question(event_id)
    assert question is not None
    labels = [s.label for s in question.shoppers] + list(question.present)
    return next(x for x in labels if task.session_of(event_id, x) == session_id)
