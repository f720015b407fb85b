"""What an attribution does to the live state: a session's item counts, a lane's memory."""

from __future__ import annotations

from collections.abc import Mapping

from walkout.attribution.record import Action, Attribution, LaneChange


def cart_after(
    counts: Mapping[str, int], attribution: Attribution, session_id: str
) -> dict[str, int]:
    """The session's item counts after the decision (unchanged unless it was chosen).

    A return never takes a count below zero: an item the cart does not hold is not refunded.
    """
    out = {s: n for s, n in counts.items() if n > 0}
    decision = attribution.decision
    if not decision.changes_a_cart or decision.session_id != session_id:
        return out
    assert decision.sku is not None
    sign = 1 if attribution.action is Action.PICK else -1
    left = out.get(decision.sku, 0) + sign * decision.qty
    if left > 0:
        out[decision.sku] = left
    else:
        out.pop(decision.sku, None)
    return dict(sorted(out.items()))


def lane_after(foreign: Mapping[str, int], change: LaneChange | None) -> dict[str, int]:
    """A lane's remembered foreign units after a change."""
    out = {s: n for s, n in foreign.items() if n > 0}
    if change is None:
        return out
    left = out.get(change.sku, 0) + change.units
    if left > 0:
        out[change.sku] = left
    else:
        out.pop(change.sku, None)
    return dict(sorted(out.items()))
