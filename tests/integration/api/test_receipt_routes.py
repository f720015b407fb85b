"""Receipts (list, one, versions) and disputes (file, list, accept or reject) against moto."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from api_support import (
    FakeContext,
    Tokens,
    assert_problem,
    call,
    create_store_for,
    http_event,
    issue_receipt,
    published_events,
    receipts_table,
)
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

RETAILER = "retailer-a"
NOW = datetime.now(UTC)


def seeded(app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any) -> str:
    """Two receipts: s-1 (2 colas at 2 for 3.00, and chips) two hours ago, s-2 ten minutes ago."""
    store_id: str = create_store_for(app, tokens, RETAILER)
    issue_receipt(ddb, store_id, "s-1", {"cola": 2, "chips": 1}, issued_at=NOW - timedelta(hours=2))
    issue_receipt(ddb, store_id, "s-2", {"soap": 1}, issued_at=NOW - timedelta(minutes=10))
    return store_id


# --- receipts --------------------------------------------------------------------------------
def test_receipts_are_listed_by_time_within_the_range(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    path = f"/stores/{store_id}/receipts"
    staff = tokens.reviewer(RETAILER)

    day = call(app, "GET", path, staff)
    hour = call(app, "GET", path, staff, query={"from": (NOW - timedelta(hours=1)).isoformat()})
    first = call(app, "GET", path, staff, query={"limit": "1"})
    rest = call(app, "GET", path, staff, query={"limit": "1", "cursor": first.body["next_cursor"]})

    assert day.status == 200, day.body
    assert [r["session_id"] for r in day.body["items"]] == ["s-1", "s-2"]
    assert day.body["items"][0]["total_minor"] == 300 + 199
    assert [r["session_id"] for r in hour.body["items"]] == ["s-2"]
    assert [r["session_id"] for r in first.body["items"] + rest.body["items"]] == ["s-1", "s-2"]


def test_a_receipt_is_read_by_staff_and_its_own_shopper_only(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    path = f"/stores/{store_id}/receipts/s-1"

    staff = call(app, "GET", path, tokens.admin(RETAILER))
    own = call(app, "GET", path, tokens.shopper(RETAILER, "s-1"))
    versions = call(app, "GET", f"{path}/versions", tokens.shopper(RETAILER, "s-1"))
    other = call(app, "GET", path, tokens.shopper(RETAILER, "s-2"))
    missing = call(app, "GET", f"/stores/{store_id}/receipts/s-9", tokens.admin(RETAILER))

    assert staff.status == 200, staff.body
    assert own.body == staff.body
    assert own.body["version"] == 1
    assert [v["version"] for v in versions.body["items"]] == [1]
    assert_problem(other, 404, "receipt of session s-1 not found")
    assert other.body["detail"] == missing.body["detail"].replace("s-9", "s-1")


# --- disputes --------------------------------------------------------------------------------
def file(app: APIGatewayHttpResolver, tokens: Tokens, store_id: str, body: Any) -> Any:
    return call(
        app,
        "POST",
        f"/stores/{store_id}/receipts/s-1/disputes",
        tokens.shopper(RETAILER, "s-1"),
        body,
    )


def test_a_shopper_files_a_dispute_once_however_often_the_app_retries(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    body = {"sku": "cola", "qty": 1, "reason": "I put one back"}

    filed = file(app, tokens, store_id, body)
    again = file(app, tokens, store_id, body)
    listed = call(app, "GET", f"/stores/{store_id}/disputes", tokens.reviewer(RETAILER))
    own = call(
        app,
        "GET",
        f"/stores/{store_id}/receipts/s-1/disputes",
        tokens.shopper(RETAILER, "s-1"),
    )

    assert filed.status == 201, filed.body
    assert again.status == 200
    assert again.body == filed.body
    assert filed.body["status"] == "open"
    assert [d["dispute_id"] for d in listed.body["items"]] == [filed.body["dispute_id"]]
    assert [d["dispute_id"] for d in own.body["items"]] == [filed.body["dispute_id"]]


def test_a_dispute_must_name_units_the_receipt_charges(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)

    not_bought = file(app, tokens, store_id, {"sku": "soap", "qty": 1})
    too_many = file(app, tokens, store_id, {"sku": "cola", "qty": 3})
    malformed = file(app, tokens, store_id, {"sku": "cola", "qty": 0})
    someone_else = call(
        app,
        "POST",
        f"/stores/{store_id}/receipts/s-1/disputes",
        tokens.shopper(RETAILER, "s-2"),
        {"sku": "cola"},
    )

    assert_problem(not_bought, 422, "body.sku", "soap")
    assert_problem(too_many, 422, "body.qty", "2 x cola")
    assert_problem(malformed, 422, "body.qty")
    assert_problem(someone_else, 404, "receipt of session s-1 not found")


def test_accepting_a_dispute_appends_an_adjustment_version_and_announces_the_refund(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    dispute = file(app, tokens, store_id, {"sku": "cola", "qty": 1}).body
    path = f"/stores/{store_id}/receipts/s-1/disputes/{dispute['dispute_id']}/decision"
    decision = {"decision": "accept", "reason": "the camera shows it put back"}

    accepted = call(app, "PUT", path, tokens.admin(RETAILER), decision)
    events = published_events()
    repeated = call(app, "PUT", path, tokens.admin(RETAILER), decision)
    resent = published_events()
    reversed_ = call(
        app, "PUT", path, tokens.admin(RETAILER), {"decision": "reject", "reason": "no"}
    )

    assert accepted.status == 200, accepted.body
    # 2 colas cost 3.00 as a multi-buy; one alone costs 1.99: the refund is 1.01.
    assert accepted.body["refund_minor"] == 101
    assert accepted.body["adjustment_version"] == 2
    versions = receipts_table(ddb).versions(store_id, "s-1")
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].adjustments == []  # version 1 stays as issued
    assert versions[1].refunded_minor == 101
    assert versions[1].adjustments[0].lines[0].sku == "cola"
    assert [e["detail-type"] for e in events] == ["RefundIssued"]
    detail = events[0]["detail"]
    assert detail["refund_minor"] == 101
    assert detail["version"] == 2
    assert set(detail) == {
        "refund_id", "dispute_id", "receipt_id", "store_id", "session_id", "version",
        "refund_minor", "currency", "lines",
    }  # fmt: skip
    assert repeated.status == 200
    assert repeated.body == accepted.body
    assert [e["detail"]["refund_id"] for e in resent] == [detail["refund_id"]]
    assert_problem(reversed_, 409, "accepted before")
    latest = call(app, "GET", f"/stores/{store_id}/receipts/s-1", tokens.shopper(RETAILER, "s-1"))
    assert latest.body["version"] == 2


def test_rejecting_a_dispute_records_the_reason_and_leaves_the_receipt(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    dispute = file(app, tokens, store_id, {"sku": "chips"}).body
    path = f"/stores/{store_id}/receipts/s-1/disputes/{dispute['dispute_id']}/decision"

    no_reason = call(app, "PUT", path, tokens.admin(RETAILER), {"decision": "reject"})
    by_reviewer = call(
        app, "PUT", path, tokens.reviewer(RETAILER), {"decision": "reject", "reason": "x"}
    )
    rejected = call(
        app, "PUT", path, tokens.admin(RETAILER), {"decision": "reject", "reason": "seen on video"}
    )
    listed = call(
        app,
        "GET",
        f"/stores/{store_id}/disputes",
        tokens.admin(RETAILER),
        query={"status": "rejected"},
    )

    assert_problem(no_reason, 422, "body.reason")
    assert_problem(by_reviewer, 403, "admin")
    assert rejected.status == 200, rejected.body
    assert rejected.body["status"] == "rejected"
    assert rejected.body["decision_reason"] == "seen on video"
    assert rejected.body["refund_minor"] is None
    assert [d["dispute_id"] for d in listed.body["items"]] == [dispute["dispute_id"]]
    assert [v.version for v in receipts_table(ddb).versions(store_id, "s-1")] == [1]
    assert published_events() == []
    assert "decided_by" not in json.dumps(rejected.body)


def test_an_unknown_dispute_is_404(app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any) -> None:
    store_id = seeded(app, tokens, ddb)

    reply = call(
        app,
        "PUT",
        f"/stores/{store_id}/receipts/s-1/disputes/dp-nothing/decision",
        tokens.admin(RETAILER),
        {"decision": "accept", "reason": "ok"},
    )

    assert_problem(reply, 404, "dispute dp-nothing not found")


def test_a_second_dispute_refunds_against_the_adjusted_receipt(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    accept = {"decision": "accept", "reason": "put back"}
    refunds = []
    for _ in range(2):
        dispute = file(app, tokens, store_id, {"sku": "cola", "qty": 1})
        assert dispute.status == 201, dispute.body
        path = f"/stores/{store_id}/receipts/s-1/disputes/{dispute.body['dispute_id']}/decision"
        decided = call(app, "PUT", path, tokens.admin(RETAILER), accept)
        assert decided.status == 200, decided.body
        refunds.append(decided.body["refund_minor"])
    third = file(app, tokens, store_id, {"sku": "cola", "qty": 1})

    # 3.00 for two, then 1.99 for the one left: the shopper keeps paying only the chips.
    assert refunds == [101, 199]
    latest = receipts_table(ddb).latest(store_id, "s-1")
    assert latest is not None
    assert latest.version == 3
    assert latest.totals.total_minor - latest.refunded_minor == 199
    assert_problem(third, 422, "body.sku", "not charged")
    assert len(published_events()) == 2


def test_a_body_that_is_not_utf8_is_a_400_problem(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    event = http_event(
        "POST", f"/stores/{store_id}/receipts/s-1/disputes", tokens.shopper(RETAILER, "s-1")
    )
    event["body"] = base64.b64encode(b'{"sku": "\xff\xfe"}').decode()
    event["isBase64Encoded"] = True

    response = app.resolve(event, FakeContext())

    assert response["statusCode"] == 400
    assert json.loads(response["body"])["detail"] == "body: not UTF-8 encoded JSON"
