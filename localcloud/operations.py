"""Counting the billable operations every client makes against the local endpoint.

A WSGI middleware in front of moto's server sees every request (the edge daemon's, the
functions', the state machine interpreter's, the runtime's own) and counts them per
service and action, plus what the cost model needs: Kinesis records, bytes and 25 KB
payload units of `PutRecord(s)`; DynamoDB read and write capacity units, estimated from
item sizes as DynamoDB bills them (writes: 1 KB per unit per item, transactional x2;
reads: 4 KB per unit of what a call returns, strongly consistent, transactional x2; a
`BatchGetItem` per item it returns, as DynamoDB bills it).
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([a-z0-9-]+)/aws4_request")
KINESIS_PAYLOAD_UNIT = 25 * 1024
WRITE_UNIT = 1024
READ_UNIT = 4096
DYNAMO_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
DYNAMO_READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
# The runtime's own bookkeeping reads (waiting, writing the report) are not part of a store's
# day; they carry this user agent suffix and are left out of the counts.
UNCOUNTED_AGENT = "walkout-localcloud"

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _item_bytes(item: Any) -> int:
    return len(json.dumps(item, separators=(",", ":")))


def _kinesis_counts(action: str, body: bytes) -> Counter[str]:
    counts: Counter[str] = Counter()
    try:
        request = json.loads(body)
    except ValueError:
        return counts
    records = request.get("Records", []) if action == "PutRecords" else [request]
    counts["put_records_calls"] += 1
    for record in records:
        size = len(base64.b64decode(record.get("Data", ""))) + len(
            str(record.get("PartitionKey", "")).encode()
        )
        counts["records"] += 1
        counts["bytes"] += size
        counts["payload_units_25kb"] += max(1, math.ceil(size / KINESIS_PAYLOAD_UNIT))
    return counts


def _dynamodb_counts(action: str, body: bytes, response: bytes) -> Counter[str]:
    counts: Counter[str] = Counter()
    try:
        request = json.loads(body)
    except ValueError:
        return counts
    if action in DYNAMO_WRITES:
        size = _item_bytes(request.get("Item") or request.get("Key") or {})
        counts["write_requests"] += 1
        counts["write_units"] += max(1, math.ceil(size / WRITE_UNIT))
    elif action == "BatchWriteItem":
        counts["write_requests"] += 1
        for writes in request.get("RequestItems", {}).values():
            for write in writes:
                item = write.get("PutRequest", {}).get("Item") or write.get("DeleteRequest")
                counts["write_units"] += max(1, math.ceil(_item_bytes(item) / WRITE_UNIT))
    elif action == "TransactWriteItems":
        counts["write_requests"] += 1
        for entry in request.get("TransactItems", []):
            for op in entry.values():
                size = _item_bytes(op.get("Item") or op.get("Key") or {})
                counts["write_units"] += 2 * max(1, math.ceil(size / WRITE_UNIT))
    elif action == "BatchGetItem":
        # Billed per item found, each rounded up to a read unit (as many `GetItem`s).
        counts["read_requests"] += 1
        try:
            found = json.loads(response).get("Responses", {})
        except ValueError:
            found = {}
        units = sum(
            max(1, math.ceil(_item_bytes(item) / READ_UNIT))
            for items in found.values()
            for item in items
        )
        counts["read_units"] += max(1, units)
    elif action in DYNAMO_READS or action == "TransactGetItems":
        factor = 2 if action == "TransactGetItems" else 1
        counts["read_requests"] += 1
        counts["read_units"] += factor * max(1, math.ceil(len(response) / READ_UNIT))
    return counts


class OperationCounter:
    """Thread-safe counts; `snapshot()` gives the `operations.json` shape (without Lambda and
    Step Functions, which the runtime adds from the dispatcher and the executions)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.kinesis: Counter[str] = Counter()
        self.dynamodb: Counter[str] = Counter()
        self.eventbridge_entries = 0

    def record(self, service: str, action: str, *, body: bytes, response: bytes) -> None:
        # Sized outside the lock: every request thread of the endpoint records here.
        kinesis: Counter[str] = Counter()
        dynamodb: Counter[str] = Counter()
        if service == "kinesis" and action in ("PutRecords", "PutRecord"):
            kinesis = _kinesis_counts(action, body)
        elif service == "dynamodb":
            dynamodb = _dynamodb_counts(action, body, response)
        with self.lock:
            self.requests[f"{service}:{action}"] += 1
            self.kinesis.update(kinesis)
            self.dynamodb.update(dynamodb)

    def count(self, service: str, actions: Iterable[str] | None = None) -> int:
        with self.lock:
            return sum(
                n
                for key, n in self.requests.items()
                if key.split(":", 1)[0] == service
                and (actions is None or key.split(":", 1)[1] in set(actions))
            )

    def snapshot(self) -> dict[str, Any]:
        s3_gets = self.count("s3", ["GetObject"])
        return {
            "kinesis": {
                k: self.kinesis[k]
                for k in ("put_records_calls", "records", "payload_units_25kb", "bytes")
            },
            "dynamodb": {
                k: self.dynamodb[k]
                for k in ("read_units", "write_units", "read_requests", "write_requests")
            },
            "s3": {
                "put": self.count("s3", ["PutObject"]),
                "get": s3_gets,
                "list": self.count("s3", ["ListObjects"]),
            },
            "sns": {"publishes": self.count("sns", ["Publish"])},
            "sqs": {"requests": self.count("sqs")},
            "eventbridge": {"entries": self.eventbridge_entries},
            "requests": dict(sorted(self.requests.items())),
        }

    def add_eventbridge_entries(self, body: bytes) -> None:
        try:
            entries = json.loads(body).get("Entries", [])
        except ValueError:
            return
        with self.lock:
            self.eventbridge_entries += len(entries)


def _s3_action(method: str, path: str, query: str) -> str:
    parts = [p for p in path.split("/") if p]
    if method == "PUT":
        return "PutObject" if len(parts) >= 2 else "CreateBucket"
    if method in ("GET", "HEAD"):
        return "GetObject" if len(parts) >= 2 else "ListObjects"
    return method.title() + "Object"


def classify(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """(service, action) of a request, from its signature scope and protocol."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1) if match else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    if service == "s3":
        return service, _s3_action(method, path, environ.get("QUERY_STRING", ""))
    if service == "lambda":
        return service, "Invoke" if path.endswith("/invocations") else method
    form = parse_qs(body.decode(errors="replace")) if body else {}
    action = form.get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return service, action[0] if action else method


class CountingApp:
    """WSGI middleware: counts each request, then hands it to moto unchanged."""

    def __init__(self, app: App, counter: OperationCounter) -> None:
        self.app = app
        self.counter = counter

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if UNCOUNTED_AGENT in environ.get("HTTP_USER_AGENT", "") or environ.get(
            "PATH_INFO", ""
        ).startswith("/moto-api"):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = b""
        if length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        service, action = classify(environ, body)
        chunks = list(self.app(environ, start_response))
        response = b"".join(chunks)
        if service == "events" and action == "PutEvents":
            self.counter.add_eventbridge_entries(body)
        self.counter.record(service, action, body=body, response=response)
        return chunks
