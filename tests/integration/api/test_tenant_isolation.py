"""Tenant isolation: every route, called by another retailer's staff and by shoppers, leaks
nothing about retailer A's store. Another retailer sees exactly what it would see for a
store that does not exist (404 with the same detail, or an empty list); a shopper is refused
by role (403) before anything is read; and A's store is unchanged afterwards."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from api_support import Tokens, call, open_session, product, store_body
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

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

# (method, path template, body, needs admin); shoppers may use only the cart route
ROUTES: list[tuple[str, str, Any, bool]] = [
    ("GET", "/stores", None, False),
    ("POST", "/stores", store_body(), True),
    ("GET", "/stores/{s}", None, False),
    ("PUT", "/stores/{s}", store_body("Taken over"), True),
    ("GET", "/stores/{s}/products", None, False),
    ("GET", "/stores/{s}/products/cola", None, False),
    ("PUT", "/stores/{s}/products/cola", _PRODUCT, True),
    ("DELETE", "/stores/{s}/products/cola", None, True),
    ("POST", "/stores/{s}/products/imports", {"products": [{**_PRODUCT, "sku": "cola"}]}, True),
    ("GET", "/stores/{s}/planogram", None, False),
    ("PUT", "/stores/{s}/planogram", {"entries": []}, True),
    ("GET", "/stores/{s}/promotions", None, False),
    ("PUT", "/stores/{s}/promotions/p1", _PROMO, True),
    ("DELETE", "/stores/{s}/promotions/cola-2", None, True),
    ("GET", "/stores/{s}/sessions/sess-v/cart", None, False),
]
SHOPPER_ROUTES = {"/stores/{s}/sessions/sess-v/cart"}
CALLERS: dict[str, Callable[[Tokens], dict[str, str]]] = {
    "other-admin": lambda t: t.admin(OTHER),
    "other-reviewer": lambda t: t.reviewer(OTHER),
    # A shopper of the same retailer in another session, and one of another retailer.
    "own-shopper": lambda t: t.shopper(VICTIM, "sess-a"),
    "other-shopper": lambda t: t.shopper(OTHER, "sess-b"),
}
CASES = [
    pytest.param(route, caller, id=f"{caller}:{route[0]} {route[1]}")
    for route in ROUTES
    for caller in CALLERS
]


def test_the_matrix_covers_every_route(app: APIGatewayHttpResolver) -> None:
    routes = {(r.method, r.path) for r in app._static_routes + app._dynamic_routes}
    covered = {(m, p.replace("{s}", "<store_id>")) for m, p, _, _ in ROUTES}
    normalised = {
        (m, re.sub(r"/promotions/[^/]+$", "/promotions/<promotion_id>", p)) for m, p in covered
    }
    normalised = {
        (m, re.sub(r"/products/(?!imports$)[^/]+$", "/products/<sku>", p)) for m, p in normalised
    }
    normalised = {(m, p.replace("/sess-v/", "/<session_id>/")) for m, p in normalised}
    served = {(m, p) for m, p in routes if not p.startswith("/docs")}
    assert served <= normalised, served - normalised
    assert len(CASES) == len(ROUTES) * len(CALLERS) == 60


@pytest.fixture(scope="module")
def victim(module_app: APIGatewayHttpResolver, module_ddb: Any, tokens: Tokens) -> Any:
    """Retailer A's store, shared by every case (each case checks it is left unchanged)."""
    reply = call(module_app, "POST", "/stores", tokens.admin(VICTIM), store_body())
    assert reply.status == 201
    # A shopper of A's store, in session sess-v, with a live cart.
    open_session(module_ddb, reply.body["store_id"], "sess-v")
    return reply


@pytest.mark.parametrize(("route", "caller"), CASES)
def test_no_route_leaks_another_tenants_store(
    module_app: APIGatewayHttpResolver,
    tokens: Tokens,
    victim: Any,
    route: tuple[str, str, Any, bool],
    caller: str,
) -> None:
    app = module_app
    store_id = victim.body["store_id"]
    method, template, body, needs_admin = route
    claims = CALLERS[caller](tokens)

    reply = call(app, method, template.replace("{s}", store_id), claims, body)
    control = call(app, method, template.replace("{s}", "store-missing"), claims, body)

    shopper = caller.endswith("shopper")
    refused_by_role = (shopper and template not in SHOPPER_ROUTES) or (
        needs_admin and caller == "other-reviewer"
    )
    if refused_by_role:
        # Decided from the token alone, before any read: says nothing about the store.
        assert reply.status == 403, reply.body
    elif template == "/stores":
        assert reply.status in (200, 201)
        assert store_id not in str(reply.body.get("items", []))
        assert reply.body.get("store_id") != store_id
    else:
        # Indistinguishable from a store that does not exist.
        assert reply.status == 404, reply.body
        assert control.status == 404
        assert reply.body["detail"] == control.body["detail"].replace("store-missing", store_id)
    assert store_id not in str(reply.body).replace(f"store {store_id}", "")
    after = call(app, "GET", f"/stores/{store_id}", tokens.admin(VICTIM))
    assert after.body["version"] == 1
    assert after.body == victim.body
