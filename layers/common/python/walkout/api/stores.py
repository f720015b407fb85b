"""Store administration: stores, layout, catalog, planogram and promotions of one retailer.

Every change is made to the store's whole definition and validated as a whole before it is
written (a SKU still on a planogram lane or in a promotion cannot be deleted; a planogram
lane must exist in the layout), so ingest never reads a definition that does not hold
together. Writes are optimistic: a concurrent edit is a 409 to retry, not a lost update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from pydantic import ValidationError

from walkout.api.auth import Caller
from walkout.api.cursor import BadCursorError, decode_cursor, encode_cursor
from walkout.api.models import BulkImportIn, PlanogramIn, ProductIn, StoreDefinitionIn
from walkout.api.problems import (
    ConflictError,
    ResourceNotFoundError,
    UnprocessableError,
    describe_errors,
)
from walkout.catalog import Product, Promotion
from walkout.data.catalog_admin import (
    STORE_PREFIX,
    ListingPage,
    RetailerStores,
    StoredStore,
    VersionConflictError,
    retailer_pk,
)
from walkout.definition import StoreDefinition
from walkout.ids import new_ulid

Clock = Callable[[], datetime]
T = TypeVar("T")
STORE_CURSOR_FIELDS: Final = frozenset({"pk", "sk"})
ITEM_CURSOR_FIELDS: Final = frozenset({"after"})


def utc_now() -> datetime:
    now = datetime.now(UTC)
    # Stored timestamps have millisecond precision; answering with more would make the
    # creating response differ from every later read of the same version.
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _validated(document: dict[str, Any]) -> StoreDefinition:
    try:
        return StoreDefinition.model_validate(document)
    except ValidationError as exc:
        detail, _ = describe_errors(exc.errors(include_url=False))
        raise UnprocessableError(
            f"the store definition would not hold together: {detail}"
        ) from None


def page_after(
    items: Sequence[T], key: Callable[[T], str], *, limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """One page of `items` (sorted by `key`) after the cursor's position."""
    ordered = sorted(items, key=key)
    if cursor is not None:
        after = decode_cursor(cursor, ITEM_CURSOR_FIELDS)["after"]
        ordered = [i for i in ordered if key(i) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, encode_cursor({"after": key(page[-1])}) if more and page else None


class StoreAdmin:
    def __init__(self, stores: RetailerStores, *, clock: Clock = utc_now) -> None:
        self.stores = stores
        self.clock = clock

    # --- stores -------------------------------------------------------------------------
    def create(self, caller: Caller, body: StoreDefinitionIn) -> StoredStore:
        store_id = f"store-{new_ulid(self.clock()).lower()}"
        document = body.model_dump(by_alias=True)
        document["store"].update(store_id=store_id, retailer_id=caller.retailer_id)
        stored = StoredStore(
            retailer_id=caller.retailer_id,
            definition=_validated(document),
            version=1,
            updated_at=self.clock(),
        )
        self.stores.save(stored, expected_version=None)
        return stored

    def get(self, caller: Caller, store_id: str) -> StoredStore:
        stored = self.stores.get(caller.retailer_id, store_id)
        if stored is None:
            raise ResourceNotFoundError(f"store {store_id} not found")
        return stored

    def list(self, caller: Caller, *, limit: int, cursor: str | None) -> ListingPage:
        start = None
        if cursor is not None:
            start = decode_cursor(cursor, STORE_CURSOR_FIELDS)
            # The cursor names a key; it must lie in the caller's own partition.
            if start["pk"] != retailer_pk(caller.retailer_id) or not start["sk"].startswith(
                STORE_PREFIX
            ):
                raise BadCursorError("cursor is not one this API issued")
        return self.stores.list(caller.retailer_id, limit=limit, start_key=start)

    def replace(self, caller: Caller, store_id: str, body: StoreDefinitionIn) -> StoredStore:
        def change(_: dict[str, Any]) -> dict[str, Any]:
            document = body.model_dump(by_alias=True)
            document["store"].update(store_id=store_id, retailer_id=caller.retailer_id)
            return document

        return self._edit(caller, store_id, change)

    # --- catalog ------------------------------------------------------------------------
    def put_product(
        self, caller: Caller, store_id: str, sku: str, body: ProductIn
    ) -> tuple[StoredStore, bool]:
        created = False

        def change(document: dict[str, Any]) -> dict[str, Any]:
            nonlocal created
            products = document["catalog"]["products"]
            entry = {"sku": sku, "currency": document["catalog"]["currency"], **body.model_dump()}
            created = not any(p["sku"] == sku for p in products)
            document["catalog"]["products"] = [p for p in products if p["sku"] != sku] + [entry]
            return document

        return self._edit(caller, store_id, change), created

    def delete_product(self, caller: Caller, store_id: str, sku: str) -> StoredStore:
        def change(document: dict[str, Any]) -> dict[str, Any]:
            products = document["catalog"]["products"]
            if not any(p["sku"] == sku for p in products):
                raise ResourceNotFoundError(f"sku {sku} not found in store {store_id}")
            document["catalog"]["products"] = [p for p in products if p["sku"] != sku]
            return document

        try:
            return self._edit(caller, store_id, change)
        except UnprocessableError as exc:
            # Deleting a SKU that a lane or promotion still uses is a state conflict.
            raise ConflictError(exc.detail) from None

    def import_products(
        self, caller: Caller, store_id: str, body: BulkImportIn
    ) -> tuple[StoredStore, int, int]:
        counts = [0, 0]

        def change(document: dict[str, Any]) -> dict[str, Any]:
            currency = document["catalog"]["currency"]
            incoming = {p.sku: {**p.model_dump(), "currency": currency} for p in body.products}
            if len(incoming) != len(body.products):
                raise UnprocessableError("products: a sku appears more than once in the import")
            existing = document["catalog"]["products"]
            replaced = sum(1 for p in existing if p["sku"] in incoming)
            counts[:] = [len(incoming) - replaced, replaced]
            kept = [p for p in existing if p["sku"] not in incoming]
            document["catalog"]["products"] = kept + list(incoming.values())
            return document

        stored = self._edit(caller, store_id, change)
        return stored, counts[0], counts[1]

    def product(self, caller: Caller, store_id: str, sku: str) -> Product:
        found = self.get(caller, store_id).definition.catalog.by_sku().get(sku)
        if found is None:
            raise ResourceNotFoundError(f"sku {sku} not found in store {store_id}")
        return found

    # --- planogram ----------------------------------------------------------------------
    def set_planogram(self, caller: Caller, store_id: str, body: PlanogramIn) -> StoredStore:
        def change(document: dict[str, Any]) -> dict[str, Any]:
            document["planogram"] = {"entries": [e.model_dump() for e in body.entries]}
            return document

        return self._edit(caller, store_id, change)

    # --- promotions ---------------------------------------------------------------------
    def put_promotion(
        self, caller: Caller, store_id: str, promotion_id: str, body: Promotion
    ) -> tuple[StoredStore, bool]:
        if body.promotion_id != promotion_id:
            raise UnprocessableError(
                f"body.promotion_id: {body.promotion_id!r} differs from the path's {promotion_id!r}"
            )
        created = False

        def change(document: dict[str, Any]) -> dict[str, Any]:
            nonlocal created
            promotions = document["catalog"]["promotions"]
            created = not any(p["promotion_id"] == promotion_id for p in promotions)
            kept = [p for p in promotions if p["promotion_id"] != promotion_id]
            document["catalog"]["promotions"] = [*kept, body.model_dump()]
            return document

        return self._edit(caller, store_id, change), created

    def delete_promotion(self, caller: Caller, store_id: str, promotion_id: str) -> StoredStore:
        def change(document: dict[str, Any]) -> dict[str, Any]:
            promotions = document["catalog"]["promotions"]
            if not any(p["promotion_id"] == promotion_id for p in promotions):
                raise ResourceNotFoundError(
                    f"promotion {promotion_id} not found in store {store_id}"
                )
            document["catalog"]["promotions"] = [
                p for p in promotions if p["promotion_id"] != promotion_id
            ]
            return document

        return self._edit(caller, store_id, change)

    # ------------------------------------------------------------------------------------
    def _edit(
        self, caller: Caller, store_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> StoredStore:
        current = self.get(caller, store_id)
        document = change(current.definition.model_dump(by_alias=True))
        updated = StoredStore(
            retailer_id=caller.retailer_id,
            definition=_validated(document),
            version=current.version + 1,
            updated_at=self.clock(),
        )
        try:
            self.stores.save(updated, expected_version=current.version)
        except VersionConflictError:
            raise ConflictError(
                f"store {store_id} changed while this request was handled; read it and retry"
            ) from None
        return updated
