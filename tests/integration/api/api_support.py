"""Test support for the HTTP API against moto: the stores table, HTTP API (payload v2)
events carrying JWT authorizer claims from the local development issuer, and a small store
definition as a retailer would send it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from localcloud import tables as localcloud_tables
from localcloud.dev_issuer import DevIssuer, authorizer_claims
from walkout.api.auth import ADMIN_GROUP, REVIEWER_GROUP
from walkout.api.models import ProblemOut
from walkout.api.problems import PROBLEM_JSON
from walkout.attribution.record import Action, Attribution, Hypothesis, SessionShare
from walkout.cart import Cart, ReviewStatus, Totals
from walkout.catalog import Catalog
from walkout.config import DeploymentConfig
from walkout.data.receipts import ReceiptsTable
from walkout.data.review_tasks import ReviewTasksTable
from walkout.data.sessions import CartRecord, CartWrite, SessionRecord, SessionsTable
from walkout.finalize.receipt import issue_receipt as finalize_issue
from walkout.ingest.lifecycle import SessionStatus
from walkout.pricing import price_items
from walkout.review.contract import ReviewTask

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


def product(
    sku: str, price: int = 199, weight: float = 355.0, name: str | None = None
) -> dict[str, Any]:
    """A catalog product; its name is the sku's unless given."""
    return {
        "sku": sku,
        "name": sku.title() if name is None else name,
        "price_minor": price,
        "currency": "EUR",
        "unit_weight_g": weight,
        "weight_tolerance_g": 5.0,
        "tax_class": "std",
    }


def store_body(
    name: str = "Corner shop",
    *,
    planogram: Mapping[str, str] = LANES,
    products: Sequence[dict[str, Any]] | None = None,
    multi_buy_minor: int = 300,
) -> dict[str, Any]:
    """A whole store definition as POST /stores takes it: one camera, one shelf whose lanes
    hold `planogram`'s skus (lane id -> sku), the `products` (by default `product(sku)` of
    each sku) and a "2 colas for `multi_buy_minor`" promotion."""
    if products is None:
        products = [product(sku) for sku in planogram.values()]
    lanes = [
        {
            "lane_id": lane_id,
            "level": 0,
            "height_m": 0.5,
            "front_center": {"x": 1.0 + 0.4 * i, "y": 2.0},
            "width_m": 0.35,
            "load_cell": {"cell_id": f"cell-{lane_id}", "hub_id": "hub-1", "rate_hz": 20},
        }
        for i, lane_id in enumerate(planogram)
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
            "products": list(products),
            "promotions": [
                {
                    "kind": "multi_buy",
                    "promotion_id": "cola-2",
                    "name": f"2 colas for {multi_buy_minor / 100:.2f}",
                    "skus": ["cola"],
                    "buy_qty": 2,
                    "price_minor": multi_buy_minor,
                }
            ],
        },
        "planogram": {"entries": [{"lane_id": k, "sku": v} for k, v in planogram.items()]},
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


# --- the operational routes: receipts, review tasks, evidence, events -------------------------

RECEIPTS_TABLE = TEST_CONFIG.table_name("receipts")
INGEST_TABLE = TEST_CONFIG.table_name("ingest")
EVIDENCE_BUCKET = "walkout-test-evidence"
BUS = "walkout-test-bus"
# A queue that receives every event on the bus, so tests can read what was published.
BUS_QUEUE = "walkout-test-bus-events"


def create_operations_resources() -> None:
    """The evidence bucket and the event bus (with a catch-all rule to a queue)."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(
        Bucket=EVIDENCE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=BUS)
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=BUS_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="everything", EventBusName=BUS, EventPattern=json.dumps({"source": ["walkout.api"]})
    )
    events.put_targets(
        Rule="everything", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )


def published_events() -> list[dict[str, Any]]:
    """Every event the bus delivered to the test queue so far (consumed)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=BUS_QUEUE)["QueueUrl"]
    out: list[dict[str, Any]] = []
    while True:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        messages = page.get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def receipts_table(ddb: Any) -> ReceiptsTable:
    return ReceiptsTable(ddb, RECEIPTS_TABLE, clock=lambda: datetime.now(UTC))


def issue_receipt(
    ddb: Any,
    store_id: str,
    session_id: str,
    items: Mapping[str, int],
    *,
    issued_at: datetime,
    status: str = "auto",
) -> Any:
    """Version 1 of a session's receipt, priced by finalize's own function with the test
    store's catalog (2 colas for 3.00)."""
    catalog = Catalog.model_validate(store_body()["catalog"])
    receipt = finalize_issue(
        store_id=store_id,
        session_id=session_id,
        items=items,
        catalog=catalog,
        prices_include_tax=True,
        priced_at=issued_at,
        status=ReviewStatus(status),
        issued_at=issued_at,
    )
    stored, _ = receipts_table(ddb).issue(receipt)
    return stored


def close_session(ddb: Any, store_id: str, session_id: str, exit_at: datetime) -> None:
    """The session's shopper left at `exit_at` (status closing)."""
    table = sessions_table(ddb)
    before = table.get_session(store_id, session_id)
    assert before is not None
    after = before.model_copy(
        update={"status": SessionStatus.CLOSING, "exits": {"t-1": exit_at}, "exit_at": exit_at}
    )
    table.update_session(before, after)


def create_store_for(app: APIGatewayHttpResolver, tokens: Tokens, retailer: str) -> str:
    reply = call(app, "POST", "/stores", tokens.admin(retailer), store_body())
    assert reply.status == 201, reply.body
    return str(reply.body["store_id"])


def assert_problem(reply: Reply, status: int, *fragments: str) -> None:
    """A problem document with `status` whose detail names every fragment."""
    assert reply.status == status, reply.body
    assert reply.content_type == PROBLEM_JSON
    assert ProblemOut.model_validate(reply.body).status == status
    for fragment in fragments:
        assert fragment in reply.body["detail"], reply.body["detail"]


def charge(
    ddb: Any,
    store_id: str,
    session_id: str,
    event_id: str,
    sku: str,
    *,
    qty: int = 1,
    p: float = 0.9,
    rival: str | None = None,
    at: datetime | None = None,
) -> Attribution:
    """A pick charged to the session, as ingest commits it: the attribution record and the
    session's repriced cart (with the event's receipt factor) in one transaction."""
    when = at or datetime.now(UTC)
    table = sessions_table(ddb)
    current = table.get_cart(store_id, session_id)
    assert current is not None
    shares = [SessionShare(session_id=session_id, probability=p, factor=p, chosen=True)]
    if rival is not None:
        shares.append(SessionShare(session_id=rival, probability=1 - p, factor=p, chosen=False))
    record = Attribution(
        event_id=event_id,
        store_id=store_id,
        lane_id=next(lane for lane, s in LANES.items() if s == sku),
        action=Action.PICK,
        delta_g=-355.0 * qty,
        t_start=when - timedelta(seconds=1),
        t_end=when,
        decision=Hypothesis(session_id=session_id, sku=sku, qty=qty, probability=p),
        p_who=p,
        p_what=1.0,
        alternatives=[],
        sessions=shares,
        reasons=[f"seeded: {session_id} reached lane of {sku}"],
        model="test",
    )
    items = dict(current.items)
    items[sku] = items.get(sku, 0) + qty
    catalog = Catalog.model_validate(store_body()["catalog"])
    priced = price_items(items, catalog, prices_include_tax=True, at=when)
    cart = priced.to_cart(
        store_id=store_id, session_id=session_id, version=current.cart.version + 1, updated_at=when
    )
    after = current.model_copy(
        update={
            "items": items,
            "cart": cart,
            "factors": {**current.factors, event_id: p},
            "rev": current.rev + 1,
        }
    )
    assert table.commit_attribution(record, [CartWrite(after, current.rev)], None)
    return record


# --- review tasks with a real waiting task token ----------------------------------------------

TOKEN_QUEUE = "walkout-test-review-tokens"


def waiting_token() -> tuple[str, str]:
    """A task token a running execution waits on (moto executes the state machine: its
    task sends the token to a queue and waits). Returns (token, execution ARN)."""
    sqs = boto3.client("sqs", region_name=REGION)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=TOKEN_QUEUE)["QueueUrl"]
    definition = {
        "StartAt": "Review",
        "States": {
            "Review": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
                # As the finalize workflow's review states: heartbeats need a heartbeat.
                "HeartbeatSeconds": 600,
                "TimeoutSeconds": 3600,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"review-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/walkout-test",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    for _ in range(200):  # the execution runs on moto's background thread
        page = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)
        for message in page.get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return str(json.loads(message["Body"])["token"]), execution
        time.sleep(0.05)
    raise AssertionError("the execution never sent its task token")


def execution_result(execution_arn: str) -> tuple[str, Any]:
    """The execution's final status and output, once it has left RUNNING."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    for _ in range(200):
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described["status"], json.loads(described.get("output") or "null")
        time.sleep(0.05)
    return "RUNNING", None


def review_task(
    store_id: str, retailer_id: str, task_id: str = "rt-1", *, created: datetime | None = None
) -> ReviewTask:
    """A console review task about one pick (E1) with two candidate shoppers."""
    at = created or datetime.now(UTC) - timedelta(minutes=1)
    evidence = f"s3://{EVIDENCE_BUCKET}/stores/{store_id}/evidence/E1"
    return ReviewTask.model_validate(
        {
            "task_id": task_id,
            "store_id": store_id,
            "retailer_id": retailer_id,
            "session_id": "s-secret-1",
            "backend": "console",
            "created_at": at,
            "timeout_s": 3600,
            "heartbeat_s": 600,
            "questions": [
                {
                    "event_id": "E1",
                    "action": "pick",
                    "lane_id": "L1",
                    "t_start": at - timedelta(minutes=5),
                    "t_end": at - timedelta(minutes=5),
                    "delta_g": -355.0,
                    "prompt": "Who took what from lane L1?",
                    "local_time": "18:10:00 UTC",
                    "evidence": [
                        f"{evidence}/0.jpg",
                        f"{evidence}/1.jpg",
                        # Not under the task's store: never signed.
                        f"s3://{EVIDENCE_BUCKET}/stores/store-other/evidence/E1/0.jpg",
                    ],
                    "shoppers": [
                        {
                            "label": "A",
                            "colour": "orange",
                            "colour_hex": "#E69F00",
                            "session_id": "s-secret-1",
                        },
                        {
                            "label": "B",
                            "colour": "sky blue",
                            "colour_hex": "#56B4E9",
                            "session_id": "s-secret-2",
                            "looks": [
                                f"s3://{EVIDENCE_BUCKET}/stores/{store_id}/evidence/E0/entry-t2.jpg",
                                # Not under the task's store: never signed.
                                f"s3://{EVIDENCE_BUCKET}/stores/store-other/evidence/E0/e.jpg",
                            ],
                        },
                    ],
                    "products": [
                        {"sku": "cola", "name": "Cola"},
                        {"sku": "chips", "name": "Chips"},
                    ],
                    "max_qty": 3,
                    "present": ["1"],
                }
            ],
            # Somebody else in the store then, with one look of this store and a foreign one
            "people": [
                {
                    "label": "1",
                    "session_id": "s-secret-3",
                    "looks": [
                        f"s3://{EVIDENCE_BUCKET}/stores/{store_id}/evidence/E7/entry-t9.jpg",
                        f"s3://{EVIDENCE_BUCKET}/stores/store-other/evidence/E7/e.jpg",
                    ],
                }
            ],
        }
    )


def queue_review(ddb: Any, task: ReviewTask, token: str) -> None:
    tasks = ReviewTasksTable(ddb, SESSIONS_TABLE, ttl_days=14, clock=lambda: datetime.now(UTC))
    assert tasks.put(task, token)
