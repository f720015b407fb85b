"""Records ingest cannot use are quarantined with a reason; the batch goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ingest_support import (
    STORE,
    Edge,
    MotoIngest,
    failures,
    kinesis_record,
    moto_ingest,
    records_of,
)

from walkout.events import event_to_json


@pytest.fixture
def aws() -> Iterator[MotoIngest]:
    yield from moto_ingest()


def test_poison_records_are_quarantined_and_the_rest_is_applied(
    aws: MotoIngest, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a batch with good events around every kind of bad one
    edge = Edge()
    good_before = edge.entered("s1", ["t1"], at_s=0)
    good_after = edge.shelf("L2", -150.0, [("t1", "s1", 0.9, 0.4)], at_s=9)
    bad_lane = json.loads(event_to_json(edge.shelf("L2", -150.0, [("t1", "s1", 0.9, 0.4)], at_s=5)))
    bad_lane["data"]["lane_id"] = "L99"
    bad_field = json.loads(event_to_json(edge.heartbeat(6)))
    bad_field["data"]["outbox_depth"] = "many"
    unknown_type = json.loads(event_to_json(edge.heartbeat(7)))
    unknown_type["type"] = "shelf.exploded"
    poison = [
        b"not json at all",
        json.dumps(bad_lane).encode(),
        json.dumps(bad_field).encode(),
        json.dumps(unknown_type).encode(),
    ]
    early_join = edge.joined("s-unknown", "t9", at_s=8)  # held for its session, not poison
    records = [
        *records_of([good_before]),
        *records_of(poison),
        *records_of([early_join]),
        kinesis_record("store-404", event_to_json(Edge(store_id="store-404").heartbeat(3))),
        kinesis_record("other-key", event_to_json(edge.heartbeat(8))),
        *records_of([good_after]),
    ]
    # When the batch is processed
    response = aws.invoke(records)
    # Then no record failed, the good ones were applied
    assert failures(response) == []
    assert aws.items("s1") == {"chips": 1}
    # ... each bad one is kept with its bytes and a reason naming the problem
    table = aws.ingest()
    kept = {q.raw: q.reason for q in table.quarantined(STORE)}
    assert len(kept) == len(poison)
    reasons = " | ".join(kept.values())
    for expected in (
        "not valid JSON",
        "lane L99 is not in store",
        "data.outbox_depth",
        "unknown event type 'shelf.exploded'",
    ):
        assert expected in reasons
    assert "unknown store store-404" in table.quarantined("store-404")[0].reason
    assert "partition key" in table.quarantined("other-key")[0].reason
    # ... and counted in the QuarantinedEvents metric
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(sum(m.get("QuarantinedEvents", [0])) for m in emf) == len(poison) + 2


def test_a_poison_record_delivered_twice_is_kept_once(aws: MotoIngest) -> None:
    # Given the same bad record in two deliveries
    records = records_of([b'{"schema": "walkout.event/1"}'])
    # When both are processed
    aws.invoke(records)
    aws.invoke(records)
    # Then it is stored once
    assert len(aws.ingest().quarantined(STORE)) == 1


def test_a_session_id_reused_by_another_event_is_quarantined(aws: MotoIngest) -> None:
    # Given a session opened by one scan
    edge = Edge()
    aws.send([edge.entered("s1", ["t1"], at_s=0, account="acct-a")])
    # When a different entry event claims the same session id
    response = aws.send([edge.entered("s1", ["t7"], at_s=5, account="acct-b")])
    # Then it is quarantined and the first session is untouched
    assert failures(response) == []
    session, _ = aws.read("s1")
    assert session is not None and session.tracks == ["t1"] and session.account_ref == "acct-a"
    assert "already opened by event" in aws.ingest().quarantined(STORE)[0].reason
