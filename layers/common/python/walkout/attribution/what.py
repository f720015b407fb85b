"""What moved: the weight error model and the priors over (sku, qty).

For `qty` units of a product with unit weight mu and tolerance tol, on a lane whose change
was measured with noise `noise_g`, the measured change |delta_g| is modelled as

    |delta_g| ~ (1 - outlier_rate) * Normal(qty * mu, sigma^2)
                + outlier_rate * Uniform(0, outlier_range_g)
    sigma^2   = qty * (tol / tolerance_sigmas)^2 + (noise_scale * noise_g)^2 + weight_floor_g^2

(pack weights vary independently, so their variance adds up per unit; the uniform part is
a measurement spoiled by a knock or drift). "Not an item" (a knock that settled, a hand on
the shelf) has the uniform density only.

Priors (relative weights) for a pick on lane L: the planogram SKU of L with `home_prior`,
each foreign unit remembered at L with `foreign_prior_per_unit` (at most as many units as
remembered), each SKU of a neighbouring lane with `neighbour_prior` (unremembered misplaced
stock); times `multi_pick_ratio ** (qty - 1)` for the quantity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from walkout.attribution.params import AttributionParams
from walkout.catalog import Product

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class ItemHypothesis:
    """`qty` units of `sku` with a prior weight (log) and a weight likelihood (log)."""

    sku: str
    qty: int
    log_prior: float
    log_likelihood: float
    source: str  # "home", "foreign", "neighbour" or "cart"


def weight_sigma(product: Product, qty: int, noise_g: float, params: AttributionParams) -> float:
    unit_sd = product.weight_tolerance_g / params.tolerance_sigmas
    return math.sqrt(
        qty * unit_sd**2 + (params.noise_scale * noise_g) ** 2 + params.weight_floor_g**2
    )


def log_weight_likelihood(
    grams: float, product: Product, qty: int, noise_g: float, params: AttributionParams
) -> float:
    sigma = weight_sigma(product, qty, noise_g, params)
    z = (grams - qty * product.unit_weight_g) / sigma
    normal = -0.5 * z * z - math.log(sigma) - 0.5 * LOG_2PI
    outlier = math.log(params.outlier_rate / params.outlier_range_g)
    a, b = math.log1p(-params.outlier_rate) + normal, outlier
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


def log_not_an_item(params: AttributionParams) -> float:
    return math.log(params.not_an_item_prior) - math.log(params.outlier_range_g)


def log_qty_prior(qty: int, params: AttributionParams) -> float:
    return (qty - 1) * math.log(params.multi_pick_ratio)


def pick_hypotheses(
    *,
    grams: float,
    noise_g: float,
    home_sku: str | None,
    foreign: Mapping[str, int],
    neighbour_skus: tuple[str, ...],
    products: Mapping[str, Product],
    params: AttributionParams,
) -> list[ItemHypothesis]:
    """Every (sku, qty) that could have left a lane, with prior and likelihood."""
    weights: dict[tuple[str, int], tuple[float, str]] = {}

    def add(sku: str, max_qty: int, weight: float, source: str) -> None:
        for q in range(1, max_qty + 1):
            w = math.log(weight) + log_qty_prior(q, params)
            current = weights.get((sku, q))
            if current is None:
                weights[(sku, q)] = (w, source)
            else:
                # The same sku from two sources: the priors add up; the stronger names it.
                total = math.log(math.exp(current[0]) + math.exp(w))
                weights[(sku, q)] = (total, current[1] if current[0] >= w else source)

    if home_sku is not None:
        add(home_sku, params.max_qty, params.home_prior, "home")
    for sku, units in sorted(foreign.items()):
        if units > 0 and sku in products:
            add(sku, min(units, params.max_qty), params.foreign_prior_per_unit * units, "foreign")
    for sku in neighbour_skus:
        add(sku, params.max_qty, params.neighbour_prior, "neighbour")
    return [
        ItemHypothesis(
            sku,
            q,
            prior,
            log_weight_likelihood(grams, products[sku], q, noise_g, params),
            source,
        )
        for (sku, q), (prior, source) in sorted(weights.items())
    ]


def return_placement(sku: str, home_sku: str | None, params: AttributionParams) -> float:
    """Log weight of an item of `sku` being put back on a lane whose planogram SKU is
    `home_sku`: its own lane, or misplaced."""
    return 0.0 if sku == home_sku else math.log(params.misplaced_return_prior)
