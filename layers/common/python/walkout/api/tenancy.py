"""Tenant checks shared by the operational routes (sessions, receipts, disputes, metrics).

Store ids are minted by the API (`store-<ulid>`), so a store belongs to exactly one
retailer and every item keyed by a store id belongs to that store's retailer: checking the
store is the tenant check. Every refusal here is a 404 whose detail names only what the
caller asked for, so it reads the same for another tenant's store as for no store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from walkout.api.auth import Caller, Role
from walkout.api.cursor import BadCursorError, decode_cursor, encode_cursor, low_level_key
from walkout.api.problems import ResourceNotFoundError
from walkout.data.catalog_admin import RetailerStores

STAFF: Final = frozenset({Role.ADMIN, Role.REVIEWER})
INDEX_CURSOR_FIELDS: Final = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})


def is_staff(caller: Caller) -> bool:
    return bool(caller.roles & STAFF)


def require_store(stores: RetailerStores, caller: Caller, store_id: str) -> None:
    """The caller's retailer owns the store, or `ResourceNotFoundError`."""
    if not stores.owns(caller.retailer_id, store_id):
        raise ResourceNotFoundError(f"store {store_id} not found")


def require_session_access(
    stores: RetailerStores, caller: Caller, store_id: str, session_id: str, missing: str
) -> None:
    """Staff of the store's retailer, or the shopper whose token names the session;
    anything else is the same 404 (`missing`) as a session that does not exist."""
    if not is_staff(caller) and session_id not in caller.session_ids:
        raise ResourceNotFoundError(missing)
    if not stores.owns(caller.retailer_id, store_id):
        raise ResourceNotFoundError(missing)


def index_start_key(
    cursor: str | None,
    gsi1pk: str,
    gsi1sk_prefix: str,
    *,
    low: str | None = None,
    high: str | None = None,
) -> dict[str, Any] | None:
    """The `ExclusiveStartKey` a cursor names on a `gsi1` index; it must lie in the
    partition and key range the request reads (`low` <= gsi1sk <= `high` when a query's
    `BETWEEN` bounds it), or the cursor is refused (400). DynamoDB answers a start key
    outside the key condition with a ValidationException, which would be a 500."""
    if cursor is None:
        return None
    position = decode_cursor(cursor, INDEX_CURSOR_FIELDS)
    if position["gsi1pk"] != gsi1pk or not position["gsi1sk"].startswith(gsi1sk_prefix):
        raise BadCursorError("cursor is not one this API issued")
    sort_key = position["gsi1sk"]
    if (low is not None and sort_key < low) or (high is not None and sort_key > high):
        raise BadCursorError("cursor lies outside the requested from/to range")
    return low_level_key(position)


def next_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return encode_cursor({k: v["S"] for k, v in last_key.items()})
