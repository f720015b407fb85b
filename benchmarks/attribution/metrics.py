"""The study's numbers: calibration (ECE, reliability table) and review rate vs accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BINS = 10


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def reliability(
    probabilities: Sequence[float], right: Sequence[bool], bins: int = BINS
) -> list[Bin]:
    out = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        idx = [
            i
            for i, p in enumerate(probabilities)
            if (low <= p < high) or (b == bins - 1 and p == 1.0)
        ]
        if not idx:
            out.append(Bin(low, high, 0, 0.0, 0.0))
            continue
        out.append(
            Bin(
                low,
                high,
                len(idx),
                sum(probabilities[i] for i in idx) / len(idx),
                sum(1 for i in idx if right[i]) / len(idx),
            )
        )
    return out


def ece(probabilities: Sequence[float], right: Sequence[bool], bins: int = BINS) -> float:
    """Expected calibration error: sum over equal-width bins of |accuracy - confidence|,
    weighted by the bin's share of events."""
    n = len(probabilities)
    return sum(
        b.count / n * abs(b.accuracy - b.confidence)
        for b in reliability(probabilities, right, bins)
        if b.count
    )


def brier(probabilities: Sequence[float], right: Sequence[bool]) -> float:
    return sum(
        (p - (1.0 if r else 0.0)) ** 2 for p, r in zip(probabilities, right, strict=True)
    ) / len(probabilities)


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    sessions: int
    reviewed: int
    review_rate_per_1000: float
    auto_receipt_accuracy: float  # among sessions finalised without review
    events_reviewed_per_reviewed_session: float


def review_rows(
    confidences: Sequence[float],
    right: Sequence[bool],
    review_counts: Sequence[Sequence[int]],
    thresholds: Sequence[float],
) -> list[ThresholdRow]:
    """One row per threshold: sessions below it go to review (only their uncertain events);
    the others are finalised automatically and are right or not."""
    rows = []
    n = len(confidences)
    for k, t in enumerate(thresholds):
        reviewed = [i for i in range(n) if confidences[i] < t]
        auto = [i for i in range(n) if confidences[i] >= t]
        rows.append(
            ThresholdRow(
                threshold=t,
                sessions=n,
                reviewed=len(reviewed),
                review_rate_per_1000=1000 * len(reviewed) / n if n else 0.0,
                auto_receipt_accuracy=sum(1 for i in auto if right[i]) / len(auto)
                if auto
                else float("nan"),
                events_reviewed_per_reviewed_session=(
                    sum(review_counts[i][k] for i in reviewed) / len(reviewed) if reviewed else 0.0
                ),
            )
        )
    return rows
