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
    from_item,
    is_conditional_failure,
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
        try:
            self.ddb.put_item(
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
        except Exception as exc:
            if is_conditional_failure(exc):
                return False
            raise
        self.write_items += 1
        return True

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
