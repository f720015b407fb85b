"""`NaN` and `Infinity` are not JSON numbers, though Python's parser takes them: a body
holding one is a 422 naming it, never stored (an infinite unit weight passes `gt=0`)."""

from __future__ import annotations

import json
from typing import Any

from api_support import Tokens, assert_problem, call, create_store_for, product, store_body
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

RETAILER = "retailer-a"


def product_in(sku: str) -> dict[str, Any]:
    # The path names the SKU and the store the currency.
    return {k: v for k, v in product(sku).items() if k not in {"sku", "currency"}}


def test_infinity_in_a_product_is_a_422_and_nothing_is_stored(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = create_store_for(app, tokens, RETAILER)
    admin = tokens.admin(RETAILER)
    path = f"/stores/{store_id}/products/x-1"
    body = json.dumps(product_in("x-1")).replace(
        '"unit_weight_g": 355.0', '"unit_weight_g": Infinity'
    )
    assert "Infinity" in body

    refused = call(app, "PUT", path, admin, body=body)
    stored = call(app, "GET", path, admin)

    assert_problem(refused, 422, "body", "Infinity is not a JSON number")
    assert_problem(stored, 404, "x-1")


def test_a_store_definition_with_infinity_is_a_422(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    body = json.dumps(store_body()).replace("355.0", "Infinity", 1)
    assert "Infinity" in body

    refused = call(app, "POST", "/stores", tokens.admin(RETAILER), body=body)
    listed = call(app, "GET", "/stores", tokens.admin(RETAILER))

    assert_problem(refused, 422, "Infinity is not a JSON number")
    assert listed.body["items"] == []


def test_a_finite_body_still_parses(app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any) -> None:
    store_id = create_store_for(app, tokens, RETAILER)
    reply = call(
        app,
        "PUT",
        f"/stores/{store_id}/products/x-1",
        tokens.admin(RETAILER),
        body=product_in("x-1"),
    )
    assert reply.status == 201, reply.body
    assert reply.body["unit_weight_g"] == 355.0
