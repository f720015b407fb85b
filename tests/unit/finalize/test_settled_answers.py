"""Which sessions another session's review answer decides an event for."""

from __future__ import annotations

from datetime import UTC, datetime

from walkout.attribution.record import Hypothesis
from walkout.data.sessions import SettledEvent, merge_answers


def answer(session: str | None, shown: list[str]) -> SettledEvent:
    return SettledEvent(
        event_id="E1",
        decision=Hypothesis(
            session_id=session,
            sku="tea" if session else None,
            qty=1 if session else 0,
            probability=1.0,
        ),
        task_id="rt-1",
        asked_for="s-a",
        shown=shown,
        answered_at=datetime(2026, 11, 27, 12, tzinfo=UTC),
    )


def test_an_answer_naming_a_shopper_decides_the_event_for_every_session() -> None:
    named = answer("s-b", shown=["s-a", "s-b"])

    assert named.settles_for("s-a") and named.settles_for("s-b")
    # a session the reviewers were not shown did not move it either: somebody else did
    assert named.settles_for("s-z")


def test_none_of_them_decides_only_for_the_sessions_the_reviewers_were_shown() -> None:
    nobody = answer(None, shown=["s-a", "s-b"])

    assert nobody.settles_for("s-a") and nobody.settles_for("s-b")
    # s-z was not among the candidates: its own review must show it and ask
    assert not nobody.settles_for("s-z")


# --- merging an answer with what was kept about the event ----------------------------------------


def test_the_first_answer_is_kept_as_it_is() -> None:
    first = answer("s-b", shown=["s-a", "s-b"])

    assert merge_answers(None, first) == (first, False)


def test_an_answer_naming_a_shopper_stays_and_a_different_one_contradicts_it() -> None:
    named = answer("s-b", shown=["s-a", "s-b"])

    assert merge_answers(named, named) == (None, False)
    assert merge_answers(named, answer("s-c", shown=["s-c", "s-b"])) == (None, True)
    # "none of them" from reviewers shown s-b contradicts it; shown others, it does not
    assert merge_answers(named, answer(None, shown=["s-b", "s-d"])) == (None, True)
    assert merge_answers(named, answer(None, shown=["s-d", "s-e"])) == (None, False)


def test_none_of_them_answers_add_up_the_sessions_they_rule_out() -> None:
    first = answer(None, shown=["s-a", "s-b"])

    merged, conflict = merge_answers(first, answer(None, shown=["s-c", "s-b"]))

    assert not conflict and merged is not None
    assert merged.shown == ["s-a", "s-b", "s-c"]
    assert merged.task_id == first.task_id
    # nothing new: nothing to write
    assert merge_answers(merged, answer(None, shown=["s-c"])) == (None, False)


def test_a_shopper_named_after_none_of_them_replaces_it_unless_already_ruled_out() -> None:
    nobody = answer(None, shown=["s-a", "s-b"])
    named = answer("s-c", shown=["s-c", "s-d"])

    assert merge_answers(nobody, named) == (named, False)
    assert merge_answers(nobody, answer("s-b", shown=["s-b", "s-z"])) == (None, True)
