"""Aggregation plan, and one producer step of a real client against moto (`moto_http`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from edge_events import STORE, pending
from hypothesis import given, settings
from hypothesis import strategies as st
from moto_http import MotoAws, PutRecordsScript

from walkout_edge.uplink.backoff import Backoff, Failure, classify_error_code
from walkout_edge.uplink.health import UplinkStatus
from walkout_edge.uplink.outbox import Outbox, QueuedEvent
from walkout_edge.uplink.producer import (
    MAX_RECORD_BYTES,
    MAX_REQUEST_BYTES,
    KinesisProducer,
    plan_request,
)


def _queued(sizes_and_keys: list[tuple[int, str]]) -> list[QueuedEvent]:
    return [
        QueuedEvent(pos, key, pending(pos, key=key, size=size).body)
        for pos, (size, key) in enumerate(sizes_and_keys, start=1)
    ]


def _bodies(data: bytes, key: str) -> list[bytes]:
    records = [
        {"Data": data, "PartitionKey": key, "SequenceNumber": "1", "ApproximateArrivalTimestamp": 0}
    ]
    return [
        base64.b64decode(r["kinesis"]["data"])
        for r in iter_deaggregate_records(records, data_format="Boto3")
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(20, 2_000), st.integers(100_000, 400_000)),
            st.sampled_from(["store-042", "store-7", "s"]),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_a_request_holds_one_aggregate_per_key_of_its_oldest_events_within_limits(
    rows: list[tuple[int, str]],
) -> None:
    events = _queued(rows)

    plan = plan_request(events)

    keys = [e.partition_key for e in plan.entries]
    assert len(keys) == len(set(keys)) <= 500
    assert sum(e.size for e in plan.entries) <= MAX_REQUEST_BYTES
    assert plan.entries, "a non-empty queue always yields something to send"
    for entry in plan.entries:
        assert entry.size <= MAX_RECORD_BYTES
        of_key = [e for e in events if e.partition_key == entry.partition_key]
        # a prefix of that key's events, in order, and nothing of another key
        assert entry.positions == [e.pos for e in of_key[: len(entry.positions)]]
        assert _bodies(entry.data, entry.partition_key) == [
            e.body for e in of_key[: len(entry.positions)]
        ]
    assert events[0].partition_key in keys


def test_the_plan_reads_no_further_than_it_needs() -> None:
    pulled = 0

    def queue() -> Iterator[QueuedEvent]:
        nonlocal pulled
        for event in _queued([(300_000, STORE)] * 1000):
            pulled += 1
            yield event

    plan = plan_request(queue())

    assert len(plan.entries) == 1 and len(plan.entries[0].positions) == 3
    assert plan.full
    assert pulled == 4


def test_aggregates_respect_a_smaller_record_limit_counting_the_partition_key() -> None:
    plan = plan_request(_queued([(500, STORE)] * 50), max_record_bytes=4096)

    assert plan.entries[0].size <= 4096
    assert 4096 - plan.entries[0].size < 600  # filled, not stopped early


# --- one step of a real client against moto, failures injected on the wire ---------------


def _upper_bound(low: float, high: float) -> float:
    return high


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", store_id=STORE)
    yield box
    box.close()


@dataclass
class Rig:
    """A producer whose real Kinesis client answers from `script`, and the stream it fills."""

    producer: KinesisProducer
    script: PutRecordsScript
    stream: str
    status: UplinkStatus


def _rig(aws: MotoAws, outbox: Outbox, *answers: Any, linger_s: float = 0) -> Rig:
    stream = aws.stream()
    client = aws.client("kinesis")
    script = PutRecordsScript(client, aws, *answers)
    status = UplinkStatus()
    producer = KinesisProducer(
        outbox,
        client=client,
        stream_name=stream,
        status=status,
        backoff=Backoff(rng=_upper_bound),
        linger_s=linger_s,
    )
    return Rig(producer, script, stream, status)


def test_a_partial_failure_keeps_only_the_refused_records_and_retries_them_first(
    aws: MotoAws, outbox: Outbox
) -> None:
    # Given events of two partition keys, interleaved
    events = [
        pending(0, key="a"),
        pending(0, key="b", device="d2"),
        pending(1, key="a"),
        pending(1, key="b", device="d2"),
    ]
    outbox.enqueue(events)
    rig = _rig(aws, outbox, "throttle:b", "ok")

    # When Kinesis refuses b's record and accepts a's
    delay = rig.producer.step(draining=False)

    # Then a's events are gone, b's are kept, and the retry waits on the throttling schedule
    assert [e.partition_key for e in outbox.iter_events()] == ["b", "b"]
    assert delay == pytest.approx(0.1)
    # (both of b's events were in the refused record)
    assert rig.status.kinesis.errors == {"ProvisionedThroughputExceededException": 2}
    # and the next request carries b's events, alone and in order
    assert rig.producer.step(draining=False) == 0.0
    assert [key for key, _ in rig.script.requests[1]] == ["b"]
    assert _bodies(rig.script.requests[1][0][1], "b") == [events[1].body, events[3].body]
    assert outbox.depth == 0
    # and the stream holds every event once, in order per key
    stored = aws.user_records(rig.stream)
    assert [body for key, body in stored if key == "a"] == [events[0].body, events[2].body]
    assert [body for key, body in stored if key == "b"] == [events[1].body, events[3].body]
    assert len(stored) == 4


def test_backoff_grows_exponentially_up_to_its_cap_and_resets_on_success(
    aws: MotoAws, outbox: Outbox
) -> None:
    outbox.enqueue([pending(0)])
    rig = _rig(aws, outbox, *(["throttle:" + STORE] * 8), "ok", "throttle:" + STORE)

    delays = [rig.producer.step(draining=False) for _ in range(8)]

    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert aws.user_records(rig.stream) == []
    assert rig.producer.step(draining=False) == 0.0
    assert outbox.depth == 0
    assert aws.user_records(rig.stream) == [(STORE, pending(0).body)]
    # and after a success the next throttling starts over from the base
    outbox.enqueue([pending(1)])
    assert rig.producer.step(draining=False) == pytest.approx(0.1)


def test_no_connection_waits_on_the_offline_schedule_and_marks_the_link_down(
    aws: MotoAws, outbox: Outbox
) -> None:
    outbox.enqueue([pending(0)])
    rig = _rig(aws, outbox, "down", "down", "ok")

    assert rig.producer.step(draining=False) == pytest.approx(1.0)
    assert rig.producer.step(draining=False) == pytest.approx(2.0)
    assert rig.status.online is False
    assert outbox.depth == 1

    assert rig.producer.step(draining=False) == 0.0
    assert rig.status.online is True and outbox.depth == 0
    assert aws.user_records(rig.stream) == [(STORE, pending(0).body)]


def test_a_refused_call_is_retried_slowly_and_nothing_is_dropped(
    aws: MotoAws, outbox: Outbox
) -> None:
    outbox.enqueue([pending(0)])
    rig = _rig(aws, outbox, "error:AccessDeniedException")

    assert rig.producer.step(draining=False) == pytest.approx(1.0)  # the `rejected` schedule
    assert outbox.depth == 1
    assert rig.status.kinesis.errors == {"AccessDeniedException": 1}


def test_a_stream_that_does_not_exist_is_refused_by_kinesis_and_nothing_is_dropped(
    aws: MotoAws, outbox: Outbox
) -> None:
    # No injection: moto itself answers ResourceNotFoundException
    outbox.enqueue([pending(0)])
    status = UplinkStatus()
    producer = KinesisProducer(
        outbox,
        client=aws.client("kinesis"),
        stream_name="no-such-stream",
        status=status,
        backoff=Backoff(rng=_upper_bound),
        linger_s=0,
    )

    assert producer.step(draining=False) == pytest.approx(1.0)
    assert outbox.depth == 1
    assert status.kinesis.errors == {"ResourceNotFoundException": 1}


def test_an_unexpected_exception_is_not_swallowed(aws: MotoAws, outbox: Outbox) -> None:
    outbox.enqueue([pending(0)])
    rig = _rig(aws, outbox, KeyError("bug"))

    with pytest.raises(KeyError):
        rig.producer.step(draining=False)
    assert outbox.depth == 1


def test_a_lone_young_event_lingers_for_company_unless_draining(
    aws: MotoAws, outbox: Outbox
) -> None:
    outbox.enqueue([pending(0)])
    rig = _rig(aws, outbox, "ok", linger_s=5.0)

    assert 4.0 < rig.producer.step(draining=False) <= 5.0
    assert rig.script.requests == []
    assert rig.producer.step(draining=True) == 0.0
    assert outbox.depth == 0
    assert aws.user_records(rig.stream) == [(STORE, pending(0).body)]


def test_classification_of_failures() -> None:
    assert classify_error_code("ProvisionedThroughputExceededException") is Failure.THROTTLED
    assert classify_error_code("KMSThrottlingException") is Failure.THROTTLED
    assert classify_error_code("SomethingNew", 503) is Failure.THROTTLED
    assert classify_error_code("ResourceNotFoundException", 400) is Failure.REJECTED


def test_an_event_larger_than_the_configured_record_cap_is_still_sent() -> None:
    events = _queued([(300, STORE), (20_000, STORE), (300, STORE)])

    first = plan_request(events, max_record_bytes=4096)
    second = plan_request(events[1:], max_record_bytes=4096)

    assert first.entries[0].positions == [1]
    # not stuck at the head of the queue: it goes, within Kinesis's own limit
    assert second.entries[0].positions[0] == 2
    assert 20_000 < second.entries[0].size <= MAX_RECORD_BYTES
