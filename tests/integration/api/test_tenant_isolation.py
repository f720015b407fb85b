"""Tenant isolation: every route, called by another retailer's staff and by shoppers of
other sessions, leaks nothing of retailer A's store, sessions, receipts, disputes or review
tasks. Another retailer sees exactly what it would see for a resource that does not exist
(404 with the same detail, an empty list, or no task); a role that may not use a route is
refused (403) before anything is read; and A's data is unchanged afterwards."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_support import (
    SESSIONS_TABLE,
    Tokens,
    call,
    issue_receipt,
    open_session,
    product,
    queue_review,
    receipts_table,
    review_task,
    store_body,
)
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from walkout.data.receipts import disputes_of
from walkout.data.review_tasks import ReviewTasksTable, ReviewTaskStatus

VICTIM = "retailer-a"
OTHER = "retailer-b"
_PRODUCT = {k: v for k, v in product("cola").items() if k not in {"sku", "currency"}}
_PROMO = {
    "kind": "percent_off",
    "promotion_id": "p1",
    "name": "P",
    "skus": ["cola"],
    "percent_bp": 5,
}
_ANSWER = {"answers": [{"event_id": "E1", "shopper": "A", "sku": "cola", "qty": 1}]}
ADMIN, REVIEWER, SHOPPER = "admin", "reviewer", "shopper"
STAFF = frozenset({ADMIN, REVIEWER})
ONLY_ADMIN = frozenset({ADMIN})
EVERYONE = frozenset({ADMIN, REVIEWER, SHOPPER})
_RECEIPT = "/stores/{s}/receipts/sess-v"
_IMPORT = {"products": [{**_PRODUCT, "sku": "cola"}]}
_ACCEPT = {"decision": "accept", "reason": "x"}

# (method, path template, body, roles that may use the route). {s}: A's store, {t}: A's
# review task, {d}: the dispute on A's receipt (sess-v is A's shopper's session).
ROUTES: list[tuple[str, str, Any, frozenset[str]]] = [
    ("GET", "/stores", None, STAFF),
    ("POST", "/stores", store_body(), ONLY_ADMIN),
    ("GET", "/stores/{s}", None, STAFF),
    ("PUT", "/stores/{s}", store_body("Taken over"), ONLY_ADMIN),
    ("GET", "/stores/{s}/products", None, STAFF),
    ("GET", "/stores/{s}/products/cola", None, STAFF),
    ("PUT", "/stores/{s}/products/cola", _PRODUCT, ONLY_ADMIN),
    ("DELETE", "/stores/{s}/products/cola", None, ONLY_ADMIN),
    ("POST", "/stores/{s}/products/imports", _IMPORT, ONLY_ADMIN),
    ("GET", "/stores/{s}/planogram", None, STAFF),
    ("PUT", "/stores/{s}/planogram", {"entries": []}, ONLY_ADMIN),
    ("GET", "/stores/{s}/promotions", None, STAFF),
    ("PUT", "/stores/{s}/promotions/p1", _PROMO, ONLY_ADMIN),
    ("DELETE", "/stores/{s}/promotions/cola-2", None, ONLY_ADMIN),
    ("GET", "/stores/{s}/sessions/sess-v/cart", None, EVERYONE),
    ("GET", "/stores/{s}/sessions?status=open", None, STAFF),
    ("GET", "/stores/{s}/sessions/sess-v", None, STAFF),
    ("GET", "/stores/{s}/receipts", None, STAFF),
    ("GET", _RECEIPT, None, EVERYONE),
    ("GET", f"{_RECEIPT}/versions", None, EVERYONE),
    ("POST", f"{_RECEIPT}/disputes", {"sku": "cola"}, frozenset({ADMIN, SHOPPER})),
    ("GET", f"{_RECEIPT}/disputes", None, EVERYONE),
    ("GET", "/stores/{s}/disputes", None, STAFF),
    ("PUT", f"{_RECEIPT}/disputes/{{d}}/decision", _ACCEPT, ONLY_ADMIN),
    ("POST", "/review-tasks/next", None, STAFF),
    ("GET", "/review-tasks/{t}", None, STAFF),
    ("POST", "/review-tasks/{t}/answers", _ANSWER, STAFF),
    ("GET", "/stores/{s}/metrics", None, STAFF),
]  # fmt: skip
CALLERS: dict[str, tuple[str, Callable[[Tokens], dict[str, str]]]] = {
    "other-admin": (ADMIN, lambda t: t.admin(OTHER)),
    "other-reviewer": (REVIEWER, lambda t: t.reviewer(OTHER)),
    # A shopper of the same retailer in another session, and one of another retailer.
    "own-shopper": (SHOPPER, lambda t: t.shopper(VICTIM, "sess-a")),
    "other-shopper": (SHOPPER, lambda t: t.shopper(OTHER, "sess-b")),
}
CASES = [
    pytest.param(route, caller, id=f"{caller}:{route[0]} {route[1]}")
    for route in ROUTES
    for caller in CALLERS
]
# Routes that list the caller's own things: another tenant gets its own (empty) answer.
OWN_LISTS = {("GET", "/stores"), ("POST", "/stores"), ("POST", "/review-tasks/next")}
_SERVED = [
    (r"\?.*$", ""),
    (r"\{s\}", "<store_id>"),
    (r"\{t\}", "<task_id>"),
    (r"\{d\}", "<dispute_id>"),
    (r"/sess-v(?=/|$)", "/<session_id>"),
    (r"/promotions/[^/]+$", "/promotions/<promotion_id>"),
    (r"/products/(?!imports$)[^/]+$", "/products/<sku>"),
]


def served_path(template: str) -> str:
    for pattern, replacement in _SERVED:
        template = re.sub(pattern, replacement, template)
    return template


def test_the_matrix_covers_every_route(app: APIGatewayHttpResolver) -> None:
    routes = {(r.method, r.path) for r in app._static_routes + app._dynamic_routes}
    covered = {(m, served_path(p)) for m, p, _, _ in ROUTES}
    # The API description and the static pages (`walkout.api.pages`) hold no tenant data.
    served = {(m, p) for m, p in routes if not p.startswith(("/docs", "/app/"))}

    assert served <= covered, served - covered
    assert len(CASES) == len(ROUTES) * len(CALLERS) == 28 * 4


@pytest.fixture(scope="module")
def victim(module_app: APIGatewayHttpResolver, module_ddb: Any, tokens: Tokens) -> Any:
    """Retailer A's store with a shopper's session, its receipt, a dispute on it, and a
    review task claimed by A's reviewer (shared by every case; each checks them unchanged)."""
    reply = call(module_app, "POST", "/stores", tokens.admin(VICTIM), store_body())
    assert reply.status == 201
    store_id = reply.body["store_id"]
    open_session(module_ddb, store_id, "sess-v")
    issue_receipt(
        module_ddb,
        store_id,
        "sess-v",
        {"cola": 2},
        issued_at=datetime.now(UTC) - timedelta(hours=1),
    )
    dispute = call(
        module_app,
        "POST",
        f"/stores/{store_id}/receipts/sess-v/disputes",
        tokens.shopper(VICTIM, "sess-v"),
        {"sku": "cola"},
    )
    assert dispute.status == 201, dispute.body
    queue_review(module_ddb, review_task(store_id, VICTIM, "rt-v"), "a-victim-token")
    tasks = ReviewTasksTable(module_ddb, SESSIONS_TABLE, ttl_days=14, clock=_now)
    claimed = tasks.claim(tasks.get("rt-v"), "victim-reviewer", claim_timeout_s=900)  # type: ignore[arg-type]
    assert claimed is not None
    return {"store": reply, "store_id": store_id, "dispute_id": dispute.body["dispute_id"]}


def _now() -> datetime:
    return datetime.now(UTC)


def _path(template: str, store: str, task: str, dispute: str) -> tuple[str, dict[str, str]]:
    path = template.replace("{s}", store).replace("{t}", task).replace("{d}", dispute)
    path, _, query = path.partition("?")
    return path, dict(p.split("=", 1) for p in query.split("&") if p)


@pytest.mark.parametrize(("route", "caller"), CASES)
def test_no_route_leaks_another_tenants_data(
    module_app: APIGatewayHttpResolver,
    module_ddb: Any,
    tokens: Tokens,
    victim: Any,
    route: tuple[str, str, Any, frozenset[str]],
    caller: str,
) -> None:
    app = module_app
    store_id, dispute_id = victim["store_id"], victim["dispute_id"]
    method, template, body, roles = route
    role, token_of = CALLERS[caller]
    claims = token_of(tokens)

    path, query = _path(template, store_id, "rt-v", dispute_id)
    reply = call(app, method, path, claims, body, query)
    control_path, _ = _path(template, "store-missing", "rt-missing", "dp-missing")
    control = call(app, method, control_path, claims, body, query)

    if role not in roles:
        # Decided from the token alone, before any read: says nothing about the data.
        assert reply.status == 403, reply.body
    elif (method, template) in OWN_LISTS:
        assert reply.status in (200, 201, 204), reply.body
        assert store_id not in str(reply.body)
        assert "rt-v" not in str(reply.body)
    else:
        # Indistinguishable from a resource that does not exist.
        assert reply.status == 404, reply.body
        assert control.status == 404, control.body
        expected = (
            control.body["detail"]
            .replace("store-missing", store_id)
            .replace("rt-missing", "rt-v")
            .replace("dp-missing", dispute_id)
        )
        assert reply.body["detail"] == expected
    leaked = str(reply.body).replace(f"store {store_id}", "")
    assert store_id not in leaked
    assert dispute_id not in leaked.replace(f"dispute {dispute_id}", "")
    assert "questions" not in leaked
    # A's data is as it was.
    after = call(app, "GET", f"/stores/{store_id}", tokens.admin(VICTIM))
    assert after.body == victim["store"].body
    receipts = receipts_table(module_ddb)
    assert [v.version for v in receipts.versions(store_id, "sess-v")] == [1]
    assert [d.status.value for d in disputes_of(receipts, store_id, "sess-v")] == ["open"]
    task = ReviewTasksTable(module_ddb, SESSIONS_TABLE, ttl_days=14, clock=_now).get("rt-v")
    assert task is not None
    assert (task.status, task.claimed_by) == (ReviewTaskStatus.CLAIMED, "victim-reviewer")
