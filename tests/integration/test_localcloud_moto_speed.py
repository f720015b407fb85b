"""localcloud.moto_speed's query, item-size and JSONPath paths give moto's own results.

Each check runs the same requests on moto (in-process, `mock_aws`) without and with the
patches installed, and compares every response.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import jsonpath_ng.ext
import pytest
from moto import mock_aws
from moto.core import responses as core_responses
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler
from moto.events.utils import EventTemplateParser
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.utils import json_path

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
        {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p2"}},
            "ProjectionExpression": "sk, m.a[1], b",
        },
        {  # top-level attributes only; a NULL one, then a map (moto drops the NULL then)
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p4"}},
            "ProjectionExpression": "sk, z, n, ss, b, t, m, #absent",
            "ExpressionAttributeNames": {"#absent": "absent"},
        },
        {
            "IndexName": INDEX,
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "g0"}},
            "ProjectionExpression": "gs, z, t",
        },
        {
            "IndexName": INDEX,
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "g1"}},
            "Select": "COUNT",
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


def test_json_paths_and_handler_methods_are_moto_s_and_parsed_once() -> None:
    # Given the JSONPath uses of moto's Step Functions interpreter (input and result paths)
    # and of its EventBridge input templates, and its handler method look-up
    data = {"a": {"b": [1, {"c": "x"}]}, "list": [{"x": 1}, {"x": 2}], "s": "t"}
    paths = ["$", "$.a", "$.a.b[0]", "$.a.b[1].c", "$.list[*].x", "$.list[1]", "$.none"]
    event: Any = {"detail": {"id": "e-1", "n": 3}, "ingestion-time": "now", "time": "2026"}

    def evaluate() -> list[Any]:
        out: list[Any] = []
        for path in paths:
            try:
                out.append(json_path.extract_json(path, data))
            except json_path.NoSuchJsonPathError as exc:
                out.append(("missing", str(exc)))
        target = copy.deepcopy(data)
        out.append(vars(result_path)["parse"]("$.a.r").update_or_create(target, {"k": 1}))
        out.append(
            EventTemplateParser.parse(
                '{"id": "<id>", "n": <n>}', {"id": "$.detail.id", "n": "$.detail.n"}, event
            )
        )
        out.append(vars(core_responses)["method_names_from_class"](DynamoHandler))
        return out

    plain = evaluate()
    # When evaluated with the patches installed, twice (the second time from the cache)
    restore = moto_speed.install()
    try:
        patched = [evaluate(), evaluate()]
        parse = vars(jsonpath_ng.ext)["parse"]
        cached = parse("$.a.b[0]") is parse("$.a.b[0]")
    finally:
        restore()
    # Then every result is moto's own, and a path is parsed once
    assert patched == [plain, plain]
    assert cached
    assert plain[2] == 1 and plain[-1] and "update_item" in plain[-1]


def test_item_reads_and_writes_answer_as_moto_does(ddb: Any) -> None:
    # Given the same table (items with binary, set, map, list, null and boolean values)
    keys = [
        {"pk": page["pk"], "sk": page["sk"]}
        for page in ddb.scan(TableName=TABLE, Limit=40)["Items"]
    ]

    def requests(tag: str) -> list[Any]:
        out: list[Any] = []
        for k in keys[:10]:
            out.append(ddb.get_item(TableName=TABLE, Key=k, ReturnConsumedCapacity="TOTAL"))
        out.append(ddb.batch_get_item(RequestItems={TABLE: {"Keys": keys}}))
        for projection in ("pk, sk, ss, z, m, n", "pk, sk, m.a[0]"):  # top-level, then nested
            out.append(ddb.get_item(TableName=TABLE, Key=keys[0], ProjectionExpression=projection))
            out.append(
                ddb.batch_get_item(
                    RequestItems={TABLE: {"Keys": keys, "ProjectionExpression": projection}}
                )
            )
        out.append(ddb.get_item(TableName=TABLE, Key={"pk": {"S": "none"}, "sk": {"S": "x"}}))
        # an item of this run's own, written and updated
        own = {"pk": {"S": f"own-{tag}"}, "sk": {"S": "s"}}
        ddb.put_item(TableName=TABLE, Item={**own, "n": {"N": "1"}, "l": {"L": [{"B": b"1"}]}})
        out.append(
            ddb.update_item(
                TableName=TABLE,
                Key=own,
                UpdateExpression="SET b2 = :b, n = n + :one",
                ExpressionAttributeValues={":b": {"B": b"\x00\xff"}, ":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
        )
        out[-1]["Attributes"].pop("pk")
        # and updated again, with each answer to ReturnValues (NONE: moto's copies of the
        # item as it was are not made), then read back
        for returned in ("NONE", "UPDATED_OLD", "ALL_OLD", "UPDATED_NEW"):
            out.append(
                ddb.update_item(
                    TableName=TABLE,
                    Key=own,
                    UpdateExpression="SET n = n + :one, m2 = :m REMOVE b2",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":m": {"M": {"k": {"L": [{"S": returned}]}}},
                    },
                    ReturnValues=returned,
                )
            )
            out[-1].get("Attributes", {}).pop("pk", None)
        out.append(ddb.get_item(TableName=TABLE, Key=own)["Item"])
        out[-1].pop("pk")
        for response in out:
            response.pop("ResponseMetadata", None)
            for found in response.get("Responses", {}).values():
                found.sort(key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
        return out

    # When they run without and with the patches
    plain = requests("plain")
    patched = _with_patches(lambda: requests("patched"))
    # Then every response is moto's own
    assert patched == plain
    assert plain[16]["Attributes"]["b2"] == {"B": b"\x00\xff"}
    assert "Attributes" not in plain[17] and plain[18]["Attributes"]["n"] == {"N": "3"}
    assert plain[-1]["n"] == {"N": "6"}
    assert len(plain[10]["Responses"][TABLE]) == len(keys) > 20
    # the projections: only the attributes named (a NULL one too), nested ones picked
    assert set(plain[11]["Item"]) == {"pk", "sk", "ss", "z", "m", "n"}
    assert len(plain[13]["Item"]["m"]["M"]["a"]["L"]) == 1
    assert all(set(i) == {"pk", "sk", "m"} for i in plain[14]["Responses"][TABLE])


def test_results_are_written_out_as_moto_converts_them() -> None:
    # Given results as moto's DynamoDB handler builds them: DynamoTypes of every kind, binary
    # values as bytes and as the wire's base64, items, absent members, tuples
    values = [
        DynamoType({"B": b"\x00\x01"}),
        DynamoType({"B": "AAE="}),
        DynamoType({"BS": [b"ab", "Yw=="]}),
        DynamoType({"M": {"l": {"L": [{"S": "é"}, {"NULL": True}]}, "n": {"N": "-1.5"}}}),
        DynamoType({"SS": ["a", "b"]}),
        DynamoType({"BOOL": False}),
    ]
    item = Item(DynamoType({"S": "h"}), DynamoType({"S": "r"}), {"x": {"N": "3"}})
    result = {
        "Item": {f"a{n}": v for n, v in enumerate(values)},
        "Items": [item, {"k": values[0]}],
        "Count": 2,
        "LastEvaluatedKey": None,
        "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5, "Table": None},
        "Pair": ("x", b"\x02"),
    }
    # When written out in one pass; Then it is what moto's conversion and the writer give
    assert moto_speed.wire_result(result) == moto_speed._wire(dynamo_to_dict(result))
    assert moto_speed.wire_result(result)["Item"]["a1"] == {"B": "AAE="}


def test_request_ids_are_filled_in_as_moto_does() -> None:
    # Given an XML body with a request id element, and a JSON body
    xml = "<R><RequestId>old</RequestId><x>1</x></R>"
    json_body = '{"Items": [{"a": {"S": "<b>"}}]}'

    def enrich() -> list[Any]:
        out = []
        for body in (xml, json_body, b"bytes"):
            given: dict[str, Any] = {"status": 200}
            headers, enriched = core_responses.BaseResponse._enrich_response(given, body)
            request_id = headers["x-amzn-requestid"]
            out.append((headers["status"], str(enriched).replace(request_id, "ID")))
        return out

    # When enriched without and with the patches; Then the bodies and headers agree
    assert _with_patches(enrich) == enrich()
    assert enrich()[0][1] == "<R><RequestId>ID</RequestId><x>1</x></R>"


def test_a_query_waits_for_a_write_in_progress(ddb: Any) -> None:
    # Given the patches installed and another request thread in the middle of a write
    restore = moto_speed.install()
    answered = threading.Event()
    try:
        with moto_speed._transactions:
            query = threading.Thread(
                target=lambda: (
                    ddb.query(
                        TableName=TABLE,
                        KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "p3"}},
                    ),
                    answered.set(),
                )
            )
            query.start()
            # When a query comes in, it is not answered while the write holds the lock
            assert not answered.wait(0.5)
        # Then it is answered once the write is done
        query.join(timeout=30)
        assert answered.is_set()
    finally:
        restore()


def _index_pages(ddb: Any, table: str) -> list[Any]:
    """Every page of the index queries of `_queries` on `table`, items in order."""
    pages = []
    for g in ("g0", "g1", "g2", "gone"):
        params: dict[str, Any] = {
            "TableName": table,
            "IndexName": INDEX,
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": g}},
            "Limit": 9,
        }
        while True:
            page = ddb.query(**params)
            pages.append(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


def _writes_and_index_queries(ddb: Any, table: str) -> list[Any]:
    """A fixed mix of every kind of write, each followed by the index queries: items
    coming into the index, moving between its partitions, leaving it, deleted, written in a
    transaction, and a transaction cancelled after its first write was applied."""
    rng = random.Random(11)
    keys = [{"pk": i["pk"], "sk": i["sk"]} for i in ddb.scan(TableName=table)["Items"]]
    keys.sort(key=lambda k: (k["pk"]["S"], k["sk"]["S"]))
    seen = [_index_pages(ddb, table)]
    for step in range(40):
        key = rng.choice(keys)
        kind = step % 6
        if kind == 0:  # a new item, in the index or not
            new = {"pk": {"S": f"p{step % 7}"}, "sk": {"S": f"new-{step}"}}
            extra = {"g": {"S": f"g{step % 3}"}, "gs": {"S": "OPEN#1"}} if step % 4 else {}
            ddb.put_item(TableName=table, Item={**new, **extra})
            keys.append(new)
        elif kind == 1:  # moved to another of the index's partitions (in place)
            ddb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET g = :g, gs = :s",
                ExpressionAttributeValues={":g": {"S": "g2"}, ":s": {"S": f"READY#{step}"}},
            )
        elif kind == 2:  # out of the index
            ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE g")
        elif kind == 3:
            ddb.delete_item(TableName=table, Key=key)
        elif kind == 4:  # replaced by a put, in another partition of the index
            ddb.put_item(
                TableName=table, Item={**key, "g": {"S": "g1"}, "gs": {"S": f"OPEN#{step}"}}
            )
        else:  # a transaction, then one cancelled by its second condition
            other = rng.choice([k for k in keys if k != key])
            moved = {**key, "g": {"S": "g0"}, "gs": {"S": "x"}}
            ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": moved}}])
            with pytest.raises(ddb.exceptions.TransactionCanceledException):
                ddb.transact_write_items(
                    TransactItems=[
                        {"Delete": {"TableName": table, "Key": key}},
                        {
                            "Put": {
                                "TableName": table,
                                "Item": {**other, "g": {"S": "g1"}, "gs": {"S": "y"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
        seen.append(_index_pages(ddb, table))
    return seen


def test_index_queries_follow_every_write_as_moto_does(ddb: Any) -> None:
    # Given two copies of the table
    copy_of = TABLE + "-copy"
    described = ddb.describe_table(TableName=TABLE)["Table"]
    ddb.create_table(
        TableName=copy_of,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=described["AttributeDefinitions"],
        KeySchema=described["KeySchema"],
        GlobalSecondaryIndexes=[
            {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
            for i in described["GlobalSecondaryIndexes"]
        ],
    )
    for item in ddb.scan(TableName=TABLE)["Items"]:
        ddb.put_item(TableName=copy_of, Item=item)
    # When the same writes, each followed by index queries, run on one without the patches
    # and on the other with them (their index built at the first query, then kept up to
    # date from the writes)
    plain = _writes_and_index_queries(ddb, TABLE)
    patched = _with_patches(lambda: _writes_and_index_queries(ddb, copy_of))
    # Then every query found the same items in the same order, and the writes did move
    # items into, between and out of the index's partitions (g2 holds none at first)
    assert patched == plain
    g2_sizes = [sum(len(p) for p in pages if p and p[0]["g"]["S"] == "g2") for pages in plain]
    assert g2_sizes[0] == 0 and len(set(g2_sizes)) > 5


def _range_queries(ddb: Any, table: str, kind: str) -> list[Any]:
    """Every comparison a key condition can make on the range key, in both directions and
    paged, on a few partitions (one of them empty)."""

    def operand(n: int) -> dict[str, str]:
        return {kind: f"k{n:03d}" if kind == "S" else str(n - 50)}

    conditions: list[tuple[str, dict[str, Any]]] = [
        ("r = :a", {":a": operand(40)}),
        ("r < :a", {":a": operand(40)}),
        ("r <= :a", {":a": operand(40)}),
        ("r > :a", {":a": operand(61)}),
        ("r >= :a", {":a": operand(61)}),
        ("r BETWEEN :a AND :b", {":a": operand(20), ":b": operand(70)}),
        ("r BETWEEN :a AND :b", {":a": operand(70), ":b": operand(20)}),  # nothing between
    ]
    if kind == "S":
        conditions += [
            ("begins_with(r, :a)", {":a": {"S": "k04"}}),
            ("begins_with(r, :a)", {":a": {"S": "k"}}),
            ("begins_with(r, :a)", {":a": {"S": "z"}}),
        ]
    pages = []
    for partition in ("a", "b", "none"):
        for expression, values in conditions:
            for forward in (True, False):
                params: dict[str, Any] = {
                    "TableName": table,
                    "KeyConditionExpression": f"p = :p AND {expression}",
                    "ExpressionAttributeValues": {":p": {"S": partition}, **values},
                    "ScanIndexForward": forward,
                    "Limit": 6,
                }
                while True:
                    page = ddb.query(**params)
                    pages.append((page["Items"], page["Count"], page["ScannedCount"]))
                    if "LastEvaluatedKey" not in page:
                        break
                    params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


def _writes_and_range_queries(ddb: Any, table: str, kind: str) -> list[Any]:
    """Range queries after each of a fixed mix of writes: new keys in the middle of a
    partition's order and at its ends, deletes, a new partition, an update that creates
    its item, a transaction and a cancelled one."""
    rng = random.Random(5)

    def key(partition: str, n: int) -> dict[str, Any]:
        return {"p": {"S": partition}, "r": {kind: f"k{n:03d}" if kind == "S" else str(n - 50)}}

    seen = [_range_queries(ddb, table, kind)]
    for step in range(24):
        n, partition = rng.randrange(100), rng.choice("ab")
        what = step % 4
        if what == 0:
            ddb.put_item(TableName=table, Item={**key(partition, n), "v": {"N": str(step)}})
        elif what == 1:
            ddb.delete_item(TableName=table, Key=key(partition, n))
        elif what == 2:  # creates the item when it is not there
            ddb.update_item(
                TableName=table,
                Key=key("b", n),
                UpdateExpression="SET v = :v",
                ExpressionAttributeValues={":v": {"N": str(step)}},
            )
        else:
            ddb.transact_write_items(
                TransactItems=[{"Put": {"TableName": table, "Item": key("a", n)}}]
            )
            with pytest.raises(ddb.exceptions.TransactionCanceledException):
                ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": table, "Item": key("a", (n + 1) % 100)}},
                        {"Delete": {"TableName": table, "Key": key("b", n)}},
                        {
                            "Put": {
                                "TableName": table,
                                "Item": key("a", n),
                                "ConditionExpression": "attribute_not_exists(p)",
                            }
                        },
                    ]
                )
        seen.append(_range_queries(ddb, table, kind))
    return seen


@pytest.mark.parametrize("kind", ["S", "N"])
def test_range_conditions_follow_every_write_as_moto_does(ddb: Any, kind: str) -> None:
    # Given two copies of a table whose range key is a string (or a number), with items
    # in two partitions
    rng = random.Random(3)
    tables = ("ranged", "ranged-copy")
    for name in tables:
        ddb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "r", "AttributeType": kind},
            ],
            KeySchema=[
                {"AttributeName": "p", "KeyType": "HASH"},
                {"AttributeName": "r", "KeyType": "RANGE"},
            ],
        )
    for n in rng.sample(range(100), 60):
        for name in tables:
            value = f"k{n:03d}" if kind == "S" else str(n - 50)
            ddb.put_item(
                TableName=name, Item={"p": {"S": "ab"[n % 2]}, "r": {kind: value}, "x": {"N": "1"}}
            )
    # When the same writes, each followed by every kind of range condition, run on one
    # without the patches and on the other with them (each partition's order made at its
    # first query, then kept up to date from the writes)
    plain = _writes_and_range_queries(ddb, tables[0], kind)
    patched = _with_patches(lambda: _writes_and_range_queries(ddb, tables[1], kind))
    # Then every page is the same (items, counts, where it ended), and the conditions did
    # keep some items and drop others
    assert patched == plain
    counts = [count for pages in plain for _, count, _ in pages]
    assert 0 in counts and max(counts) == 6
