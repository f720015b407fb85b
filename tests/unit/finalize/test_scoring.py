"""Scoring a finished session: issue at once, or send only the uncertain events to review."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from walkout.attribution.confidence import receipt_confidence
from walkout.config import ReviewBackend
from walkout.finalize.scoring import Route, assess, route


def test_a_sure_session_is_issued_without_review() -> None:
    assessment = assess({"e1": 0.999, "e2": 0.99, "e3": 0.995}, threshold=0.95)

    assert not assessment.needs_review
    assert route(assessment, ReviewBackend.GROUNDTRUTH) is Route.ISSUE
    assert assessment.review_share == 0.0


def test_a_session_without_events_is_sure() -> None:
    assessment = assess({}, threshold=0.95)

    assert assessment.confidence == 1.0 and route(assessment, ReviewBackend.CONSOLE) is Route.ISSUE


def test_only_the_least_certain_events_go_to_review() -> None:
    factors = {"e1": 0.999, "e2": 0.6, "e3": 0.998, "e4": 0.997, "e5": 0.55, "e6": 0.999}

    assessment = assess(factors, threshold=0.95)

    assert assessment.to_review == ("e5", "e2")
    assert assessment.review_share == pytest.approx(2 / 6)
    assert route(assessment, ReviewBackend.CONSOLE) is Route.REVIEW_CONSOLE
    assert route(assessment, ReviewBackend.GROUNDTRUTH) is Route.REVIEW_GROUNDTRUTH


def test_a_threshold_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        assess({"e1": 0.9}, threshold=1.0)


@settings(deadline=None)
@given(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=4),
        st.floats(min_value=0.01, max_value=1.0),
        max_size=12,
    ),
    st.floats(min_value=0.5, max_value=0.99),
)
# the rest exactly at the threshold, once rounding made it look a hair below
@example({"a": 0.125, "aa": 0.5}, 0.5)
def test_what_is_not_reviewed_is_sure_enough_and_nothing_more_is_sent(
    factors: dict[str, float], threshold: float
) -> None:
    assessment = assess(factors, threshold)
    kept = {e: f for e, f in factors.items() if e not in assessment.to_review}

    assert receipt_confidence(kept) >= threshold * (1 - 1e-9)
    if assessment.to_review:
        # sending one event fewer (the last added) would not have been enough
        fewer = {e: f for e, f in factors.items() if e not in assessment.to_review[:-1]}
        assert receipt_confidence(fewer) < threshold
