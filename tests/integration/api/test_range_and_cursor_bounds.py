"""Time ranges and cursors that DynamoDB itself would refuse are a 4xx naming the
parameter, never a query sent: a `BETWEEN` whose lower bound exceeds the upper one, and an
`ExclusiveStartKey` outside the key condition, are ValidationExceptions on DynamoDB (a 500
here); moto answers both with an empty or wrong page, so the API must check first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_support import Tokens, assert_problem, call, create_store_for, issue_receipt, open_session
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

RETAILER = "retailer-a"
NOW = datetime.now(UTC)


def test_a_reversed_range_is_a_422_on_the_receipt_and_session_lists(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = create_store_for(app, tokens, RETAILER)
    staff = tokens.admin(RETAILER)
    reversed_ = {"from": NOW.isoformat(), "to": (NOW - timedelta(hours=3)).isoformat()}
    future_from = {"from": (NOW + timedelta(hours=3)).isoformat()}

    receipts = call(app, "GET", f"/stores/{store_id}/receipts", staff, query=reversed_)
    receipts_future = call(app, "GET", f"/stores/{store_id}/receipts", staff, query=future_from)
    sessions = call(
        app, "GET", f"/stores/{store_id}/sessions", staff, query={"status": "open", **reversed_}
    )

    assert_problem(receipts, 422, "query.to", "query.from")
    assert_problem(receipts_future, 422, "query.to", "defaults to now")
    assert_problem(sessions, 422, "query.to", "query.from")


def test_a_cursor_outside_the_requested_range_is_a_400(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = create_store_for(app, tokens, RETAILER)
    issue_receipt(ddb, store_id, "s-1", {"cola": 1}, issued_at=NOW - timedelta(hours=2))
    issue_receipt(ddb, store_id, "s-2", {"soap": 1}, issued_at=NOW - timedelta(minutes=10))
    open_session(ddb, store_id, "o-1")
    open_session(ddb, store_id, "o-2")
    staff = tokens.admin(RETAILER)
    receipts = f"/stores/{store_id}/receipts"
    sessions = f"/stores/{store_id}/sessions"

    first = call(app, "GET", receipts, staff, query={"limit": "1"})
    same_range = call(
        app, "GET", receipts, staff, query={"limit": "1", "cursor": first.body["next_cursor"]}
    )
    # The first page ended at s-1 (two hours ago): a range starting an hour ago excludes it.
    narrowed = call(
        app,
        "GET",
        receipts,
        staff,
        query={
            "cursor": first.body["next_cursor"],
            "from": (NOW - timedelta(hours=1)).isoformat(),
        },
    )
    open_first = call(app, "GET", sessions, staff, query={"status": "open", "limit": "1"})
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    open_later = call(
        app,
        "GET",
        sessions,
        staff,
        query={"status": "open", "cursor": open_first.body["next_cursor"], "from": later},
    )

    assert [r["session_id"] for r in same_range.body["items"]] == ["s-2"]
    assert_problem(narrowed, 400, "query.cursor", "range")
    assert open_first.body["next_cursor"]
    assert_problem(open_later, 400, "query.cursor", "range")
