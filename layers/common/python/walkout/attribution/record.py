"""The attribution record: what one shelf change did to whose cart, how sure, and why.

Stored once per `shelf.changed` (docs/data-model.md) and read by review and audit, so it
carries the alternatives and the reasons, not only the decision.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from walkout._base import Identifier, Model
from walkout.events import UtcTimestamp

Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Action(StrEnum):
    PICK = "pick"
    RETURN = "return"


class OtherShare(Model):
    """Another session that moved units of the same sku in the same change."""

    session_id: Identifier
    qty: Annotated[int, Field(ge=1)]


class Hypothesis(Model):
    """One explanation of the change: `session_id` took (or returned) `qty` x `sku`.

    `session_id` None: nobody who can be charged: a person bound to no session, or, with
    `unlisted`, an actor the edge did not list (their session unknown: never a decision).
    `sku` None: not an item at all (a knock, drift); then `qty` is 0.
    `also`: other sessions that moved units of `sku` in the same change, each its own
    quantity. The model never proposes them; a reviewer's answer can (two shoppers taking
    from one lane at once).
    """

    session_id: Identifier | None
    sku: Identifier | None
    qty: Annotated[int, Field(ge=0)]
    probability: Probability
    unlisted: bool = False
    # Left out when empty: every attribution record stores several hypotheses, and only
    # answers have others.
    also: Annotated[tuple[OtherShare, ...], Field(exclude_if=lambda also: not also)] = ()

    @property
    def changes_a_cart(self) -> bool:
        return self.session_id is not None and self.sku is not None and self.qty > 0

    def units_of(self, session_id: str) -> int:
        """The units this hypothesis moves for `session_id`'s cart (0: none)."""
        if not self.changes_a_cart:
            return 0
        if self.session_id == session_id:
            return self.qty
        return sum(o.qty for o in self.also if o.session_id == session_id)

    @property
    def charged(self) -> list[str]:
        """Every session whose cart this hypothesis changes, the first named first."""
        if not self.changes_a_cart:
            return []
        assert self.session_id is not None
        return [self.session_id, *(o.session_id for o in self.also)]

    def same_effect(self, other: Hypothesis) -> bool:
        def effect(h: Hypothesis) -> tuple[object, ...]:
            also = sorted((o.session_id, o.qty) for o in h.also)
            return (h.session_id, h.sku, h.qty, also)

        return effect(self) == effect(other)


class SessionShare(Model):
    """A session's part in one event.

    `probability`: the chance this session moved the item (its cart changes), including
    `p_unlisted`, the chance it was one of its people the model could not name.
    `factor`: the chance this session's receipt is right about this event, i.e. the mass of
    the hypotheses that do to its cart what the decision does. The receipt's confidence is
    the product of its factors over events.
    """

    session_id: Identifier
    probability: Probability
    factor: Probability
    chosen: bool
    # The part of `probability` that comes from a hypothesis charging nobody (an actor the
    # edge did not list, a person bound to no session) who may have been one of this
    # session's people: it lowers the factor; no cart changes.
    p_unlisted: Probability = 0.0


class LaneChange(Model):
    """Foreign units the lane now holds more (+) or fewer (-) of."""

    lane_id: Identifier
    sku: Identifier
    units: int


class Attribution(Model):
    schema_: Annotated[str, Field(alias="schema")] = "walkout.attribution/1"
    event_id: Identifier
    store_id: Identifier
    lane_id: Identifier
    action: Action
    delta_g: float
    t_start: UtcTimestamp
    t_end: UtcTimestamp
    decision: Hypothesis
    p_who: Probability = Field(description="P(the decision's session did it)")
    p_what: Probability = Field(description="P(the decision's sku and qty moved)")
    p_unlisted: Probability = Field(
        default=0.0, description="P(the actor is a person the edge did not list)"
    )
    p_nobody: Probability = Field(
        default=0.0,
        description="P(an item moved but no open session is charged: an unlisted actor,"
        " a person bound to no session, an orphan return); shared as doubt by the sessions"
        " present (SessionShare.p_unlisted)",
    )
    alternatives: list[Hypothesis]
    sessions: list[SessionShare]
    linked: list[Identifier] = Field(
        default_factory=list,
        description="sessions the candidates' tracks may really be through their encounters,"
        " most strongly linked first (engine._linked): whom a review question shows after"
        " the sessions with a real share; moves no probability",
    )
    lane_change: LaneChange | None = None
    reasons: list[str]
    model: str

    @property
    def probability(self) -> float:
        """P(the cart change this record makes is right)."""
        return self.decision.probability

    def share_of(self, session_id: str) -> SessionShare | None:
        return next((s for s in self.sessions if s.session_id == session_id), None)
