"""The ingest table: device watermarks and quarantined records.

    pk                              sk                        what
    STORE#<store>                   WATERMARK#<device>        a device's latest heartbeat
    QUARANTINE#<partition key>      <sha256 of the record>    a record ingest could not use

A watermark only moves forward (a conditional update), so a late or repeated heartbeat never
turns it back. A quarantined record is keyed by the hash of its bytes: the same poison
record delivered twice is stored once. Both expire after `transient_ttl_days` (a watermark
is rewritten with every heartbeat, so only a device gone silent that long expires).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from walkout._base import Model
from walkout.data.dynamo import (
    Clock,
    conditional_write,
    from_item,
    key,
    query_all,
    to_item,
    ttl_attribute,
    value,
)
from walkout.events import UtcTimestamp, format_timestamp


def watermark_pk(store_id: str) -> str:
    return f"STORE#{store_id}"


def quarantine_pk(partition_key: str) -> str:
    return f"QUARANTINE#{partition_key}"


class Watermark(Model):
    store_id: str
    device_id: str
    watermark_ts: UtcTimestamp
    seq: int


class QuarantinedRecord(Model):
    partition_key: str
    record_hash: str
    reason: str
    problems: list[str] = []
    raw: bytes
    sequence_number: str
    received_at: UtcTimestamp


class IngestTable:
    def __init__(self, ddb: Any, table_name: str, *, ttl_days: int, clock: Clock) -> None:
        self.ddb = ddb
        self.table = table_name
        self.ttl_days = ttl_days
        self.clock = clock
        self.write_items = 0

    def watermarks(self, store_id: str) -> dict[str, Watermark]:
        out = {}
        for item in query_all(
            self.ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": value(watermark_pk(store_id)),
                ":prefix": value("WATERMARK#"),
            },
            ConsistentRead=True,
        ):
            mark = Watermark.model_validate({k: item[k] for k in Watermark.model_fields})
            out[mark.device_id] = mark
        return out

    def advance_watermark(self, mark: Watermark) -> bool:
        """Store the watermark unless the stored one is already as far. True if stored."""
        ts = format_timestamp(mark.watermark_ts)
        stored = conditional_write(
            self.ddb.put_item,
            TableName=self.table,
            Item=to_item(
                {
                    "pk": watermark_pk(mark.store_id),
                    "sk": f"WATERMARK#{mark.device_id}",
                    **mark.model_dump(mode="json"),
                    **ttl_attribute(self.clock(), self.ttl_days),
                }
            ),
            # ISO timestamps of one fixed format order like the times they name.
            ConditionExpression="attribute_not_exists(pk) OR watermark_ts < :ts",
            ExpressionAttributeValues={":ts": value(ts)},
        )
        self.write_items += stored
        return stored

    def quarantine(
        self,
        *,
        partition_key: str,
        raw: bytes,
        reason: str,
        problems: list[str],
        sequence_number: str,
        received_at: datetime,
    ) -> str:
        """Keep a record ingest could not use, with the reason. Returns its hash."""
        digest = hashlib.sha256(raw).hexdigest()
        record = QuarantinedRecord(
            partition_key=partition_key,
            record_hash=digest,
            reason=reason[:1000],
            problems=[p[:300] for p in problems[:20]],
            raw=raw,
            sequence_number=sequence_number,
            received_at=received_at,
        )
        self.ddb.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": quarantine_pk(partition_key),
                    "sk": digest,
                    **record.model_dump(mode="python", exclude={"received_at"}),
                    "received_at": format_timestamp(received_at),
                    **ttl_attribute(self.clock(), self.ttl_days),
                }
            ),
        )
        self.write_items += 1
        return digest

    def quarantined(self, partition_key: str) -> list[QuarantinedRecord]:
        return [
            QuarantinedRecord.model_validate(
                {k: item[k] for k in QuarantinedRecord.model_fields if k in item}
            )
            for item in query_all(
                self.ddb,
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": value(quarantine_pk(partition_key))},
            )
        ]

    def get_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        page = self.ddb.get_item(TableName=self.table, Key=key(pk, sk))
        return from_item(page["Item"]) if "Item" in page else None


# --- reads for the HTTP API's store metrics (issue 8) ---------------------------------------


def count_quarantined(
    table: IngestTable,
    partition_key: str,
    since: datetime,
    until: datetime,
    *,
    max_pages: int = 10,
) -> tuple[int, bool]:
    """How many records of a partition key (a store) were quarantined in [since, until),
    counted by the service (`Select=COUNT`, no item leaves DynamoDB); at most `max_pages`
    pages of 1 MB each are read. Returns (count, whether the count stopped early)."""
    params: dict[str, Any] = {
        "TableName": table.table,
        "KeyConditionExpression": "pk = :pk",
        "FilterExpression": "received_at >= :a AND received_at < :b",
        "ExpressionAttributeValues": {
            ":pk": value(quarantine_pk(partition_key)),
            ":a": value(format_timestamp(since)),
            ":b": value(format_timestamp(until)),
        },
        "Select": "COUNT",
    }
    count = 0
    for _ in range(max_pages):
        page = table.ddb.query(**params)
        count += int(page.get("Count", 0))
        last = page.get("LastEvaluatedKey")
        if not last:
            return count, False
        params["ExclusiveStartKey"] = last
    return count, True


# --- events held back until their session opens (issue 6) -----------------------------------
#
#     pk                              sk            what
#     PENDING#<store>#<session>       <event id>    a session.joined / track.exited that came
#                                                   before its session.entered


def pending_pk(store_id: str, session_id: str) -> str:
    return f"PENDING#{store_id}#{session_id}"


def hold_pending(
    table: IngestTable, store_id: str, session_id: str, event_id: str, raw: bytes
) -> None:
    """Keep an event for a session not opened yet (keyed by its id: a redelivery or a
    duplicate overwrites the same item). It expires after `transient_ttl_days`."""
    table.ddb.put_item(
        TableName=table.table,
        Item=to_item(
            {
                "pk": pending_pk(store_id, session_id),
                "sk": event_id,
                "raw": raw,
                **ttl_attribute(table.clock(), table.ttl_days),
            }
        ),
    )
    table.write_items += 1


def pending_events(table: IngestTable, store_id: str, session_id: str) -> dict[str, bytes]:
    """The events held for a session: event id -> its raw record (consistent read)."""
    return {
        str(item["sk"]): bytes(item["raw"])
        for item in query_all(
            table.ddb,
            TableName=table.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": value(pending_pk(store_id, session_id))},
            ConsistentRead=True,
        )
    }


def release_pending(table: IngestTable, store_id: str, session_id: str, event_id: str) -> None:
    """Forget a held event once it was applied (deleting twice is harmless)."""
    table.ddb.delete_item(
        TableName=table.table, Key=key(pending_pk(store_id, session_id), event_id)
    )
    table.write_items += 1
