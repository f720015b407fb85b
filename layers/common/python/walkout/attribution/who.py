"""Who reached: a distribution over the candidates, then over sessions.

The likelihood is that of a simple generative model: the actor's reach score follows one
Beta distribution and a bystander's another, and the actor's distance to the lane one
Gaussian and a bystander's another. With exactly one actor among the candidates (or none:
an unseen person), the posterior is a multinomial logit whose score is the log likelihood
ratio actor / bystander of each candidate:

    score_c      = reach_weight * log(r_c) - reach_doubt_weight * log(1 - r_c)
                   - distance_weight * d_c - distance_sq_weight * d_c^2
    score_absent = absent_score + log(n)            (n: number of candidates)
    P(actor = c) = exp(score_c) / (exp(score_absent) + sum_k exp(score_k))

The log n: each of the n listed people is a priori 1/n likely to be the actor, while the
prior of "the actor is not listed" is not shared out. r is clipped into [reach_clip,
1 - reach_clip]. For Beta(a1, b1) actors and Beta(a0, b0) bystanders, reach_weight = a1 - a0
and reach_doubt_weight = b0 - b1; for Normal(m1, s1) and Normal(m0, s0) distances the two
distance weights follow from the difference of the two Gaussians' exponents. The five
numbers are fitted by maximum likelihood on simulated stores. A candidate's session share
then follows its track's identity (see `identity.py`):

    P(session = S) = sum_c P(actor = c) * P(identity(c) = S)

A listed track's binding may itself be wrong beyond the reported swaps
(`binding_error_rate`, or `joined_binding_error_rate` for a track bound by a
`session.joined`; both fitted on edge output): that share of its session mass goes to a
session nobody can name, like an absent actor's. The edge's own check of the track at the
change (the candidate's `same_person_probability`: its looks then against its session's
birth looks, and the doubts it reported) caps the share of the track's own session: what
the swaps reported leave it above that goes to a session nobody can name too (the two are
not multiplied: the check already counts the doubts behind those swaps). It is used only
below `same_person_alarm`, where it says the track more likely followed somebody else. An
absent actor is still somebody: with `unlisted_unbound_share` a person bound to no session
(S = None: staff, a tailgater), otherwise a session nobody can name (`UNLISTED`).
Hypotheses about an unlisted actor take their share of probability but can never be the
decision: no cart can be charged to them, so such an event is left to review.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from walkout.attribution.identity import Identity
from walkout.attribution.params import AttributionParams
from walkout.events import Candidate

# The key of "a session the candidates do not name" (not a valid identifier: no clash).
UNLISTED = "?unlisted"


@dataclass(frozen=True)
class CandidateShare:
    track_id: str
    probability: float  # P(actor = this candidate)
    # The edge's check that the track was on one of its session's people (None: none made).
    same_person: float | None = None


def clipped(p: float, clip: float) -> float:
    return min(max(p, clip), 1 - clip)


def candidate_score(reach_score: float, distance_m: float, params: AttributionParams) -> float:
    """The log likelihood ratio "actor" / "bystander" of one candidate (up to a constant)."""
    r = clipped(reach_score, params.reach_clip)
    return (
        params.reach_weight * math.log(r)
        - params.reach_doubt_weight * math.log(1 - r)
        - params.distance_weight_per_m * distance_m
        - params.distance_sq_weight_per_m2 * distance_m**2
    )


def candidate_scores(candidates: Sequence[Candidate], params: AttributionParams) -> list[float]:
    return [candidate_score(c.reach_score, c.distance_m, params) for c in candidates]


def actor_distribution(
    candidates: Sequence[Candidate], params: AttributionParams
) -> tuple[list[CandidateShare], float]:
    """P(actor = each candidate) and P(actor is none of them)."""
    scores = candidate_scores(candidates, params)
    # Each listed person is a priori one of n equally likely actors; "nobody listed" is not
    # shared out, so its weight grows with the list: log n on its score.
    absent_score = params.absent_score + math.log(max(1, len(candidates)))
    top = max([absent_score, *scores])
    weights = [math.exp(s - top) for s in scores]
    absent = math.exp(absent_score - top)
    total = absent + sum(weights)
    shares = [
        CandidateShare(c.track_id, w / total, c.same_person_probability)
        for c, w in zip(candidates, weights, strict=True)
    ]
    return shares, absent / total


def checked_identities(
    identities: Mapping[str, Identity],
    shares: Sequence[CandidateShare],
    bound: Mapping[str, str | None],
    alarm: float,
) -> dict[str, Identity]:
    """The identities with the edge's checks applied: where a candidate's check is below
    `alarm` (its track more likely followed somebody else), its own session's share
    (`bound`) is capped at the check, the rest going to a session nobody can name. A share
    already at or below the check is left as it is; so is every unchecked identity."""
    out = dict(identities)
    for share in shares:
        check, own = share.same_person, bound.get(share.track_id)
        if check is None or check >= alarm or own is None:
            continue
        identity = identities[share.track_id]
        excess = identity.get(own, 0.0) - check
        if excess > 0:
            out[share.track_id] = {
                **identity,
                own: check,
                UNLISTED: identity.get(UNLISTED, 0.0) + excess,
            }
    return out


def session_distribution(
    shares: Sequence[CandidateShare],
    absent: float,
    identities: Mapping[str, Identity],
    params: AttributionParams,
    joined: Collection[str] = (),
) -> dict[str | None, float]:
    """P(session = S) from the actor distribution and each track's identity (keys: session
    ids, None for no session, `UNLISTED` for an unnamed one)."""
    out: dict[str | None, float] = {}
    if absent > 0:
        out[None] = absent * params.unlisted_unbound_share
        out[UNLISTED] = absent * (1 - params.unlisted_unbound_share)
    for share in shares:
        wrong = (
            params.joined_binding_error_rate
            if share.track_id in joined
            else params.binding_error_rate
        )
        for session, p in identities[share.track_id].items():
            mass = share.probability * p
            if session is not None and session != UNLISTED and wrong > 0:
                out[UNLISTED] = out.get(UNLISTED, 0.0) + mass * wrong
                mass *= 1 - wrong
            out[session] = out.get(session, 0.0) + mass
    return out
