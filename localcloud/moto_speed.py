"""Two of moto's slow paths, made fast with the same results: DynamoDB transactions
without a copy of every table they touch, and index queries without slow sorting.

moto (5.2) makes `TransactWriteItems` atomic by deep-copying each table a transaction names
before applying it, and putting the copies back if anything fails. That costs time in
proportion to everything the table holds, on every transaction: the ingest function writes
one transaction per event, so a run slows down as its tables fill (1,000 events of
`stadium-rush` took 27 s, 26 s of it in those copies), and a copy taken while another
request thread writes to the table fails with "dictionary changed size during iteration"
(moto's server handles requests on several threads).

`install()` keeps moto's own `transact_write_items` (its validation, conditions, error
reasons and cancellation) and changes only how it can be undone: before it runs, the items
its operations name are copied (a transaction names each item at most once, and touches no
other), moto's whole-table copy is skipped on that thread, and if the transaction is
cancelled those items (and the table's stream records) are put back as they were. The
outcome for the caller is the same, all or nothing; transactions are also applied one at a
time, so two of them never interleave (as DynamoDB serialises conflicting transactions).

moto answers a `Query` on a secondary index by sorting every item of the table by its key
(`Table.all_items`) and filtering; the sort compares `DynamoType`s through Python methods,
so one query of a 10,000-item table took a sizeable fraction of a second, and the review
console's polling made it many times a second. `all_items` here sorts by the same keys'
plain values (a key attribute has one type per table, and `DynamoType` orders by that value),
which gives the same order several times faster.

moto (5.2) writes every DynamoDB response through its generic serializer, which walks the
result member by member along the botocore shapes; for the items of a query that took
most of the server's time. The data-plane results (items and their attribute values,
counts, keys, consumed capacity) are already in DynamoDB's JSON wire format, except binary
values, which are base64-encoded as the serializer does: `json.dumps` of them is the same
response (a differential check of both over a run of `stadium-rush` events found no
difference). Control-plane responses (tables, timestamps) still go through the serializer.

moto's Kinesis `GetRecords` walks a shard's records from the first one on every call (the
pump polls each shard several times a second), and fails with "dictionary changed size
during iteration" when a `PutRecords` adds one meanwhile. `get_records` here finds the
first record after the iterator's position by bisection on a copy of the sequence numbers,
with the same records, next position and `MillisBehindLatest`.

moto's server also looks up its own package folder on disk for every request to find
which service a host name is (`moto.backends.list_of_moto_modules`); the folder does not
change while it runs, so the list is read once.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from moto import backends
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoResult
from moto.kinesis.models import Shard

_local = threading.local()
_transactions = threading.Lock()


@dataclass
class _Saved:
    """An item as it was before a transaction (None: it did not exist)."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    item: Item | None
    stream_length: int | None


def _key_attributes(op_type: str, op: dict[str, Any]) -> dict[str, Any] | None:
    attributes = op.get("Item") if op_type == "Put" else op.get("Key")
    return attributes if isinstance(attributes, dict) else None


def _saved_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[_Saved]:
    """A copy of every item the transaction's operations name (moto reports malformed ones)."""
    saved: list[_Saved] = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        attributes = _key_attributes(op_type, op) if table is not None else None
        if table is None or attributes is None or table.hash_key_attr not in attributes:
            continue
        hash_key = DynamoType(attributes[table.hash_key_attr])
        range_key: DynamoType | None = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attributes:
                continue
            range_key = DynamoType(attributes[table.range_key_attr])
            current = table.items.get(hash_key, {}).get(range_key)
        else:
            current = table.items.get(hash_key)
        shard = table.stream_shard
        saved.append(
            _Saved(
                table=table,
                hash_key=hash_key,
                range_key=range_key,
                item=copy.deepcopy(current) if current is not None else None,
                stream_length=len(shard.items) if shard is not None else None,
            )
        )
    return saved


def _put_back(saved: list[_Saved]) -> None:
    for entry in reversed(saved):
        items: dict[Any, Any] = entry.table.items
        if entry.range_key is not None:
            ranged = items.setdefault(entry.hash_key, {})
            if entry.item is None:
                ranged.pop(entry.range_key, None)
                if not ranged:
                    items.pop(entry.hash_key, None)
            else:
                ranged[entry.range_key] = entry.item
        elif entry.item is None:
            items.pop(entry.hash_key, None)
        else:
            items[entry.hash_key] = entry.item
        shard = entry.table.stream_shard
        if shard is not None and entry.stream_length is not None:
            del shard.items[entry.stream_length :]


def _table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
    """Inside a transaction on this thread: no copy (the transaction saved its items).
    Elsewhere (backups, restores): a full copy, as `copy.deepcopy` makes by default."""
    if getattr(_local, "in_transaction", False):
        return self
    clone: Any = Table.__new__(type(self))
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, copy.deepcopy(value, memo))
    return cast(Table, clone)


def _all_items(self: Table) -> list[Item]:
    """`Table.all_items` with the same order, sorted on plain values."""
    items: list[Item] = []
    stored: dict[Any, Any] = self.items
    # Copies of the dicts' values first: another request thread may add an item meanwhile
    # (iterating the dict itself then fails with "dictionary changed size").
    for hash_set in list(stored.values()):
        if self.range_key_attr:
            items.extend(list(hash_set.values()))
        else:
            items.append(hash_set)

    def key(item: Item) -> tuple[Any, ...]:
        if item.range_key:
            return (item.hash_key.cast_value, item.range_key.cast_value)
        return (item.hash_key.cast_value,)

    return sorted(items, key=key)


# DynamoDB operations whose results are items, keys, counts and consumed capacity only.
DATA_PLANE = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.0"}


def _wire(value: Any) -> Any:
    """A data-plane result as DynamoDB's JSON: binary values base64, absent members left out."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


def fast_body(operation: str, result: Any) -> str | None:
    """The response body of a data-plane result, or None for moto's serializer."""
    if operation not in DATA_PLANE or not isinstance(result, dict):
        return None
    return json.dumps(_wire(result))


def _get_records(self: Shard, last_sequence_id: str, limit: int | None) -> tuple[Any, ...]:
    """`Shard.get_records`: the records after `last_sequence_id` (at most `limit`), the last
    sequence number returned (else the given one) and how far behind the newest that is."""
    last = int(last_sequence_id)
    numbers = list(self.records)  # increasing: each put takes the highest number + 1
    start = bisect.bisect_right(numbers, last)
    chosen = numbers[start : start + limit] if limit else numbers[start:]
    results = [self.records[n] for n in chosen]
    millis_behind = 0
    if results:
        last = chosen[-1]
        newest = self.records[numbers[-1]]
        millis_behind = int((newest.created_at - results[-1].created_at) * 1000)
    return results, last, millis_behind


def install() -> Callable[[], None]:
    """Patch moto's DynamoDB backend as the module doc says; returns `restore`."""
    original = DynamoDBBackend.transact_write_items
    original_all_items = Table.all_items
    original_modules = backends.list_of_moto_modules
    modules = tuple(original_modules())
    original_get_records = Shard.get_records
    had_execute = "execute_result" in DynamoResult.__dict__
    original_execute = DynamoResult.execute_result

    def execute_result(self: DynamoResult, context: Any) -> Any:
        body = fast_body(str(context.operation_model.name), self.result)
        if body is None:
            return original_execute(self, context)
        return 200, dict(JSON_HEADERS), body

    had_deepcopy = "__deepcopy__" in Table.__dict__
    original_deepcopy = Table.__dict__.get("__deepcopy__")

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _transactions:
            saved = _saved_items(self, transact_items)
            _local.in_transaction = True
            try:
                original(self, transact_items)
            except BaseException:
                _put_back(saved)
                raise
            finally:
                _local.in_transaction = False

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
    Table.all_items = _all_items  # type: ignore[method-assign]
    backends.list_of_moto_modules = lambda: modules
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign,assignment]
    Shard.get_records = _get_records  # type: ignore[method-assign]

    def restore() -> None:
        DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]
        Table.all_items = original_all_items  # type: ignore[method-assign]
        backends.list_of_moto_modules = original_modules
        Shard.get_records = original_get_records  # type: ignore[method-assign]
        if had_execute:
            DynamoResult.execute_result = original_execute  # type: ignore[method-assign]
        else:
            del DynamoResult.execute_result
        if had_deepcopy:
            Table.__deepcopy__ = original_deepcopy  # type: ignore[attr-defined]
        else:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    return restore
