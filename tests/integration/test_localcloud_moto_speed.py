"""localcloud.moto_speed's query and item-size paths give moto's own results.

Each check runs the same requests on moto (in-process, `mock_aws`) without and with the
patches installed, and compares every response.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from localcloud import moto_speed

TABLE = "speed"
INDEX = "by-status"


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client(
            "dynamodb",
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g", "gs")
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": INDEX,
                    "KeySchema": [
                        {"AttributeName": "g", "KeyType": "HASH"},
                        {"AttributeName": "gs", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        rng = random.Random(7)
        for i in range(300):
            item: dict[str, Any] = {
                "pk": {"S": f"p{i % 7}"},
                "sk": {"S": f"s{rng.randrange(1000):04d}-{i}"},
                "n": {"N": str(rng.choice([1, 2.5, -3, 10**12]))},
                "m": {"M": {"a": {"L": [{"S": "x" * rng.randrange(5)}, {"N": "7"}]}}},
                "ss": {"SS": ["a", "bb"]},
                "b": {"B": bytes([i % 256]) * 3},
                "t": {"BOOL": i % 2 == 0},
                "z": {"NULL": True},
            }
            if i % 3:  # some items are not in the index
                item["g"] = {"S": f"g{i % 2}"}
                item["gs"] = {"S": f"{['OPEN', 'READY'][i % 2]}#{rng.randrange(100):03d}"}
            client.put_item(TableName=TABLE, Item=item)
        yield client


def _queries(ddb: Any) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = [
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p3"}}},
        {
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
            "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"S": "s0"}},
            "ScanIndexForward": False,
        },
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
        {
            "IndexName": INDEX,
            "KeyConditionExpression": "g = :g AND begins_with(gs, :s)",
            "ExpressionAttributeValues": {":g": {"S": "g1"}, ":s": {"S": "READY#"}},
        },
        {
            "IndexName": INDEX,
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "g0"}, ":t": {"BOOL": True}},
            "FilterExpression": "t = :t",
        },
        {
            "IndexName": INDEX,
            "KeyConditionExpression": "g = :g AND gs BETWEEN :a AND :b",
            "ExpressionAttributeValues": {
                ":g": {"S": "g1"},
                ":a": {"S": "OPEN#020"},
                ":b": {"S": "READY#050"},
            },
            "ScanIndexForward": False,
        },
    ]
    pages: list[dict[str, Any]] = []
    for request in requests:
        for limit in (None, 7):
            params = {"TableName": TABLE, **request}
            if limit is not None:
                params["Limit"] = limit
            while True:
                page = ddb.query(**params)
                page.pop("ResponseMetadata", None)
                pages.append(page)
                if "LastEvaluatedKey" not in page:
                    break
                params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


def _with_patches(run: Callable[[], Any]) -> Any:
    restore = moto_speed.install()
    try:
        return run()
    finally:
        restore()


def test_queries_answer_as_moto_does(ddb: Any) -> None:
    # Given a table with an index and items in several partitions
    # When the same queries (table and index, paged, both directions, filtered) run
    # without and with the patches
    plain = _queries(ddb)
    patched = _with_patches(lambda: _queries(ddb))
    # Then every page is the same, and the queries did find items
    assert patched == plain
    assert sum(page["Count"] for page in plain) > 100


def test_a_scan_keeps_moto_order(ddb: Any) -> None:
    # Given the same table; When it is scanned with and without the patches
    def scan() -> list[Any]:
        return list(ddb.scan(TableName=TABLE)["Items"])

    # Then the items come in the same order
    assert _with_patches(scan) == scan()


def test_item_sizes_and_json_are_moto_s() -> None:
    # Given items of every attribute type, nested
    attributes: dict[str, Any] = {
        "s": {"S": "héllo"},
        "n": {"N": "-12.50"},
        "b": {"B": b"\x00\x01"},
        "bs": {"BS": [b"ab", b"c"]},
        "ns": {"NS": ["1", "22"]},
        "ss": {"SS": ["é", "zz"]},
        "t": {"BOOL": False},
        "z": {"NULL": True},
        "l": {"L": [{"S": "a"}, {"M": {"k": {"N": "3"}, "é": {"L": []}}}]},
        "m": {"M": {"x": {"SS": ["q"]}, "y": {"M": {"z": {"BOOL": True}, "b": {"B": b"1"}}}}},
    }
    item = Item(DynamoType({"S": "h"}), DynamoType({"S": "r"}), attributes)
    values = [DynamoType(v) for v in attributes.values()]

    def measure() -> tuple[Any, ...]:
        return (
            item.size(),
            [v.size() for v in values],
            item.to_json(),
            item.to_regular_json(),
            [v.to_regular_json() for v in values],
        )

    plain = measure()
    # When sized and written out with the patches installed; Then all is as moto has it
    assert _with_patches(measure) == plain
    assert plain[0] > 30
