"""What the receipt charges once a session is settled (pure).

- No review: the live cart, exactly as the shopper last saw it.
- Reviewed: the session's attributions are replayed in the order its live cart took them
  (`in_applied_order`; the others in time order) with each reviewed event's decision
  replaced by the reviewers' answer. An event the reviewers could not settle is treated
  like a timed-out review for that event.
- Settled by earlier reviews: events of this session that other sessions' reviews already
  answered (the answer says who moved what, for every cart) are replayed with that answer
  too, whether or not this session had a review of its own; the receipt is `reviewed`.
- Review timed out: the customer-favourable fallback. Only the confident items are
  charged: a reviewed event that would add an item to this session's cart adds nothing;
  a reviewed return that took an item off the cart still counts (it favours the shopper).
  The receipt is `timeout-partial` and flagged for audit.

Replay is checked first: replaying the decisions as they are must give the live cart, or
corrections cannot be applied safely (`CartMismatchError`, the session goes to a person).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from walkout.attribution.effects import cart_after
from walkout.attribution.record import Action, Attribution, Hypothesis, OtherShare
from walkout.cart import ReviewStatus
from walkout.finalize.errors import AttributionMissingError, CartMismatchError
from walkout.review.contract import (
    EventAnswer,
    ReviewAnswer,
    ReviewOutcome,
    ReviewTask,
    ReviewTimedOut,
)


@dataclass(frozen=True)
class Settlement:
    """The items to charge, how they were decided, and why the receipt needs an audit."""

    items: dict[str, int]
    status: ReviewStatus
    audit: tuple[str, ...] = ()
    corrected_events: tuple[str, ...] = ()
    # The session's own review's answers (event id -> the decision), to keep for the other
    # sessions the same events touch.
    answers: Mapping[str, Hypothesis] = field(default_factory=dict)


def replay(
    attributions: Sequence[Attribution],
    session_id: str,
    overrides: Mapping[str, Hypothesis] | None = None,
    applied: Sequence[str] = (),
) -> dict[str, int]:
    """The session's item counts from its events, with some decisions replaced
    (`overrides`: event id -> the hypothesis to apply instead), in the order of
    `in_applied_order`."""
    items: dict[str, int] = {}
    for recorded in in_applied_order(attributions, applied):
        override = (overrides or {}).get(recorded.event_id)
        event = recorded if override is None else recorded.model_copy(update={"decision": override})
        items = cart_after(items, event, session_id)
    return items


def in_applied_order(
    attributions: Sequence[Attribution], applied: Sequence[str]
) -> list[Attribution]:
    """The events in the order the live cart took them (`applied`: the cart's event ids in
    the order ingest applied them), each other event before the first of those that ended
    after it; without `applied`, in time order (when each change ended)."""
    rank = {event_id: k for k, event_id in enumerate(applied)}
    taken = sorted((a for a in attributions if a.event_id in rank), key=lambda a: rank[a.event_id])
    others = sorted(
        (a for a in attributions if a.event_id not in rank), key=lambda a: (a.t_end, a.event_id)
    )
    out: list[Attribution] = []
    k = 0
    for event in taken:
        while k < len(others) and (others[k].t_end, others[k].event_id) < (
            event.t_end,
            event.event_id,
        ):
            out.append(others[k])
            k += 1
        out.append(event)
    out.extend(others[k:])
    return out


NOBODY = Hypothesis(session_id=None, sku=None, qty=0, probability=1.0)


def _mismatch_sources(
    replayed: Mapping[str, int],
    live: Mapping[str, int],
    attributions: Sequence[Attribution],
    session_id: str,
    settled: Mapping[str, Hypothesis],
) -> str:
    """Which events decide, for this session, the SKUs a replay and the live cart disagree
    on (for whoever looks into the session: a cart and its records are written together,
    so a disagreement points at how they were read or in which order they were replayed)."""
    skus = sorted(s for s in {*replayed, *live} if replayed.get(s, 0) != live.get(s, 0))
    parts = []
    for sku in skus:
        events = [
            a.event_id + (" (answered in another review)" if a.event_id in settled else "")
            for a in sorted(attributions, key=lambda a: (a.t_end, a.event_id))
            if a.decision.session_id == session_id and a.decision.sku == sku
        ]
        parts.append(f"{sku}: {', '.join(events) if events else 'no event read decides it'}")
    return "events deciding them here: " + "; ".join(parts)


# Below this, the person who left on a track is likelier somebody from outside the session
# than one who came in under it (`track.exited`'s `same_person_probability`).
SAME_PERSON_AUDIT_BELOW = 0.5


def exit_doubted(same_person: Mapping[str, float]) -> bool:
    """Whether the edge doubted, for any of the session's tracks, that the person who left
    on it came in under the session."""
    return any(p < SAME_PERSON_AUDIT_BELOW for p in same_person.values())


def identity_doubts(same_person: Mapping[str, float]) -> tuple[str, ...]:
    """The audit reason for a session whose tracks most likely followed somebody from
    outside the session by the exit: its receipt may charge another shopper's picks or
    miss its own. Review cannot settle that (its questions are about shelf events), so the
    receipt is issued as it is and flagged."""
    doubtful = sorted(t for t, p in same_person.items() if p < SAME_PERSON_AUDIT_BELOW)
    if not doubtful:
        return ()
    worst = min(same_person[t] for t in doubtful)
    return (
        f"{len(doubtful)} of the session's tracks most likely followed somebody from outside"
        f" the session by the exit ({', '.join(doubtful)}; same-person probability"
        f" {worst:.2f} at the lowest): the receipt may hold another shopper's picks or miss"
        " the shopper's own",
    )


def _uncharged(attribution: Attribution, session_id: str) -> Hypothesis | None:
    """The fallback for one event: a pick charging this session charges nothing."""
    decision = attribution.decision
    if (
        attribution.action is Action.PICK
        and decision.changes_a_cart
        and decision.session_id == session_id
    ):
        return NOBODY
    return None


def _answered(answer: EventAnswer, task: ReviewTask) -> Hypothesis:
    session = task.session_of(answer.event_id, answer.shopper)
    if session is None or answer.sku is None or answer.qty == 0:
        return NOBODY
    units = {session: answer.qty}
    for other in answer.also:
        named = task.session_of(answer.event_id, other.shopper)
        if named is not None:  # (`check_answers` refuses an answer naming nobody known)
            units[named] = units.get(named, 0) + other.qty
    first = units.pop(session)
    also = tuple(OtherShare(session_id=s, qty=n) for s, n in units.items())
    return Hypothesis(session_id=session, sku=answer.sku, qty=first, probability=1.0, also=also)


def settle(
    *,
    session_id: str,
    live_items: Mapping[str, int],
    attributions: Sequence[Attribution],
    task: ReviewTask | None,
    outcome: ReviewOutcome | None,
    same_person: Mapping[str, float] | None = None,
    settled: Mapping[str, Hypothesis] | None = None,
    applied: Sequence[str] = (),
) -> Settlement:
    """The receipt's items for a session, given its review outcome (None: not reviewed),
    and why it needs an audit; `same_person`: the edge's word, per track, on whether the
    person who left on it came in under the session; `settled`: event id -> the decision
    reviewers gave it in another session's review; `applied`: the live cart's events in the
    order ingest applied them."""
    live = {s: n for s, n in sorted(live_items.items()) if n > 0}
    # Who left first: the reasons are stored joined and cut at a length, and a review's
    # reason may list many events.
    audit = list(identity_doubts(same_person or {}))
    settled = dict(settled or {})
    reviewed = outcome is not None and task is not None
    if not reviewed and not settled:
        return Settlement(items=live, status=ReviewStatus.AUTO, audit=tuple(audit))

    by_event = {a.event_id: a for a in attributions}
    asked = [q.event_id for q in task.questions] if task is not None and reviewed else []
    missing = [e for e in [*asked, *settled] if e not in by_event]
    if missing:
        raise AttributionMissingError(f"reviewed events without attribution: {missing}")
    replayed = replay(attributions, session_id, applied=applied)
    if replayed != live:
        sources = _mismatch_sources(replayed, live, attributions, session_id, settled)
        raise CartMismatchError(
            f"session {session_id}: replaying {len(attributions)} events gives {replayed},"
            f" the live cart holds {live}; {sources}"
        )

    overrides: dict[str, Hypothesis] = dict(settled)
    answers: dict[str, Hypothesis] = {}
    status = ReviewStatus.REVIEWED
    if task is not None and isinstance(outcome, ReviewAnswer):
        unresolved = []
        for q in task.questions:
            answer = outcome.answer(q.event_id)
            if answer is None or not answer.resolved:
                unresolved.append(q.event_id)
                fallback = _uncharged(by_event[q.event_id], session_id)
                if fallback is not None:
                    overrides[q.event_id] = fallback
                continue
            overrides[q.event_id] = answers[q.event_id] = _answered(answer, task)
        if unresolved:
            audit.append(
                f"reviewers did not settle {len(unresolved)} event(s); their picks were not"
                f" charged: {', '.join(unresolved)}"
            )
    elif task is not None and isinstance(outcome, ReviewTimedOut):
        status = ReviewStatus.TIMEOUT_PARTIAL
        left_off = 0
        for q in task.questions:
            fallback = _uncharged(by_event[q.event_id], session_id)
            if fallback is not None:
                overrides[q.event_id] = fallback
                left_off += 1
        audit.append(
            f"review ended without an answer ({outcome.error}); only confident items were"
            f" charged, {left_off} uncertain pick(s) left off"
        )
    items = replay(attributions, session_id, overrides, applied)
    return Settlement(
        items=items,
        status=status,
        audit=tuple(audit),
        corrected_events=tuple(sorted(overrides)),
        answers=answers,
    )
