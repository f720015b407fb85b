"""The Kinesis event source mapping of the ingest function, emulated: a poller per shard
that reads the stream and invokes the handler with Lambda's Kinesis event, honouring the
mapping's settings from the deployment config (`config.ingest`, as
`infrastructure/ingest.py` passes them to CDK):

- `batch_size` records per invocation at most, gathered for up to `batching_window_s`;
- one batch in flight per shard, so a shard's records are handled in stream order (the
  stack's `parallelization_factor` runs several batches of one shard at once, each
  partition key still in order: with one store per partition key, order is the same);
- `ReportBatchItemFailures`: a partial failure checkpoints the records before the first
  failed one and retries from it;
- with `bisect_batch_on_error` (as the stack sets it) a failed invocation (the handler
  raised) is split in halves at once, and a batch whose retries ran out is split in halves
  while it has more than one record, each half with retries of its own (splitting does not
  count as a retry), so what keeps failing ends up alone;
- at most `retry_attempts` retries, and no record older than `max_record_age_s`: then the
  batch is given up on and its stream positions go to the failure queue in Lambda's
  on-failure message format, and the mapping moves on;
- a checkpoint per shard (the last sequence number handled) in a JSON file, written after
  each batch: a restarted pump resumes after it, so a batch in flight when the pump stopped
  is delivered again (at least once, as on AWS; ingest is idempotent by event id).

Each user record read for the first time (KPL aggregates are split as the handler splits
them) is reported to `on_read`, which the pipeline writes to `delivered.jsonl`.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_kinesis_agg.deaggregator import deaggregate_records

from walkout.config import IngestTuning

BISECT_BATCH_ON_ERROR = True  # infrastructure/ingest.py: bisect_batch_on_error=True
IDLE_POLL_S = 0.1
# A shard that stays empty is polled less often, down to once a second (Lambda's own
# polling rate per shard): idle polls of the other shards would take the process's time.
IDLE_POLL_MAX_S = 1.0
RETRY_BASE_S = 0.05
RETRY_CAP_S = 1.0

Invoke = Callable[[dict[str, Any]], Any]


@dataclass
class ShardState:
    checkpoint: str | None = None  # last sequence number handled (or given up on)
    read: str | None = None  # last sequence number reported to on_read


@dataclass
class PumpStats:
    invocations: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    retries: int = 0
    given_up_batches: int = 0
    given_up_records: int = 0
    records: int = 0


class Checkpoints:
    """Per-shard positions in a JSON file, replaced atomically on every write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.shards: dict[str, ShardState] = {}
        if path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            self.shards = {k: ShardState(**v) for k, v in raw.get("shards", {}).items()}

    def get(self, shard_id: str) -> ShardState:
        with self.lock:
            return self.shards.setdefault(shard_id, ShardState())

    def save(self) -> None:
        with self.lock:
            data = {"shards": {k: vars(v) for k, v in sorted(self.shards.items())}}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)


def lambda_record(
    record: dict[str, Any], shard_id: str, stream_arn: str, region: str
) -> dict[str, Any]:
    """A `GetRecords` record as it appears in Lambda's Kinesis event."""
    arrival = record["ApproximateArrivalTimestamp"]
    return {
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
        "invokeIdentityArn": stream_arn.replace(":kinesis:", ":iam:"),
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "approximateArrivalTimestamp": arrival.timestamp(),
            "data": base64.b64encode(record["Data"]).decode(),
        },
    }


class KinesisPump:
    """Polls every shard of a stream and feeds the ingest handler (see the module doc)."""

    def __init__(
        self,
        *,
        kinesis: Any,
        sqs: Any,
        stream_name: str,
        region: str,
        tuning: IngestTuning,
        invoke: Invoke,
        failure_queue_url: str,
        checkpoints: Checkpoints,
        on_read: Callable[[list[dict[str, Any]]], None] = lambda records: None,
    ) -> None:
        self.kinesis = kinesis
        self.sqs = sqs
        self.stream_name = stream_name
        self.region = region
        self.tuning = tuning
        self.invoke = invoke
        self.failure_queue_url = failure_queue_url
        self.checkpoints = checkpoints
        self.on_read = on_read
        self.stats = PumpStats()
        # Event ids of every record the function handled (see `_decided`).
        self.decided: set[str] = set()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Per shard: when (time.time()) the read that last found it idle started; None
        # while it has records in hand or behind.
        self._idle_since: dict[str, float | None] = {}
        self._lock = threading.Lock()
        description = kinesis.describe_stream_summary(StreamName=stream_name)
        self.stream_arn: str = description["StreamDescriptionSummary"]["StreamARN"]

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        shards = self.kinesis.list_shards(StreamName=self.stream_name)["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            self._idle_since[shard_id] = None
            thread = threading.Thread(
                target=self._poll, args=(shard_id,), name=f"pump-{shard_id}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Stop polling; a batch in flight is finished, one being gathered is dropped (it is
        read again from the checkpoint)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self._threads.clear()

    def idle(self, since: float | None = None) -> bool:
        """Every shard read to its end and every record handled; with `since` (a
        `time.time()`), by reads that started at or after it: a record put before `since`
        is then either handled or seen (a read in flight, or one a busy process has not
        come back from, cannot be taken for one that found nothing)."""
        with self._lock:
            reads = list(self._idle_since.values())
            return bool(reads) and all(
                read is not None and (since is None or read >= since) for read in reads
            )

    # --- one shard -------------------------------------------------------------------------

    def _iterator(self, shard_id: str) -> str:
        state = self.checkpoints.get(shard_id)
        if state.checkpoint is None:
            response = self.kinesis.get_shard_iterator(
                StreamName=self.stream_name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )
        else:
            response = self.kinesis.get_shard_iterator(
                StreamName=self.stream_name,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                StartingSequenceNumber=state.checkpoint,
            )
        iterator: str = response["ShardIterator"]
        return iterator

    def _poll(self, shard_id: str) -> None:
        """Poll the shard until stopped; a failed call (the endpoint away, a broken
        iterator) is reported in `errors` and polling starts again from the checkpoint."""
        while not self._stop.is_set():
            try:
                self._poll_from_checkpoint(shard_id)
            except Exception as exc:  # kept and shown; the mapping carries on
                with self._lock:
                    self.errors.append(f"{shard_id}: {type(exc).__name__}: {exc}")
                    self._idle_since[shard_id] = None
                self._stop.wait(RETRY_CAP_S)

    def _poll_from_checkpoint(self, shard_id: str) -> None:
        iterator = self._iterator(shard_id)
        batch: list[dict[str, Any]] = []
        gathering_since = 0.0
        window = float(self.tuning.batching_window_s)
        idle = IDLE_POLL_S
        while not self._stop.is_set():
            room = self.tuning.batch_size - len(batch)
            reading = time.time()
            page = self.kinesis.get_records(ShardIterator=iterator, Limit=min(room, 10_000))
            iterator = page["NextShardIterator"]
            records = page["Records"]
            if records:
                if not batch:
                    gathering_since = time.monotonic()
                batch.extend(records)
                self._report_read(shard_id, records)
            caught_up = not records or page.get("MillisBehindLatest", 0) == 0
            full = len(batch) >= self.tuning.batch_size
            waited = batch and time.monotonic() - gathering_since >= window
            if batch and (full or waited):
                self._deliver(shard_id, batch)
                batch = []
                continue
            with self._lock:
                self._idle_since[shard_id] = reading if not batch and caught_up else None
            if records or batch:
                idle = IDLE_POLL_S  # gathering a batch: look again soon
            if not records:
                self._stop.wait(idle)
                idle = min(IDLE_POLL_MAX_S, 2 * idle)

    def _report_read(self, shard_id: str, records: Sequence[dict[str, Any]]) -> None:
        state = self.checkpoints.get(shard_id)
        last = int(state.read) if state.read is not None else -1
        fresh = [r for r in records if int(r["SequenceNumber"]) > last]
        if not fresh:
            return
        events = [self._lambda_record(shard_id, r) for r in fresh]
        self.on_read(deaggregate_records(events))
        state.read = fresh[-1]["SequenceNumber"]
        self.checkpoints.save()

    def _lambda_record(self, shard_id: str, record: dict[str, Any]) -> dict[str, Any]:
        return lambda_record(record, shard_id, self.stream_arn, self.region)

    # --- one batch -------------------------------------------------------------------------

    def _deliver(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        """Hand a batch to the function until it is handled or given up on (module doc)."""
        pending: list[list[dict[str, Any]]] = [batch]
        while pending:
            part = pending.pop(0)
            attempt = 0
            while part:
                if self._stop.is_set():
                    return  # not checkpointed: read again after a restart
                outcome, failed_at = self._invoke(shard_id, part)
                if outcome == "ok":
                    self._checkpoint(shard_id, part[-1])
                    break
                if outcome == "partial" and failed_at > 0:
                    self._checkpoint(shard_id, part[failed_at - 1])
                    part = part[failed_at:]
                if outcome == "error" and BISECT_BATCH_ON_ERROR and len(part) > 1:
                    half = len(part) // 2
                    pending[:0] = [part[:half], part[half:]]
                    self.stats.retries += 1
                    break
                attempt += 1
                too_old = self._too_old(part)
                if (
                    attempt > self.tuning.retry_attempts
                    and BISECT_BATCH_ON_ERROR
                    and len(part) > 1
                    and not too_old
                ):
                    # Isolate what keeps failing: each half gets its own retries.
                    half = len(part) // 2
                    pending[:0] = [part[:half], part[half:]]
                    break
                if attempt > self.tuning.retry_attempts or too_old:
                    self._give_up(shard_id, part, attempt)
                    self._checkpoint(shard_id, part[-1])
                    break
                self.stats.retries += 1
                self._stop.wait(min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt))

    def _invoke(self, shard_id: str, part: list[dict[str, Any]]) -> tuple[str, int]:
        event = {"Records": [self._lambda_record(shard_id, r) for r in part]}
        self.stats.invocations += 1
        try:
            response = self.invoke(event)
        except Exception:
            self.stats.function_errors += 1
            return "error", 0
        failures = (response or {}).get("batchItemFailures") or []
        if not failures:
            self.stats.records += len(part)
            self._decided(event["Records"])
            return "ok", 0
        self.stats.partial_failures += 1
        positions = {r["SequenceNumber"]: i for i, r in enumerate(part)}
        indexes = [positions.get(str(f.get("itemIdentifier")), -1) for f in failures]
        if any(i < 0 for i in indexes):
            # An identifier that is not in the batch fails the whole batch (as Lambda does).
            return "partial", 0
        first = min(indexes)
        self.stats.records += first
        self._decided(event["Records"][:first])
        return "partial", first

    def _decided(self, records: list[dict[str, Any]]) -> None:
        """The events of records the function handled (applied, found duplicate or
        quarantined: it did not report them as failures)."""
        ids = set()
        for record in deaggregate_records(records):
            try:
                event = json.loads(base64.b64decode(record["kinesis"]["data"]))
            except ValueError:
                continue
            if isinstance(event, dict) and "event_id" in event:
                ids.add(str(event["event_id"]))
        with self._lock:
            self.decided |= ids

    def _too_old(self, part: list[dict[str, Any]]) -> bool:
        oldest: datetime = min(r["ApproximateArrivalTimestamp"] for r in part)
        age = (datetime.now(UTC) - oldest).total_seconds()
        return age > self.tuning.max_record_age_s

    def _checkpoint(self, shard_id: str, record: dict[str, Any]) -> None:
        self.checkpoints.get(shard_id).checkpoint = record["SequenceNumber"]
        self.checkpoints.save()

    def _give_up(self, shard_id: str, part: list[dict[str, Any]], attempts: int) -> None:
        """Lambda's on-failure destination message for a Kinesis batch (positions only)."""
        self.stats.given_up_batches += 1
        self.stats.given_up_records += len(part)
        now = datetime.now(UTC)
        message = {
            "requestContext": {
                "requestId": f"local-{shard_id}-{part[0]['SequenceNumber']}",
                "functionArn": "ingest",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "version": "1.0",
            "timestamp": now.isoformat(),
            "KinesisBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": part[0]["SequenceNumber"],
                "endSequenceNumber": part[-1]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": part[0]["ApproximateArrivalTimestamp"]
                .astimezone(UTC)
                .isoformat(),
                "approximateArrivalOfLastRecord": part[-1]["ApproximateArrivalTimestamp"]
                .astimezone(UTC)
                .isoformat(),
                "batchSize": len(part),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(message))
