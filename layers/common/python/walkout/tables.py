"""DynamoDB table definitions, shared by the CDK stack and the local runtime.

Each table uses generic `pk`/`sk` keys so that one table holds one concern's several item
types (see docs/data-model.md); transient items carry `expires_at` (epoch seconds) for TTL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableSpec:
    key: str
    purpose: str
    ttl: bool
    indexes: tuple[IndexSpec, ...] = field(default_factory=tuple)


TABLES: dict[str, TableSpec] = {
    spec.key: spec
    for spec in (
        TableSpec(
            key="stores",
            purpose="retailers' stores, layouts, catalog, planograms and promotions",
            ttl=False,
        ),
        TableSpec(
            key="sessions",
            purpose="sessions, live carts, attribution records and review tasks",
            ttl=True,
            indexes=(IndexSpec("by-store-status", "gsi1pk", "gsi1sk"),),
        ),
        TableSpec(
            key="receipts",
            purpose="receipt versions and disputes (financial records: no TTL)",
            ttl=False,
            indexes=(IndexSpec("by-store-time", "gsi1pk", "gsi1sk"),),
        ),
        TableSpec(
            key="ingest",
            purpose=(
                "device watermarks, quarantined records, and joins and exits held until"
                " their session opens"
            ),
            ttl=True,
        ),
    )
}
