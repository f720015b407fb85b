"""Redelivery, duplicates, KPL aggregation and partial batch failures against moto."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ingest_support import (
    STORE,
    Edge,
    MotoIngest,
    failures,
    kpl_records,
    moto_ingest,
    records_of,
    small_definition,
)

from walkout.events import Event
from walkout.ingest.lifecycle import SessionStatus


@pytest.fixture
def aws() -> Iterator[MotoIngest]:
    yield from moto_ingest(grace_s=2.0)


def visit(store_id: str = STORE, device: str = "edge-1") -> list[Event]:
    """A short store day: two shoppers, picks, a put-back, an exit, heartbeats."""
    edge = Edge(store_id=store_id, device_id=device)
    return [
        edge.entered("s1", ["t1"], at_s=0),
        edge.entered("s2", ["t2", "t3"], at_s=1),
        edge.shelf("L1", -355.0, [("t1", "s1", 0.9, 0.4)], at_s=5),
        edge.heartbeat(5),
        edge.shelf("L4", -1001.0, [("t2", "s2", 0.85, 0.4), ("t1", "s1", 0.3, 0.9)], at_s=7),
        edge.shelf("L1", 354.1, [("t1", "s1", 0.9, 0.4)], at_s=9),
        edge.shelf("L6", -119.5, [("t3", "s2", 0.9, 0.4)], at_s=10),
        edge.heartbeat(10),
        edge.shelf("L2", -150.0, [("t1", "s1", 0.88, 0.4)], at_s=12),
        edge.exited("s1", "t1", at_s=15),
        edge.heartbeat(20),
    ]


def snapshot(aws: MotoIngest, store_id: str = STORE) -> dict[str, Any]:
    """What ingest decided: carts, factors, statuses (not timestamps of the writes)."""
    out: dict[str, Any] = {}
    for session_id in ("s1", "s2"):
        session, cart = aws.sessions().read_session(store_id, session_id)
        assert session is not None and cart is not None
        out[session_id] = (
            session.status,
            cart.items,
            cart.picked_from,
            cart.cart.version,
            cart.cart.totals,
            sorted(cart.factors.values()),
        )
    return out


def test_a_batch_delivered_twice_changes_nothing_the_second_time(aws: MotoIngest) -> None:
    # Given a store day ingested once
    events = visit()
    aws.send(events)
    before = snapshot(aws)
    writes = aws.scan_count("sessions"), aws.scan_count("ingest")
    # When the same records arrive again (Lambda retry, producer re-send)
    response = aws.send(events)
    # Then nothing failed and nothing changed
    assert failures(response) == []
    assert snapshot(aws) == before
    assert (aws.scan_count("sessions"), aws.scan_count("ingest")) == writes
    assert before["s1"][1] == {"chips": 1}


def test_a_record_repeated_inside_one_batch_counts_once(aws: MotoIngest) -> None:
    # Given a pick whose record the producer sent twice in a row
    edge = Edge()
    entered = edge.entered("s1", ["t1"], at_s=0)
    pick = edge.shelf("L2", -150.0, [("t1", "s1", 0.9, 0.4)], at_s=5)
    # When both copies are in one batch
    aws.send([entered, pick, pick])
    # Then the cart holds one unit
    assert aws.items("s1") == {"chips": 1}


@pytest.mark.parametrize("seed", [1, 2])
def test_overlapping_redeliveries_across_stores_give_the_single_pass_result(
    aws: MotoIngest, seed: int
) -> None:
    # Given the same store day in four stores: two ingested once, in order (the reference)
    stores = {"ref-1": "store-1", "ref-2": "store-2"}
    for store_id in [*stores, *stores.values()]:
        aws.put_store(small_definition(store_id))
    for ref in stores:
        aws.send(visit(ref), partition_key=ref)
    # When the other two stores' records interleave arbitrarily (order holds per partition
    # key only) and batches are redelivered from random earlier points (Lambda retries)
    rng = random.Random(seed)
    queues = {s: records_of(visit(s), s) for s in stores.values()}
    merged: list[dict[str, Any]] = []
    while any(queues.values()):
        store_id = rng.choice([s for s, q in queues.items() if q])
        merged.append(queues[store_id].pop(0))
    position = 0
    while position < len(merged):
        end = min(len(merged), position + rng.randint(2, 6))
        assert failures(aws.invoke(merged[position:end])) == []
        position = max(0, end - rng.randint(0, 3)) if end < len(merged) else end
    # Then every store ends where a single in-order pass ends
    for ref, store_id in stores.items():
        assert snapshot(aws, store_id) == snapshot(aws, ref)


def test_kpl_aggregated_records_are_deaggregated(aws: MotoIngest) -> None:
    # Given the store day packed into KPL aggregates (a few user records each)
    events = visit()
    records = kpl_records(events)
    assert len(records) < len(events)
    # When ingested
    response = aws.invoke(records)
    # Then every user record was applied
    assert failures(response) == []
    snap = snapshot(aws)
    assert snap["s1"][1] == {"chips": 1}
    assert snap["s2"][1] == {"juice": 1, "candy": 2}
    assert snap["s1"][0] is SessionStatus.READY


def test_a_transient_failure_fails_that_record_and_the_rest_of_its_store(
    aws: MotoIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two stores' records interleaved in one batch
    aws.put_store(small_definition("store-2"))
    one, two = visit("store-1"), visit("store-2")
    records = []
    for a, b in zip(records_of(one, "store-1"), records_of(two, "store-2"), strict=True):
        records += [a, b]
    # ... and DynamoDB throttling the transaction of store-1's third shelf event once
    flaky_event = one[5].event_id
    ddb = aws.ddb
    real = ddb.transact_write_items
    calls = {"n": 0}

    def throttled(**kwargs: Any) -> Any:
        if flaky_event in str(kwargs) and calls["n"] == 0:
            calls["n"] += 1
            raise ClientError(
                {
                    "Error": {
                        "Code": "ProvisionedThroughputExceededException",
                        "Message": "slow down",
                    }
                },
                "TransactWriteItems",
            )
        return real(**kwargs)

    monkeypatch.setattr(ddb, "transact_write_items", throttled)
    # When the batch is processed
    response = aws.invoke(records)
    # Then that record and every later store-1 record are batch item failures; store-2 is done
    failed = failures(response)
    store1_seqs = [
        r["kinesis"]["sequenceNumber"] for r in records if r["kinesis"]["partitionKey"] == "store-1"
    ]
    assert failed == store1_seqs[5:]
    assert snapshot(aws, "store-2")["s1"][1] == {"chips": 1}
    # When Lambda redelivers from the first failure (as Kinesis does)
    first = next(i for i, r in enumerate(records) if r["kinesis"]["sequenceNumber"] == failed[0])
    assert failures(aws.invoke(records[first:])) == []
    # Then store-1 ends as if nothing had happened
    snap = snapshot(aws, "store-1")
    assert snap["s1"][1] == {"chips": 1}
    assert snap["s2"][1] == {"juice": 1, "candy": 2}
