"""The simulated reviewer (`localcloud.reviewer.Oracle`): what it answers from the truth."""

from __future__ import annotations

from collections import defaultdict

from review_builders import T0, sample_task

from localcloud.reviewer import Oracle, Truth, TruthEvent
from walkout.review.contract import EventAnswer, OtherTaker

E1_END = T0.timestamp() + 1.0  # sample_task's E1: a pick at lane L2 ending then


UNIT_G = {"tea": 50.0, "chips": 150.0}  # sample_task's E1 weighed -150 g


def oracle(*events: tuple[float, str, str, int], lane: str = "L2") -> Oracle:
    truth_events = [
        TruthEvent(E1_END + dt, "pick", s, sku, q, -q * UNIT_G[sku]) for dt, s, sku, q in events
    ]
    by_lane: dict[str, list[TruthEvent]] = defaultdict(list)
    by_lane[lane] = truth_events
    # the sample task's sessions are the truth's own
    return Oracle(Truth(truth_events, by_lane, {}, {}), 0.0, truth_session=lambda s: s)


def answer_to_e1(reviewer: Oracle) -> EventAnswer:
    task = sample_task()
    question = task.question("E1")
    assert question is not None
    return reviewer.right_answer(task, question)


def test_one_taker_is_named_with_the_units_they_moved() -> None:
    answer = answer_to_e1(oracle((0.0, "s-2", "tea", 2)))

    assert answer.choice == ("B", "tea", 2, ())


def test_two_people_taking_the_product_at_once_are_both_named() -> None:
    # s-2 (candidate B) ended closest; s-3 (person 1, present) took one 0.4 s earlier; a
    # chips pick by s-1 in the window is another product, not this change
    answer = answer_to_e1(
        oracle((0.1, "s-2", "tea", 1), (-0.4, "s-3", "tea", 1), (0.8, "s-1", "chips", 1))
    )

    assert (answer.shopper, answer.sku, answer.qty) == ("B", "tea", 1)
    assert answer.also == [OtherTaker(shopper="1", qty=1)]


def test_a_taker_the_question_cannot_name_is_left_out() -> None:
    # the closest taker (s-9) is nobody the question lists; candidate A took the other two
    answer = answer_to_e1(oracle((0.0, "s-9", "tea", 1), (0.3, "s-1", "tea", 2)))

    assert answer.choice == ("A", "tea", 2, ())


def test_a_pick_the_shelf_did_not_weigh_in_this_change_is_another_question() -> None:
    # B's three teas weigh the whole 150 g; person 1's tea a second earlier was a change of
    # its own (the edge saw two): naming person 1 here would charge their tea twice
    answer = answer_to_e1(oracle((0.0, "s-2", "tea", 3), (-1.0, "s-3", "tea", 1)))

    assert answer.choice == ("B", "tea", 3, ())
