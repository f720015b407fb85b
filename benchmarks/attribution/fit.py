"""Fitting the attribution model's free parameters on training cases (never on test cases).

- who (reach_weight, reach_doubt_weight, distance_weight_per_m, distance_sq_weight_per_m2,
  absent_score): maximum likelihood of the true actor among each shelf change's candidates
  (or "absent" when the tracker missed them) under the multinomial logit of
  `walkout.attribution.who`;
- weight error (tolerance_sigmas, noise_scale, outlier_rate): maximum likelihood of the
  true item's weight residuals under the mixture of `walkout.attribution.what`;
- priors (multi_pick_ratio, misplaced_return_prior): frequencies in the training truth;
  picked_here_ratio: maximum likelihood of which item of the cart was put back, given
  misplaced_return_prior (`fit_picked_here`).

No temperature is fitted: with the parts above fitted, a grid over the temperature (0.8 to
1.4) moved the training ECE by less than its noise, so the posterior is used as it is.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from benchmarks.attribution.cases import Case
from benchmarks.attribution.derive import Derived
from walkout.attribution import AttributionParams
from walkout.attribution.effects import origins_after
from walkout.attribution.who import clipped
from walkout.events import ShelfChanged


def _true_change(derived: Derived, event_id: str) -> bool:
    """The event stands for a true pick or return (not a false detection)."""
    truth = derived.truth.get(event_id)
    return truth is not None and truth.kind in ("pick", "return")


def fit_who(derived: Sequence[Derived], clip: float) -> dict[str, float]:
    rows: list[tuple[np.ndarray, int]] = []
    for d in derived:
        for event in d.events:
            if not isinstance(event, ShelfChanged) or not _true_change(d, event.event_id):
                continue
            cands = event.data.candidates
            features = np.array(
                [
                    [
                        math.log(clipped(c.reach_score, clip)),
                        -math.log(1 - clipped(c.reach_score, clip)),
                        -c.distance_m,
                        -(c.distance_m**2),
                    ]
                    for c in cands
                ]
            ).reshape(len(cands), 4)
            actor = d.truth[event.event_id].actor_track
            index = next((i for i, c in enumerate(cands) if c.track_id == actor), -1)
            rows.append((features, index))

    def nll(x: np.ndarray) -> float:
        weights, s0 = x[:4], x[4]
        total = 0.0
        for features, index in rows:
            scores = np.concatenate([[s0 + math.log(max(1, len(features)))], features @ weights])
            top = scores.max()
            log_norm = top + math.log(np.exp(scores - top).sum())
            total -= (scores[0] if index < 0 else scores[index + 1]) - log_norm
        return total

    result = minimize(nll, x0=np.array([2.0, 2.0, 3.0, 0.0, -6.0]), method="L-BFGS-B")
    a, b, c, c2, s0 = result.x
    return {
        "reach_weight": float(a),
        "reach_doubt_weight": float(b),
        "distance_weight_per_m": float(c),
        "distance_sq_weight_per_m2": float(c2),
        "absent_score": float(s0),
    }


def fit_weight(
    cases: Sequence[Case], derived: Sequence[Derived], params: AttributionParams
) -> dict[str, float]:
    rows = []
    for case, d in zip(cases, derived, strict=True):
        products = case.definition.catalog.by_sku()
        for event in d.events:
            if not isinstance(event, ShelfChanged) or not _true_change(d, event.event_id):
                continue
            t = d.truth[event.event_id]
            p = products[t.sku]
            residual = abs(event.data.delta_g) - t.qty * p.unit_weight_g
            rows.append((residual, t.qty, p.weight_tolerance_g, event.data.noise_g))
    r = np.array([x[0] for x in rows])
    q = np.array([x[1] for x in rows])
    tol = np.array([x[2] for x in rows])
    noise = np.array([x[3] for x in rows])
    floor = params.weight_floor_g
    width = params.outlier_range_g

    def nll(x: np.ndarray) -> float:
        k, c, logit_eps = x
        eps = 1 / (1 + math.exp(-logit_eps))
        var = q * (tol / k) ** 2 + (c * noise) ** 2 + floor**2
        normal = np.exp(-0.5 * r**2 / var) / np.sqrt(2 * math.pi * var)
        return float(-np.log((1 - eps) * normal + eps / width).sum())

    result = minimize(nll, x0=np.array([3.0, 1.0, -6.0]), bounds=[(0.5, 20), (0.1, 10), (-12, -1)])
    k, c, logit_eps = result.x
    return {
        "tolerance_sigmas": float(k),
        "noise_scale": float(c),
        "outlier_rate": float(1 / (1 + math.exp(-logit_eps))),
    }


PICKED_HERE_MAX = 1000.0


def put_back_choices(cases: Sequence[Case]) -> list[tuple[int, list[tuple[bool, bool]]]]:
    """Each true return as a choice among the items its session's cart held then: (index of
    the item put back, [(the item's home is this lane, its cart took at least the units put
    back from this lane)] per item). A return of an item the cart never held is left out."""
    choices: list[tuple[int, list[tuple[bool, bool]]]] = []
    for case in cases:
        home = {e.lane_id: e.sku for e in case.definition.planogram.entries}
        moves = sorted(
            (e for e in case.truth["events"] if e.get("kind") in ("pick", "return")),
            key=lambda e: e["ts"],
        )
        carts: dict[str, dict[str, dict[str, int]]] = {}  # session -> sku -> lane -> units
        for e in moves:
            cart = carts.setdefault(e["session_id"], {})
            lanes = cart.get(e["sku"], {})
            if e["kind"] == "pick":
                cart[e["sku"]] = origins_after(lanes, e["lane_id"], e["qty"])
                continue
            held = sorted(sku for sku, origins in cart.items() if origins)
            if e["sku"] in held:
                lane = e["lane_id"]
                options = [
                    (sku == home.get(lane), cart[sku].get(lane, 0) >= e["qty"]) for sku in held
                ]
                choices.append((held.index(e["sku"]), options))
            cart[e["sku"]] = origins_after(lanes, e["lane_id"], -e["qty"])
    return choices


def fit_picked_here(cases: Sequence[Case], misplaced_return_prior: float) -> float:
    """`picked_here_ratio` by maximum likelihood of which item of the cart was put back, in
    the model's own terms: each held item weighs `place` (1 on its home lane, else
    `misplaced_return_prior`) times the ratio if its cart took it from this lane. Weights
    and who are left out (the item's identity only). Bounded by `PICKED_HERE_MAX` when
    nothing in the data argues against the rule."""
    choices = put_back_choices(cases)
    if not choices:
        return 1.0
    log_m = math.log(misplaced_return_prior)

    def nll(log_r: float) -> float:
        total = 0.0
        for chosen, options in choices:
            logs = [
                (0.0 if at_home else log_m) + (log_r if here else 0.0) for at_home, here in options
            ]
            top = max(logs)
            total -= logs[chosen] - top - math.log(sum(math.exp(v - top) for v in logs))
        return total

    result = minimize_scalar(nll, bounds=(0.0, math.log(PICKED_HERE_MAX)), method="bounded")
    return float(math.exp(result.x))


def fit_priors(derived: Sequence[Derived]) -> dict[str, float]:
    picks = [t for d in derived for t in d.truth.values() if t.kind == "pick"]
    returns = [t for d in derived for t in d.truth.values() if t.kind == "return"]
    mean_qty = sum(t.qty for t in picks) / len(picks)
    misplaced = sum(1 for t in returns if t.misplaced)
    return {
        # a geometric count with ratio r has mean 1 / (1 - r)
        "multi_pick_ratio": float(min(0.9, max(0.01, 1 - 1 / mean_qty))),
        "misplaced_return_prior": float(max(0.01, misplaced / max(1, len(returns) - misplaced))),
    }


PARTS = ("who", "weight", "priors", "binding")
BINDING_GRID = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08)
JOINED_GRID = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8)


def fit_binding(
    cases: Sequence[Case], derived: Sequence[Derived], params: AttributionParams
) -> dict[str, float]:
    """binding_error_rate, then joined_binding_error_rate: the grid values with the least
    log loss of the per-event probability (right or not) over the training cases' replays."""
    from benchmarks.attribution.replay import replay  # noqa: PLC0415 - avoids a cycle

    def log_loss(trial: AttributionParams) -> float:
        total = 0.0
        for case, d in zip(cases, derived, strict=True):
            run = replay(case.definition, d.events, trial, truth=d.truth)
            for record in run.attributions:
                p = min(max(record.probability, 1e-6), 1 - 1e-6)
                total -= math.log(p if run.right[record.event_id] else 1 - p)
        return total

    fitted: dict[str, float] = {}
    for name, grid in (
        ("binding_error_rate", BINDING_GRID),
        ("joined_binding_error_rate", JOINED_GRID),
    ):
        losses = {rate: log_loss(params.model_copy(update={**fitted, name: rate})) for rate in grid}
        fitted[name] = min(losses, key=lambda r: (losses[r], r))
    return fitted


def fit(
    cases: Sequence[Case],
    derived: Sequence[Derived],
    base: AttributionParams,
    *,
    binding: bool = False,
    parts: Collection[str] = PARTS,
) -> tuple[AttributionParams, dict[str, Any]]:
    """Fit the free parameters on training cases (only the groups in `parts`, the others
    keep `base`'s values); `binding`: also the binding error rate (edge replay output only:
    the truth-derived noise model makes no binding errors)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"parts: unknown {', '.join(sorted(unknown))} (known: {PARTS})")
    fitted: dict[str, Any] = {}
    if "who" in parts:
        fitted.update(fit_who(derived, base.reach_clip))
    if "weight" in parts:
        fitted.update(fit_weight(cases, derived, base))
    if "priors" in parts:
        fitted.update(fit_priors(derived))
        fitted["picked_here_ratio"] = fit_picked_here(cases, fitted["misplaced_return_prior"])
    params = AttributionParams.model_validate({**base.model_dump(), **fitted})
    if binding and "binding" in parts:
        rates = fit_binding(cases, derived, params)
        fitted.update(rates)
        params = params.model_copy(update=rates)
    return params, fitted
