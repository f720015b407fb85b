"""Test support for the HTTP API against moto: the stores table, HTTP API (payload v2)
events carrying JWT authorizer claims from the local development issuer, and a small store
definition as a retailer would send it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from localcloud import tables as localcloud_tables
from localcloud.dev_issuer import DevIssuer, authorizer_claims
from walkout.api.auth import ADMIN_GROUP, REVIEWER_GROUP
from walkout.cart import Cart, Totals
from walkout.config import DeploymentConfig
from walkout.data.sessions import CartRecord, SessionRecord, SessionsTable
from walkout.ingest.lifecycle import SessionStatus

REGION = "eu-west-1"
TEST_CONFIG = DeploymentConfig(stage="test")
TABLE = TEST_CONFIG.table_name("stores")
SESSIONS_TABLE = TEST_CONFIG.table_name("sessions")
LANES = {"L1": "cola", "L2": "chips", "L3": "soap"}


def create_tables() -> Any:
    """The tables as the stack defines them; the API uses `stores` and `sessions`."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    localcloud_tables.create_tables(ddb, TEST_CONFIG)
    return ddb


def sessions_table(ddb: Any) -> SessionsTable:
    return SessionsTable(ddb, SESSIONS_TABLE, ttl_days=14, clock=lambda: datetime.now(UTC))


def open_session(ddb: Any, store_id: str, session_id: str) -> None:
    """A session with an empty live cart, as ingest opens it at the gate."""
    now = datetime.now(UTC)
    totals = Totals(
        subtotal_minor=0, savings_minor=0, tax_minor=0, total_minor=0, tax_included=True
    )
    cart = Cart(
        store_id=store_id,
        session_id=session_id,
        currency="EUR",
        totals=totals,
        version=0,
        updated_at=now,
    )
    session = SessionRecord(
        store_id=store_id,
        session_id=session_id,
        status=SessionStatus.OPEN,
        tracks=["t-1"],
        gate_id="in",
        account_ref="secret-account-token",
        entered_at=now,
        opened_by="01JTESTEVENT",
    )
    record = CartRecord(store_id=store_id, session_id=session_id, cart=cart)
    assert sessions_table(ddb).open_session(session, record) is None


def product(sku: str, price: int = 199, weight: float = 355.0) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": sku.title(),
        "price_minor": price,
        "currency": "EUR",
        "unit_weight_g": weight,
        "weight_tolerance_g": 5.0,
        "tax_class": "std",
    }


def store_body(name: str = "Corner shop") -> dict[str, Any]:
    """A whole store definition as POST /stores takes it."""
    lanes = [
        {
            "lane_id": lane_id,
            "level": 0,
            "height_m": 0.5,
            "front_center": {"x": 1.0 + 0.4 * i, "y": 2.0},
            "width_m": 0.35,
            "load_cell": {"cell_id": f"cell-{lane_id}", "hub_id": "hub-1", "rate_hz": 20},
        }
        for i, lane_id in enumerate(LANES)
    ]
    return {
        "store": {
            "name": name,
            "currency": "EUR",
            "floor": {"width_m": 6, "depth_m": 5},
            "cameras": [
                {
                    "camera_id": "cam-1",
                    "resolution": [640, 480],
                    "fps": 10,
                    "intrinsics": {"fx": 320, "fy": 320, "cx": 320, "cy": 240},
                    "rotation": [[1, 0, 0], [0, -1, 0], [0, 0, -1]],
                    "position_m": [3, 2.5, 3.5],
                }
            ],
            "shelves": [
                {
                    "shelf_id": "S1",
                    "aisle": 0,
                    "footprint": {"x0": 0.8, "y0": 2.0, "x1": 2.2, "y1": 2.5},
                    "facing": "south",
                    "lanes": lanes,
                }
            ],
            "gates": [
                {"gate_id": "in", "kind": "entry", "area": {"x0": 0, "y0": 0, "x1": 1, "y1": 0.5}},
                {"gate_id": "out", "kind": "exit", "area": {"x0": 5, "y0": 0, "x1": 6, "y1": 0.5}},
            ],
        },
        "catalog": {
            "currency": "EUR",
            "tax_classes": [{"tax_class": "std", "name": "Standard", "rate_bp": 2000}],
            "products": [product(sku) for sku in LANES.values()],
            "promotions": [
                {
                    "kind": "multi_buy",
                    "promotion_id": "cola-2",
                    "name": "2 colas for 3.00",
                    "skus": ["cola"],
                    "buy_qty": 2,
                    "price_minor": 300,
                }
            ],
        },
        "planogram": {"entries": [{"lane_id": k, "sku": v} for k, v in LANES.items()]},
    }


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", ""))


class Tokens:
    """Claims as API Gateway hands them to the function, from real signed dev tokens."""

    def __init__(self, key_dir: Path) -> None:
        self.issuer = DevIssuer.load_or_create(key_dir)

    def claims(self, token: str) -> dict[str, str]:
        return authorizer_claims(self.issuer.verify(token))

    def admin(self, retailer: str) -> dict[str, str]:
        return self.claims(self.issuer.issue(retailer_id=retailer, groups=[ADMIN_GROUP]))

    def reviewer(self, retailer: str) -> dict[str, str]:
        return self.claims(self.issuer.issue(retailer_id=retailer, groups=[REVIEWER_GROUP]))

    def shopper(self, retailer: str, session: str = "sess-1") -> dict[str, str]:
        return self.claims(self.issuer.issue(retailer_id=retailer, session_ids=[session]))


class FakeContext:
    function_name = "api"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:api"
    aws_request_id = "req-1"


def http_event(
    method: str,
    path: str,
    claims: Mapping[str, str] | None,
    body: Any = None,
    query: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.com",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "pytest",
        },
        "requestId": "req-1",
        "routeKey": "$default",
        "stage": "$default",
        "time": "26/Nov/2026:01:00:00 +0000",
        "timeEpoch": 1795000000000,
    }
    if claims is not None:
        request_context["authorizer"] = {"jwt": {"claims": dict(claims), "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {"content-type": "application/json"},
        "queryStringParameters": dict(query) if query else None,
        "requestContext": request_context,
        "body": None if body is None else (body if isinstance(body, str) else json.dumps(body)),
        "isBase64Encoded": False,
    }


def call(
    app: APIGatewayHttpResolver,
    method: str,
    path: str,
    claims: Mapping[str, str] | None,
    body: Any = None,
    query: Mapping[str, str] | None = None,
) -> Reply:
    context = cast(LambdaContext, FakeContext())
    response = app.resolve(http_event(method, path, claims, body, query), context)
    raw = response.get("body")
    headers = response.get("headers") or {}
    is_json = "json" in str(headers.get("Content-Type", ""))
    return Reply(
        status=int(response["statusCode"]),
        headers=headers,
        body=(json.loads(raw) if is_json else raw) if raw else None,
    )
