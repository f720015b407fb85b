"""The attribution model's parameters, with their meaning and where each value comes from.

Values marked "fitted" come from `python -m benchmarks.attribution_study --fit` (training
seeds busy 101-104, 115-118 and crowded 201-204, 215-218; events derived from simulated
truth with the noise model of `benchmarks/attribution/derive.py`). They are refitted when
the edge agent's real replay output replaces that noise model. The others are set from the
store's physics or the contract and are not tuned.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Final

from pydantic import Field

from walkout._base import Model

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Weight = Annotated[float, Field(allow_inf_nan=False)]

MODEL_NAME: Final = "walkout.attribution/1"


class AttributionParams(Model):
    """Every number the attribution model uses."""

    # --- who (see `who.py`): score_c = reach_weight * log(r) - reach_doubt_weight * log(1 - r)
    #                                   - distance_weight * d - distance_sq_weight * d^2
    reach_weight: Weight = 3.248  # fitted
    reach_doubt_weight: Weight = 0.5011  # fitted
    distance_weight_per_m: Weight = -5.17  # fitted
    distance_sq_weight_per_m2: Weight = 13.33  # fitted
    # Score of "the actor is none of the candidates" (an unseen person): fitted.
    absent_score: Weight = -8.778  # fitted
    # Of actors the edge did not list, the share bound to no session (staff, tailgaters);
    # the rest belong to a session nobody can name. Not fitted (no such people simulated).
    unlisted_unbound_share: Fraction = 0.05
    # The chance that a listed track's session is not the one the edge bound it to, beyond
    # the swaps it reported (a wrong gate binding, an unreported identity switch): that
    # share of a candidate's identity goes to a session nobody can name. 0 for the
    # truth-derived noise model (which makes no such errors); fitted on edge replay output
    # by `--edge --fit` (the log loss of the per-event probability on training recordings).
    binding_error_rate: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.0
    # The same for a track bound by a `session.joined` (a member joining after the scan),
    # which the edge gets wrong far more often than a scan's own tracks.
    joined_binding_error_rate: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.0
    # The edge's check of a candidate track at the change (its looks then against its
    # session's birth looks, and the doubts it reported: `same_person_probability`) caps
    # the track's own session share only when it says the track more likely followed
    # somebody else: above this, it is not used (on the busy recordings every track was
    # on its own person while the check, fitted mostly on the stadium crowd, gave 0.95 on
    # average, so a cap everywhere sent most of their sessions to review).
    same_person_alarm: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.5
    # Reach scores are clipped into [clip, 1 - clip] before the logs.
    reach_clip: Fraction = 0.01

    # --- what: weight error sigma^2 = qty * (tolerance / tolerance_sigmas)^2
    #                                  + (noise_scale * noise_g)^2 + weight_floor_g^2
    # A pack's weight tolerance is read as a bound of `tolerance_sigmas` standard deviations.
    tolerance_sigmas: Positive = 3.034  # fitted
    noise_scale: Positive = 0.932  # fitted
    weight_floor_g: Positive = 0.5  # load-cell resolution and settling residue
    # A measurement spoiled by a knock or drift: uniform over `outlier_range_g`.
    outlier_rate: Fraction = 0.003781  # fitted
    outlier_range_g: Positive = 5_000.0

    # --- priors over what was picked or returned (relative weights)
    # P(qty = q) ~ multi_pick_ratio ** (q - 1), q = 1 .. max_qty
    multi_pick_ratio: Fraction = 0.2013  # fitted (from the mean units per pick)
    max_qty: Annotated[int, Field(ge=1, le=24)] = 4
    home_prior: Positive = 1.0
    foreign_prior_per_unit: Positive = 0.5  # a remembered foreign unit at the front
    neighbour_prior: Positive = 0.003  # unremembered stock of a neighbour lane
    # A knock, drift, a hand resting on the shelf that the edge took for a settled change:
    # set from the edge detector's false-event rate (about 1 %), not fitted.
    not_an_item_prior: Positive = 0.01
    # Returns: an item held in the returner's cart; returned to its home lane or elsewhere.
    misplaced_return_prior: Positive = 0.7569  # fitted (misplaced : home returns)
    # A put-back is mostly the item just taken from that very lane ("changed my mind"): a
    # return of an item the session's cart took from this lane (at least the units put
    # back) weighs this much more than one of an item it took elsewhere. Fitted: maximum
    # likelihood of which item of the cart was put back, over the training truth's 383
    # returns, with `misplaced_return_prior` as it is (`fit.fit_picked_here`). It says
    # which item; between two candidates' sessions it weighs as much, unfitted.
    picked_here_ratio: Positive = 26.96
    orphan_return_prior: Positive = 0.002  # an item nobody's cart holds

    # --- reporting
    # A session whose share of an event is at least this is a "close runner-up": the event
    # counts in its receipt confidence and its review.
    runner_up_min: Fraction = 0.01
    # Review questions: who to show beyond the sessions with a real share (`linked`). Every
    # encounter the model applies (reported above 0) counts as a swap with at least this
    # probability there: in a crowd the edge
    # reports low swap probabilities for swaps that happened (stadium-rush 23: where a
    # question missed a shopper one encounter away from a candidate, that encounter's
    # median was 0.022). Chosen on stadium-rush 123's replay among 0, 0.1 and 0.3 by how
    # often the true shopper was among those shown; it changes no probability.
    linked_swap_floor: Fraction = 0.1
    linked_kept: Annotated[int, Field(ge=0, le=20)] = 8
    alternatives_kept: Annotated[int, Field(ge=1, le=20)] = 5
    # Temperature on the joint posterior (1 = none). Not fitted: a grid over 0.8-1.4 moved
    # the training ECE by less than its noise once the parts above were fitted.
    temperature: Positive = 1.0

    def fingerprint(self) -> str:
        """A short hash naming this parameter set in every attribution record."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


DEFAULT_PARAMS: Final = AttributionParams()
