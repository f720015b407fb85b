"""Stores, catalog, planogram and promotions through the resolver, against moto."""

from __future__ import annotations

import base64
import json
from typing import Any

from api_support import TABLE, Tokens, call, open_session, product, store_body
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from walkout.api.models import ProblemOut
from walkout.api.problems import PROBLEM_JSON
from walkout.data.stores import StoreDefinitions

RETAILER = "retailer-a"


def create_store(app: APIGatewayHttpResolver, tokens: Tokens, name: str = "Corner shop") -> str:
    reply = call(app, "POST", "/stores", tokens.admin(RETAILER), store_body(name))
    assert reply.status == 201, reply.body
    return str(reply.body["store_id"])


def assert_problem(reply: Any, status: int, *fragments: str) -> None:
    assert reply.status == status, reply.body
    assert reply.content_type == PROBLEM_JSON
    assert ProblemOut.model_validate(reply.body).status == status
    for fragment in fragments:
        assert fragment in reply.body["detail"], reply.body["detail"]


# --- stores -------------------------------------------------------------------------------
def test_a_created_store_is_readable_by_ingest_under_the_same_key(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    reply = call(app, "POST", "/stores", tokens.admin(RETAILER), store_body())

    assert reply.status == 201
    assert reply.body["version"] == 1
    assert reply.body["store"]["retailer_id"] == RETAILER
    store_id = reply.body["store_id"]
    definition = StoreDefinitions(ddb, TABLE).get(store_id)
    assert definition is not None
    assert definition.store.retailer_id == RETAILER
    assert definition.planogram.sku_by_lane() == {"L1": "cola", "L2": "chips", "L3": "soap"}


def test_get_and_replace_a_store(app: APIGatewayHttpResolver, tokens: Tokens) -> None:
    store_id = create_store(app, tokens)
    body = store_body("Renamed shop")

    replaced = call(app, "PUT", f"/stores/{store_id}", tokens.admin(RETAILER), body)
    got = call(app, "GET", f"/stores/{store_id}", tokens.reviewer(RETAILER))

    assert replaced.status == 200
    assert replaced.body["version"] == 2
    assert got.body["store"]["name"] == "Renamed shop"
    assert got.body["store_id"] == store_id


def test_stores_are_listed_in_pages_with_an_opaque_cursor(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    created = {create_store(app, tokens, f"Shop {i}") for i in range(3)}
    claims = tokens.admin(RETAILER)

    first = call(app, "GET", "/stores", claims, query={"limit": "2"})
    second = call(
        app, "GET", "/stores", claims, query={"limit": "2", "cursor": first.body["next_cursor"]}
    )

    assert len(first.body["items"]) == 2
    assert first.body["next_cursor"]
    seen = {s["store_id"] for s in first.body["items"] + second.body["items"]}
    assert seen == created
    assert second.body["next_cursor"] is None


def test_a_garbled_cursor_is_a_400_problem(app: APIGatewayHttpResolver, tokens: Tokens) -> None:
    reply = call(app, "GET", "/stores", tokens.admin(RETAILER), query={"cursor": "%%%not-base64"})
    assert_problem(reply, 400, "cursor")


def test_a_cursor_into_another_retailers_partition_is_refused(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    forged = base64.urlsafe_b64encode(
        json.dumps({"pk": "RETAILER#retailer-b", "sk": "STORE#x"}).encode()
    ).decode()
    reply = call(app, "GET", "/stores", tokens.admin(RETAILER), query={"cursor": forged})
    assert_problem(reply, 400, "cursor")


def test_a_store_missing_a_field_is_a_422_naming_it(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    body = store_body()
    del body["store"]["gates"]

    reply = call(app, "POST", "/stores", tokens.admin(RETAILER), body)

    assert_problem(reply, 422, "body.store.gates")


def test_malformed_json_is_a_client_error_not_a_500(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    reply = call(app, "POST", "/stores", tokens.admin(RETAILER), "{not json")
    assert 400 <= reply.status < 500
    assert reply.content_type == PROBLEM_JSON


def test_a_layout_that_does_not_hold_together_is_a_422(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    body = store_body()
    body["planogram"]["entries"].append({"lane_id": "L9", "sku": "cola"})

    reply = call(app, "POST", "/stores", tokens.admin(RETAILER), body)

    assert_problem(reply, 422, "lane L9 is not in the store layout")


def test_unknown_store_and_unknown_route_are_404_problems(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    claims = tokens.admin(RETAILER)
    assert_problem(call(app, "GET", "/stores/store-nope", claims), 404, "store-nope")
    assert_problem(call(app, "GET", "/nowhere", claims), 404, "/nowhere")


def test_a_request_without_claims_is_401_and_a_reviewer_cannot_write(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    store_id = create_store(app, tokens)
    assert_problem(call(app, "GET", "/stores", None), 401)
    reply = call(app, "PUT", f"/stores/{store_id}", tokens.reviewer(RETAILER), store_body())
    assert_problem(reply, 403, "admin")


def test_a_page_size_out_of_range_is_a_422(app: APIGatewayHttpResolver, tokens: Tokens) -> None:
    reply = call(app, "GET", "/stores", tokens.admin(RETAILER), query={"limit": "0"})
    assert_problem(reply, 422, "query.limit")


# --- catalog ------------------------------------------------------------------------------
def test_sku_crud(app: APIGatewayHttpResolver, tokens: Tokens) -> None:
    store_id = create_store(app, tokens)
    claims = tokens.admin(RETAILER)
    tea = {
        k: v
        for k, v in product("tea", price=399, weight=152).items()
        if k not in {"sku", "currency"}
    }

    created = call(app, "PUT", f"/stores/{store_id}/products/tea", claims, tea)
    updated = call(
        app, "PUT", f"/stores/{store_id}/products/tea", claims, {**tea, "price_minor": 349}
    )
    got = call(app, "GET", f"/stores/{store_id}/products/tea", claims)
    deleted = call(app, "DELETE", f"/stores/{store_id}/products/tea", claims)
    gone = call(app, "GET", f"/stores/{store_id}/products/tea", claims)

    assert created.status == 201
    assert created.body["currency"] == "EUR"
    assert updated.status == 200
    assert got.body["price_minor"] == 349
    assert deleted.status == 204
    assert_problem(gone, 404, "tea")


def test_products_are_listed_in_pages(app: APIGatewayHttpResolver, tokens: Tokens) -> None:
    store_id = create_store(app, tokens)
    claims = tokens.admin(RETAILER)

    first = call(app, "GET", f"/stores/{store_id}/products", claims, query={"limit": "2"})
    rest = call(
        app,
        "GET",
        f"/stores/{store_id}/products",
        claims,
        query={"limit": "2", "cursor": first.body["next_cursor"]},
    )

    skus = [p["sku"] for p in first.body["items"] + rest.body["items"]]
    assert skus == ["chips", "cola", "soap"]
    assert rest.body["next_cursor"] is None


def test_a_sku_on_a_planogram_lane_cannot_be_deleted(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    store_id = create_store(app, tokens)
    reply = call(app, "DELETE", f"/stores/{store_id}/products/chips", tokens.admin(RETAILER))
    assert_problem(reply, 409, "chips")


def test_a_product_of_an_unknown_tax_class_is_a_422(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    store_id = create_store(app, tokens)
    body = {k: v for k, v in product("tea").items() if k not in {"sku", "currency"}}
    body["tax_class"] = "luxury"

    reply = call(app, "PUT", f"/stores/{store_id}/products/tea", tokens.admin(RETAILER), body)

    assert_problem(reply, 422, "luxury")


def test_bulk_import_creates_and_replaces_all_or_nothing(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    store_id = create_store(app, tokens)
    claims = tokens.admin(RETAILER)
    rows = [
        {k: v for k, v in product(s).items() if k != "currency"} for s in ("cola", "tea", "gum")
    ]

    imported = call(app, "POST", f"/stores/{store_id}/products/imports", claims, {"products": rows})
    twice = call(
        app, "POST", f"/stores/{store_id}/products/imports", claims, {"products": rows + rows[:1]}
    )
    listing = call(app, "GET", f"/stores/{store_id}/products", claims)

    assert imported.status == 200
    assert (imported.body["created"], imported.body["replaced"]) == (2, 1)
    assert_problem(twice, 422, "more than once")
    assert len(listing.body["items"]) == 5


# --- planogram and promotions -------------------------------------------------------------
def test_planogram_replace_reaches_the_ingest_reader(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = create_store(app, tokens)
    claims = tokens.admin(RETAILER)
    entries = [{"lane_id": "L1", "sku": "chips", "initial_units": 4}]

    reply = call(app, "PUT", f"/stores/{store_id}/planogram", claims, {"entries": entries})
    bad = call(
        app,
        "PUT",
        f"/stores/{store_id}/planogram",
        claims,
        {"entries": [{"lane_id": "L1", "sku": "caviar"}]},
    )

    assert reply.status == 200
    assert reply.body["version"] == 2
    assert_problem(bad, 422, "caviar")
    definition = StoreDefinitions(ddb, TABLE).get(store_id)
    assert definition is not None
    assert definition.planogram.sku_by_lane() == {"L1": "chips"}


def test_promotions_create_list_delete(app: APIGatewayHttpResolver, tokens: Tokens) -> None:
    store_id = create_store(app, tokens)
    claims = tokens.admin(RETAILER)
    soap = {
        "kind": "percent_off",
        "promotion_id": "soap-10",
        "name": "10% off soap",
        "skus": ["soap"],
        "percent_bp": 1000,
    }

    created = call(app, "PUT", f"/stores/{store_id}/promotions/soap-10", claims, soap)
    listed = call(app, "GET", f"/stores/{store_id}/promotions", claims)
    deleted = call(app, "DELETE", f"/stores/{store_id}/promotions/cola-2", claims)
    again = call(app, "DELETE", f"/stores/{store_id}/promotions/cola-2", claims)

    assert created.status == 201
    assert [p["promotion_id"] for p in listed.body["items"]] == ["cola-2", "soap-10"]
    assert deleted.status == 204
    assert_problem(again, 404, "cola-2")


def test_a_promotion_whose_id_differs_from_the_path_or_of_unknown_kind_is_a_422(
    app: APIGatewayHttpResolver, tokens: Tokens
) -> None:
    store_id = create_store(app, tokens)
    claims = tokens.admin(RETAILER)
    promo = {
        "kind": "percent_off",
        "promotion_id": "a",
        "name": "A",
        "skus": ["soap"],
        "percent_bp": 5,
    }

    mismatch = call(app, "PUT", f"/stores/{store_id}/promotions/b", claims, promo)
    unknown_kind = call(
        app, "PUT", f"/stores/{store_id}/promotions/a", claims, {**promo, "kind": "bogo"}
    )

    assert_problem(mismatch, 422, "promotion_id")
    assert_problem(unknown_kind, 422, "body")


def test_swagger_ui_is_served_at_docs(app: APIGatewayHttpResolver) -> None:
    reply = call(app, "GET", "/docs", None)

    assert reply.status == 200
    assert "swagger" in str(reply.body).lower()


# --- live cart ----------------------------------------------------------------------------
def test_the_sessions_shopper_and_the_stores_staff_read_the_live_cart(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = create_store(app, tokens)
    open_session(ddb, store_id, "sess-1")
    path = f"/stores/{store_id}/sessions/sess-1/cart"

    shopper = call(app, "GET", path, tokens.shopper(RETAILER, "sess-1"))
    reviewer = call(app, "GET", path, tokens.reviewer(RETAILER))

    assert shopper.status == 200, shopper.body
    assert shopper.body["totals"]["total_minor"] == 0
    assert shopper.body["status"] == "open"
    assert reviewer.body == shopper.body
    assert "secret-account-token" not in json.dumps(shopper.body)


def test_a_shopper_cannot_read_another_session_of_the_same_store(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = create_store(app, tokens)
    open_session(ddb, store_id, "sess-1")
    path = f"/stores/{store_id}/sessions/sess-1/cart"

    other = call(app, "GET", path, tokens.shopper(RETAILER, "sess-2"))
    missing = call(
        app, "GET", f"/stores/{store_id}/sessions/sess-2/cart", tokens.shopper(RETAILER, "sess-2")
    )

    assert_problem(other, 404, "sess-1")
    assert_problem(missing, 404, "sess-2")
