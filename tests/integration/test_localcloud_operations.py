"""localcloud.operations: read units of batch reads are counted per item, as DynamoDB bills
them (a batch costs what the same items read one by one cost)."""

from __future__ import annotations

import json

from localcloud.operations import OperationCounter


def _item(size: int) -> dict[str, object]:
    return {"pk": {"S": "p"}, "blob": {"S": "x" * size}}


def test_a_batch_read_costs_what_its_items_cost_read_one_by_one() -> None:
    # Given three items of about 1 KB, 5 KB and 9 KB
    items = [_item(1_000), _item(5_000), _item(9_000)]
    one_by_one, batched = OperationCounter(), OperationCounter()
    # When they are read with a GetItem each, and with one BatchGetItem
    for item in items:
        one_by_one.record(
            "dynamodb", "GetItem", body=b"{}", response=json.dumps({"Item": item}).encode()
        )
    batched.record(
        "dynamodb",
        "BatchGetItem",
        body=b"{}",
        response=json.dumps({"Responses": {"t": items}, "UnprocessedKeys": {}}).encode(),
    )
    # Then both count the same read units (1 + 2 + 3), in one request for the batch
    assert one_by_one.dynamodb["read_units"] == batched.dynamodb["read_units"] == 6
    assert batched.dynamodb["read_requests"] == 1
