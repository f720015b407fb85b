"""Receipts for staff and shoppers, and disputes of their lines.

- Staff list a store's receipt versions by time; staff and the session's shopper read a
  receipt (its latest version) and its versions. Versions are only appended (DESIGN §6).
- A shopper disputes a line (`sku`, `qty`): one dispute per line per receipt version, so a
  retried filing returns the dispute filed first. Staff list disputes and decide: accept
  appends an adjustment version (refund priced by `walkout.api.refunds`) and marks the
  dispute accepted in one transaction, then sends `RefundIssued`; reject records the
  reason. Repeating a decision returns it (and re-sends the event, which carries its
  `refund_id` for consumers to de-duplicate); the other decision afterwards is a 409.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import Field

from walkout import observability as obs
from walkout._base import Identifier, Model
from walkout.api.auth import Caller
from walkout.api.problems import (
    ApiProblemError,
    ConflictError,
    ResourceNotFoundError,
    UnprocessableError,
)
from walkout.api.refunds import charged_units, refund_for
from walkout.api.tenancy import (
    index_start_key,
    next_cursor,
    require_session_access,
    require_store,
)
from walkout.cart import AdjustedLine, Receipt, ReviewStatus
from walkout.data.catalog_admin import RetailerStores
from walkout.data.dynamo import Clock, utc_clock
from walkout.data.receipts import (
    DisputeConflictError,
    DisputeStatus,
    ReceiptsTable,
    StoredDispute,
    accept_dispute,
    disputes_of,
    disputes_page,
    file_dispute,
    get_dispute,
    receipts_page,
    reject_dispute,
)
from walkout.events import format_timestamp

REFUND_SOURCE: Final = "walkout.api"
REFUND_ISSUED: Final = "RefundIssued"


class ReceiptOut(Receipt):
    """A receipt version as issued (or adjusted)."""


class ReceiptSummaryOut(Model):
    receipt_id: str
    store_id: str
    session_id: str
    version: int
    review_status: ReviewStatus
    currency: str
    total_minor: int
    refunded_minor: int
    issued_at: datetime


class ReceiptListOut(Model):
    items: list[ReceiptSummaryOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ReceiptVersionsOut(Model):
    items: list[ReceiptOut]


class DisputeIn(Model):
    """A shopper's dispute of one receipt line: these units were not taken."""

    sku: Identifier
    qty: Annotated[int, Field(ge=1, le=1000)] = 1
    reason: Annotated[str, Field(max_length=500)] = ""


class DecisionIn(Model):
    decision: Literal["accept", "reject"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class DisputeOut(Model):
    dispute_id: str
    store_id: str
    session_id: str
    receipt_id: str
    receipt_version: int
    sku: str
    qty: int
    reason: str
    status: DisputeStatus
    filed_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    adjustment_version: int | None = Field(description="the receipt version the refund made")
    refund_minor: int | None


class DisputeListOut(Model):
    items: list[DisputeOut]
    next_cursor: str | None = None


class RefundNotSentError(ApiProblemError):
    status = 503
    title = "Service unavailable"


def summary_out(receipt: Receipt) -> ReceiptSummaryOut:
    return ReceiptSummaryOut(
        receipt_id=receipt.receipt_id,
        store_id=receipt.store_id,
        session_id=receipt.session_id,
        version=receipt.version,
        review_status=receipt.review_status,
        currency=receipt.currency,
        total_minor=receipt.totals.total_minor,
        refunded_minor=receipt.refunded_minor,
        issued_at=receipt.issued_at,
    )


def receipt_out(receipt: Receipt) -> ReceiptOut:
    return ReceiptOut.model_validate(receipt.model_dump())


def dispute_out(dispute: StoredDispute) -> DisputeOut:
    # Who decided stays internal: shoppers read their disputes too.
    return DisputeOut.model_validate(dispute.model_dump(exclude={"decided_by"}), strict=False)


def dispute_id_for(store_id: str, session_id: str, version: int, sku: str) -> str:
    """One dispute per line per receipt version: a retried filing finds the first."""
    digest = hashlib.sha256(f"{store_id}#{session_id}#{version}#{sku}".encode()).hexdigest()
    return f"dp-{digest[:29]}"


def refund_issued_detail(dispute: StoredDispute, receipt: Receipt) -> dict[str, Any]:
    """`RefundIssued`'s detail: ids and amounts only, no shopper identity."""
    return {
        "refund_id": dispute.dispute_id,
        "dispute_id": dispute.dispute_id,
        "receipt_id": receipt.receipt_id,
        "store_id": receipt.store_id,
        "session_id": receipt.session_id,
        "version": receipt.version,
        "refund_minor": dispute.refund_minor,
        "currency": receipt.currency,
        "lines": [{"sku": dispute.sku, "qty": dispute.qty, "refund_minor": dispute.refund_minor}],
    }


class Receipts:
    def __init__(
        self,
        stores: RetailerStores,
        receipts: ReceiptsTable,
        events: Any,
        bus_name: str,
        *,
        clock: Clock = utc_clock,
    ) -> None:
        self.stores = stores
        self.receipts = receipts
        self.events = events
        self.bus_name = bus_name
        self.clock = clock

    # receipts ------------------------------------------------------------------------------

    def in_range(
        self,
        caller: Caller,
        store_id: str,
        *,
        since: datetime,
        until: datetime,
        limit: int,
        cursor: str | None,
    ) -> ReceiptListOut:
        require_store(self.stores, caller, store_id)
        # The bounds `receipts_page` queries between (a cursor must lie within them).
        start = index_start_key(
            cursor,
            f"STORE#{store_id}",
            "",
            low=format_timestamp(since),
            high=format_timestamp(until),
        )
        page = receipts_page(self.receipts, store_id, since, until, limit=limit, start_key=start)
        return ReceiptListOut(
            items=[summary_out(r) for r in page.receipts], next_cursor=next_cursor(page.last_key)
        )

    def _now(self) -> datetime:
        # Stored timestamps have millisecond precision: answer with what a read gives back.
        now = self.clock()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def _missing(self, store_id: str, session_id: str) -> str:
        return f"receipt of session {session_id} not found in store {store_id}"

    def latest(self, caller: Caller, store_id: str, session_id: str) -> Receipt:
        missing = self._missing(store_id, session_id)
        require_session_access(self.stores, caller, store_id, session_id, missing)
        receipt = self.receipts.latest(store_id, session_id)
        if receipt is None:
            raise ResourceNotFoundError(missing)
        return receipt

    def versions(self, caller: Caller, store_id: str, session_id: str) -> list[Receipt]:
        missing = self._missing(store_id, session_id)
        require_session_access(self.stores, caller, store_id, session_id, missing)
        versions = self.receipts.versions(store_id, session_id)
        if not versions:
            raise ResourceNotFoundError(missing)
        return versions

    # disputes ------------------------------------------------------------------------------

    def file(
        self, caller: Caller, store_id: str, session_id: str, body: DisputeIn
    ) -> tuple[StoredDispute, bool]:
        receipt = self.latest(caller, store_id, session_id)
        charged = charged_units(receipt).get(body.sku, 0)
        if charged == 0:
            raise UnprocessableError(f"body.sku: {body.sku} is not charged on this receipt")
        if body.qty > charged:
            raise UnprocessableError(
                f"body.qty: the receipt charges {charged} x {body.sku}, not {body.qty}"
            )
        dispute = StoredDispute(
            dispute_id=dispute_id_for(store_id, session_id, receipt.version, body.sku),
            store_id=store_id,
            session_id=session_id,
            receipt_id=receipt.receipt_id,
            receipt_version=receipt.version,
            sku=body.sku,
            qty=body.qty,
            reason=body.reason,
            filed_at=self._now(),
        )
        stored, created = file_dispute(self.receipts, dispute)
        obs.logger.info(
            "dispute filed" if created else "dispute was filed before",
            extra={"store_id": store_id, "dispute_id": stored.dispute_id},
        )
        return stored, created

    def disputes_of(self, caller: Caller, store_id: str, session_id: str) -> list[StoredDispute]:
        self.latest(caller, store_id, session_id)
        return disputes_of(self.receipts, store_id, session_id)

    def disputes(
        self,
        caller: Caller,
        store_id: str,
        status: DisputeStatus,
        *,
        limit: int,
        cursor: str | None,
    ) -> DisputeListOut:
        require_store(self.stores, caller, store_id)
        start = index_start_key(cursor, f"DISPUTES#{store_id}", f"{status.value}#")
        page = disputes_page(self.receipts, store_id, status, limit=limit, start_key=start)
        return DisputeListOut(
            items=[dispute_out(d) for d in page.disputes], next_cursor=next_cursor(page.last_key)
        )

    def decide(
        self, caller: Caller, store_id: str, session_id: str, dispute_id: str, body: DecisionIn
    ) -> StoredDispute:
        require_store(self.stores, caller, store_id)
        dispute = get_dispute(self.receipts, store_id, session_id, dispute_id)
        if dispute is None:
            raise ResourceNotFoundError(
                f"dispute {dispute_id} not found for session {session_id} in store {store_id}"
            )
        wanted = DisputeStatus.ACCEPTED if body.decision == "accept" else DisputeStatus.REJECTED
        if dispute.status is not DisputeStatus.OPEN:
            if dispute.status is not wanted:
                raise ConflictError(f"dispute {dispute_id} was {dispute.status.value} before")
            if wanted is DisputeStatus.ACCEPTED:
                self._send_refund(dispute)  # a retry after a lost event sends it again
            return dispute
        now = self._now()
        decided = dispute.model_copy(
            update={
                "status": wanted,
                "decided_at": now,
                "decided_by": caller.subject,
                "decision_reason": body.reason,
            }
        )
        try:
            if wanted is DisputeStatus.REJECTED:
                reject_dispute(self.receipts, decided)
            else:
                decided = self._accept(caller, decided, now)
        except DisputeConflictError as exc:
            raise ConflictError(f"{exc}; read the dispute and retry") from None
        obs.logger.info(
            "dispute decided",
            extra={"store_id": store_id, "dispute_id": dispute_id, "decision": wanted.value},
        )
        if wanted is DisputeStatus.ACCEPTED:
            self._send_refund(decided)
        return decided

    def _accept(self, caller: Caller, decided: StoredDispute, now: datetime) -> StoredDispute:
        latest = self.receipts.latest(decided.store_id, decided.session_id)
        stored = self.stores.get(caller.retailer_id, decided.store_id)
        if latest is None or stored is None:
            raise ResourceNotFoundError(f"receipt of session {decided.session_id} not found")
        try:
            refund = refund_for(
                latest, decided.sku, decided.qty, stored.definition.catalog, at=latest.issued_at
            )
        except ValueError as exc:
            raise ConflictError(f"dispute {decided.dispute_id}: {exc}") from None
        reason = f"dispute {decided.dispute_id}: {decided.decision_reason}"[:500]
        adjusted = latest.with_adjustment(
            reason=reason,
            created_at=max(now, latest.adjustments[-1].created_at if latest.adjustments else now),
            refund_minor=refund,
            lines=[AdjustedLine(sku=decided.sku, qty=decided.qty, refund_minor=refund)],
        )
        accepted = decided.model_copy(
            update={"adjustment_version": adjusted.version, "refund_minor": refund}
        )
        accept_dispute(self.receipts, accepted, adjusted)
        return accepted

    def _send_refund(self, dispute: StoredDispute) -> None:
        receipt = self.receipts.latest(dispute.store_id, dispute.session_id)
        if receipt is None or dispute.adjustment_version is None:
            raise ResourceNotFoundError(f"receipt of session {dispute.session_id} not found")
        adjusted = self.receipts.version(
            dispute.store_id, dispute.session_id, dispute.adjustment_version
        )
        entry = {
            "Source": REFUND_SOURCE,
            "DetailType": REFUND_ISSUED,
            "Detail": json.dumps(refund_issued_detail(dispute, adjusted or receipt)),
            "EventBusName": self.bus_name,
        }
        try:
            response = self.events.put_events(Entries=[entry])
            failed = int(response.get("FailedEntryCount", 0))
        except Exception:
            obs.logger.exception("RefundIssued could not be sent")
            failed = 1
        if failed:
            raise RefundNotSentError(
                f"dispute {dispute.dispute_id} is accepted but its refund event could not be"
                " sent; repeat the request to send it again"
            )
