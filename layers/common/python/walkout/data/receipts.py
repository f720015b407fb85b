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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from walkout.cart import Receipt
from walkout.data.dynamo import (
    Clock,
    cancellation_codes,
    from_item,
    is_conditional_failure,
    key,
    query_all,
    to_item,
    value,
)
from walkout.events import format_timestamp

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

    def version(self, store_id: str, session_id: str, version: int) -> Receipt | None:
        page = self.ddb.get_item(
            TableName=self.table,
            Key=key(receipt_pk(store_id, session_id), version_sk(version)),
            ConsistentRead=True,
        )
        return (
            Receipt.model_validate(from_item(page["Item"])["receipt"]) if "Item" in page else None
        )

    def versions(self, store_id: str, session_id: str) -> list[Receipt]:
        """Every version, oldest first."""
        return [
            Receipt.model_validate(item["receipt"])
            for item in query_all(
                self.ddb,
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
                ExpressionAttributeValues={
                    ":pk": value(receipt_pk(store_id, session_id)),
                    ":v": value("V#"),
                },
                ConsistentRead=True,
            )
        ]

    def latest(self, store_id: str, session_id: str) -> Receipt | None:
        page = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={
                ":pk": value(receipt_pk(store_id, session_id)),
                ":v": value("V#"),
            },
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        return Receipt.model_validate(from_item(items[0])["receipt"]) if items else None

    def by_store(self, store_id: str, since: datetime, until: datetime) -> list[Receipt]:
        """A store's receipt versions issued in [since, until), oldest first."""
        return [
            Receipt.model_validate(item["receipt"])
            for item in query_all(
                self.ddb,
                TableName=self.table,
                IndexName=TIME_INDEX,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":pk": value(f"STORE#{store_id}"),
                    ":a": value(format_timestamp(since)),
                    ":b": value(format_timestamp(until)),
                },
            )
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
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._flag_item(store_id, session_id, kind, reason, details or {}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def flags(self, store_id: str, kind: FlagKind) -> list[Flag]:
        return [
            Flag(
                store_id=item["store_id"],
                session_id=item["session_id"],
                kind=FlagKind(item["kind"]),
                reason=item["reason"],
                flagged_at=datetime.fromisoformat(item["flagged_at"].replace("Z", "+00:00")),
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
