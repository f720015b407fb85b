"""moto's slow paths, made fast with the same results: DynamoDB transactions without a
copy of every table they touch, index queries without slow sorting, and the others below.

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
Single-item writes (`PutItem`, `UpdateItem`, `DeleteItem`) take the same lock: moto checks
a write's condition and then writes, so two request threads could both pass a condition
only one of them may pass on DynamoDB (two reviewers claiming one open task both
succeeded); under the lock a condition and its write are one step, as on DynamoDB.

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

A `Query` walks every item of the table (`Table.all_items`, sorted) to find those of one
key, then sorts what it found again by the full key: on a table query only the items of
the queried partition are taken here (the same ones, put in range-key order by moto
after), and on an index query the table's items are not sorted first (moto sorts the
matches by index key and table key, unique per item, so the first order never shows);
an index query on one string partition value takes only the items with it, before moto's
own checks, from a map of the table's items by that attribute's value. The map is built at
the first such query and kept up to date from the keys every write touched since the last
one (`PutItem`, `UpdateItem`, which changes the stored item in place, `DeleteItem`, and a
cancelled transaction's items put back): walking every item of the sessions table for each
query was a quarter of the local cloud's CPU time on `stadium-rush`. The query's range
key condition is applied to those candidates here too, as moto applies it: moto takes the
size of every candidate before testing the condition, so each look for open review tasks
sized every answered task (13-62 KB each) of the store. On a table partition the condition
takes its run of keys by bisection in the partition's key order (`_PartitionOrder`, kept up
to date from the writes like the map above) instead of comparing every item: the ingest
function's look at a store's ambiguities since a time compared each of the day's thousands
on every batch (5% of the local cloud's samples in a profile of a `stadium-rush` feed).
Either way one dropped candidate on each side of the kept ones stays, so that a page that
fills up exactly on the last kept item ends as moto's does (with its last key).

moto's `DynamoType.to_regular_json` (an item's JSON after `UpdateItem`, for instance)
deep-copies a value and then converts its members, each of which deep-copies its own
again: on nested records that grows with the square of their depth; here each member is
converted once, to the same result. moto's item size (`Item.size`, `DynamoType.size`: the
1 MB page limit and consumed capacity; a query takes the size of every item of the
partition) builds a new `DynamoType` for every map value; here the same sums are taken on
the stored values.

moto's Step Functions interpreter parses the state machine's definition with its ANTLR
parser for every execution (about 0.06 s each here), and makes a new boto3 client for every
Lambda, SNS and EventBridge task. The parsed program is a tree of declarations that keep
no execution state (that lives in each execution's `Environment`; the retry counters'
keys are fixed once here, before the tree is shared), so each definition is parsed once;
and one client per service and endpoint is made (under a lock) and reused. Its look-up of
executions by status (`SendTaskSuccess` finds the execution waiting for a token that way)
failed with "'NoneType' object has no attribute 'value'" when another thread had just
created an execution that had not started yet; such an execution is skipped here.

moto evaluates every JSONPath (a state's `InputPath`, `Parameters` and `ResultPath`, and
EventBridge's input transformer, which the receipts and carts rules use) by building a
new LALR parser, its tables included, and parsing the path: about 8% of the local cloud's
CPU time on `stadium-rush`. A parsed path is a tree of expressions that evaluating and
updating only read, so each path is parsed once here and the tree reused. moto's response
classes also list their own methods with `inspect.getmembers` on every request to find
the action's method; a class's methods do not change, so the list is made once per class.
And moto searches every response body with a regular expression for an XML `<RequestId>`
to fill in; a body without one (every JSON body) is no longer searched.

moto's `UpdateItem` handler deep-copies the stored item before it applies the update (for
`ReturnValues`), outside the write lock: when another request thread updated the same item
meanwhile (two reviewers claiming one task), the copy failed with "dictionary changed size
during iteration" and the caller got a 500. The handler now runs under the same lock as
the writes; so does a table's `Query`, whose deep copy of the matching items failed the
same way (seen in `stadium-rush` runs, where botocore's retry hid it). Both that copy and
the backend's own (the item as it was, for the table's stream) are only read to answer
`ReturnValues` other than NONE, or for a table with a stream: without either they are not
made (the deep copies of large items, reviews and carts, were a seventh of the local
cloud's CPU time on `stadium-rush`).

A `Query` request's results are not deep-copied either (that copy was 15% of the server
threads' samples in a profile of a `stadium-rush` day): the query writes each result out
to DynamoDB's JSON while it still holds the lock (`_WiredItem`), so another thread's later
write cannot change what it answers, and the copy had nothing left to protect. Between
moto's copy and its return nothing changes the results (index and attribute projections
make new items, filters only read). And `Item.project` converted the whole item to plain
JSON once per projected path to pick out each path's value; for paths that are each one
top-level attribute, only those attributes are converted, the same way, and merged as
moto merges them (a held receipt's look at who was in the store with it projects three
attributes of each session record).
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import functools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import jsonpath_ng.ext
from botocore.utils import merge_dicts
from moto import backends, settings
from moto.core import responses as core_responses
from moto.core.responses import ActionResult
from moto.core.utils import method_names_from_class
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models import dynamo_type as dynamo_type_module
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_to_dict
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.kinesis.models import Shard
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_events,
    state_task_service_sns,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

_local = threading.local()
# Held while a transaction or a single-item write is applied (reentrant: moto's
# transactions apply their operations through the single-item methods).
_transactions = threading.RLock()


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
        key = _key_of(table, _key_attributes(op_type, op)) if table is not None else None
        if table is None or key is None:
            continue
        hash_key, range_key = key
        current = _stored_item(table, key)
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
        _touched(entry.table, (entry.hash_key, entry.range_key))
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
    """`Table.all_items` with the same order, sorted on plain values; inside a query, only
    the items it can match, unsorted (see the module doc)."""
    scope = getattr(_local, "query_scope", None)
    if scope is not None:
        return _query_items(self, scope)
    items = _stored_items(self)

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


def _base64(value: Any) -> str:
    """A binary value as the wire has it (moto keeps it as bytes, or as the wire's base64)."""
    raw = value if isinstance(value, bytes) else base64.b64decode(value)
    return base64.b64encode(raw).decode()


class _Wired(dict[str, Any]):
    """An item's attributes already in DynamoDB's JSON (a query's result, written out
    under the lock: `_WiredItem`)."""


class _WiredItem:
    """A query result as the Query handler reads it (`item.attrs`): the item's attributes
    written out now, while the query holds the lock, instead of a deep copy written out
    later (see the module doc)."""

    __slots__ = ("attrs",)

    def __init__(self, item: Item) -> None:
        self.attrs = _Wired(wire_result(item.attrs))


def wire_result(value: Any) -> Any:
    """`_wire(dynamo_to_dict(value))` in one pass: a result as moto builds it (with
    `DynamoType`s) straight to DynamoDB's JSON (see `_dynamo_result`)."""
    if isinstance(value, _Wired):
        return value
    if isinstance(value, datetime):
        return value
    if isinstance(value, DynamoType):
        if value.type == "B":
            return {"B": _base64(value.value)}
        if value.type == "BS":
            return {"BS": [_base64(v) for v in value.value]}
        converted = wire_result(value.value)
        return {value.type: converted} if converted is not None else {}
    if hasattr(value, "to_json"):
        return wire_result(value.to_json())
    if isinstance(value, dict):
        out = {}
        for key, member in value.items():
            converted = wire_result(member)
            if converted is not None:
                out[key] = converted
        return out
    if isinstance(value, list):
        return [wire_result(v) for v in value]
    return _wire(value)  # tuples, bytes: as `_wire` has them (moto's conversion keeps them)


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


_ORIGINAL_ENRICH = vars(core_responses.BaseResponse)["_enrich_response"].__func__


def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """`BaseResponse._enrich_response`: moto puts the request id into an XML body's
    `<RequestId>` with a regular expression run over every response body, JSON and large
    ones included; a body without that element is left as it is without the search."""
    if isinstance(body, str) and "<RequestId>" not in body:
        enriched, _ = _ORIGINAL_ENRICH(headers, "")
        return enriched, body
    result: tuple[dict[str, str], Any] = _ORIGINAL_ENRICH(headers, body)
    return result


def _dynamo_result(self: DynamoResult, result: object) -> None:
    """`DynamoResult(result)` without converting `result` yet: moto converts every result
    (`dynamo_to_dict`) and the writer then walks it again (`_wire`); a data-plane result
    is written out in one pass instead (`wire_result`), any other converted as moto does
    when it is written (moto's own code changes only the dict's top level meanwhile)."""
    ActionResult.__init__(self, result)
    self._unconverted = True  # type: ignore[attr-defined]


def _bytesize(value: Any) -> int:
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))


def _value_size(kind: str, value: Any) -> int:
    """`DynamoType({kind: value}).size()`, without building `DynamoType`s."""
    if kind == "N":
        return len(str(value))
    if kind in {"SS", "NS", "BS"}:
        return sum(_value_size(kind[0], v) for v in value)
    # Copies first (one step for the interpreter): another request thread may change the
    # item meanwhile, and iterating it then fails with "dictionary changed size".
    if kind == "L":
        return sum(_typed_size(v) for v in list(value))
    if kind == "M":
        return sum(_bytesize(k) + _typed_size(v) for k, v in list(value.items()))
    if isinstance(value, bool):
        return 1
    return _bytesize(value)


def _typed_size(value: Any) -> int:
    """The size of a `DynamoType`, or of a plain `{type: value}` (as `DynamoType(v)`)."""
    if isinstance(value, DynamoType):
        return _value_size(value.type, value.value)
    kind = next(iter(value))
    return _value_size(kind, value[kind])


_IMMUTABLE = (str, bytes, bool, int, float, type(None))


def _plain(value: Any) -> Any:
    """A deep copy of a member that is not a `DynamoType` (as moto's deep copy gives)."""
    return value if isinstance(value, _IMMUTABLE) else copy.deepcopy(value)


def _regular_json(self: DynamoType) -> dict[str, Any]:
    """`DynamoType.to_regular_json`: `{type: value}` in full, members converted alike."""
    value = self.value
    out: Any
    if isinstance(value, dict):
        out = {
            k: _regular_json(v) if isinstance(v, DynamoType) else _plain(v)
            for k, v in list(value.items())
        }
    elif isinstance(value, list):
        out = [_regular_json(v) if isinstance(v, DynamoType) else _plain(v) for v in list(value)]
    else:
        out = _plain(value)
    if self.type == "B" and isinstance(out, str):
        out = base64.b64decode(out)
    return {self.type: out}


_ORIGINAL_PROJECT = Item.project


def _project(self: Item, projection_expressions: list[list[str]]) -> Item:
    """`Item.project`: moto converts the whole item (`to_regular_json`) once per path to
    pick the path's value; for paths of one top-level attribute each, only those
    attributes are converted, the same way, and merged as moto merges them (see the
    module doc)."""
    if any(len(path) != 1 or "[" in path[0] for path in projection_expressions):
        return _ORIGINAL_PROJECT(self, projection_expressions)
    result: dict[str, Any] = {}
    for (name,) in projection_expressions:
        attribute = self.attrs.get(name)
        found = (
            {name: dynamo_type_module.deserializer.deserialize(attribute.to_regular_json())}
            if attribute is not None
            else {}
        )
        merge_dicts(result, found)  # botocore's, as `Item.project` merges
    return Item(
        hash_key=self.hash_key,
        range_key=self.range_key,
        attrs=dynamo_type_module.serializer.serialize(result)["M"],
    )


def _dynamo_type_size(self: DynamoType) -> int:
    return _value_size(self.type, self.value)


def _item_size(self: Item) -> int:
    # (the item is kept with its size, so its id stays its own while the query runs)
    sizes: dict[int, tuple[Item, int]] | None = getattr(_local, "query_sizes", None)
    if sizes is not None and id(self) in sizes:
        return sizes[id(self)][1]
    size = sum(_bytesize(k) + _value_size(v.type, v.value) for k, v in list(self.attrs.items()))
    if sizes is not None:
        sizes[id(self)] = (self, size)
    return size


@dataclass(frozen=True)
class _QueryScope:
    """What the query on this thread can match: a table partition, or index items whose
    attribute `attribute` is the string `value` (None: any item)."""

    hash_key: DynamoType | None = None
    attribute: str | None = None
    value: str | None = None
    # The query's range key condition (attribute, comparison, values), applied here as
    # moto applies it in its loop, so that loop neither sizes nor walks items the
    # condition drops (moto sizes every candidate before it tests the condition).
    range_condition: tuple[str, str, list[DynamoType]] | None = None


# Table.query's positional parameters (moto 5.2): hash_key first, index_name eighth.
_QUERY_INDEX_NAME = 7
_QUERY_PARAMETERS = {
    "hash_key",
    "range_comparison",
    "range_objs",
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
    "consistent_read",
    "filter_expression",
    "hash_key_conditions",
    "range_key_conditions",
}


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, position: int) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[position] if len(args) > position else None


def _range_condition(
    table: Table, index_name: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, str, list[DynamoType]] | None:
    """The attribute moto compares the range condition on, with the condition; None when
    there is none or moto's choice is not the plain one (several range key attributes)."""
    comparison = _argument(args, kwargs, "range_comparison", 1)
    values = _argument(args, kwargs, "range_objs", 2)
    legacy_filters = set(kwargs) - _QUERY_PARAMETERS  # QueryFilter: moto's loop differs
    named = kwargs.get("range_key_conditions") or []
    if not comparison or legacy_filters or len(named) > 1:
        return None
    if named:  # moto compares on the attribute the condition names
        return (named[0][0], comparison, values)
    if not index_name:
        return (table.range_key_attr, comparison, values) if table.range_key_attr else None
    indexes = {i.name: i for i in table.all_indexes()}
    index = indexes.get(index_name)
    if index is None:
        return None  # moto raises its own error for it
    ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
    return (ranges[0], comparison, values) if len(ranges) == 1 else None


def _query_scope(table: Table, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _QueryScope:
    hash_key = _argument(args, kwargs, "hash_key", 0)
    index_name = _argument(args, kwargs, "index_name", _QUERY_INDEX_NAME)
    condition = _range_condition(table, index_name, args, kwargs)
    if not index_name:
        return _QueryScope(
            hash_key=hash_key if isinstance(hash_key, DynamoType) else None,
            range_condition=condition,
        )
    conditions = kwargs.get("hash_key_conditions") or []
    if len(conditions) == 1:
        attribute, expected = conditions[0]
        if isinstance(expected, DynamoType) and expected.type == "S":
            return _QueryScope(attribute=attribute, value=expected.value, range_condition=condition)
    return _QueryScope()


def _in_range(items: list[Item], condition: tuple[str, str, list[DynamoType]] | None) -> list[Item]:
    """The items the condition keeps, and one it drops on each side of them in key order
    where there is one: moto's loop ends a page at its limit only when another candidate
    follows (kept or not), so a page that fills up exactly on the last kept item still
    names its last key, as it does when moto walks the whole partition."""
    if condition is None:
        return items
    attribute, comparison, values = condition
    kept = []
    sides: dict[bool, Item] = {}
    for item in items:
        found = item.attrs.get(attribute)
        if not found:
            continue
        if found.compare(comparison, values):
            kept.append(item)
        elif len(sides) < 2:
            below = _below(found, comparison, values)
            if below is not None:
                sides.setdefault(below, item)
    return [*sides.values(), *kept] if kept else kept


def _below(found: DynamoType, comparison: str, values: list[DynamoType]) -> bool | None:
    """Whether a value the condition drops comes before the values it keeps (None: cannot
    tell, values of other types)."""
    if comparison in ("LT", "<", "LE", "<="):
        return False
    if comparison in ("GT", ">", "GE", ">="):
        return True
    try:
        return bool(found.cast_value < values[0].cast_value)
    except TypeError:
        return None


def _query_items(table: Table, scope: _QueryScope) -> list[Item]:
    """The items a query can match, in no particular order (the query sorts them)."""
    stored: dict[Any, Any] = table.items
    if scope.hash_key is not None:
        partition = stored.get(scope.hash_key)
        if partition is None:
            return []
        if not table.range_key_attr:
            return _in_range([partition], scope.range_condition)
        condition = scope.range_condition
        if condition is not None and condition[0] == table.range_key_attr:
            order = _partition_order(table, scope.hash_key, partition)
            found = order.between(partition, condition)
            if found is not None:
                return found
        return _in_range(list(partition.values()), condition)
    if scope.attribute is None:
        return _stored_items(table)
    # moto keeps an item when the attribute equals the value (same type and value): the
    # items of that string value, as the table's index of the attribute holds them now.
    bucket = _attribute_index(table, scope.attribute).items_of(scope.value)
    return _in_range(bucket, scope.range_condition)


def _stored_items(table: Table) -> list[Item]:
    """Every item of the table, in no particular order. Copies of the dicts' values first:
    another request thread may add an item meanwhile (iterating the dict itself then fails
    with "dictionary changed size")."""
    items: list[Item] = []
    stored: dict[Any, Any] = table.items
    for hash_set in list(stored.values()):
        if table.range_key_attr:
            items.extend(list(hash_set.values()))
        else:
            items.append(hash_set)
    return items


_ItemKey = tuple[DynamoType, DynamoType | None]


@dataclass
class _AttributeIndex:
    """A table's items by the string value of one attribute (an index's partition key),
    kept up to date from the keys written since the last query (`touched`)."""

    table: Table
    attribute: str
    buckets: dict[str, dict[_ItemKey, Item]] = field(default_factory=dict)
    value_of: dict[_ItemKey, str] = field(default_factory=dict)
    touched: set[_ItemKey] = field(default_factory=set)

    def build(self) -> None:
        for item in _stored_items(self.table):
            self._place((item.hash_key, item.range_key), item)

    def items_of(self, value: str | None) -> list[Item]:
        while self.touched:
            key = self.touched.pop()
            old = self.value_of.pop(key, None)
            if old is not None:
                bucket = self.buckets[old]
                del bucket[key]
                if not bucket:
                    del self.buckets[old]
            self._place(key, _stored_item(self.table, key))
        return list(self.buckets.get(value, {}).values()) if value is not None else []

    def _place(self, key: _ItemKey, item: Item | None) -> None:
        found = item.attrs.get(self.attribute) if item is not None else None
        if item is not None and found is not None and found.type == "S":
            self.buckets.setdefault(found.value, {})[key] = item
            self.value_of[key] = found.value


def _stored_item(table: Table, key: _ItemKey) -> Item | None:
    hash_key, range_key = key
    stored: dict[Any, Any] = table.items
    if table.range_key_attr:
        partition = stored.get(hash_key)
        return partition.get(range_key) if partition is not None else None
    return cast(Item | None, stored.get(hash_key))


# The indexes `_attribute_index` built since `install()`, by table (id) and attribute; the
# writes note the keys they touch in those of their table (`_touched`). Each index holds
# its table, so no other table can take that id while the entry lasts.
_indexes: dict[int, dict[str, _AttributeIndex]] = {}


def _attribute_index(table: Table, attribute: str) -> _AttributeIndex:
    of_table = _indexes.setdefault(id(table), {})
    index = of_table.get(attribute)
    if index is None:
        index = of_table[attribute] = _AttributeIndex(table, attribute)
        index.build()
    return index


def _touched(table: Table, key: _ItemKey) -> None:
    for index in _indexes.get(id(table), {}).values():
        index.touched.add(key)
    entry = _orders.get(id(table))
    order = entry[1].get(key[0]) if entry is not None else None
    if order is not None and key[1] is not None:
        order.touched.add(key[1])


# Comparisons a range key condition can make that pick a run of keys in order (`keys` in
# order, `v` the condition's plain values).
_BOUNDS: dict[str, Callable[[list[DynamoType], list[Any]], tuple[int, int]]] = {
    **dict.fromkeys(("EQ", "="), lambda keys, v: (_left(keys, v[0]), _right(keys, v[0]))),
    **dict.fromkeys(("LT", "<"), lambda keys, v: (0, _left(keys, v[0]))),
    **dict.fromkeys(("LE", "<="), lambda keys, v: (0, _right(keys, v[0]))),
    **dict.fromkeys(("GT", ">"), lambda keys, v: (_right(keys, v[0]), len(keys))),
    **dict.fromkeys(("GE", ">="), lambda keys, v: (_left(keys, v[0]), len(keys))),
    "BETWEEN": lambda keys, v: (_left(keys, v[0]), _right(keys, v[1])),
}


def _cast(key: DynamoType) -> Any:
    return key.cast_value


def _left(keys: list[DynamoType], value: Any) -> int:
    return bisect.bisect_left(keys, value, key=_cast)


def _right(keys: list[DynamoType], value: Any) -> int:
    return bisect.bisect_right(keys, value, key=_cast)


@dataclass
class _PartitionOrder:
    """One table partition's range keys in order of their plain values (`DynamoType`
    orders by them), kept up to date from the range keys written since the last query
    (`touched`): a range key condition then takes its run of keys by bisection instead of
    comparing every item of the partition (the ingest function's look at a store's
    ambiguities since a time compared each of the day's thousands, on every batch).
    `kind` is the keys' one type; None when they are of several (then not used)."""

    keys: list[DynamoType]
    kind: str | None
    touched: set[DynamoType] = field(default_factory=set)

    @classmethod
    def of(cls, partition: dict[Any, Item]) -> _PartitionOrder:
        kinds = {key.type for key in partition}
        kind = kinds.pop() if len(kinds) == 1 else None
        return cls(sorted(partition, key=_cast) if kind else [], kind)

    def between(
        self, partition: dict[Any, Item], condition: tuple[str, str, list[DynamoType]]
    ) -> list[Item] | None:
        """The partition's items the condition keeps, in key order; None when it cannot
        tell by order (another comparison, or values of another type than the keys)."""
        self._follow(partition)
        _, comparison, operands = condition
        if self.kind is None or any(o.type != self.kind for o in operands):
            return None
        values = [o.cast_value for o in operands]
        if comparison == "BEGINS_WITH":
            if not isinstance(values[0], str | bytes):
                return None
            low = high = _left(self.keys, values[0])
            while high < len(self.keys) and self.keys[high].cast_value.startswith(values[0]):
                high += 1
        elif comparison in _BOUNDS and len(values) == (2 if comparison == "BETWEEN" else 1):
            low, high = _BOUNDS[comparison](self.keys, values)
        else:
            return None
        if low >= high:
            return []
        # with a dropped neighbour on each side, as `_in_range` keeps them
        return [partition[key] for key in self.keys[max(0, low - 1) : high + 1]]

    def _follow(self, partition: dict[Any, Item]) -> None:
        while self.touched:
            key = self.touched.pop()
            if self.kind is None:
                continue
            if key.type != self.kind:
                self.kind = None  # a key of another type: this partition is walked
                continue
            at = _left(self.keys, key.cast_value)
            listed = at < len(self.keys) and self.keys[at] == key
            if key in partition and not listed:
                self.keys.insert(at, key)
            elif listed and key not in partition:
                del self.keys[at]


# The partition orders made since `install()`, by table (id): the table (so that no other
# table takes its id while the entry lasts) and its orders by hash key; as `_indexes`.
_orders: dict[int, tuple[Table, dict[DynamoType, _PartitionOrder]]] = {}


def _partition_order(
    table: Table, hash_key: DynamoType, partition: dict[Any, Item]
) -> _PartitionOrder:
    _, of_table = _orders.setdefault(id(table), (table, {}))
    order = of_table.get(hash_key)
    if order is None:
        order = of_table[hash_key] = _PartitionOrder.of(partition)
    return order


def _key_of(table: Table, attributes: Any) -> _ItemKey | None:
    """The stored key of an item named by its key attributes (None: not a whole key)."""
    if not isinstance(attributes, dict) or table.hash_key_attr not in attributes:
        return None
    if table.range_key_attr is None:
        return (DynamoType(attributes[table.hash_key_attr]), None)
    if table.range_key_attr not in attributes:
        return None
    return (
        DynamoType(attributes[table.hash_key_attr]),
        DynamoType(attributes[table.range_key_attr]),
    )


def _noting_put(put: Callable[..., Item]) -> Callable[..., Item]:
    def apply(self: Table, *args: Any, **kwargs: Any) -> Item:
        item = put(self, *args, **kwargs)
        _touched(self, (item.hash_key, item.range_key))
        return item

    return apply


def _noting_delete(delete: Callable[..., Any]) -> Callable[..., Any]:
    def apply(self: Table, hash_key: DynamoType, range_key: DynamoType | None = None) -> Any:
        try:
            return delete(self, hash_key, range_key)
        finally:
            _touched(self, (hash_key, range_key if self.range_key_attr else None))

    return apply


def _noting_update(update: Callable[..., Any]) -> Callable[..., Any]:
    """moto's `UpdateItem` changes the stored item in place (or creates it). Its copy of
    the item as it was is only read for a table's stream: without one it is not made."""

    def apply(self: DynamoDBBackend, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        table = self.tables.get(table_name)
        try:
            with _on_this_thread("unread_copy", _no_stream(table)):
                return update(self, table_name, key, *args, **kwargs)
        finally:
            item_key = _key_of(table, key) if table is not None else None
            if table is not None and item_key is not None:
                _touched(table, item_key)

    return apply


def _update_handler(handle: Callable[..., Any]) -> Callable[..., Any]:
    """moto's `UpdateItem` handler copies the stored item before the update, read only to
    answer `ReturnValues` other than NONE (and the backend's copy, for a stream)."""

    def apply(self: DynamoHandler) -> Any:
        table = self.dynamodb_backend.tables.get(self.body.get("TableName"))
        returns_none = self.body.get("ReturnValues", "NONE") == "NONE"
        with _on_this_thread("unread_copy", returns_none and _no_stream(table)):
            return handle(self)

    return apply


def _no_stream(table: Table | None) -> bool:
    return table is not None and table.stream_shard is None


@contextlib.contextmanager
def _on_this_thread(flag: str, value: bool) -> Iterator[None]:
    """While this thread runs the block, its `flag` (on `_local`, read by `_CopyUnless`) is
    `value`; the thread's setting before is restored after."""
    before = getattr(_local, flag, False)
    setattr(_local, flag, value)
    try:
        yield
    finally:
        setattr(_local, flag, before)


def _wiring_query(handle: Callable[..., Any]) -> Callable[..., Any]:
    """The Query handler: its table query gives `_WiredItem`s (see `install`)."""

    def apply(self: DynamoHandler) -> Any:
        with _on_this_thread("wire_query", True):
            return handle(self)

    return apply


class _CopyUnless:
    """The `copy` module as one of moto's DynamoDB modules sees it: while this thread's
    `flag` (on `_local`) is set, `deepcopy` gives `instead(value)`; else a copy as always.

    - moto's update paths (`flag` "unread_copy", gives None): their copy of an item as it
      was, which nobody will read (`_noting_update`, `_update_handler`).
    - `Table.query` (`flag` "wire_query", gives the value itself): a Query request's
      results, written out before the lock is let go, and nothing in between changes
      them (index and attribute projections make new items, filters only read)."""

    def __init__(self, flag: str, instead: Callable[[Any], Any]) -> None:
        self.flag = flag
        self.instead = instead

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(_local, self.flag, False):
            return self.instead(value)
        return copy.deepcopy(value, memo)


def _fix_heap_keys(component: Any, seen: set[int]) -> None:
    """Give every declaration of a parsed program its heap key now (they are made lazily,
    which two executions sharing the tree could race on)."""
    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children: list[Any] = []
    if isinstance(component, list | tuple):
        children = list(component)
    elif isinstance(component, dict):
        children = list(component.values())
    elif hasattr(component, "__dict__") and type(component).__module__.startswith(
        "moto.stepfunctions"
    ):
        children = list(vars(component).values())
    for child in children:
        _fix_heap_keys(child, seen)


def _get_executions(self: StepFunctionsParserBackend, execution_status: Any = None) -> list[Any]:
    """moto's `_get_executions`, without failing on an execution another request thread has
    created but not started yet (no status: it is in no status's list)."""
    return [
        execution
        for machine in list(self.state_machines)
        for execution in list(machine.executions)
        if execution_status is None
        or (
            getattr(execution, "exec_status", "") is not None
            and execution.status == execution_status
        )
    ]


class _Programs:
    """Each state machine definition parsed once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.parsed: dict[str, Any] = {}

    def entrypoint(self, worker: ExecutionWorker) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        with self.lock:
            program = self.parsed.get(definition)
            if program is None:
                program = AmazonStateLanguageParser.parse(definition)[0]
                _fix_heap_keys(program, set())
                self.parsed[definition] = program
        return program


class _Clients:
    """One boto3 client per (region, service, moto port) for the interpreter's tasks."""

    def __init__(self, make: Callable[..., Any]) -> None:
        self.make = make
        self.lock = threading.Lock()
        self.made: dict[tuple[str, str, str], Any] = {}

    def __call__(self, region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, settings.moto_server_port())
        with self.lock:
            if key not in self.made:
                self.made[key] = self.make(region, service, state_credentials)
            return self.made[key]


# The interpreter's modules that make clients for the tasks the finalize workflow runs.
_CLIENT_MODULES = (lambda_eval_utils, state_task_service_sns, state_task_service_events)


def _cached_parse(parse: Callable[[str], Any]) -> Callable[..., Any]:
    """A JSONPath parser that parses each path once. moto builds a new LALR parser (its
    tables included) for every path it evaluates; a parsed path is a tree of expression
    objects that `find` and `update_or_create` only read, so one can serve every call."""
    parsed = functools.lru_cache(maxsize=4096)(parse)

    def cached(path: str, debug: bool | None = None) -> Any:
        return parsed(path)

    return cached


def _method_names(clazz: Any) -> list[str]:
    """`moto.core.utils.method_names_from_class`, looked up once per class (moto walks the
    class with `inspect.getmembers` on every request)."""
    return list(_class_methods(clazz))


@functools.cache
def _class_methods(clazz: Any) -> tuple[str, ...]:
    return tuple(_ORIGINAL_METHOD_NAMES(clazz))


_ORIGINAL_METHOD_NAMES = method_names_from_class


class _Patches:
    """Attributes replaced on moto's classes and modules, each put back as it was: the
    owner's own value again, or none of its own (then it inherits again)."""

    def __init__(self) -> None:
        self.saved: list[tuple[Any, str, bool, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        own = name in vars(owner)
        self.saved.append((owner, name, own, vars(owner).get(name)))
        setattr(owner, name, value)

    def undo(self) -> None:
        for owner, name, own, value in reversed(self.saved):
            if own:
                setattr(owner, name, value)
            else:
                delattr(owner, name)
        self.saved.clear()


def _serialised(write: Callable[..., Any]) -> Callable[..., Any]:
    def apply(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _transactions:
            return write(self, *args, **kwargs)

    return apply


def serialise_dynamodb() -> Callable[[], None]:
    """Only the lock of `install()`, with moto's own code otherwise: DynamoDB's transactions,
    single-item writes and queries one at a time. For in-process tests whose state machines
    run Lambdas on moto's threads (moto's transaction copies a whole table, which fails when
    another thread writes to it meanwhile). Returns `restore`."""
    patches = _Patches()
    # Reads too: a hash-and-range table keeps its items in a defaultdict, and a read of a
    # partition that holds nothing adds an empty one, which broke a transaction's copy.
    for name in (
        "transact_write_items",
        "put_item",
        "update_item",
        "delete_item",
        "get_item",  # BatchGetItem and TransactGetItems read through it
        "scan",
    ):
        patches.set(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
    patches.set(DynamoHandler, "update_item", _serialised(DynamoHandler.update_item))
    patches.set(Table, "query", _serialised(Table.query))
    return patches.undo


def install() -> Callable[[], None]:
    """Patch moto as the module doc says; returns `restore`."""
    original_transact = DynamoDBBackend.transact_write_items
    original_query = Table.query
    original_execute = DynamoResult.execute_result
    modules = tuple(backends.list_of_moto_modules())
    programs = _Programs()
    clients = _Clients(_CLIENT_MODULES[0].boto_client_for)

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        _local.query_scope = _query_scope(self, args, kwargs)
        # moto sizes each item it keeps twice (the page limit, then the page's size); the
        # items cannot change while the query holds the lock, so each is sized once.
        _local.query_sizes = {}
        try:
            found = original_query(self, *args, **kwargs)
        finally:
            _local.query_scope = None
            _local.query_sizes = None
        if not getattr(_local, "wire_query", False):
            return found
        results, scanned, last_key = found
        return [_WiredItem(item) for item in results], scanned, last_key

    def entrypoint(self: ExecutionWorker) -> Any:
        return programs.entrypoint(self)

    def execute_result(self: DynamoResult, context: Any) -> Any:
        operation = str(context.operation_model.name)
        result = self.result
        if getattr(self, "_unconverted", False):
            self._unconverted = False  # type: ignore[attr-defined]
            if operation in DATA_PLANE and isinstance(result, dict):
                return 200, dict(JSON_HEADERS), json.dumps(wire_result(result))
            self._result = result = dynamo_to_dict(result)
        body = fast_body(operation, result)
        if body is None:
            return original_execute(self, context)
        return 200, dict(JSON_HEADERS), body

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _transactions:
            saved = _saved_items(self, transact_items)
            _local.in_transaction = True
            try:
                original_transact(self, transact_items)
            except BaseException:
                _put_back(saved)
                raise
            finally:
                _local.in_transaction = False

    patches = _Patches()
    patches.set(DynamoDBBackend, "transact_write_items", transact_write_items)
    for name in ("put_item", "delete_item"):
        patches.set(DynamoDBBackend, name, _serialised(getattr(DynamoDBBackend, name)))
    patches.set(
        DynamoDBBackend, "update_item", _serialised(_noting_update(DynamoDBBackend.update_item))
    )
    # moto's UpdateItem handler deep-copies the stored item before the update: under the
    # lock, so no other request thread writes to that item meanwhile.
    patches.set(
        DynamoHandler, "update_item", _serialised(_update_handler(DynamoHandler.update_item))
    )
    # Only their update paths ever set `unread_copy` (above).
    unread = _CopyUnless("unread_copy", lambda value: None)
    patches.set(dynamodb_models, "copy", unread)
    patches.set(dynamodb_responses, "copy", unread)
    patches.set(Table, "__deepcopy__", _table_deepcopy)
    patches.set(Table, "all_items", _all_items)
    _indexes.clear()
    _orders.clear()
    patches.set(Table, "put_item", _noting_put(Table.put_item))
    patches.set(Table, "delete_item", _noting_delete(Table.delete_item))
    # Under the write lock too: moto deep-copies the matching items, which failed with
    # "dictionary changed size during iteration" (a 500) when another request thread
    # updated one of them meanwhile; a query reads the table as one write left it.
    patches.set(Table, "query", _serialised(query))
    patches.set(table_module, "copy", _CopyUnless("wire_query", lambda value: value))
    patches.set(DynamoHandler, "query", _wiring_query(DynamoHandler.query))
    patches.set(backends, "list_of_moto_modules", lambda: modules)
    patches.set(DynamoResult, "execute_result", execute_result)
    patches.set(DynamoResult, "__init__", _dynamo_result)
    patches.set(Shard, "get_records", _get_records)
    patches.set(Item, "size", _item_size)
    patches.set(Item, "project", _project)
    patches.set(DynamoType, "size", _dynamo_type_size)
    patches.set(DynamoType, "to_regular_json", _regular_json)
    patches.set(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)
    patches.set(StepFunctionsParserBackend, "_get_executions", _get_executions)
    for module in _CLIENT_MODULES:
        patches.set(module, "boto_client_for", clients)
    # moto.events imports `jsonpath_ng.ext.parse` inside the function that uses it.
    for module in (jsonpath_ng.ext, json_path, result_path):
        patches.set(module, "parse", _cached_parse(vars(module)["parse"]))
    patches.set(core_responses, "method_names_from_class", _method_names)
    patches.set(core_responses.BaseResponse, "_enrich_response", staticmethod(_enrich_response))
    return patches.undo
