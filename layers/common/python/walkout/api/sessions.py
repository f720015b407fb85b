"""A store's sessions for its staff: listed by status and time, and one session with its
events and the attribution records that explain each line of its cart.

A session's events here are the shelf changes its cart was charged for or considered for
(the event ids of the cart's receipt factors), read by key (`BatchGetItem`), at most
`MAX_EVENTS` of them. Staff only: an attribution names the other sessions it weighed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pydantic import Field

from walkout._base import Model
from walkout.api.auth import Caller
from walkout.api.problems import ResourceNotFoundError, UnprocessableError
from walkout.api.tenancy import index_start_key, next_cursor, require_store
from walkout.attribution.record import Action, Attribution, Hypothesis, LaneChange, SessionShare
from walkout.cart import CartLine, Saving, TaxLine, Totals
from walkout.data.catalog_admin import RetailerStores
from walkout.data.sessions import (
    SessionRecord,
    SessionsTable,
    attributions_of,
    sessions_page,
    store_gsi_pk,
)
from walkout.events import format_timestamp
from walkout.ingest.lifecycle import SessionStatus

MAX_EVENTS: Final = 200


class SessionSummaryOut(Model):
    """A session as staff see it (never the shopper's account token)."""

    store_id: str
    session_id: str
    status: SessionStatus
    gate_id: str
    tracks: list[str]
    entered_at: datetime
    exit_at: datetime | None
    ready_at: datetime | None


class SessionListOut(Model):
    items: list[SessionSummaryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class AttributionOut(Model):
    """Why a line is (or is not) on this session's cart: one shelf change's attribution."""

    event_id: str
    action: Action
    lane_id: str
    t_start: datetime
    t_end: datetime
    delta_g: float
    decision: Hypothesis = Field(description="what the system decided happened")
    charged_here: bool = Field(description="the decision charged (or credited) this session")
    share: SessionShare | None = Field(description="this session's part in the decision")
    p_who: float
    p_what: float
    factor: float | None = Field(description="P(this session's receipt is right about it)")
    lane_change: LaneChange | None
    reasons: list[str]
    model: str


class SessionCartOut(Model):
    currency: str
    lines: list[CartLine]
    savings: list[Saving]
    taxes: list[TaxLine]
    totals: Totals
    version: int
    confidence: float = Field(description="P(the whole receipt is right), from the factors")


class SessionDetailOut(Model):
    session: SessionSummaryOut
    cart: SessionCartOut | None
    events: list[AttributionOut]
    events_truncated: bool


def session_summary_out(session: SessionRecord) -> SessionSummaryOut:
    return SessionSummaryOut(
        store_id=session.store_id,
        session_id=session.session_id,
        status=session.status,
        gate_id=session.gate_id,
        tracks=list(session.tracks),
        entered_at=session.entered_at,
        exit_at=session.exit_at,
        ready_at=session.ready_at,
    )


def attribution_out(record: Attribution, session_id: str, factor: float | None) -> AttributionOut:
    share = next((s for s in record.sessions if s.session_id == session_id), None)
    return AttributionOut(
        event_id=record.event_id,
        action=record.action,
        lane_id=record.lane_id,
        t_start=record.t_start,
        t_end=record.t_end,
        delta_g=record.delta_g,
        decision=record.decision,
        charged_here=record.decision.session_id == session_id,
        share=share,
        p_who=record.p_who,
        p_what=record.p_what,
        factor=factor,
        lane_change=record.lane_change,
        reasons=list(record.reasons),
        model=record.model,
    )


class SessionViews:
    def __init__(self, stores: RetailerStores, sessions: SessionsTable) -> None:
        self.stores = stores
        self.sessions = sessions

    def list(
        self,
        caller: Caller,
        store_id: str,
        status: SessionStatus,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> SessionListOut:
        if since is not None and until is not None and until < since:
            raise UnprocessableError("query.to: must not be before query.from")
        require_store(self.stores, caller, store_id)
        # The bounds `sessions_page` queries between (a cursor must lie within them).
        prefix = f"{status.value}#"
        low = prefix + format_timestamp(since) if since else prefix
        high = prefix + format_timestamp(until) + "~" if until else prefix + "~"
        start = index_start_key(cursor, store_gsi_pk(store_id), prefix, low=low, high=high)
        page = sessions_page(
            self.sessions,
            store_id,
            status,
            since=since,
            until=until,
            limit=limit,
            start_key=start,
        )
        return SessionListOut(
            items=[session_summary_out(s) for s in page.sessions],
            next_cursor=next_cursor(page.last_key),
        )

    def detail(self, caller: Caller, store_id: str, session_id: str) -> SessionDetailOut:
        require_store(self.stores, caller, store_id)
        session, cart = self.sessions.read_session(store_id, session_id)
        if session is None:
            raise ResourceNotFoundError(f"session {session_id} not found in store {store_id}")
        factors = cart.factors if cart is not None else {}
        event_ids = sorted(factors)[:MAX_EVENTS]
        records = attributions_of(self.sessions, store_id, event_ids)
        cart_out = None
        if cart is not None:
            c = cart.cart
            cart_out = SessionCartOut(
                currency=c.currency,
                lines=c.lines,
                savings=c.savings,
                taxes=c.taxes,
                totals=c.totals,
                version=c.version,
                confidence=cart.confidence,
            )
        return SessionDetailOut(
            session=session_summary_out(session),
            cart=cart_out,
            events=[attribution_out(r, session_id, factors.get(r.event_id)) for r in records],
            events_truncated=len(factors) > MAX_EVENTS,
        )
