"""Ships queued events to Kinesis as KPL-aggregated records, in order, at least once.

Aggregation (`aws_kinesis_agg.aggregator.RecordAggregator`) packs many events into one
Kinesis record: Kinesis bills and throttles per record (1,000 records/s per shard) and a
PutRecords call carries at most 500 records and 5 MiB, so a store's events cost a fraction
of the requests and records. Only events of one partition key (`store_id`) share an
aggregate, and an aggregate stays under the 1 MiB record limit counting its partition key.

Order: all of a store's records go to one shard (one partition key), whose write limit is
1 MiB/s. A request therefore carries at most **one** aggregate per partition key: one
aggregate already fills a second of the shard's budget, and with two of the same key a
partial failure (the first refused, the second accepted) would put the second before the
first in the stream. With one per key, a refused aggregate is retried before anything that
follows it is sent, so every event first reaches the stream in production order. Records
of other partition keys in the same request fail and are retried independently ("record by
record"). Duplicates only arise from a crash or timeout between Kinesis accepting a record
and the outbox deleting it: consumers are idempotent on `event_id`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from aws_kinesis_agg.aggregator import RecordAggregator

from walkout_edge.uplink.backoff import Backoff, Failure, classify_error_code, classify_exception
from walkout_edge.uplink.health import UplinkStatus
from walkout_edge.uplink.outbox import Outbox, QueuedEvent

# Kinesis limits (PutRecords API reference).
MAX_RECORD_BYTES: Final = 1024 * 1024
MAX_REQUEST_BYTES: Final = 5 * 1024 * 1024
MAX_REQUEST_RECORDS: Final = 500
# Pause before looking again when the queue turned out empty after all.
IDLE_RECHECK_S: Final = 0.1
# Upper bound of the protobuf framing one user record adds to an aggregate: field tags,
# three varints of at most 5 bytes each for sizes and the key index, the key table entry.
_FRAMING_BOUND: Final = 24

log = logging.getLogger("walkout_edge.uplink.producer")


@dataclass
class PutEntry:
    """One Kinesis record of a request: an aggregate of consecutive events of one key."""

    partition_key: str
    data: bytes
    positions: list[int]

    @property
    def size(self) -> int:
        """What Kinesis counts against its limits: data plus partition key."""
        return len(self.data) + len(self.partition_key.encode())


@dataclass
class _Open:
    aggregator: RecordAggregator
    positions: list[int] = field(default_factory=list)


@dataclass
class PutPlan:
    entries: list[PutEntry]
    full: bool
    """True if some aggregate could take no more: sending now loses nothing by waiting."""


def plan_request(
    events: Iterable[QueuedEvent],
    *,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    max_records: int = MAX_REQUEST_RECORDS,
) -> PutPlan:
    """The next PutRecords request: per partition key, the aggregate of its oldest events.

    `events` are read in queue order and only as far as needed: reading stops once every
    key seen so far has a full aggregate.
    """
    open_: dict[str, _Open] = {}
    full: set[str] = set()  # keys whose aggregate can take no more
    skipped: set[str] = set()  # keys with no room in this request at all
    for event in events:
        key = event.partition_key
        if key in full or key in skipped:
            continue
        pending = open_.get(key)
        needed = len(event.body) + len(key.encode()) + _FRAMING_BOUND
        if pending is None:
            if len(open_) >= max_records:
                skipped.add(key)
                continue
            # The configured cap is a target: an event larger than it goes alone, up to
            # what Kinesis takes (the sink refuses anything larger).
            limit = max_record_bytes if needed <= max_record_bytes else MAX_RECORD_BYTES
            aggregator = RecordAggregator(max_size=limit - len(key.encode()))
            pending = open_[key] = _Open(aggregator)
        aggregator = pending.aggregator
        if pending.positions and aggregator.get_size_bytes() + needed > aggregator.max_size:
            full.add(key)
            if len(full) == len(open_):
                break
            continue
        # Checked above, so the aggregator never has to hand back a full record here.
        if aggregator.add_user_record(key, event.body) is not None:
            raise RuntimeError("aggregate overflowed despite the size check")
        pending.positions.append(event.pos)

    entries: list[PutEntry] = []
    total = 0
    for key, pending in open_.items():
        record = pending.aggregator.clear_and_get()
        if record is None:
            continue
        _, _, data = record.get_contents()
        entry = PutEntry(key, bytes(data), pending.positions)
        if total + entry.size > max_request_bytes:
            # Its events stay queued for the next request; other keys' order is unaffected.
            full.add(key)
            continue
        total += entry.size
        entries.append(entry)
    return PutPlan(entries, full=bool(full or skipped))


class KinesisProducer:
    """The delivery loop of events: outbox → PutRecords → delete what was accepted."""

    name = "kinesis"

    def __init__(
        self,
        outbox: Outbox,
        *,
        client: Any,
        stream_name: str,
        status: UplinkStatus,
        backoff: Backoff | None = None,
        max_record_bytes: int = MAX_RECORD_BYTES,
        linger_s: float = 0.05,
    ) -> None:
        self.outbox = outbox
        self._client = client
        self._stream_name = stream_name
        self._status = status
        self._backoff = backoff or Backoff()
        self._max_record_bytes = max_record_bytes
        self._linger_s = linger_s
        self._offline_attempts = 0

    def pending(self) -> int:
        return int(self.outbox.depth)

    def step(self, draining: bool) -> float:
        if not draining and self._linger_s > 0:
            # Let the oldest event wait a moment for others to share its record (one request
            # instead of several); checked before building anything, as this runs on every
            # enqueue while the pipeline trickles.
            age: float | None = self.outbox.oldest_age_s()
            if age is not None and age < self._linger_s:
                return self._linger_s - age
        plan = plan_request(self.outbox.iter_events(), max_record_bytes=self._max_record_bytes)
        if not plan.entries:
            # The depth said there was work but the table has none: trust the table.
            self.outbox.recount()
            return IDLE_RECHECK_S
        return self._put(plan.entries)

    def _put(self, entries: list[PutEntry]) -> float:
        kinesis = self._status.kinesis
        try:
            response = self._client.put_records(
                StreamName=self._stream_name,
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in entries],
            )
        except Exception as exc:
            failure = classify_exception(exc)
            if failure is None:
                raise
            return self._call_failed(failure, exc)

        accepted: list[PutEntry] = []
        refused: list[tuple[PutEntry, str, str]] = []
        for entry, result in zip(entries, response["Records"], strict=True):
            if "ErrorCode" in result:
                refused.append((entry, result["ErrorCode"], result.get("ErrorMessage", "")))
            else:
                accepted.append(entry)
        if accepted:
            positions = [pos for entry in accepted for pos in entry.positions]
            self.outbox.ack_events(positions)
            self._status.delivered(
                kinesis, len(positions), requests=1, nbytes=sum(e.size for e in accepted)
            )
            if self._offline_attempts:
                log.info(
                    "kinesis reachable again", extra={"failed_attempts": self._offline_attempts}
                )
                self._offline_attempts = 0
        if not refused:
            self._backoff.succeeded()
            return 0.0
        failures = {classify_error_code(code) for _, code, _ in refused}
        failure = Failure.REJECTED if Failure.REJECTED in failures else Failure.THROTTLED
        for entry, code, message in refused:
            self._status.failed(kinesis, failure, code, message, count=len(entry.positions))
        delay: float = self._backoff.delay(failure)
        level = logging.DEBUG if failure is Failure.THROTTLED else logging.WARNING
        log.log(
            level,
            "kinesis refused records, retrying them",
            extra={
                "refused_records": len(refused),
                "accepted_records": len(entries) - len(refused),
                "error_code": refused[0][1],
                "retry_in_s": round(delay, 3),
            },
        )
        return delay

    def _call_failed(self, failure: Failure, exc: Exception) -> float:
        code = _error_code(exc)
        self._status.failed(self._status.kinesis, failure, code, str(exc))
        delay: float = self._backoff.delay(failure)
        if failure is Failure.OFFLINE:
            self._offline_attempts += 1
            # First failure and then every tenth: a long outage is visible, not a flood.
            if self._offline_attempts % 10 == 1:
                log.warning(
                    "kinesis unreachable, events stay in the outbox",
                    extra={
                        "error": str(exc),
                        "attempts": self._offline_attempts,
                        "outbox_depth": self.outbox.depth,
                        "retry_in_s": round(delay, 3),
                    },
                )
        else:
            log.log(
                logging.DEBUG if failure is Failure.THROTTLED else logging.WARNING,
                "kinesis put failed",
                extra={"error_code": code, "error": str(exc), "retry_in_s": round(delay, 3)},
            )
        return delay


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__
