"""The stores table's store definitions (layout, catalog, planogram), cached per container.

    pk                 sk             what
    STORE#<store>      DEFINITION     the `StoreDefinition` as gzip-compressed JSON, a version

A definition is read on a store's first event in a container and kept for `cache_s`
seconds, so a planogram edit reaches ingest within that time without a read per event. An
unknown store is cached as unknown for the same time (a stream of a misconfigured store's
records costs one read per container per period, not one per record).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from walkout.data.dynamo import from_item, key, to_item
from walkout.definition import StoreDefinition
from walkout.events import format_timestamp

DEFINITION = "DEFINITION"


def store_pk(store_id: str) -> str:
    return f"STORE#{store_id}"


class StoreDefinitions:
    def __init__(
        self,
        ddb: Any,
        table_name: str,
        *,
        cache_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ddb = ddb
        self.table = table_name
        self.cache_s = cache_s
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, StoreDefinition | None]] = {}

    def get(self, store_id: str) -> StoreDefinition | None:
        now = self.monotonic()
        cached = self._cache.get(store_id)
        if cached is not None and now - cached[0] < self.cache_s:
            return cached[1]
        page = self.ddb.get_item(TableName=self.table, Key=key(store_pk(store_id), DEFINITION))
        definition = None
        if "Item" in page:
            item = from_item(page["Item"])
            definition = StoreDefinition.model_validate_json(gzip.decompress(item["definition"]))
        self._cache[store_id] = (now, definition)
        return definition

    def put(self, definition: StoreDefinition, *, version: int, updated_at: datetime) -> None:
        document = definition.model_dump_json(by_alias=True).encode()
        self.ddb.put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": store_pk(definition.store.store_id),
                    "sk": DEFINITION,
                    "store_id": definition.store.store_id,
                    "definition": gzip.compress(document, mtime=0),
                    "version": version,
                    "updated_at": format_timestamp(updated_at),
                }
            ),
        )
        self._cache.pop(definition.store.store_id, None)
