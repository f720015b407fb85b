"""The ingest handler end to end against moto: sessions, carts, readiness and hand-over."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ingest_support import REGION, STORE, Edge, MotoIngest, failures, moto_ingest

from walkout.config import DeploymentConfig
from walkout.ingest.lifecycle import SessionStatus, execution_name
from walkout.pricing import price_items


@pytest.fixture
def aws() -> Iterator[MotoIngest]:
    yield from moto_ingest(grace_s=2.0)


def test_a_pick_lands_in_the_right_cart_and_is_priced(aws: MotoIngest) -> None:
    # Given a shopper who entered and reached into the cola lane twice
    edge = Edge()
    events = [
        edge.entered("s1", ["t1"], at_s=0),
        edge.shelf("L1", -354.0, [("t1", "s1", 0.9, 0.4)], at_s=10),
        edge.shelf("L1", -710.5, [("t1", "s1", 0.85, 0.4)], at_s=20),
    ]
    # When the records are ingested
    response = aws.send(events)
    # Then nothing failed and the live cart holds three colas with the multi-buy saving
    assert failures(response) == []
    session, cart = aws.read("s1")
    assert session is not None and cart is not None
    assert cart.items == {"cola": 3}
    assert cart.cart.totals.subtotal_minor == 3 * 199
    assert cart.cart.totals.savings_minor == 2 * 199 - 300
    assert cart.cart.version == 2
    assert 0.9 < cart.confidence <= 1.0


def test_the_session_and_its_live_cart_read_in_one_query(aws: MotoIngest) -> None:
    # Given a session with one item
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0),
            edge.shelf("L2", -150.4, [("t1", "s1", 0.9, 0.4)], at_s=5),
        ]
    )
    # When the session's partition is queried once
    items = aws.ddb.query(
        TableName=aws.config.table_name("sessions"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SESSION#{STORE}#s1"}},
    )["Items"]
    # Then it holds the session and its priced cart
    kinds = sorted(i["sk"]["S"] for i in items)
    assert kinds == ["CART", "META"]
    cart = next(i for i in items if i["sk"]["S"] == "CART")
    assert cart["cart"]["M"]["totals"]["M"]["total_minor"]["N"] == "249"


def test_a_session_is_handed_over_once_every_track_left_and_watermarks_passed(
    aws: MotoIngest,
) -> None:
    # Given a group of two that shopped and left, with the edge's heartbeat at exit + 1 s
    # (the edge could tell for one of them that the person leaving was who had entered)
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0),
            edge.joined("s1", "t2", at_s=1),
            edge.shelf("L3", -411.0, [("t2", "s1", 0.9, 0.4)], at_s=10),
            edge.exited("s1", "t1", at_s=20, same_person=0.91),
            edge.exited("s1", "t2", at_s=30),
            edge.heartbeat(31),
        ]
    )
    # Then it is closing, not ready: the grace period (2 s) has not passed
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.CLOSING
    # and what the edge said of who left is kept for the receipt
    assert session.same_person == {"t1": 0.91}
    assert aws.executions() == []
    # When a heartbeat passes exit + grace (and is redelivered)
    aws.send([edge.heartbeat(32.5)])
    aws.send([edge.heartbeat(33)])
    # Then exactly one finalize execution started, named after the session, with its key
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.READY
    executions = aws.executions()
    assert [e["name"] for e in executions] == [execution_name(STORE, "s1")]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(described["input"]) == {"store_id": STORE, "session_id": "s1"}
    assert session.execution_arn == executions[0]["executionArn"]


def test_readiness_waits_for_every_device_of_the_store(aws: MotoIngest) -> None:
    # Given two devices; the gate box is ahead, the shelf hub lags behind
    gate, hub = Edge(device_id="gate-1"), Edge(device_id="hub-1")
    aws.send(
        [gate.entered("s1", ["t1"], at_s=0), hub.heartbeat(5), gate.exited("s1", "t1", at_s=10)]
    )
    aws.send([gate.heartbeat(20)])
    # Then the session is not ready while the hub's watermark is before exit + grace
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.CLOSING
    # When the hub catches up
    aws.send([hub.heartbeat(12.5)])
    # Then it is handed over
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.READY
    assert len(aws.executions()) == 1


def test_a_late_exit_makes_the_session_ready_at_once(aws: MotoIngest) -> None:
    # Given watermarks already far past the exit (the exit record came late)
    edge = Edge()
    aws.send([edge.entered("s1", ["t1"], at_s=0), edge.heartbeat(100)])
    # When the exit arrives
    aws.send([edge.exited("s1", "t1", at_s=50)])
    # Then the session is ready without waiting for another heartbeat
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.READY


def test_cart_updated_goes_to_eventbridge_without_shopper_identity(aws: MotoIngest) -> None:
    # Given a queue subscribed to the bus's CartUpdated events
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="carts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="carts",
        EventBusName=aws.bus_name,
        EventPattern=json.dumps({"source": ["walkout.ingest"], "detail-type": ["CartUpdated"]}),
    )
    events.put_targets(
        Rule="carts", EventBusName=aws.bus_name, Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    edge = Edge()
    # When a batch changes one cart twice
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0, account="acct-secret-42"),
            edge.shelf("L2", -150.0, [("t1", "s1", 0.9, 0.4)], at_s=5),
            edge.shelf("L6", -60.2, [("t1", "s1", 0.9, 0.4)], at_s=8),
        ]
    )
    # Then one CartUpdated carries the latest cart, and no account token
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    body = messages[0]["Body"]
    assert "acct-secret-42" not in body
    detail = json.loads(body)["detail"]
    assert detail["session_id"] == "s1" and detail["version"] == 2
    assert {line["sku"] for line in detail["cart"]["lines"]} == {"chips", "candy"}


def test_logs_and_metrics_never_carry_the_account_token(
    aws: MotoIngest, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a session whose scan token is recognisable, and a poison record mentioning it
    edge = Edge()
    aws.send(
        [
            edge.entered("s1", ["t1"], at_s=0, account="acct-secret-77"),
            b'{"account_ref": "acct-secret-77", "type": "nope"}',
            edge.exited("s1", "t1", at_s=3),
        ]
    )
    # Then nothing written to the log stream mentions it
    out = capsys.readouterr()
    assert "acct-secret-77" not in out.out + out.err
    assert "QuarantinedEvents" in out.out  # the metrics did get flushed


def test_an_easy_visit_ends_with_the_cart_of_the_true_receipt(aws: MotoIngest) -> None:
    # Given two shoppers' visits: picks, a put-back and a multi-unit pick
    edge = Edge()
    events = [
        edge.entered("s1", ["t1"], at_s=0),
        edge.entered("s2", ["t2"], at_s=2),
        edge.shelf("L1", -355.8, [("t1", "s1", 0.92, 0.35)], at_s=10),
        edge.shelf("L4", -2001.0, [("t2", "s2", 0.88, 0.4)], at_s=11),
        edge.shelf("L2", -150.3, [("t1", "s1", 0.9, 0.3), ("t2", "s2", 0.05, 1.6)], at_s=15),
        edge.shelf("L2", 149.8, [("t1", "s1", 0.85, 0.3)], at_s=18),
        edge.shelf("L6", -121.0, [("t2", "s2", 0.9, 0.3)], at_s=20),
        edge.shelf("L1", -355.0, [("t1", "s1", 0.9, 0.3)], at_s=25),
        edge.exited("s1", "t1", at_s=40),
        edge.exited("s2", "t2", at_s=41),
        edge.heartbeat(50),
    ]
    truth = {"s1": {"cola": 2}, "s2": {"juice": 2, "candy": 2}}
    # When they are ingested
    assert failures(aws.send(events)) == []
    # Then each cart is the priced true receipt, and both sessions were handed over
    definition = aws.put_store()
    for session_id, items in truth.items():
        session, cart = aws.read(session_id)
        assert session is not None and cart is not None
        assert cart.items == items
        expected = price_items(
            items, definition.catalog, prices_include_tax=True, at=cart.cart.updated_at
        )
        assert list(cart.cart.lines) == list(expected.lines)
        assert cart.cart.totals == expected.totals
        assert list(cart.cart.savings) == list(expected.savings)
        assert session.status is SessionStatus.READY
        assert cart.confidence > 0.95


def test_a_batch_of_heartbeats_writes_each_watermark_once_with_the_highest_value(
    aws: MotoIngest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two devices' heartbeats in one batch, the last of one device out of order
    gate, hub = Edge(device_id="gate-1"), Edge(device_id="hub-1")
    beats = [gate.heartbeat(s) for s in (1, 2, 3, 4)] + [hub.heartbeat(s) for s in (1, 2)]
    beats.append(gate.heartbeat(2.5))  # a late, older heartbeat
    puts: list[str] = []
    ddb = aws.ddb
    real = ddb.put_item

    def counting_put(**kw: Any) -> Any:
        puts.append(kw["TableName"])
        return real(**kw)

    monkeypatch.setattr(ddb, "put_item", counting_put)
    # When the batch is processed
    assert failures(aws.send(beats)) == []
    # Then one write per device, and the stored watermarks are the highest seen
    assert puts.count(aws.config.table_name("ingest")) == 2
    marks = aws.ingest().watermarks(STORE)
    assert {d: m.watermark_ts.second for d, m in marks.items()} == {"gate-1": 4, "hub-1": 2}


def test_a_join_and_an_exit_sent_before_their_session_opened_are_applied_when_it_opens(
    aws: MotoIngest, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a join and an exit that reached the cloud before the entry they belong to
    edge = Edge()
    early = [
        edge.joined("s1", "t2", at_s=1, looks=["entry-t2-cam-1"]),
        edge.exited("s1", "t2", at_s=6, same_person=0.2),
    ]
    response = aws.send(early)
    # Then they are neither failed nor quarantined, and no session exists yet
    assert failures(response) == []
    assert aws.ingest().quarantined(STORE) == []
    assert aws.read("s1")[0] is None
    # When the entry arrives (in a later batch), and is redelivered
    entered = edge.entered("s1", ["t1"], at_s=0, looks=["entry-t1-cam-1"])
    aws.send([entered])
    aws.send([entered])
    # Then the held join and exit are applied once: t2 joined and left, t1 is still in
    session, _ = aws.read("s1")
    assert session is not None
    assert session.tracks == ["t1", "t2"]
    assert session.joined == ["t2"]  # bound by a join: attribution trusts it less
    assert set(session.exits) == {"t2"}
    assert session.same_person == {"t2": 0.2}  # what the edge said of who left, kept
    # both people's looks at the gate, for review
    assert session.looks == [*entered.data.evidence, *early[0].data.evidence]
    assert session.status is SessionStatus.OPEN
    # ... and counted: two held, two applied (the redelivered entry applies nothing again)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(sum(m.get("HeldEvents", [0])) for m in emf) == len(early)
    assert sum(sum(m.get("HeldEventsApplied", [0])) for m in emf) == len(early)
    # ... and nothing is left held: a later exit of t1 closes the session as usual
    aws.send([edge.exited("s1", "t1", at_s=9)])
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.CLOSING


def test_a_held_exit_that_does_not_fit_its_session_is_quarantined_when_it_opens(
    aws: MotoIngest,
) -> None:
    # Given an early exit of a track that the session, once opened, does not have
    edge = Edge()
    aws.send([edge.exited("s1", "t9", at_s=4)])
    # When the session opens
    assert failures(aws.send([edge.entered("s1", ["t1"], at_s=0)])) == []
    # Then the exit is quarantined with the reason, and the session is untouched
    reasons = [q.reason for q in aws.ingest().quarantined(STORE)]
    assert len(reasons) == 1 and "track t9 is not in session s1" in reasons[0]
    session, _ = aws.read("s1")
    assert session is not None and session.exits == {}


def test_a_device_gone_silent_stops_holding_back_readiness(
    aws: MotoIngest, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a shelf hub that sent one heartbeat and went silent, and a shopper who left
    gate, hub = Edge(device_id="gate-1"), Edge(device_id="hub-1")
    aws.send(
        [gate.entered("s1", ["t1"], at_s=0), hub.heartbeat(5), gate.exited("s1", "t1", at_s=10)]
    )
    stale_after = DeploymentConfig().device_stale_after_s
    # When the gate's watermark moves on, less than the staleness limit past the hub's
    aws.send([gate.heartbeat(5 + stale_after - 1)])
    # Then the hub still holds the session back
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.CLOSING
    # When the gate's watermark is more than the limit past the hub's
    aws.send([gate.heartbeat(5 + stale_after + 1)])
    # Then the silent hub no longer counts: the session is handed over, once
    session, _ = aws.read("s1")
    assert session is not None and session.status is SessionStatus.READY
    assert len(aws.executions()) == 1
    # ... and the skipped device is counted in the StaleDevices metric
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(sum(m.get("StaleDevices", [0])) for m in emf) >= 1


def test_looks_outside_the_entry_events_own_evidence_are_left_out_and_the_visit_kept(
    aws: MotoIngest,
) -> None:
    # Given an entry naming its own look, another store's image, another event's image of
    # this store, and a key with a space (reviewers are shown what is kept)
    edge = Edge()
    entered = edge.entered("s1", ["t1"], at_s=0, looks=["entry-t1-cam-1"])
    (own,) = entered.data.evidence
    foreign = [
        f"stores/store-other/evidence/{entered.event_id}/entry-t1-cam-1.jpg",
        f"stores/{STORE}/evidence/01OTHEREVENT/entry-t9-cam-1.jpg",
        f"stores/{STORE}/evidence/{entered.event_id}/entry t1.jpg",
    ]
    data = entered.data.model_copy(update={"evidence": [own, *foreign]})
    response = aws.send([entered.model_copy(update={"data": data})])

    # Then the visit is opened with its own look only, nothing failed or quarantined
    assert failures(response) == []
    assert aws.ingest().quarantined(STORE) == []
    session, _ = aws.read("s1")
    assert session is not None
    assert session.looks == [own]
