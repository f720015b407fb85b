"""Session-level confidence: the probability that a whole receipt is right.

Treating events as independent, a session's receipt is right when every event it took part
in (as the chosen session, or as a close runner-up) did to its cart what the decisions say:

    P(receipt right) = prod_e factor_e

A session with no shelf events has confidence 1. Review resolves the least certain events
first: `events_to_review` returns the fewest events whose removal lifts the product of the
remaining factors to the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# A factor is floored here before the log: 0 would make every later product 0 for ever.
MIN_FACTOR = 1e-12
# Taking an event's log factor back out of a running sum leaves rounding error: a rest
# exactly at the threshold (0.125 x 0.5 less 0.125, against 0.5) may come out a hair
# below it. Sums within this of the threshold's log count as reaching it.
LOG_ROUNDING = 1e-12


def log_factor(factor: float) -> float:
    return math.log(max(MIN_FACTOR, min(1.0, factor)))


def receipt_confidence(factors: Mapping[str, float]) -> float:
    """P(receipt right) from the factors of its events (event id -> factor)."""
    return math.exp(sum(log_factor(f) for f in factors.values()))


def events_to_review(factors: Mapping[str, float], threshold: float) -> list[str]:
    """The least certain events, fewest first, that must be reviewed for the rest of the
    receipt to be at least `threshold` sure (empty when it already is)."""
    log_threshold = math.log(threshold)
    total = sum(log_factor(f) for f in factors.values())
    chosen: list[str] = []
    for event_id, factor in sorted(factors.items(), key=lambda kv: (kv[1], kv[0])):
        if total >= log_threshold - LOG_ROUNDING:
            break
        chosen.append(event_id)
        total -= log_factor(factor)
    return chosen
