"""The stores table from the administration side: retailers' stores and their definitions.

    pk                    sk               what
    STORE#<store>         DEFINITION       the `StoreDefinition` (gzip JSON), `version`,
                                           `updated_at`, `store_id` and `retailer_id`
    RETAILER#<retailer>   STORE#<store>    the retailer's listing entry: name, currency,
                                           version, updated_at

The DEFINITION item has exactly the key and format that `walkout.data.stores` (ingest) reads,
so an edit here reaches attribution within that reader's cache period. It additionally
carries `retailer_id`, and every read or write here is conditioned on it: a store of another
retailer is indistinguishable from a missing one. The listing entry puts the tenant in the
key, so a retailer's store list is one query on its own partition.

Store ids are minted here (ULIDs) rather than chosen by callers: store ids are global (the
edge sends them, ingest keys on them), and a caller-chosen id that collided with another
retailer's store would reveal that it exists.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from walkout.data.dynamo import cancellation_codes, from_item, key, to_item, value
from walkout.data.stores import DEFINITION, store_pk
from walkout.definition import StoreDefinition
from walkout.events import format_timestamp, parse_timestamp

STORE_PREFIX = "STORE#"


def retailer_pk(retailer_id: str) -> str:
    return f"RETAILER#{retailer_id}"


class VersionConflictError(Exception):
    """The store changed since it was read (optimistic concurrency): read and retry."""


@dataclass(frozen=True)
class StoredStore:
    """A store as stored: its definition and bookkeeping (never returned to callers as-is)."""

    retailer_id: str
    definition: StoreDefinition
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class StoreListing:
    store_id: str
    name: str
    currency: str
    version: int
    updated_at: datetime


@dataclass(frozen=True)
class ListingPage:
    stores: list[StoreListing]
    last_key: dict[str, str] | None


class RetailerStores:
    def __init__(self, ddb: Any, table_name: str) -> None:
        self.ddb = ddb
        self.table = table_name

    def get(self, retailer_id: str, store_id: str) -> StoredStore | None:
        page = self.ddb.get_item(
            TableName=self.table, Key=key(store_pk(store_id), DEFINITION), ConsistentRead=True
        )
        if "Item" not in page:
            return None
        item = from_item(page["Item"])
        if item.get("retailer_id") != retailer_id:
            return None
        return StoredStore(
            retailer_id=retailer_id,
            definition=StoreDefinition.model_validate_json(gzip.decompress(item["definition"])),
            version=int(item["version"]),
            updated_at=parse_timestamp(item["updated_at"]),
        )

    def owns(self, retailer_id: str, store_id: str) -> bool:
        """Whether the store exists and is the retailer's (reads one attribute only)."""
        page = self.ddb.get_item(
            TableName=self.table,
            Key=key(store_pk(store_id), DEFINITION),
            ProjectionExpression="retailer_id",
        )
        return bool(page.get("Item", {}).get("retailer_id", {}).get("S") == retailer_id)

    def save(self, stored: StoredStore, *, expected_version: int | None) -> None:
        """Write a store's definition and listing entry together. `expected_version` None
        creates the store (it must not exist); otherwise the stored version must match."""
        definition = stored.definition
        store_id = definition.store.store_id
        updated_at = format_timestamp(stored.updated_at)
        document = definition.model_dump_json(by_alias=True).encode()
        put_definition: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_item(
                {
                    "pk": store_pk(store_id),
                    "sk": DEFINITION,
                    "store_id": store_id,
                    "retailer_id": stored.retailer_id,
                    "definition": gzip.compress(document, mtime=0),
                    "version": stored.version,
                    "updated_at": updated_at,
                }
            ),
        }
        if expected_version is None:
            put_definition["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put_definition["ConditionExpression"] = "version = :v AND retailer_id = :r"
            put_definition["ExpressionAttributeValues"] = {
                ":v": value(expected_version),
                ":r": value(stored.retailer_id),
            }
        listing = {
            "TableName": self.table,
            "Item": to_item(
                {
                    "pk": retailer_pk(stored.retailer_id),
                    "sk": f"{STORE_PREFIX}{store_id}",
                    "store_id": store_id,
                    "name": definition.store.name,
                    "currency": definition.store.currency,
                    "version": stored.version,
                    "updated_at": updated_at,
                }
            ),
        }
        try:
            self.ddb.transact_write_items(TransactItems=[{"Put": put_definition}, {"Put": listing}])
        except self.ddb.exceptions.TransactionCanceledException as exc:
            if "ConditionalCheckFailed" in cancellation_codes(exc):
                raise VersionConflictError(store_id) from None
            raise

    def list(
        self, retailer_id: str, *, limit: int, start_key: dict[str, str] | None
    ) -> ListingPage:
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": value(retailer_pk(retailer_id)),
                ":prefix": value(STORE_PREFIX),
            },
            "Limit": limit,
        }
        if start_key is not None:
            params["ExclusiveStartKey"] = {k: {"S": v} for k, v in start_key.items()}
        page = self.ddb.query(**params)
        stores = [
            StoreListing(
                store_id=item["store_id"],
                name=item["name"],
                currency=item["currency"],
                version=int(item["version"]),
                updated_at=parse_timestamp(item["updated_at"]),
            )
            for item in (from_item(i) for i in page.get("Items", []))
        ]
        last = page.get("LastEvaluatedKey")
        return ListingPage(
            stores=stores, last_key={k: v["S"] for k, v in last.items()} if last else None
        )
