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
    units = decision.units_of(session_id)
    if units == 0:
        return out
    assert decision.sku is not None
    sign = 1 if attribution.action is Action.PICK else -1
    left = out.get(decision.sku, 0) + sign * units
    if left > 0:
        out[decision.sku] = left
    else:
        out.pop(decision.sku, None)
    return dict(sorted(out.items()))


def picked_from_after(
    picked_from: Mapping[str, Mapping[str, int]],
    attribution: Attribution,
    session_id: str,
) -> dict[str, dict[str, int]]:
    """Where the session's units came from (sku -> lane -> units) after the decision
    (`origins_after` on the decided sku; unchanged unless this session was chosen)."""
    out = {sku: dict(lanes) for sku, lanes in picked_from.items()}
    decision = attribution.decision
    units = decision.units_of(session_id)
    if units:
        assert decision.sku is not None
        sign = 1 if attribution.action is Action.PICK else -1
        out[decision.sku] = origins_after(
            out.get(decision.sku, {}), attribution.lane_id, sign * units
        )
    return {sku: lanes for sku, lanes in sorted(out.items()) if lanes}


def origins_after(lanes: Mapping[str, int], lane_id: str, units: int) -> dict[str, int]:
    """One sku's units by the lane they were taken from, after `units` were taken from
    `lane_id` (> 0) or put back on it (< 0). A put-back comes off that lane first (the item
    just taken there), then off the lanes that gave the most (ties by lane id); units the
    cart does not hold are not counted."""
    out = {lane: n for lane, n in lanes.items() if n > 0}
    if units > 0:
        out[lane_id] = out.get(lane_id, 0) + units
    left = -units
    for lane in sorted(out, key=lambda k: (k != lane_id, -out[k], k)):
        if left <= 0:
            break
        taken = min(left, out[lane])
        out[lane] -= taken
        left -= taken
    return dict(sorted((lane, n) for lane, n in out.items() if n > 0))


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
