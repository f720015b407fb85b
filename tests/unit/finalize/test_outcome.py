"""Settling a session: the live cart, corrected by reviewers' answers, or the
customer-favourable fallback when the review brings no answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from finalize_builders import T0, attribution, catalog

from walkout.attribution.record import Action, Attribution, Hypothesis, OtherShare
from walkout.cart import ReviewStatus
from walkout.config import ReviewBackend
from walkout.finalize.errors import AttributionMissingError, CartMismatchError
from walkout.finalize.outcome import NOBODY, Settlement, in_applied_order, replay, settle
from walkout.finalize.questions import build_review_task, with_people
from walkout.review.contract import (
    EventAnswer,
    OtherTaker,
    ReviewAnswer,
    ReviewTask,
    ReviewTimedOut,
)

ME, OTHER = "s-1", "s-2"
COLA = attribution(0, who=[(ME, 0.999)], what=[("cola", 2, 0.999)], p=0.999)
CHIPS_OR_TEA = attribution(1, who=[(ME, 0.97)], what=[("chips", 1, 0.6), ("tea", 1, 0.37)], p=0.6)
CANDY = attribution(2, who=[(ME, 0.55), (OTHER, 0.42)], what=[("candy", 1, 0.98)], p=0.55)
SOAP_BACK = attribution(
    3, who=[(ME, 0.6), (OTHER, 0.35)], what=[("cola", 1, 0.6)], p=0.6, action=Action.RETURN
)
EVENTS = [COLA, CHIPS_OR_TEA, CANDY, SOAP_BACK]
LIVE = replay(EVENTS, ME)


def review(*uncertain: Attribution) -> ReviewTask:
    return build_review_task(
        store_id="store-1",
        retailer_id="retailer-1",
        session_id=ME,
        attributions=uncertain,
        catalog=catalog(),
        evidence={},
        timezone="UTC",
        lane_skus={},
        backend=ReviewBackend.CONSOLE,
        created_at=T0,
        timeout_s=60,
        heartbeat_s=60,
    )


def letter(task: ReviewTask, event_id: str, session: str) -> str:
    question = task.question(event_id)
    assert question is not None
    return next(s.label for s in question.shoppers if s.session_id == session)


def answered(task: ReviewTask, *answers: EventAnswer) -> ReviewAnswer:
    return ReviewAnswer(
        task_id=task.task_id,
        answers=list(answers),
        reviewers=1,
        agreement=1.0,
        source=ReviewBackend.CONSOLE,
        answered_at=T0 + timedelta(minutes=5),
    )


def test_the_live_cart_is_what_replaying_the_decisions_gives() -> None:
    assert LIVE == {"chips": 1, "candy": 1, "cola": 1}


def test_without_review_the_receipt_charges_the_live_cart() -> None:
    settled = settle(session_id=ME, live_items=LIVE, attributions=[], task=None, outcome=None)

    assert (settled.items, settled.status, settled.audit) == (LIVE, ReviewStatus.AUTO, ())


def test_a_track_that_left_as_somebody_else_flags_the_receipt_whatever_the_review() -> None:
    doubt = {"t-1": 0.93, "t-2": 0.12}
    # Without review: the live cart, flagged, naming the doubtful track only
    settled = settle(
        session_id=ME, live_items=LIVE, attributions=[], task=None, outcome=None, same_person=doubt
    )
    assert (settled.items, settled.status) == (LIVE, ReviewStatus.AUTO)
    (reason,) = settled.audit
    assert "(t-2; same-person probability 0.12" in reason
    # After a review that timed out: the doubt comes first, the timeout's reason after it
    settled = settle(
        session_id=ME,
        live_items=LIVE,
        attributions=EVENTS,
        task=review(CHIPS_OR_TEA),
        outcome=ReviewTimedOut(error="States.Timeout"),
        same_person=doubt,
    )
    assert len(settled.audit) == 2
    assert settled.audit[0] == reason


def test_answers_replace_the_product_and_move_an_item_to_another_shopper() -> None:
    task = review(CHIPS_OR_TEA, CANDY)
    outcome = answered(
        task,
        EventAnswer(event_id="E001", shopper=letter(task, "E001", ME), sku="tea", qty=1),
        EventAnswer(event_id="E002", shopper=letter(task, "E002", OTHER), sku="candy", qty=1),
    )

    settled = settle(
        session_id=ME, live_items=LIVE, attributions=EVENTS, task=task, outcome=outcome
    )

    assert settled.items == {"cola": 1, "tea": 1}
    assert settled.status is ReviewStatus.REVIEWED
    assert settled.audit == ()


def test_an_answer_can_add_an_item_the_system_gave_someone_else() -> None:
    # Given a pick the system charged to the other shopper (this session a runner-up)
    theirs = attribution(2, who=[(OTHER, 0.55), (ME, 0.42)], what=[("candy", 1, 0.98)], p=0.55)
    events = [COLA, theirs]
    task = review(theirs)
    outcome = answered(
        task, EventAnswer(event_id="E002", shopper=letter(task, "E002", ME), sku="candy", qty=2)
    )

    settled = with_answers({}, task=task, outcome=outcome, events=events)

    assert settled.items == {"cola": 2, "candy": 2}


def test_an_answer_naming_somebody_present_moves_the_item_to_them() -> None:
    # Given the candy pick, whose reviewers also see a third shopper who was in the store
    stays = {ME: (T0, None), OTHER: (T0, None), "s-3": (T0 + timedelta(seconds=5), None)}
    task = with_people(review(CANDY), stays)
    question = task.question("E002")
    assert question is not None and question.present == ["1"]
    outcome = answered(task, EventAnswer(event_id="E002", shopper="1", sku="candy", qty=1))

    settled = settle(
        session_id=ME, live_items=LIVE, attributions=EVENTS, task=task, outcome=outcome
    )

    assert settled.items == {"chips": 1, "cola": 1}
    assert settled.answers["E002"].session_id == "s-3"


def test_an_answer_naming_two_takers_charges_each_their_units() -> None:
    # Given two candy taken at once, which the shelf weighed as one change charged to ME
    both = attribution(2, who=[(ME, 0.55), (OTHER, 0.42)], what=[("candy", 2, 0.9)], p=0.5)
    events = [COLA, both]
    task = review(both)
    outcome = answered(
        task,
        EventAnswer(
            event_id="E002",
            shopper=letter(task, "E002", OTHER),
            sku="candy",
            qty=1,
            also=[OtherTaker(shopper=letter(task, "E002", ME), qty=1)],
        ),
    )

    settled = with_answers({}, task=task, outcome=outcome, events=events)

    # ME is charged its one candy, not the two the system gave it
    assert settled.items == {"cola": 2, "candy": 1}
    kept = settled.answers["E002"]
    assert (kept.session_id, kept.qty, kept.also) == (
        OTHER,
        1,
        (OtherShare(session_id=ME, qty=1),),
    )
    # and the other shopper, whose cart never had the event, gets its candy from the answer
    theirs = settle(
        session_id=OTHER,
        live_items={},
        attributions=[both],
        task=None,
        outcome=None,
        settled={"E002": kept},
    )
    assert theirs.items == {"candy": 1}


def test_nothing_moved_takes_the_item_off() -> None:
    task = review(CHIPS_OR_TEA)
    outcome = answered(task, EventAnswer(event_id="E001", shopper=None, sku=None, qty=0))

    settled = settle(
        session_id=ME, live_items=LIVE, attributions=EVENTS, task=task, outcome=outcome
    )

    assert "chips" not in settled.items


def test_a_timeout_charges_only_confident_items_but_keeps_uncertain_returns() -> None:
    task = review(CHIPS_OR_TEA, CANDY, SOAP_BACK)

    settled = settle(
        session_id=ME,
        live_items=LIVE,
        attributions=EVENTS,
        task=task,
        outcome=ReviewTimedOut(error="States.Timeout"),
    )

    # chips and candy (uncertain picks) are off; the uncertain return of a cola still counts
    assert settled.items == {"cola": 1}
    assert settled.status is ReviewStatus.TIMEOUT_PARTIAL
    assert "States.Timeout" in settled.audit[0]
    assert settled.corrected_events == ("E001", "E002")


def test_an_unresolved_event_is_left_off_and_flagged_while_the_rest_is_applied() -> None:
    task = review(CHIPS_OR_TEA, CANDY)
    outcome = answered(
        task,
        EventAnswer(event_id="E001", shopper=letter(task, "E001", ME), sku="tea", qty=1),
        EventAnswer(event_id="E002", shopper=None, sku=None, qty=0, resolved=False, agreement=0.5),
    )

    settled = settle(
        session_id=ME, live_items=LIVE, attributions=EVENTS, task=task, outcome=outcome
    )

    assert settled.items == {"cola": 1, "tea": 1}
    assert settled.status is ReviewStatus.REVIEWED
    assert "E002" in settled.audit[0]


def test_corrections_are_refused_when_the_live_cart_does_not_replay() -> None:
    task = review(CHIPS_OR_TEA)

    with pytest.raises(CartMismatchError, match="live cart") as refused:
        settle(
            session_id=ME,
            live_items={**LIVE, "soap": 1},
            attributions=EVENTS,
            task=task,
            outcome=ReviewTimedOut(error="States.Timeout"),
        )
    # The message says which SKU disagrees, and that no event read decides it
    assert "soap: no event read decides it" in str(refused.value)


def test_a_refused_replay_names_the_events_behind_the_sku_it_disagrees_on() -> None:
    # Given a live cart without the candy an event (answered in another review) gave it
    live = {sku: n for sku, n in LIVE.items() if sku != "candy"}
    with pytest.raises(CartMismatchError) as refused:
        settle(
            session_id=ME,
            live_items=live,
            attributions=EVENTS,
            task=None,
            outcome=None,
            settled={CANDY.event_id: CANDY.decision},
        )
    # Then the error names that event for the candy
    assert f"candy: {CANDY.event_id} (answered in another review)" in str(refused.value)


def test_a_reviewed_event_without_its_record_is_refused() -> None:
    task = review(CHIPS_OR_TEA)

    with pytest.raises(AttributionMissingError):
        settle(
            session_id=ME,
            live_items={"cola": 2},
            attributions=[COLA],
            task=task,
            outcome=ReviewTimedOut(error="States.Timeout"),
        )


# --- answers another session's review gave ------------------------------------------------------


def with_answers(
    settled: dict[str, Hypothesis],
    task: ReviewTask | None = None,
    outcome: ReviewAnswer | ReviewTimedOut | None = None,
    events: list[Attribution] = EVENTS,
) -> Settlement:
    """Settle ME's visit (`events`) with answers other sessions' reviews gave."""
    return settle(
        session_id=ME,
        live_items=replay(events, ME),
        attributions=events,
        task=task,
        outcome=outcome,
        settled=settled,
    )


def test_an_earlier_answer_moves_an_item_without_a_review_of_this_session() -> None:
    # CANDY charged ME (0.55); the other shopper's review said the other shopper took it
    settled = with_answers(
        {"E002": Hypothesis(session_id=OTHER, sku="candy", qty=1, probability=1.0)}
    )

    assert settled.items == {"chips": 1, "cola": 1}
    assert settled.status is ReviewStatus.REVIEWED
    assert settled.corrected_events == ("E002",)
    assert settled.answers == {}


def test_an_earlier_answer_adds_what_the_system_gave_someone_else() -> None:
    theirs = attribution(2, who=[(OTHER, 0.55), (ME, 0.42)], what=[("candy", 1, 0.98)], p=0.55)
    events = [COLA, theirs]

    settled = with_answers(
        {"E002": Hypothesis(session_id=ME, sku="candy", qty=1, probability=1.0)}, events=events
    )

    assert settled.items == {"cola": 2, "candy": 1}


def test_earlier_answers_and_the_sessions_own_review_both_apply_and_its_answers_are_kept() -> None:
    task = review(CHIPS_OR_TEA)
    outcome = answered(
        task, EventAnswer(event_id="E001", shopper=letter(task, "E001", ME), sku="tea", qty=1)
    )

    settled = with_answers({"E002": NOBODY}, task=task, outcome=outcome)

    assert settled.items == {"cola": 1, "tea": 1}
    assert settled.status is ReviewStatus.REVIEWED
    assert settled.answers == {"E001": Hypothesis(session_id=ME, sku="tea", qty=1, probability=1.0)}


def test_a_timeout_leaves_off_only_the_unanswered_picks_and_counts_them() -> None:
    task = review(CHIPS_OR_TEA)

    settled = with_answers(
        {"E002": Hypothesis(session_id=OTHER, sku="candy", qty=1, probability=1.0)},
        task=task,
        outcome=ReviewTimedOut(error="States.Timeout"),
    )

    # chips (asked, unanswered) is left off; the candy goes as the earlier answer says
    assert settled.items == {"cola": 1}
    assert settled.status is ReviewStatus.TIMEOUT_PARTIAL
    assert "1 uncertain pick(s) left off" in settled.audit[0]


def test_an_earlier_answer_about_an_event_without_its_record_is_refused() -> None:
    with pytest.raises(AttributionMissingError):
        settle(
            session_id=ME,
            live_items={"cola": 2},
            attributions=[COLA],
            task=None,
            outcome=None,
            settled={"E002": Hypothesis(session_id=ME, sku="candy", qty=1, probability=1.0)},
        )


# A return that ended before a pick of the same item, sent after it (the pick's change was
# held for an encounter): the live cart took the pick first, then the return.
TEA_BACK_FIRST = attribution(
    7, who=[(ME, 0.9)], what=[("tea", 1, 0.9)], p=0.9, action=Action.RETURN, lane="L4"
)
TEA_PICKED_AFTER = attribution(8, who=[(ME, 0.99)], what=[("tea", 1, 0.99)], p=0.99, lane="L2")


def test_the_live_cart_is_replayed_in_the_order_it_took_its_events() -> None:
    events = [TEA_BACK_FIRST, TEA_PICKED_AFTER]
    taken = [TEA_PICKED_AFTER.event_id, TEA_BACK_FIRST.event_id]
    # Given a live cart that took the pick, then the return (nothing left)
    live = replay(events, ME, applied=taken)
    assert live == {}

    def settled_in(order: list[str]) -> Settlement:
        return settle(
            session_id=ME,
            live_items=live,
            attributions=events,
            task=None,
            outcome=None,
            settled={TEA_PICKED_AFTER.event_id: TEA_PICKED_AFTER.decision},
            applied=order,
        )

    # In time order the return comes first and returns nothing: that is not the live cart
    assert replay(events, ME) == {"tea": 1}
    with pytest.raises(CartMismatchError, match="tea"):
        settled_in([])
    # When the receipt is settled with the order the cart took them
    settled = settled_in(taken)
    # Then it agrees with the live cart
    assert settled.items == {}
    assert settled.status is ReviewStatus.REVIEWED


def test_events_the_cart_did_not_take_go_where_their_time_puts_them() -> None:
    # Given a cart that took two cola picks, the later-ending one first (sent first), and a
    # candy the cart never carried, which ended between them
    cola_later = attribution(9, who=[(ME, 0.99)], what=[("cola", 1, 0.99)], p=0.99)
    events = [cola_later, CANDY, COLA]
    order = in_applied_order(events, [cola_later.event_id, COLA.event_id])
    # Then the events it took keep its order, and the candy sits before the first taken one
    # that ended after it
    assert [e.event_id for e in order] == [CANDY.event_id, cola_later.event_id, COLA.event_id]
    # and without the cart's order, every event is in time order
    assert [e.event_id for e in in_applied_order(events, [])] == [
        COLA.event_id,
        CANDY.event_id,
        cola_later.event_id,
    ]
