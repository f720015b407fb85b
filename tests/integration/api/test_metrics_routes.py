"""Store metrics computed from the tables: review rate, auto share, latency, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_support import (
    INGEST_TABLE,
    Tokens,
    assert_problem,
    call,
    close_session,
    create_store_for,
    issue_receipt,
    open_session,
    receipts_table,
)
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from walkout.data.ingest import IngestTable

RETAILER = "retailer-a"
NOW = datetime.now(UTC).replace(microsecond=0)
# session -> (seconds from exit to receipt, how the receipt was decided)
VISITS = {
    "s-1": (2, "auto"),
    "s-2": (4, "auto"),
    "s-3": (60, "reviewed"),
    "s-4": (100, "timeout-partial"),
}


def seeded(app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any) -> str:
    store_id: str = create_store_for(app, tokens, RETAILER)
    for i, (session, (latency_s, status)) in enumerate(VISITS.items()):
        exit_at = NOW - timedelta(hours=2) + timedelta(minutes=i)
        open_session(ddb, store_id, session)
        close_session(ddb, store_id, session, exit_at)
        issue_receipt(
            ddb,
            store_id,
            session,
            {"cola": 1},
            issued_at=exit_at + timedelta(seconds=latency_s),
            status=status,
        )
    # A receipt whose session has expired from the sessions table: counted, no latency.
    issue_receipt(ddb, store_id, "s-5", {"soap": 1}, issued_at=NOW - timedelta(minutes=30))
    # An adjustment version is not another session.
    receipts = receipts_table(ddb)
    first = receipts.version(store_id, "s-1", 1)
    assert first is not None
    receipts.append(
        first.with_adjustment(
            reason="goodwill", created_at=NOW - timedelta(minutes=5), refund_minor=10
        )
    )
    ingest = IngestTable(ddb, INGEST_TABLE, ttl_days=14, clock=lambda: NOW)
    for n, received in enumerate(
        (NOW - timedelta(hours=1), NOW - timedelta(minutes=1), NOW - timedelta(days=3))
    ):
        ingest.quarantine(
            partition_key=store_id,
            raw=f"poison {n}".encode(),
            reason="not JSON",
            problems=[],
            sequence_number=str(n),
            received_at=received,
        )
    return store_id


def test_the_metrics_of_a_day_come_from_the_tables(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)

    reply = call(app, "GET", f"/stores/{store_id}/metrics", tokens.reviewer(RETAILER))

    assert reply.status == 200, reply.body
    body = reply.body
    assert body["sessions"] == 5
    assert body["to"] > body["from"]
    assert body["reviewed_sessions"] == 2
    assert body["review_rate_per_1000"] == 400.0
    assert body["auto_finalized_share"] == 0.6
    assert body["latency_sessions"] == 4
    # Nearest rank over [2 s, 4 s, 60 s, 100 s].
    assert body["receipt_latency_p50_ms"] == 4000.0
    assert body["receipt_latency_p95_ms"] == 100_000.0
    assert body["quarantined_events"] == 2
    assert body["truncated"] is False


def test_a_range_selects_by_issue_time(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    window = {
        "from": (NOW - timedelta(hours=1)).isoformat(),
        "to": NOW.isoformat(),
    }
    empty = {
        "from": (NOW - timedelta(days=20)).isoformat(),
        "to": (NOW - timedelta(days=10)).isoformat(),
    }

    recent = call(app, "GET", f"/stores/{store_id}/metrics", tokens.admin(RETAILER), query=window)
    none = call(app, "GET", f"/stores/{store_id}/metrics", tokens.admin(RETAILER), query=empty)

    assert recent.body["sessions"] == 1  # s-5 only
    assert recent.body["receipt_latency_p50_ms"] is None
    assert recent.body["quarantined_events"] == 2
    assert none.body["sessions"] == 0
    assert none.body["review_rate_per_1000"] is None
    assert none.body["quarantined_events"] == 0


def test_a_bad_range_is_a_422_and_shoppers_get_no_metrics(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id: str = create_store_for(app, tokens, RETAILER)
    path = f"/stores/{store_id}/metrics"
    backwards = {"from": NOW.isoformat(), "to": (NOW - timedelta(hours=1)).isoformat()}
    too_long = {"from": (NOW - timedelta(days=40)).isoformat(), "to": NOW.isoformat()}

    reversed_ = call(app, "GET", path, tokens.admin(RETAILER), query=backwards)
    long_ = call(app, "GET", path, tokens.admin(RETAILER), query=too_long)
    garbage = call(app, "GET", path, tokens.admin(RETAILER), query={"from": "yesterday"})
    shopper = call(app, "GET", path, tokens.shopper(RETAILER, "s-1"))

    assert_problem(reversed_, 422, "query.to", "after")
    assert_problem(long_, 422, "query.to", "31 days")
    assert_problem(garbage, 422, "from")
    assert_problem(shopper, 403)
