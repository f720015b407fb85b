"""Scoring a finished session: is its receipt sure enough to issue, and if not, which of
its events must a person look at.

Confidence is the probability that the whole receipt is right, the product of the
session's per-event factors (`walkout.attribution.confidence`). Review takes only the
fewest, least certain events whose answers lift the rest to the threshold; the others stay
as the system decided them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from walkout.attribution.confidence import events_to_review, receipt_confidence
from walkout.config import ReviewBackend


class Route(StrEnum):
    """Where the workflow goes after scoring (the state machine's Choice matches these)."""

    ISSUE = "issue"
    REVIEW_CONSOLE = "review-console"
    REVIEW_GROUNDTRUTH = "review-groundtruth"
    # Another session's open review asks about some of the events: wait for its answer.
    AWAIT_ANSWERS = "await-answers"


@dataclass(frozen=True)
class Assessment:
    confidence: float
    events: tuple[str, ...]
    to_review: tuple[str, ...]

    @property
    def needs_review(self) -> bool:
        return bool(self.to_review)

    @property
    def review_share(self) -> float:
        """The share of the session's events sent to review."""
        return len(self.to_review) / len(self.events) if self.events else 0.0


def assess(factors: Mapping[str, float], threshold: float) -> Assessment:
    """Score a session from its per-event factors (event id -> P(right about it))."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    return Assessment(
        confidence=receipt_confidence(factors),
        events=tuple(sorted(factors)),
        to_review=tuple(events_to_review(factors, threshold)),
    )


def route(assessment: Assessment, backend: ReviewBackend) -> Route:
    if not assessment.needs_review:
        return Route.ISSUE
    if backend is ReviewBackend.GROUNDTRUTH:
        return Route.REVIEW_GROUNDTRUTH
    return Route.REVIEW_CONSOLE
