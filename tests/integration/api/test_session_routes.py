"""Sessions for staff: listed by status and time, one with its events and attributions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from api_support import (
    Tokens,
    assert_problem,
    call,
    charge,
    close_session,
    create_store_for,
    open_session,
)
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

RETAILER = "retailer-a"


def seeded(app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any) -> str:
    """A store with three sessions: s-1 and s-2 shopping, s-3 left a minute ago."""
    store_id: str = create_store_for(app, tokens, RETAILER)
    for session in ("s-1", "s-2", "s-3"):
        open_session(ddb, store_id, session)
    close_session(ddb, store_id, "s-3", datetime.now(UTC) - timedelta(minutes=1))
    return store_id


def test_sessions_are_listed_by_status_oldest_first(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    staff = tokens.reviewer(RETAILER)

    shopping = call(app, "GET", f"/stores/{store_id}/sessions", staff, query={"status": "open"})
    leaving = call(app, "GET", f"/stores/{store_id}/sessions", staff, query={"status": "closing"})

    assert shopping.status == 200, shopping.body
    assert [s["session_id"] for s in shopping.body["items"]] == ["s-1", "s-2"]
    assert [s["session_id"] for s in leaving.body["items"]] == ["s-3"]
    assert leaving.body["items"][0]["exit_at"] is not None
    # The scan's account token never leaves the API.
    assert "secret-account-token" not in json.dumps([shopping.body, leaving.body])


def test_the_time_range_bounds_the_status_time(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    path = f"/stores/{store_id}/sessions"

    future = call(app, "GET", path, tokens.admin(RETAILER), query={"status": "open", "from": later})
    past = call(app, "GET", path, tokens.admin(RETAILER), query={"status": "open", "to": earlier})
    now = call(app, "GET", path, tokens.admin(RETAILER), query={"status": "open", "from": earlier})

    assert future.body["items"] == []
    assert past.body["items"] == []
    assert len(now.body["items"]) == 2


def test_pages_follow_the_cursor_and_a_forged_cursor_is_refused(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    path = f"/stores/{store_id}/sessions"
    staff = tokens.admin(RETAILER)

    first = call(app, "GET", path, staff, query={"status": "open", "limit": "1"})
    second = call(
        app,
        "GET",
        path,
        staff,
        query={"status": "open", "limit": "1", "cursor": first.body["next_cursor"]},
    )
    position = json.loads(base64.urlsafe_b64decode(first.body["next_cursor"] + "=="))
    forged = {**position, "gsi1pk": "STORE#store-of-someone-else"}
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    refused = call(app, "GET", path, staff, query={"status": "open", "cursor": cursor})

    assert [s["session_id"] for s in first.body["items"]] == ["s-1"]
    assert [s["session_id"] for s in second.body["items"]] == ["s-2"]
    assert_problem(refused, 400, "query.cursor")


def test_a_bad_status_or_time_is_a_422_naming_the_parameter(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    path = f"/stores/{store_id}/sessions"

    bad_status = call(app, "GET", path, tokens.admin(RETAILER), query={"status": "gone"})
    no_status = call(app, "GET", path, tokens.admin(RETAILER))
    naive = call(
        app,
        "GET",
        path,
        tokens.admin(RETAILER),
        query={"status": "open", "from": "2026-11-26T01:00"},
    )

    assert_problem(bad_status, 422, "status")
    assert_problem(no_status, 422, "status")
    assert_problem(naive, 422, "from")


def test_one_session_explains_each_line_with_its_attribution(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)
    charge(ddb, store_id, "s-1", "E-1", "cola", p=0.97)
    charge(ddb, store_id, "s-1", "E-2", "chips", p=0.8, rival="s-2")

    reply = call(app, "GET", f"/stores/{store_id}/sessions/s-1", tokens.reviewer(RETAILER))

    assert reply.status == 200, reply.body
    body = reply.body
    assert body["session"]["status"] == "open"
    assert {line["sku"]: line["qty"] for line in body["cart"]["lines"]} == {"cola": 1, "chips": 1}
    assert abs(body["cart"]["confidence"] - 0.97 * 0.8) < 1e-9
    events = {e["event_id"]: e for e in body["events"]}
    assert set(events) == {"E-1", "E-2"}
    assert events["E-2"]["charged_here"] is True
    assert events["E-2"]["decision"]["sku"] == "chips"
    assert events["E-2"]["share"]["session_id"] == "s-1"
    assert events["E-2"]["factor"] == 0.8
    assert events["E-2"]["reasons"] == ["seeded: s-1 reached lane of chips"]
    assert "secret-account-token" not in json.dumps(body)


def test_an_unknown_session_is_404_and_shoppers_may_not_browse_sessions(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = seeded(app, tokens, ddb)

    missing = call(app, "GET", f"/stores/{store_id}/sessions/s-9", tokens.admin(RETAILER))
    shopper = call(app, "GET", f"/stores/{store_id}/sessions/s-1", tokens.shopper(RETAILER, "s-1"))

    assert_problem(missing, 404, "session s-9 not found")
    assert_problem(shopper, 403, "admin or reviewer")
