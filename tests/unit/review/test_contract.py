"""The review task contract: what reviewers may see, and which answers fit a task."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from review_builders import EVIDENCE, sample_task

from walkout.review.contract import EventAnswer, ReviewAnswerError, check_answers


def test_reviewers_see_letters_colours_products_and_evidence_but_no_sessions() -> None:
    view = sample_task().reviewer_view()
    text = view.model_dump_json()

    assert "s-1" not in text and "s-2" not in text
    assert [s.label for s in view.questions[0].shoppers] == ["A", "B"]
    assert view.questions[0].evidence == EVIDENCE
    assert view.questions[1].number == 2
    assert view.deadline == sample_task().deadline


def test_every_way_of_saying_nothing_moved_is_one_answer() -> None:
    a = EventAnswer(event_id="E1", shopper="A", sku=None, qty=1)
    b = EventAnswer(event_id="E1", shopper="B", sku="chips", qty=0)
    c = EventAnswer(event_id="E1", shopper=None, sku=None, qty=0)

    assert a.choice == b.choice == c.choice == (None, None, 0)


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
