"""`localcloud.serve`: real HTTP requests through the local server to the real API function
(moto in server mode), authorised with development tokens as the stack's JWT authorizer
would authorise them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from serve_support import CONFIG, REGION, LocalStack, store_body

from localcloud.dev_issuer import DevIssuer, authorizer_claims
from localcloud.serve import (
    LocalApi,
    LocalRequest,
    ServeError,
    is_public,
    response_of,
    start_backend,
)
from walkout_cli.main import main

PROBLEM = "application/problem+json"


# --- through the server ----------------------------------------------------------------------


def test_a_valid_admin_token_is_served(stack: LocalStack) -> None:
    created = stack.request("POST", "/stores", token=stack.admin("r-serve"), body=store_body())
    listed = stack.request("GET", "/stores", token=stack.admin("r-serve"))

    assert created.status == 201
    assert listed.status == 200
    assert [s["store_id"] for s in listed.json()["items"]] == [created.json()["store_id"]]


def test_no_token_is_401_with_a_problem_body(stack: LocalStack) -> None:
    reply = stack.request("GET", "/stores")

    assert reply.status == 401
    assert reply.headers["Content-Type"] == PROBLEM
    assert reply.json()["detail"] == "no verified token claims on the request"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ],
)
def test_a_malformed_token_is_401(stack: LocalStack, authorization: str) -> None:
    reply = stack.request("GET", "/stores", headers={"Authorization": authorization})

    assert reply.status == 401
    assert reply.headers["Content-Type"] == PROBLEM


def test_a_token_of_another_issuer_key_is_401(stack: LocalStack, tmp_path: Path) -> None:
    stranger = DevIssuer.load_or_create(tmp_path).issue(
        retailer_id="r-serve", groups=["retailer-admins"]
    )

    reply = stack.request("GET", "/stores", token=stranger)

    assert reply.status == 401


def test_an_expired_token_is_401(stack: LocalStack) -> None:
    expired = stack.issuer.issue(retailer_id="r-serve", groups=["retailer-admins"], ttl_s=-3600)

    reply = stack.request("GET", "/stores", token=expired)

    assert reply.status == 401


def test_problem_bodies_pass_through(stack: LocalStack) -> None:
    token = stack.admin("r-serve")

    invalid = stack.request("POST", "/stores", token=token, body={"store": {}})
    missing = stack.request("GET", "/stores/no-such-store", token=token)
    no_route = stack.request("GET", "/nowhere", token=token)
    not_json = stack.request("POST", "/stores", token=token, body=b"{not json")

    assert (invalid.status, missing.status, no_route.status) == (422, 404, 404)
    for reply in (invalid, missing, no_route, not_json):
        assert reply.headers["Content-Type"] == PROBLEM
        assert reply.json()["status"] == reply.status
        assert reply.json()["detail"]
    assert invalid.json()["detail"].startswith("body.")
    assert not_json.status == 422


def test_a_shopper_token_reads_only_its_session(stack: LocalStack) -> None:
    store = stack.create_store("r-serve", store_body("Shopper's store"))

    own = stack.request(
        "GET", f"/stores/{store}/sessions/s-1/cart", token=stack.shopper("r-serve", "s-1")
    )
    other = stack.request(
        "GET", f"/stores/{store}/sessions/s-2/cart", token=stack.shopper("r-serve", "s-1")
    )

    # No cart was opened: both are the same 404, so the shopper learns nothing about s-2.
    assert own.status == other.status == 404
    assert own.json()["detail"].replace("s-1", "s-x") == other.json()["detail"].replace(
        "s-2", "s-x"
    )


def test_public_paths_need_no_token(stack: LocalStack) -> None:
    docs = stack.request("GET", "/docs")
    spec = stack.request("GET", "/docs?format=json")
    review = stack.request("GET", "/app/review")
    cart = stack.request("GET", "/app/cart?store=x&session=y")
    script = stack.request("GET", "/app/static/review.js")

    assert [r.status for r in (docs, spec, review, cart, script)] == [200] * 5
    assert spec.json()["openapi"].startswith("3.1")
    assert review.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in review.headers["Content-Security-Policy"]
    # The page's images may come from the local S3 endpoint (presigned evidence).
    assert stack.endpoint_url in review.headers["Content-Security-Policy"]
    assert script.headers["Content-Type"].startswith("text/javascript")


def test_a_token_on_a_public_path_is_not_handed_to_the_function(stack: LocalStack) -> None:
    api = LocalApi(lambda event, context: event, stack.issuer)
    token = stack.admin("r-serve")
    request = LocalRequest("GET", "/app/review", [("Authorization", f"Bearer {token}")], b"")

    event = api.event(request)

    assert "authorizer" not in event["requestContext"]


def test_an_endpoint_that_runs_is_used_as_it_is(stack: LocalStack) -> None:
    applied: dict[str, str] = {}

    backend = start_backend(
        CONFIG, endpoint_url=stack.endpoint_url, region=REGION, apply=applied.update
    )

    assert backend.moto is None  # nothing started, nothing to stop
    assert applied["AWS_ENDPOINT_URL"] == stack.endpoint_url
    assert applied["WALKOUT_STORES_TABLE"] == CONFIG.table_name("stores")
    # The tables were there and are kept (with their items).
    assert stack.request("GET", "/stores", token=stack.admin("r-serve")).status == 200


def test_an_endpoint_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ServeError, match="not an http"):
        start_backend(CONFIG, endpoint_url="localhost:5000", apply=lambda env: None)


# --- the event and the response, without a server ----------------------------------------------


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer.load_or_create(tmp_path_factory.mktemp("issuer"))


def test_the_event_is_an_http_api_v2_event(issuer: DevIssuer) -> None:
    token = issuer.issue(retailer_id="r1", groups=["reviewers"])
    api = LocalApi(lambda event, context: event, issuer)
    request = LocalRequest(
        method="POST",
        target="/review-tasks/next?store=s1&tag=a&tag=b",
        headers=[
            ("Host", "127.0.0.1:8080"),
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("X-Thing", "1"),
            ("x-thing", "2"),
            ("Cookie", "a=1; b=2"),
        ],
        body=b'{"store_id": "s1"}',
        source_ip="10.0.0.7",
    )

    event = api.event(request)

    assert event["version"] == "2.0"
    assert event["rawPath"] == "/review-tasks/next"
    assert event["rawQueryString"] == "store=s1&tag=a&tag=b"
    assert event["queryStringParameters"] == {"store": "s1", "tag": "a,b"}
    assert event["headers"]["x-thing"] == "1,2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["body"] == '{"store_id": "s1"}'
    assert event["isBase64Encoded"] is False
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"]) == (
        "POST",
        "/review-tasks/next",
        "10.0.0.7",
    )
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims == authorizer_claims(issuer.verify(token))
    assert claims["cognito:groups"] == "[reviewers]"


def test_a_binary_body_is_base64_encoded(issuer: DevIssuer) -> None:
    api = LocalApi(lambda event, context: event, issuer)
    payload = b"\xff\xd8\xff\xe0 jpeg"

    event = api.event(
        LocalRequest("PUT", "/x", [("Content-Type", "image/jpeg")], payload, "127.0.0.1")
    )

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_an_invalid_token_leaves_no_authorizer_block(issuer: DevIssuer) -> None:
    api = LocalApi(lambda event, context: event, issuer)
    forged = issuer.issue(retailer_id="r1", groups=["retailer-admins"])
    head, payload, signature = forged.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["custom:retailer_id"] = "someone-else"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    event = api.event(
        LocalRequest(
            "GET", "/stores", [("Authorization", f"Bearer {head}.{tampered}.{signature}")], b""
        )
    )

    assert "authorizer" not in event["requestContext"]


def test_the_response_is_read_as_api_gateway_reads_it() -> None:
    binary = response_of(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png"},
            "cookies": ["a=1; Secure"],
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    )
    bare = response_of({"ok": True})

    assert (binary.status, binary.body, binary.cookies) == (201, b"\x89PNG", ["a=1; Secure"])
    assert (bare.status, json.loads(bare.body)) == (200, {"ok": True})


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/docs", True),
        ("/app/review", True),
        ("/app/static/cart.js", True),
        ("/stores", False),
        ("/docsx", False),
        ("/app", False),
    ],
)
def test_public_paths(path: str, public: bool) -> None:
    assert is_public(path) is public


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_serve_refuses_a_port_that_is_not_one(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", port]) == 2
    assert "--port" in capsys.readouterr().err
