"""Aggregation plan and one producer step, against a scripted Kinesis client (no network)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from botocore.exceptions import ClientError, EndpointConnectionError
from edge_events import STORE, pending
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- one step against a scripted client ----------------------------------------------------


class ScriptedKinesis:
    """Answers put_records from a script: 'ok', 'throttle:<key>', or an exception."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[list[dict[str, Any]]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.requests.append(Records)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        results = []
        for n, record in enumerate(Records):
            if answer == f"throttle:{record['PartitionKey']}":
                results.append(
                    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "x"}
                )
            else:
                results.append({"SequenceNumber": str(n), "ShardId": "shardId-0"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def _upper_bound(low: float, high: float) -> float:
    return high


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", store_id=STORE)
    yield box
    box.close()


def _producer(outbox: Outbox, client: ScriptedKinesis, **kw: Any) -> KinesisProducer:
    return KinesisProducer(
        outbox,
        client=client,
        stream_name="events",
        status=kw.pop("status", UplinkStatus()),
        backoff=Backoff(rng=_upper_bound),
        linger_s=kw.pop("linger_s", 0),
        **kw,
    )


def test_a_partial_failure_keeps_only_the_refused_records_and_retries_them_first(
    outbox: Outbox,
) -> None:
    # Given events of two partition keys, interleaved
    outbox.enqueue(
        [
            pending(0, key="a"),
            pending(0, key="b", device="d2"),
            pending(1, key="a"),
            pending(1, key="b", device="d2"),
        ]
    )
    client = ScriptedKinesis("throttle:b", "ok")
    producer = _producer(outbox, client)

    # When Kinesis refuses b's record and accepts a's
    delay = producer.step(draining=False)

    # Then a's events are gone, b's are kept, and the retry waits on the throttling schedule
    assert [e.partition_key for e in outbox.iter_events()] == ["b", "b"]
    assert delay == pytest.approx(0.1)
    # and the next request carries b's events, alone and in order
    assert producer.step(draining=False) == 0.0
    assert [r["PartitionKey"] for r in client.requests[1]] == ["b"]
    assert _bodies(client.requests[1][0]["Data"], "b") == [
        pending(0, key="b", device="d2").body,
        pending(1, key="b", device="d2").body,
    ]
    assert outbox.depth == 0


def test_backoff_grows_exponentially_up_to_its_cap_and_resets_on_success(
    outbox: Outbox,
) -> None:
    outbox.enqueue([pending(0)])
    client = ScriptedKinesis(*(["throttle:" + STORE] * 8), "ok")
    producer = _producer(outbox, client)

    delays = [producer.step(draining=False) for _ in range(8)]

    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert producer.step(draining=False) == 0.0
    assert outbox.depth == 0


def test_no_connection_waits_on_the_offline_schedule_and_marks_the_link_down(
    outbox: Outbox,
) -> None:
    outbox.enqueue([pending(0)])
    status = UplinkStatus()
    down = EndpointConnectionError(endpoint_url="https://kinesis.eu-west-1.amazonaws.com")
    producer = _producer(outbox, ScriptedKinesis(down, down, "ok"), status=status)

    assert producer.step(draining=False) == pytest.approx(1.0)
    assert producer.step(draining=False) == pytest.approx(2.0)
    assert status.online is False
    assert outbox.depth == 1

    assert producer.step(draining=False) == 0.0
    assert status.online is True and outbox.depth == 0


def test_a_refused_call_is_retried_slowly_and_nothing_is_dropped(outbox: Outbox) -> None:
    outbox.enqueue([pending(0)])
    denied = ClientError(
        {
            "Error": {"Code": "AccessDeniedException", "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "PutRecords",
    )
    status = UplinkStatus()
    producer = _producer(outbox, ScriptedKinesis(denied), status=status)

    assert producer.step(draining=False) == pytest.approx(1.0)  # the `rejected` schedule
    assert outbox.depth == 1
    assert status.kinesis.errors == {"AccessDeniedException": 1}


def test_an_unexpected_exception_is_not_swallowed(outbox: Outbox) -> None:
    outbox.enqueue([pending(0)])
    producer = _producer(outbox, ScriptedKinesis(KeyError("bug")))

    with pytest.raises(KeyError):
        producer.step(draining=False)
    assert outbox.depth == 1


def test_a_lone_young_event_lingers_for_company_unless_draining(outbox: Outbox) -> None:
    outbox.enqueue([pending(0)])
    client = ScriptedKinesis("ok")
    producer = _producer(outbox, client, linger_s=5.0)

    assert 4.0 < producer.step(draining=False) <= 5.0
    assert client.requests == []
    assert producer.step(draining=True) == 0.0
    assert outbox.depth == 0


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
