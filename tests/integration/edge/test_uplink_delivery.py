"""Outbox → KPL-aggregated PutRecords → moto (server mode, real HTTP) → a deaggregating consumer."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
from aws_kinesis_agg import MAGIC
from botocore.config import Config
from edge_kit import DAEMON_DEVICE, REGION, STORE, fake_jpeg, make_events, read_stream

from walkout.events import event_to_dict
from walkout_edge.sinks import EvidenceImage
from walkout_edge.uplink.backoff import Backoff, Failure, Schedule
from walkout_edge.uplink.evidence import EvidenceUploader
from walkout_edge.uplink.health import UplinkStatus
from walkout_edge.uplink.loop import DeliveryLoop
from walkout_edge.uplink.loopback_proxy import LoopbackProxy
from walkout_edge.uplink.outbox import Outbox
from walkout_edge.uplink.producer import KinesisProducer
from walkout_edge.uplink.sink import OutboxSink, Sequencer

FAST = {
    Failure.THROTTLED: Schedule(0.005, 0.05),
    Failure.OFFLINE: Schedule(0.05, 0.2),
    Failure.REJECTED: Schedule(0.05, 0.2),
}


def _client(service: str, url: str) -> Any:
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path"},
    )
    return boto3.client(service, endpoint_url=url, region_name=REGION, config=config)


def _deliver(
    outbox: Outbox, url: str, aws: Any, status: UplinkStatus, **producer: Any
) -> tuple[DeliveryLoop, DeliveryLoop]:
    kinesis = DeliveryLoop(
        KinesisProducer(
            outbox,
            client=_client("kinesis", url),
            stream_name=aws.stream,
            status=status,
            backoff=Backoff(FAST),
            linger_s=0,
            **producer,
        ),
        outbox,
    )
    s3 = DeliveryLoop(
        EvidenceUploader(
            outbox,
            client=_client("s3", url),
            bucket=aws.bucket,
            status=status,
            backoff=Backoff(FAST),
        ),
        outbox,
    )
    kinesis.start()
    s3.start()
    return kinesis, s3


def _drain(*loops: DeliveryLoop, timeout: float = 60) -> None:
    for loop in loops:
        loop.finish(None)
    deadline = time.monotonic() + timeout
    for loop in loops:
        assert loop.join(max(0.0, deadline - time.monotonic())), f"{loop.name} did not drain"
        assert loop.error is None


def test_consumer_deaggregates_exactly_what_was_produced_in_order(aws: Any, tmp_path: Path) -> None:
    # Given 600 events, some of a few kB, and aggregates capped at 16 KiB so that the stream
    # gets many aggregated records
    events = make_events(600)
    events += [
        e.model_copy(update={"seq": 600 + i}) for i, e in enumerate(make_events(30, crowd=40))
    ]
    # images only for every tenth shelf change: S3 in moto takes ~20 ms an upload
    images = {e.event_id for e in events if e.type == "shelf.changed" and e.seq % 10 == 3}
    outbox = Outbox(tmp_path / "outbox.db", store_id=STORE)
    sink = OutboxSink(outbox, store_id=STORE, sequencer=Sequencer(DAEMON_DEVICE, None))
    status = UplinkStatus()
    kinesis, s3 = _deliver(outbox, aws.url, aws, status, max_record_bytes=16 * 1024)

    # When they are emitted one by one while the producer runs, then drained
    for event in events:
        if event.event_id in images:
            key = event.data.evidence[0]  # type: ignore[union-attr]
            sink.emit(event, [EvidenceImage(key, fake_jpeg(key))])
        else:
            sink.emit(event)
    _drain(kinesis, s3)

    # Then the consumer sees exactly the produced events, in order, once each
    delivered, raw = read_stream(aws.kinesis, aws.stream)
    assert [d.event for d in delivered] == [event_to_dict(e) for e in events]
    # and every Kinesis record is a KPL aggregate of one partition key within the limit
    assert len(raw) > 10
    assert all(r["Data"].startswith(MAGIC) for r in raw)
    assert {r["PartitionKey"] for r in raw} == {STORE}
    assert max(len(r["Data"]) + len(STORE) for r in raw) <= 16 * 1024
    assert {d.partition_key for d in delivered} == {STORE}
    # and every image is in the bucket under its event's key, byte for byte
    keys = [e.data.evidence[0] for e in events if e.event_id in images]  # type: ignore[union-attr]
    for key in keys:
        body = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
        assert body == fake_jpeg(key)
    assert aws.s3.list_objects_v2(Bucket=aws.bucket)["KeyCount"] == len(keys)
    assert outbox.depth == 0 and outbox.evidence_depth == 0
    assert status.kinesis.delivered == len(events)
    outbox.close()


def test_thirty_percent_of_records_throttled_are_all_delivered_in_order(
    aws: Any, tmp_path: Path, proxy: LoopbackProxy
) -> None:
    # Given a proxy that refuses 30% of PutRecords records with
    # ProvisionedThroughputExceededException, and small aggregates (many requests)
    proxy.reject_fraction = 0.3
    events = [e for e in make_events(500) if e.type != "shelf.changed" or e.seq % 3 == 0]
    outbox = Outbox(tmp_path / "outbox.db", store_id=STORE)
    sink = OutboxSink(outbox, store_id=STORE, sequencer=Sequencer(DAEMON_DEVICE, None))
    sink.emit_many([(e, []) for e in events])
    status = UplinkStatus()

    # When the producer drains the outbox through the proxy
    kinesis, _ = _deliver(outbox, proxy.url, aws, status, max_record_bytes=2 * 1024)
    kinesis.finish(None)
    assert kinesis.join(60)

    # Then the proxy really refused about 30% of the records it saw
    counters = proxy.snapshot()
    assert counters["records_refused"] >= 8
    assert 0.15 < counters["records_refused"] / counters["records_seen"] < 0.45
    assert status.kinesis.errors["ProvisionedThroughputExceededException"] > 0
    # and yet every event arrived exactly once, in production order
    delivered, _ = read_stream(aws.kinesis, aws.stream)
    assert [d.event["event_id"] for d in delivered] == [e.event_id for e in events]
    assert outbox.depth == 0
    outbox.close()
