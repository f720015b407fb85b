"""The review task contract: what reviewers may see, and which answers fit a task."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from review_builders import EVIDENCE, PERSON_LOOK, sample_task

from walkout.review.contract import EventAnswer, OtherTaker, ReviewAnswerError, check_answers


def test_reviewers_see_letters_colours_products_and_evidence_but_no_sessions() -> None:
    view = sample_task().reviewer_view()
    text = view.model_dump_json()

    assert "s-1" not in text and "s-2" not in text
    assert [s.label for s in view.questions[0].shoppers] == ["A", "B"]
    assert view.questions[0].evidence == EVIDENCE
    assert view.questions[1].number == 2
    assert view.deadline == sample_task().deadline


def test_reviewers_see_the_people_present_by_number_and_look_but_not_their_sessions() -> None:
    view = sample_task().reviewer_view()

    # Once per task (their looks are not repeated per question), each question by number
    assert [(p.label, p.looks) for p in view.people] == [("1", [PERSON_LOOK]), ("2", [])]
    assert view.questions[0].present == ["1", "2"]
    assert view.questions[1].present == ["1"]
    assert "s-3" not in view.model_dump_json() and "s-4" not in view.model_dump_json()


def test_an_answer_may_name_somebody_present_at_that_moment_by_number() -> None:
    task = sample_task()
    answers = [
        EventAnswer(event_id="E1", shopper="2", sku="tea", qty=1),
        EventAnswer(event_id="E2", shopper="1", sku="candy", qty=1),
    ]

    check_answers(task, answers)
    assert task.session_of("E1", "2") == "s-4"
    assert task.session_of("E2", "1") == "s-3"
    assert task.session_of("E1", "B") == "s-2"
    # Person 2 was not in the store at E2's moment, and there is no person 3
    assert task.session_of("E2", "2") is None
    assert task.session_of("E1", "3") is None
    # "None of them" rules out the candidates only: a reviewer who cannot tell who moved
    # the item need not have looked through everybody present
    assert task.shown("E1") == ["s-1", "s-2"]
    assert task.shown("E2") == ["s-1"]


def test_a_task_whose_questions_list_unknown_people_or_a_candidate_as_present_is_invalid() -> None:
    data = sample_task().model_dump(by_alias=True)
    unknown = {**data, "questions": [{**data["questions"][0], "present": ["1", "7"]}]}
    with pytest.raises(ValidationError, match="present 7 not among the task's people"):
        sample_task().model_validate(unknown)

    people = [*data["people"], {"label": "3", "looks": [], "session_id": "s-2"}]
    candidate = {
        **data,
        "people": people,
        "questions": [{**data["questions"][0], "present": ["3"]}],
    }
    with pytest.raises(ValidationError, match="a candidate is also listed as present"):
        sample_task().model_validate(candidate)

    twice = {**data, "people": [*data["people"], {"label": "1", "session_id": "s-9"}]}
    with pytest.raises(ValidationError, match="people's numbers repeat"):
        sample_task().model_validate(twice)


def test_every_way_of_saying_nothing_moved_is_one_answer() -> None:
    a = EventAnswer(event_id="E1", shopper="A", sku=None, qty=1)
    b = EventAnswer(event_id="E1", shopper="B", sku="chips", qty=0)
    c = EventAnswer(event_id="E1", shopper=None, sku=None, qty=0)

    assert a.choice == b.choice == c.choice == (None, None, 0, ())


def test_answers_that_fit_the_task_pass() -> None:
    check_answers(
        sample_task(),
        [
            EventAnswer(event_id="E1", shopper="B", sku="tea", qty=1),
            EventAnswer(event_id="E2", shopper=None, sku=None, qty=0),
        ],
    )


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([("E1", "C", "tea", 1), ("E2", None, None, 0)], r"answers\[E1\]\.shopper: C"),
        ([("E1", "A", "tea", 1), ("E2", "2", "candy", 1)], r"answers\[E2\]\.shopper: 2 is neither"),
        ([("E1", "A", "soap", 1), ("E2", None, None, 0)], r"answers\[E1\]\.sku: soap"),
        ([("E1", "A", "tea", 3), ("E2", "A", "candy", 4)], r"answers\[E2\]\.qty: 4"),
        ([("E1", "A", "tea", 1)], r"no answer for event\(s\) E2"),
        ([("E1", "A", "tea", 1), ("E1", "A", "tea", 1)], "answered twice"),
        ([("E9", "A", "tea", 1)], "E9 is not in task"),
    ],
)
def test_answers_that_do_not_fit_name_the_event_and_the_field(
    answers: list[tuple[str, str | None, str | None, int]], message: str
) -> None:
    with pytest.raises(ReviewAnswerError, match=message):
        check_answers(
            sample_task(),
            [EventAnswer(event_id=e, shopper=s, sku=k, qty=q) for e, s, k, q in answers],
        )


def test_a_task_asking_about_an_event_twice_is_invalid() -> None:
    task = sample_task()

    with pytest.raises(ValidationError, match="asked about twice"):
        task.model_validate({**task.model_dump(), "questions": [task.questions[0]] * 2})


def also(*takers: tuple[str, int]) -> list[OtherTaker]:
    return [OtherTaker(shopper=s, qty=q) for s, q in takers]


def test_an_answer_may_name_others_who_moved_the_same_item_at_once() -> None:
    # E1: A took one tea and person 2 another in the same moment (3 at most)
    both = EventAnswer(event_id="E1", shopper="A", sku="tea", qty=1, also=also(("2", 2)))
    check_answers(sample_task(), [both, EventAnswer(event_id="E2", shopper=None, sku=None, qty=0)])
    assert both.total_qty == 3
    # The order others are named in is not part of the answer (votes count it as one)
    one = EventAnswer(event_id="E1", shopper="A", sku="tea", qty=1, also=also(("B", 1), ("1", 1)))
    other = EventAnswer(event_id="E1", shopper="A", sku="tea", qty=1, also=also(("1", 1), ("B", 1)))
    assert one.choice == other.choice
    # "Nothing moved" has nobody else either
    assert EventAnswer(event_id="E1", shopper="A", sku=None, qty=0, also=also(("B", 1))).also == []


@pytest.mark.parametrize(
    ("shopper", "takers", "message"),
    [
        ("A", [("A", 1)], "named more than once"),
        ("A", [("B", 1), ("B", 1)], "named more than once"),
        (None, [("B", 1)], "need a shopper named first"),
        ("A", [("B", 20)], "21 units in all exceed 20"),
    ],
)
def test_others_are_named_once_each_after_a_first_shopper(
    shopper: str | None, takers: list[tuple[str, int]], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        EventAnswer(event_id="E1", shopper=shopper, sku="tea", qty=1, also=also(*takers))


@pytest.mark.parametrize(
    ("takers", "message"),
    [
        ([("C", 1)], r"answers\[E1\]\.also\[0\]\.shopper: C is neither"),
        ([("B", 1), ("1", 1)], r"answers\[E1\]\.qty and also: 4 unit\(s\) exceed 3"),
    ],
)
def test_others_who_do_not_fit_the_question_name_the_field(
    takers: list[tuple[str, int]], message: str
) -> None:
    answer = EventAnswer(event_id="E1", shopper="A", sku="tea", qty=2, also=also(*takers))
    with pytest.raises(ReviewAnswerError, match=message):
        check_answers(
            sample_task(), [answer, EventAnswer(event_id="E2", shopper=None, sku=None, qty=0)]
        )
