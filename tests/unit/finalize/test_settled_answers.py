"""Which sessions another session's review answer decides an event for."""

from __future__ import annotations

from datetime import UTC, datetime

from walkout.attribution.record import Hypothesis
from walkout.data.sessions import SettledEvent


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
