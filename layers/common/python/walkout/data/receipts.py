"""The receipts table: receipt versions (append-only) and the flags on finalized sessions.

    pk                              sk                 what
    RECEIPT#<store>#<session>       V#000001           version 1, as issued
    RECEIPT#<store>#<session>       V#000002 ...       each adjustment: the whole next version
    RECEIPT#<store>#<session>       FLAG#audit         a receipt to audit (timeout-partial, ...)
    RECEIPT#<store>#<session>       FLAG#attention     finalization failed: a person must act

Versions are only ever added (`attribute_not_exists`), never rewritten, and a version n+1
needs version n in the same transaction. The `by-store-time` index lists a store's receipt
versions by time (`gsi1pk` STORE#<store>) and each flag kind apart (`gsi1pk`
FLAG#<kind>#<store>). Receipts are financial records: no TTL on anything here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from walkout._base import Identifier, Model
from walkout.cart import Receipt, ReviewStatus
from walkout.data.dynamo import (
    Clock,
    batch_get,
    cancellation_codes,
    conditional_write,
    from_item,
    is_conditional_failure,
    key,
    query_all,
    to_item,
    value,
)
from walkout.events import UtcTimestamp, format_timestamp, parse_timestamp

TIME_INDEX = "by-store-time"
MAX_REASON = 2000


class FlagKind(StrEnum):
    AUDIT = "audit"
    ATTENTION = "attention"


def receipt_pk(store_id: str, session_id: str) -> str:
    return f"RECEIPT#{store_id}#{session_id}"


def version_sk(version: int) -> str:
    return f"V#{version:06d}"


def flag_sk(kind: FlagKind) -> str:
    return f"FLAG#{kind.value}"


class ReceiptVersionError(RuntimeError):
    """A version that does not follow the stored history (its predecessor is missing)."""


@dataclass(frozen=True)
class Flag:
    store_id: str
    session_id: str
    kind: FlagKind
    reason: str
    flagged_at: datetime
    details: dict[str, str]


class ReceiptsTable:
    def __init__(self, ddb: Any, table_name: str, *, clock: Clock) -> None:
        self.ddb = ddb
        self.table = table_name
        self.clock = clock

    # receipts ------------------------------------------------------------------------------

    def _version_item(self, receipt: Receipt) -> dict[str, Any]:
        at = receipt.adjustments[-1].created_at if receipt.adjustments else receipt.issued_at
        return to_item(
            {
                "pk": receipt_pk(receipt.store_id, receipt.session_id),
                "sk": version_sk(receipt.version),
                "gsi1pk": f"STORE#{receipt.store_id}",
                "gsi1sk": f"{format_timestamp(at)}#{receipt.receipt_id}#{receipt.version:06d}",
                "receipt": receipt.model_dump(mode="json"),
            }
        )

    def _flag_item(
        self,
        store_id: str,
        session_id: str,
        kind: FlagKind,
        reason: str,
        details: Mapping[str, str],
    ) -> dict[str, Any]:
        now = format_timestamp(self.clock())
        return to_item(
            {
                "pk": receipt_pk(store_id, session_id),
                "sk": flag_sk(kind),
                "gsi1pk": f"FLAG#{kind.value}#{store_id}",
                "gsi1sk": f"{now}#{session_id}",
                "store_id": store_id,
                "session_id": session_id,
                "kind": kind.value,
                "reason": reason[:MAX_REASON],
                "flagged_at": now,
                "details": {k: v[:MAX_REASON] for k, v in details.items()},
            }
        )

    def issue(self, receipt: Receipt, *, audit: Sequence[str] = ()) -> tuple[Receipt, bool]:
        """Store version 1 (and its audit flag, atomically). Returns the stored receipt and
        whether this call stored it: a retried step gets the receipt issued first."""
        if receipt.version != 1:
            raise ReceiptVersionError(f"issue: version 1 expected, got {receipt.version}")
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._version_item(receipt),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        if audit:
            items.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._flag_item(
                            receipt.store_id,
                            receipt.session_id,
                            FlagKind.AUDIT,
                            "; ".join(audit),
                            {
                                "receipt_id": receipt.receipt_id,
                                "status": receipt.review_status.value,
                            },
                        ),
                    }
                }
            )
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            codes = cancellation_codes(exc)
            if not codes or codes[0] != "ConditionalCheckFailed":
                raise
            stored = self.version(receipt.store_id, receipt.session_id, 1)
            if stored is None:
                raise
            return stored, False
        return receipt, True

    def append(self, receipt: Receipt) -> None:
        """Store the next version (after an adjustment); its predecessor must be stored."""
        if receipt.version < 2:
            raise ReceiptVersionError("append: an adjustment makes version 2 or later")
        pk = receipt_pk(receipt.store_id, receipt.session_id)
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": key(pk, version_sk(receipt.version - 1)),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._version_item(receipt),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except self.ddb.exceptions.TransactionCanceledException as exc:
            codes = cancellation_codes(exc)
            which = "is missing" if codes and codes[0] == "ConditionalCheckFailed" else "is stored"
            raise ReceiptVersionError(
                f"receipt {receipt.receipt_id}: version {receipt.version} cannot be appended"
                f" (version {receipt.version - 1} {which}, or {receipt.version} exists)"
            ) from exc

    def issued(self, store_id: str, session_ids: Iterable[str]) -> set[str]:
        """Those of `session_ids` whose receipt was issued (version 1 exists), read in
        batches of keys only."""
        ids = sorted(set(session_ids))
        keys = [key(receipt_pk(store_id, s), version_sk(1)) for s in ids]
        found = {str(i["pk"]) for i in batch_get(self.ddb, self.table, keys, only_keys=True)}
        return {s for s in ids if receipt_pk(store_id, s) in found}

    def version(self, store_id: str, session_id: str, version: int) -> Receipt | None:
        page = self.ddb.get_item(
            TableName=self.table,
            Key=key(receipt_pk(store_id, session_id), version_sk(version)),
            ConsistentRead=True,
        )
        return (
            Receipt.model_validate(from_item(page["Item"])["receipt"]) if "Item" in page else None
        )

    def session_query(self, store_id: str, session_id: str, sk_prefix: str) -> dict[str, Any]:
        """Query parameters for one session's items whose sort key starts with `sk_prefix`
        (`V#` versions, `DISPUTE#` disputes), read consistently."""
        return {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": value(receipt_pk(store_id, session_id)),
                ":prefix": value(sk_prefix),
            },
            "ConsistentRead": True,
        }

    def store_time_query(self, store_id: str, since: datetime, until: datetime) -> dict[str, Any]:
        """Query parameters for a store's receipt versions dated in [since, until) on the
        `by-store-time` index."""
        return {
            "TableName": self.table,
            "IndexName": TIME_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {
                ":pk": value(f"STORE#{store_id}"),
                ":a": value(format_timestamp(since)),
                ":b": value(format_timestamp(until)),
            },
        }

    def versions(self, store_id: str, session_id: str) -> list[Receipt]:
        """Every version, oldest first."""
        return [
            Receipt.model_validate(item["receipt"])
            for item in query_all(self.ddb, **self.session_query(store_id, session_id, "V#"))
        ]

    def latest(self, store_id: str, session_id: str) -> Receipt | None:
        page = self.ddb.query(
            **self.session_query(store_id, session_id, "V#"), ScanIndexForward=False, Limit=1
        )
        items = page.get("Items", [])
        return Receipt.model_validate(from_item(items[0])["receipt"]) if items else None

    def by_store(self, store_id: str, since: datetime, until: datetime) -> list[Receipt]:
        """A store's receipt versions issued in [since, until), oldest first."""
        return [
            Receipt.model_validate(item["receipt"])
            for item in query_all(self.ddb, **self.store_time_query(store_id, since, until))
        ]

    # flags ---------------------------------------------------------------------------------

    def flag(
        self,
        store_id: str,
        session_id: str,
        kind: FlagKind,
        reason: str,
        details: Mapping[str, str] | None = None,
    ) -> bool:
        """Flag a session; the first flag of a kind stays (a repeat is a no-op, False)."""
        return conditional_write(
            self.ddb.put_item,
            TableName=self.table,
            Item=self._flag_item(store_id, session_id, kind, reason, details or {}),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def flags(self, store_id: str, kind: FlagKind) -> list[Flag]:
        return [
            Flag(
                store_id=item["store_id"],
                session_id=item["session_id"],
                kind=FlagKind(item["kind"]),
                reason=item["reason"],
                flagged_at=parse_timestamp(item["flagged_at"]),
                details=dict(item.get("details", {})),
            )
            for item in query_all(
                self.ddb,
                TableName=self.table,
                IndexName=TIME_INDEX,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": value(f"FLAG#{kind.value}#{store_id}")},
            )
        ]


# --- reads for the HTTP API, and disputes (issue 8) -----------------------------------------
#
#     pk                              sk                 what
#     RECEIPT#<store>#<session>       DISPUTE#<id>       a shopper's dispute of one line
#
# Disputes are listed per store in `by-store-time` under `gsi1pk` DISPUTES#<store>, `gsi1sk`
# <status>#<filed_at>#<id>. Accepting one appends the adjustment version and marks the
# dispute accepted in one transaction: both happen, or neither.


class DisputeStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class StoredDispute(Model):
    dispute_id: Identifier
    store_id: Identifier
    session_id: Identifier
    receipt_id: Identifier
    receipt_version: Annotated[int, Field(ge=1, description="the version the shopper saw")]
    sku: Identifier
    qty: Annotated[int, Field(ge=1)]
    reason: Annotated[str, Field(max_length=500)] = ""
    status: DisputeStatus = DisputeStatus.OPEN
    filed_at: UtcTimestamp
    decided_at: UtcTimestamp | None = None
    # Staff subjects only: a shopper's identity is never stored with a dispute.
    decided_by: str | None = None
    decision_reason: Annotated[str, Field(max_length=500)] | None = None
    adjustment_version: int | None = None
    refund_minor: int | None = None


class DisputeConflictError(RuntimeError):
    """The dispute was decided before, or its receipt changed meanwhile: read and retry."""


@dataclass(frozen=True)
class ReceiptPage:
    receipts: list[Receipt]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class DisputePage:
    disputes: list[StoredDispute]
    last_key: dict[str, Any] | None


def dispute_sk(dispute_id: str) -> str:
    return f"DISPUTE#{dispute_id}"


def _dispute_item(dispute: StoredDispute) -> dict[str, Any]:
    return to_item(
        {
            "pk": receipt_pk(dispute.store_id, dispute.session_id),
            "sk": dispute_sk(dispute.dispute_id),
            "gsi1pk": f"DISPUTES#{dispute.store_id}",
            "gsi1sk": f"{dispute.status.value}#{format_timestamp(dispute.filed_at)}"
            f"#{dispute.dispute_id}",
            "dispute": dispute.model_dump(mode="json"),
        }
    )


def receipts_page(
    table: ReceiptsTable,
    store_id: str,
    since: datetime,
    until: datetime,
    *,
    limit: int,
    start_key: Mapping[str, Any] | None = None,
) -> ReceiptPage:
    """One page of a store's receipt versions dated in [since, until) (issue or adjustment
    time), oldest first: one `Query` on `by-store-time` of at most `limit` items."""
    params: dict[str, Any] = {
        **table.store_time_query(store_id, since, until),
        "Limit": limit,
    }
    if start_key:
        params["ExclusiveStartKey"] = dict(start_key)
    page = table.ddb.query(**params)
    return ReceiptPage(
        receipts=[Receipt.model_validate(from_item(i)["receipt"]) for i in page.get("Items", [])],
        last_key=page.get("LastEvaluatedKey"),
    )


@dataclass(frozen=True)
class IssuedReceipt:
    """What store metrics need of a version 1: whose, how it was decided, when."""

    session_id: str
    review_status: ReviewStatus
    issued_at: datetime


def first_versions(
    table: ReceiptsTable, store_id: str, since: datetime, until: datetime, *, max_items: int
) -> tuple[list[IssuedReceipt], bool]:
    """The receipts issued (version 1) in [since, until), at most `max_items` read (only
    the three attributes metrics need are returned by DynamoDB). Returns (receipts, whether
    reading stopped at `max_items`)."""
    params: dict[str, Any] = {
        **table.store_time_query(store_id, since, until),
        "ProjectionExpression": "#r.session_id, #r.review_status, #r.issued_at, #r.version",
        "ExpressionAttributeNames": {"#r": "receipt"},
    }
    out: list[IssuedReceipt] = []
    read = 0
    while True:
        page = table.ddb.query(**{**params, "Limit": max(1, min(500, max_items - read))})
        for item in page.get("Items", []):
            receipt = from_item(item)["receipt"]
            if int(receipt["version"]) == 1:
                out.append(
                    IssuedReceipt(
                        session_id=receipt["session_id"],
                        review_status=ReviewStatus(receipt["review_status"]),
                        issued_at=parse_timestamp(receipt["issued_at"]),
                    )
                )
        read += len(page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            return out, False
        if read >= max_items:
            return out, True
        params["ExclusiveStartKey"] = last


def file_dispute(table: ReceiptsTable, dispute: StoredDispute) -> tuple[StoredDispute, bool]:
    """Store a new dispute; a retried filing (same id) gets the stored one. Returns it and
    whether this call stored it."""
    try:
        table.ddb.put_item(
            TableName=table.table,
            Item=_dispute_item(dispute),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        stored = get_dispute(table, dispute.store_id, dispute.session_id, dispute.dispute_id)
        if stored is None:
            raise
        return stored, False
    return dispute, True


def get_dispute(
    table: ReceiptsTable, store_id: str, session_id: str, dispute_id: str
) -> StoredDispute | None:
    page = table.ddb.get_item(
        TableName=table.table,
        Key=key(receipt_pk(store_id, session_id), dispute_sk(dispute_id)),
        ConsistentRead=True,
    )
    if "Item" not in page:
        return None
    return StoredDispute.model_validate(from_item(page["Item"])["dispute"])


def disputes_of(table: ReceiptsTable, store_id: str, session_id: str) -> list[StoredDispute]:
    """A receipt's disputes, in id order (ids are time-ordered)."""
    return [
        StoredDispute.model_validate(item["dispute"])
        for item in query_all(table.ddb, **table.session_query(store_id, session_id, "DISPUTE#"))
    ]


def disputes_page(
    table: ReceiptsTable,
    store_id: str,
    status: DisputeStatus,
    *,
    limit: int,
    start_key: Mapping[str, Any] | None = None,
) -> DisputePage:
    """One page of a store's disputes in `status`, oldest filing first."""
    params: dict[str, Any] = {
        "TableName": table.table,
        "IndexName": TIME_INDEX,
        "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :s)",
        "ExpressionAttributeValues": {
            ":pk": value(f"DISPUTES#{store_id}"),
            ":s": value(f"{status.value}#"),
        },
        "Limit": limit,
    }
    if start_key:
        params["ExclusiveStartKey"] = dict(start_key)
    page = table.ddb.query(**params)
    return DisputePage(
        disputes=[
            StoredDispute.model_validate(from_item(i)["dispute"]) for i in page.get("Items", [])
        ],
        last_key=page.get("LastEvaluatedKey"),
    )


def _decide_item(table: ReceiptsTable, decided: StoredDispute) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table.table,
            "Item": _dispute_item(decided),
            "ConditionExpression": "dispute.#s = :open",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":open": value(DisputeStatus.OPEN.value)},
        }
    }


def accept_dispute(table: ReceiptsTable, decided: StoredDispute, adjusted: Receipt) -> None:
    """Append the adjustment version and mark the dispute accepted, atomically; the
    version's predecessor must be the latest stored (`DisputeConflictError` otherwise)."""
    pk = receipt_pk(adjusted.store_id, adjusted.session_id)
    try:
        table.ddb.transact_write_items(
            TransactItems=[
                _decide_item(table, decided),
                {
                    "ConditionCheck": {
                        "TableName": table.table,
                        "Key": key(pk, version_sk(adjusted.version - 1)),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": table.table,
                        "Item": table._version_item(adjusted),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    except table.ddb.exceptions.TransactionCanceledException as exc:
        if "ConditionalCheckFailed" not in cancellation_codes(exc):
            raise
        raise DisputeConflictError(
            f"dispute {decided.dispute_id}: decided meanwhile, or receipt"
            f" {adjusted.receipt_id} has a version {adjusted.version} already"
        ) from exc


def reject_dispute(table: ReceiptsTable, decided: StoredDispute) -> None:
    """Record the rejection (with its reason); only an open dispute can be rejected."""
    try:
        table.ddb.transact_write_items(TransactItems=[_decide_item(table, decided)])
    except table.ddb.exceptions.TransactionCanceledException as exc:
        if "ConditionalCheckFailed" not in cancellation_codes(exc):
            raise
        raise DisputeConflictError(f"dispute {decided.dispute_id} was decided meanwhile") from exc
