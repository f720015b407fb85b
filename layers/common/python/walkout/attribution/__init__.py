"""Attribution (DESIGN.md section 4): who moved what at a shelf, and how sure we are.

Pure: data in, data out, no AWS. `attribute` turns one `shelf.changed` and the live state
around it (lane memory, candidate carts, ambiguity intervals) into an `Attribution` record;
`cart_after` / `picked_from_after` / `lane_after` apply it; `receipt_confidence` and
`events_to_review` turn the per-event factors into a session's confidence. The model's
formulas are in the module docstrings of `who`, `what` and `engine`; its numbers in `params`.
"""

from walkout.attribution.confidence import events_to_review, receipt_confidence
from walkout.attribution.effects import cart_after, lane_after, picked_from_after
from walkout.attribution.engine import AttributionError, ShelfContext, attribute, posterior
from walkout.attribution.floor import Floor
from walkout.attribution.identity import Ambiguity, identities
from walkout.attribution.params import DEFAULT_PARAMS, AttributionParams
from walkout.attribution.record import (
    Action,
    Attribution,
    Hypothesis,
    LaneChange,
    SessionShare,
)

__all__ = [
    "DEFAULT_PARAMS",
    "Action",
    "Ambiguity",
    "Attribution",
    "AttributionError",
    "AttributionParams",
    "Floor",
    "Hypothesis",
    "LaneChange",
    "SessionShare",
    "ShelfContext",
    "attribute",
    "cart_after",
    "events_to_review",
    "identities",
    "lane_after",
    "picked_from_after",
    "posterior",
    "receipt_confidence",
]
