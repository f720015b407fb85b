"""DynamoDB plumbing shared by the data-access modules: item (de)serialisation, TTLs,
paging, batch reads and batch puts. boto3 clients are made once per process (`client`)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from walkout.tables import PK, SK, TTL_ATTRIBUTE

Item = dict[str, Any]  # a low-level DynamoDB item: {"name": {"S": "..."}}
Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    """The wall clock every data-access class takes by default (tests pass their own)."""
    return datetime.now(UTC)


_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()
# Adaptive retries absorb short throttling inside a call; what still fails surfaces as a
# batch item failure and Lambda redelivers the record.
_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=3, read_timeout=10
)
BATCH_GET_MAX_KEYS = 100
BATCH_WRITE_MAX_ITEMS = 25


@functools.cache
def client(service: str) -> Any:
    """One boto3 client per service per process (Lambda reuses it across invocations)."""
    return boto3.client(service, config=_CONFIG)


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int | bytes):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot store a non-finite number: {value}")
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
        return bytes(value.value)
    return value


def to_item(values: Mapping[str, Any]) -> Item:
    """A plain dict (JSON-like, floats allowed) as a low-level item."""
    return {k: _SERIALIZER.serialize(_to_dynamo(v)) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A low-level item as a plain dict (integral numbers as int, others as float)."""
    return {k: _from_dynamo(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def value(v: Any) -> Any:
    """One attribute value in low-level form (for expression values)."""
    return _SERIALIZER.serialize(_to_dynamo(v))


def key(pk: str, sk: str) -> Item:
    return {PK: {"S": pk}, SK: {"S": sk}}


def expires_at(now: datetime, days: int) -> int:
    """The TTL attribute's value: epoch seconds `days` after `now`."""
    return int((now + timedelta(days=days)).timestamp())


def query_all(ddb: Any, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a query, across pages, as plain dicts."""
    while True:
        page = ddb.query(**params)
        for item in page.get("Items", []):
            yield from_item(item)
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        params = {**params, "ExclusiveStartKey": last}


def _until_processed(
    send: Callable[[dict[str, Any]], dict[str, Any] | None], request: dict[str, Any], what: str
) -> None:
    """Send a batch request, then what it left unprocessed, with backoff; raises when some
    is still left after the retries."""
    for attempt in range(8):
        left = send(request)
        if not left:
            return
        request = left
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RuntimeError(f"{what} left unprocessed after retries")


def batch_get(
    ddb: Any, table: str, keys: Sequence[Item], *, only_keys: bool = False
) -> list[dict[str, Any]]:
    """Items for `keys` (missing ones are left out), retrying unprocessed keys;
    `only_keys`: their `pk` and `sk` only (whether they exist)."""
    found: list[dict[str, Any]] = []
    projection = {"ProjectionExpression": "pk, sk"} if only_keys else {}

    def send(request: dict[str, Any]) -> dict[str, Any] | None:
        page = ddb.batch_get_item(RequestItems=request)
        found.extend(from_item(i) for i in page.get("Responses", {}).get(table, []))
        left: dict[str, Any] | None = page.get("UnprocessedKeys")
        return left

    for start in range(0, len(keys), BATCH_GET_MAX_KEYS):
        chunk = list(keys[start : start + BATCH_GET_MAX_KEYS])
        _until_processed(
            send, {table: {"Keys": chunk, **projection}}, f"batch_get_item on {table}: keys"
        )
    return found


def batch_put(ddb: Any, table: str, items: Sequence[Item]) -> None:
    """Put `items` (distinct keys) with `BatchWriteItem`, 25 a request, retrying the
    unprocessed ones; raises when some are still unprocessed after the retries (nothing
    is lost: a put can be made again)."""

    def send(request: dict[str, Any]) -> dict[str, Any] | None:
        left: dict[str, Any] | None = ddb.batch_write_item(RequestItems=request).get(
            "UnprocessedItems"
        )
        return left

    for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
        chunk = items[start : start + BATCH_WRITE_MAX_ITEMS]
        request = {table: [{"PutRequest": {"Item": i}} for i in chunk]}
        _until_processed(send, request, f"batch_write_item on {table}: items")


def ttl_attribute(now: datetime, days: int) -> dict[str, int]:
    return {TTL_ATTRIBUTE: expires_at(now, days)}


def error_response(exc: BaseException) -> dict[str, Any]:
    """A botocore error's parsed response; empty for anything else. botocore's connection
    and read timeouts (`HTTPClientError`) carry `response = None`."""
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else {}


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore `ClientError` (None for other errors)."""
    code = error_response(exc).get("Error", {}).get("Code")
    return str(code) if code is not None else None


def is_conditional_failure(exc: Exception) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def conditional_write(write: Callable[..., Any], **params: Any) -> bool:
    """Run a conditional write (`ddb.put_item`, `ddb.delete_item`, ...): True if it was
    written, False if its condition did not hold; other errors are raised."""
    try:
        write(**params)
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def cancellation_codes(exc: Exception) -> list[str]:
    """Per-item reasons of a cancelled transaction ("None" for items that were fine)."""
    reasons = error_response(exc).get("CancellationReasons", [])
    return [str(r.get("Code", "None")) for r in reasons]
