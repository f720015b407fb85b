"""The joint attribution of one `shelf.changed`: who moved what, with probabilities.

Hypotheses are (session, sku, qty) triples plus "not an item". Their posterior is

    pick:    P(S, sku, q) ~ P_who(S) * prior(sku, q | lane) * L(|delta_g| | sku, q)
    return:  P(S, sku, q) ~ P_who(S) * [cart_S[sku] >= q] * ratio^(q-1) * place(sku, lane)
                            * here(S, sku, q, lane) * L(delta_g | sku, q)
             P(None, sku, q) ~ orphan_return_prior * ratio^(q-1) * place(sku, lane) * L(...)
    both:    P(not an item) ~ not_an_item_prior / outlier_range_g

(P_who in `who.py`, the weight likelihood L and the priors in `what.py`), tempered by
`temperature` and normalised. A return can only come out of a cart that holds the item, so a
unit put back on the wrong lane still leaves the cart it was in, and the lane then remembers
the foreign unit for later picks. `here` is `picked_here_ratio` when S's cart took at least q
units of the sku from this lane, else 1 (also for an actor the edge did not list, whose
cart is unknown): a put-back is mostly the item just taken there.
That is evidence about who as well as what: of two candidates, the one who took the item
from this lane is the likelier to put it back. The decision is the most probable hypothesis
that names who can be charged (hypotheses about an actor the edge did not list keep their
probability but cannot be decided: see `who.py`); its probability is the chance that the
cart change it makes is right. Each session's `factor` is the chance its receipt is right
about this event (the decision's probability for the chosen session, one minus its share
for the others). The share of an actor the edge did not
list is spread over the sessions with unlisted people in the store (`unlisted_shares`), so
a pick charged to nobody lowers the confidence of everyone who may have made it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from walkout.attribution.floor import Floor
from walkout.attribution.identity import Ambiguity, identities, shaping
from walkout.attribution.params import DEFAULT_PARAMS, MODEL_NAME, AttributionParams
from walkout.attribution.record import Action, Attribution, Hypothesis, LaneChange, SessionShare
from walkout.attribution.what import (
    log_not_an_item,
    log_qty_prior,
    log_weight_likelihood,
    pick_hypotheses,
    return_placement,
    weight_sigma,
)
from walkout.attribution.who import (
    UNLISTED,
    CandidateShare,
    actor_distribution,
    checked_identities,
    session_distribution,
)
from walkout.events import Candidate, ShelfChanged

# A reason names the sessions a track may be that are at least this likely (the rest,
# spread thin by chains of swaps in a crowd, are counted).
IDENTITY_SHOWN_MIN = 0.01


class AttributionError(ValueError):
    """A shelf change that cannot be attributed in this store (e.g. an unknown lane)."""


@dataclass(frozen=True)
class ShelfContext:
    """The live state attribution reads besides the event itself."""

    foreign: Mapping[str, int] = field(default_factory=dict)  # foreign units on the lane
    carts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # session -> counts
    # session -> sku -> lane -> units of its cart taken from that lane (`picked_from_after`):
    # a return of an item taken from the very lane it goes back to is the likelier one.
    picked_from: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    ambiguities: Sequence[Ambiguity] = ()
    # Sessions a candidate may be charged to; None trusts every candidate's session id.
    open_sessions: Collection[str] | None = None
    # The people each session still had in the store during the change (open sessions
    # only): who an actor the edge did not list may have been. None: not known, so the
    # unlisted part of the event lowers nobody's confidence (see `unlisted_shares`).
    present: Mapping[str, int] | None = None
    # Candidate tracks whose session came from a `session.joined` (their binding is less
    # sure: `joined_binding_error_rate`).
    joined: Collection[str] = ()


@dataclass(frozen=True)
class _Weighted:
    session_id: str | None
    sku: str | None
    qty: int
    log_weight: float
    source: str


def _only_open(
    identity: Mapping[str | None, float], open_sessions: Collection[str]
) -> dict[str | None, float]:
    """An identity with sessions that cannot be charged (closed, unknown) folded into None."""
    out: dict[str | None, float] = {}
    for session, p in identity.items():
        target = session if session is None or session in open_sessions else None
        out[target] = out.get(target, 0.0) + p
    return out


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _sort_key(h: _Weighted) -> tuple[float, str, str, int]:
    return (-h.log_weight, h.session_id or "", h.sku or "", h.qty)


@dataclass(frozen=True)
class _Solved:
    action: Action
    home: str | None
    hypotheses: list[Hypothesis]  # all of them, most probable first
    source: str  # where the decision's item came from
    reasons: list[str]
    linked: list[str] = field(default_factory=list)


def posterior(
    event: ShelfChanged,
    floor: Floor,
    context: ShelfContext,
    params: AttributionParams = DEFAULT_PARAMS,
) -> list[Hypothesis]:
    """Every hypothesis with its posterior probability, most probable first (they sum to 1)."""
    return _solve(event, floor, context, params).hypotheses


def _solve(
    event: ShelfChanged, floor: Floor, context: ShelfContext, params: AttributionParams
) -> _Solved:
    data = event.data
    if not floor.has_lane(data.lane_id):
        raise AttributionError(
            f"data.lane_id: lane {data.lane_id} is not in store {floor.store_id}"
        )
    if floor.shelf_of_lane[data.lane_id] != data.shelf_id:
        raise AttributionError(
            f"data.shelf_id: lane {data.lane_id} is on shelf"
            f" {floor.shelf_of_lane[data.lane_id]}, not {data.shelf_id}"
        )
    action = Action.PICK if data.delta_g < 0 else Action.RETURN
    grams = abs(data.delta_g)
    home = floor.home_sku.get(data.lane_id)
    reasons: list[str] = []

    # --- who
    base: dict[str, str | None] = {}
    for c in data.candidates:
        session = c.session_id
        open_sessions = context.open_sessions
        if session is not None and open_sessions is not None and session not in open_sessions:
            reasons.append(f"who: track {c.track_id}'s session is not open here; not charged")
            session = None
        base[c.track_id] = session
    relevant = shaping(context.ambiguities, base, data.t_end)
    ids = identities(base, relevant, before=data.t_end)
    if context.open_sessions is not None:
        ids = {
            track: _only_open(identity, context.open_sessions) for track, identity in ids.items()
        }
    shares, absent = actor_distribution(data.candidates, params)
    checked = checked_identities(ids, shares, base, params.same_person_alarm)
    p_who = session_distribution(shares, absent, checked, params, context.joined)
    linked = _linked(
        base,
        shares,
        relevant,
        open_sessions=context.open_sessions,
        before=data.t_end,
        params=params,
    )
    reasons.extend(_who_reasons(data.candidates, shares, absent, ids, relevant, checked=checked))

    # --- what, joined with who
    weighted: list[_Weighted] = []
    if action is Action.PICK:
        items = pick_hypotheses(
            grams=grams,
            noise_g=data.noise_g,
            home_sku=home,
            foreign=context.foreign,
            neighbour_skus=floor.neighbour_skus.get(data.lane_id, ()),
            products=floor.products,
            params=params,
        )
        for session, pw in p_who.items():
            if pw <= 0:
                continue
            for item in items:
                weighted.append(
                    _Weighted(
                        session,
                        item.sku,
                        item.qty,
                        math.log(pw) + item.log_prior + item.log_likelihood,
                        item.source,
                    )
                )
    else:
        weighted.extend(
            _return_hypotheses(
                grams=grams,
                noise_g=data.noise_g,
                lane_id=data.lane_id,
                home=home,
                p_who=p_who,
                context=context,
                floor=floor,
                params=params,
            )
        )
    weighted.append(_Weighted(None, None, 0, log_not_an_item(params), "not-an-item"))

    # --- posterior
    tempered = [h.log_weight / params.temperature for h in weighted]
    norm = _logsumexp(tempered)
    probs = [math.exp(t - norm) for t in tempered]
    order = sorted(range(len(weighted)), key=lambda i: _sort_key(weighted[i]))
    hyps = [
        Hypothesis(
            session_id=None if weighted[i].session_id == UNLISTED else weighted[i].session_id,
            sku=weighted[i].sku,
            qty=weighted[i].qty,
            probability=min(1.0, probs[i]),
            unlisted=weighted[i].session_id == UNLISTED,
        )
        for i in order
    ]
    first = next(k for k, h in enumerate(hyps) if not h.unlisted)
    return _Solved(action, home, hyps, weighted[order[first]].source, reasons, linked)


def _linked(
    base: Mapping[str, str | None],
    shares: Sequence[CandidateShare],
    relevant: Sequence[Ambiguity],
    *,
    open_sessions: Collection[str] | None,
    before: datetime,
    params: AttributionParams,
) -> list[str]:
    """The sessions the candidates' tracks may really be, through the encounters that shape
    their identities (`relevant`: those reported with a swap probability above 0), most
    strongly linked first: the identities again with each of those swap probabilities at
    least `linked_swap_floor`, weighted by who reached. A ranking for review questions only
    (who to show when the model's own shares name too few): it moves no probability."""
    floored = [
        replace(a, swap_probability=max(a.swap_probability, params.linked_swap_floor))
        for a in relevant
    ]
    ids = identities(base, floored, before=before)
    mass: dict[str, float] = {}
    for share in shares:
        identity = ids[share.track_id]
        if open_sessions is not None:
            identity = _only_open(identity, open_sessions)
        for session, p in identity.items():
            if session is not None:
                mass[session] = mass.get(session, 0.0) + share.probability * p
    return sorted(mass, key=lambda s: (-mass[s], s))[: params.linked_kept]


def attribute(
    event: ShelfChanged,
    floor: Floor,
    context: ShelfContext,
    params: AttributionParams = DEFAULT_PARAMS,
    present: Callable[[], Mapping[str, int]] | None = None,
) -> Attribution:
    """Attribute one shelf change. Pure: the same inputs give the same record.

    `present` (with `context.present` None) is asked only when part of the change was done
    by somebody no session is charged for (`p_nobody` >= `runner_up_min`): the people of
    each session in the store then, whose receipts share that doubt. The record is the one
    `context.present` set to its answer gives; the hypotheses do not depend on it, so they
    are worked out once.
    """
    solved = _solve(event, floor, context, params)
    record = _record(event, floor, context, solved, params)
    if present is not None and context.present is None and record.p_nobody >= params.runner_up_min:
        record = _record(event, floor, replace(context, present=present()), solved, params)
    return record


def _record(
    event: ShelfChanged,
    floor: Floor,
    context: ShelfContext,
    solved: _Solved,
    params: AttributionParams,
) -> Attribution:
    data = event.data
    action, home, hyps = solved.action, solved.home, solved.hypotheses
    reasons = list(solved.reasons)
    grams = abs(data.delta_g)
    decision = next(h for h in hyps if not h.unlisted)
    chosen_source = solved.source
    p_unlisted = sum(h.probability for h in hyps if h.unlisted)

    p_decided_session = sum(
        h.probability for h in hyps if h.session_id == decision.session_id and not h.unlisted
    )
    p_decided_item = sum(
        h.probability for h in hyps if (h.sku, h.qty) == (decision.sku, decision.qty)
    )
    moved: dict[str, float] = {}
    for h in hyps:
        if h.changes_a_cart and h.session_id is not None:
            moved[h.session_id] = moved.get(h.session_id, 0.0) + h.probability
    p_unlisted_item = sum(h.probability for h in hyps if h.unlisted and h.sku is not None)
    p_nobody = sum(h.probability for h in hyps if h.session_id is None and h.sku is not None)
    unlisted = (
        unlisted_shares(
            p_unlisted_item,
            p_nobody - p_unlisted_item,
            context.present,
            _listed_people(data.candidates),
        )
        if context.present is not None
        else {}
    )
    sessions = []
    for session_id in sorted(set(moved) | set(unlisted)):
        named, unnamed = moved.get(session_id, 0.0), unlisted.get(session_id, 0.0)
        p = named + unnamed
        chosen = decision.changes_a_cart and session_id == decision.session_id
        if not chosen and p < params.runner_up_min:
            continue
        factor = decision.probability if chosen else max(0.0, 1.0 - p)
        sessions.append(
            SessionShare(
                session_id=session_id,
                probability=min(1.0, p),
                factor=min(1.0, factor),
                chosen=chosen,
                p_unlisted=min(1.0, unnamed),
            )
        )
    if p_nobody >= params.runner_up_min and context.present is not None:
        spread = sum(1 for s in sessions if s.p_unlisted > 0)
        reasons.append(
            f"who: P(an item moved by somebody no session is charged for) {p_nobody:.3f}"
            f" (unlisted {p_unlisted_item:.3f}); its doubt is shared by {spread} session(s)"
            " with people in the store"
        )

    lane_change = None
    if decision.sku is not None and decision.sku != home:
        if action is Action.RETURN:
            lane_change = LaneChange(lane_id=data.lane_id, sku=decision.sku, units=decision.qty)
        elif context.foreign.get(decision.sku, 0) > 0:
            units = min(decision.qty, context.foreign[decision.sku])
            lane_change = LaneChange(lane_id=data.lane_id, sku=decision.sku, units=-units)
    reasons[:0] = _what_reasons(
        action=action,
        grams=grams,
        noise_g=data.noise_g,
        home=home,
        foreign=context.foreign,
        decision=decision,
        source=chosen_source,
        floor=floor,
        params=params,
    )
    return Attribution(
        event_id=event.event_id,
        store_id=event.store_id,
        lane_id=data.lane_id,
        action=action,
        delta_g=data.delta_g,
        t_start=data.t_start,
        t_end=data.t_end,
        decision=decision,
        p_who=min(1.0, p_decided_session),
        p_what=min(1.0, p_decided_item),
        alternatives=[h for h in hyps if not h.unlisted and h is not decision][
            : params.alternatives_kept
        ],
        p_unlisted=min(1.0, p_unlisted),
        p_nobody=min(1.0, p_nobody),
        sessions=sessions,
        linked=solved.linked,
        lane_change=lane_change,
        reasons=reasons,
        model=f"{MODEL_NAME}@{params.fingerprint()}",
    )


def _listed_people(candidates: Sequence[Candidate]) -> dict[str, int]:
    """How many people of each session the edge listed as candidates."""
    out: dict[str, int] = {}
    for c in candidates:
        if c.session_id is not None:
            out[c.session_id] = out.get(c.session_id, 0) + 1
    return out


def unlisted_shares(
    p_unlisted_item: float,
    p_unbound_item: float,
    present: Mapping[str, int],
    listed: Mapping[str, int],
) -> dict[str, float]:
    """Each session's share of the part of an event that charges nobody.

    An actor the edge did not list (`p_unlisted_item`) is one of the people in the store
    the candidates do not name, each equally likely (the cloud has no position for people
    away from the shelf); a listed person bound to no session, or a hypothesis charging no
    cart (`p_unbound_item`: a lost gate binding, an orphan return), may be anybody in the
    store:

        P(S) = p_unlisted_item * u_S / sum_k u_k + p_unbound_item * n_S / sum_k n_k
        n_S  = the session's people present,  u_S = n_S - its people listed (>= 0)

    When every person present was listed (u = 0 everywhere) the tracker must have mixed
    people up, and the unlisted part is shared like the unbound one. Only sessions with
    somebody present take part: the evidence excludes the others (not yet entered, or
    everyone had left before the change began).
    """
    people = {s: n for s, n in present.items() if n > 0}
    everyone = sum(people.values())
    if everyone <= 0:
        return {}
    unnamed = {s: max(0, n - listed.get(s, 0)) for s, n in people.items()}
    if not any(unnamed.values()):
        unnamed = people
    total_unnamed = sum(unnamed.values())
    out = {}
    for s, n in people.items():
        p = p_unlisted_item * unnamed[s] / total_unnamed + p_unbound_item * n / everyone
        if p > 0:
            out[s] = p
    return out


def _return_hypotheses(
    *,
    grams: float,
    noise_g: float,
    lane_id: str,
    home: str | None,
    p_who: Mapping[str | None, float],
    context: ShelfContext,
    floor: Floor,
    params: AttributionParams,
) -> list[_Weighted]:
    out: list[_Weighted] = []
    orphan_skus = {home} if home is not None else set()
    picked_here = math.log(params.picked_here_ratio)
    for session, pw in sorted(p_who.items(), key=lambda kv: kv[0] or ""):
        if session is None or session == UNLISTED or pw <= 0:
            continue
        cart = context.carts.get(session, {})
        origins = context.picked_from.get(session, {})
        for sku, held in sorted(cart.items()):
            if held <= 0 or sku not in floor.products:
                continue
            orphan_skus.add(sku)
            taken_here = origins.get(sku, {}).get(lane_id, 0)
            for q in range(1, min(held, params.max_qty) + 1):
                here = taken_here >= q
                log_w = (
                    math.log(pw)
                    + log_qty_prior(q, params)
                    + return_placement(sku, home, params)
                    + (picked_here if here else 0.0)
                    + log_weight_likelihood(grams, floor.products[sku], q, noise_g, params)
                )
                out.append(_Weighted(session, sku, q, log_w, "cart-here" if here else "cart"))
    unlisted = p_who.get(UNLISTED, 0.0)
    for sku in sorted(orphan_skus):
        for q in range(1, params.max_qty + 1):
            common = (
                log_qty_prior(q, params)
                + return_placement(sku, home, params)
                + log_weight_likelihood(grams, floor.products[sku], q, noise_g, params)
            )
            if unlisted > 0:
                # An actor the edge did not list, putting back something from their cart.
                # Their cart is unknown, so `picked_here_ratio` does not apply: giving it to
                # the lane's own sku made the training replays' summed log loss worse (486.9
                # -> 491.9 at 50), as these hypotheses already assume a cart holding it.
                out.append(_Weighted(UNLISTED, sku, q, math.log(unlisted) + common, "cart"))
            out.append(
                _Weighted(None, sku, q, math.log(params.orphan_return_prior) + common, "orphan")
            )
    return out


def _who_reasons(
    candidates: Sequence[Candidate],
    shares: Sequence[CandidateShare],
    absent: float,
    ids: Mapping[str, Mapping[str | None, float]],
    ambiguities: Sequence[Ambiguity],
    *,
    checked: Mapping[str, Mapping[str | None, float]],
) -> list[str]:
    if not shares:
        return ["who: no candidate was reaching here; nobody can be charged"]
    out = []
    for c, share in zip(candidates, shares, strict=True):
        track = c.track_id
        ranked = sorted(ids[track].items(), key=lambda kv: -kv[1])
        shown = [(s, p) for s, p in ranked if p >= IDENTITY_SHOWN_MIN] or ranked[:1]
        identity = ", ".join(f"{s or 'no session'} {p:.2f}" for s, p in shown)
        if len(ranked) > len(shown):
            rest = sum(p for _, p in ranked[len(shown) :])
            identity += f", {len(ranked) - len(shown)} more sessions {rest:.2f} together"
        out.append(
            f"who: track {track} reach {c.reach_score:.2f}"
            f" at {c.distance_m:.2f} m -> P(actor) {share.probability:.3f};"
            f" identity: {identity}"
        )
        if checked[track] != ids[track]:
            out.append(
                f"who: the edge gives {share.same_person:.2f} that track {track} was on"
                f" one of {c.session_id}'s people then (by their looks); the rest of its"
                " share is somebody the candidates do not name"
            )
    if absent >= 0.001:
        out.append(
            f"who: P(actor is none of the candidates) {absent:.3f}: nobody to charge for"
            " that part; review decides"
        )
    listed = {c.track_id for c in candidates}
    chained = 0
    for amb in ambiguities:
        if amb.track_a not in listed and amb.track_b not in listed:
            chained += 1  # shaped a partner's identity earlier; counted, not listed
            continue
        out.append(
            f"who: tracks {amb.track_a} and {amb.track_b} were too close to tell apart"
            f" (swap probability {amb.swap_probability:.2f})"
        )
    if chained:
        out.append(
            f"who: {chained} earlier ambiguities between other tracks reach these identities"
            " through chains of swaps"
        )
    return out


def _what_reasons(
    *,
    action: Action,
    grams: float,
    noise_g: float,
    home: str | None,
    foreign: Mapping[str, int],
    decision: Hypothesis,
    source: str,
    floor: Floor,
    params: AttributionParams,
) -> list[str]:
    verb = "taken from" if action is Action.PICK else "put on"
    out = [f"what: {grams:.1f} g {verb} a lane holding {home or 'no planogram sku'}"]
    remembered = {s: n for s, n in foreign.items() if n > 0}
    if remembered:
        listed = ", ".join(f"{n} x {s}" for s, n in sorted(remembered.items()))
        out.append(f"what: the lane also holds foreign units: {listed}")
    if decision.sku is None:
        out.append("what: no product explains the change; taken as not an item")
        return out
    product = floor.products[decision.sku]
    sigma = weight_sigma(product, decision.qty, noise_g, params)
    expected = decision.qty * product.unit_weight_g
    origin = {
        "home": "the lane's planogram sku",
        "foreign": "a foreign unit remembered on the lane",
        "neighbour": "stock of a neighbouring lane",
        "cart": "an item the returner's cart holds",
        "cart-here": "an item the returner's cart took from this lane",
        "orphan": "an item no candidate's cart holds",
    }.get(source, source)
    out.append(
        f"what: {decision.qty} x {decision.sku} ({origin}) expects {expected:.1f} g,"
        f" sigma {sigma:.1f} g, off by {(grams - expected) / sigma:+.1f} sigma"
    )
    return out
