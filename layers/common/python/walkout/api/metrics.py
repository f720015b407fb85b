"""Store metrics for a time range, computed from the tables on request.

How, with bounded work per request (at most `MAX_RECEIPTS` receipt versions, the META of
those sessions by key, and `MAX_QUARANTINE_PAGES` count-only pages):

- **sessions**: receipts issued in [from, to) (version 1 in the receipts table's
  `by-store-time` index; only four attributes are projected). Every finalized session
  has exactly one version 1, so this counts finalized sessions.
- **review rate per 1,000 sessions**: of those, the ones whose receipt was decided by a
  review (`reviewed`, or `timeout-partial` when the review brought no answer), x 1,000.
- **auto-finalized share**: the ones issued without review (`auto`), as a share.
- **receipt latency**: exit → receipt, `issued_at` minus the session's `exit_at` (META
  items in the sessions table, `BatchGetItem`); p50 and p95 by nearest rank. Sessions whose
  META has expired (`transient_ttl_days`) are left out and counted in `latency_sessions`.
- **quarantined events**: ingest's quarantined records of the store received in the range
  (`Query` with `Select=COUNT`: counted by DynamoDB, no record leaves it).

`truncated` says a bound was reached: the figures then cover the oldest part of the range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from pydantic import Field

from walkout._base import Model
from walkout.api.auth import Caller
from walkout.api.problems import UnprocessableError
from walkout.api.tenancy import require_store
from walkout.cart import ReviewStatus
from walkout.data.catalog_admin import RetailerStores
from walkout.data.ingest import IngestTable, count_quarantined
from walkout.data.receipts import ReceiptsTable, first_versions
from walkout.data.sessions import SessionsTable, sessions_by_id

MAX_RECEIPTS: Final = 2000
MAX_QUARANTINE_PAGES: Final = 10
MAX_RANGE: Final = timedelta(days=31)


class MetricsOut(Model):
    store_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    sessions: int = Field(description="sessions finalized (receipts issued) in the range")
    reviewed_sessions: int
    review_rate_per_1000: float | None = Field(description="null without sessions")
    auto_finalized_share: float | None = Field(description="null without sessions")
    receipt_latency_p50_ms: float | None = Field(description="exit to receipt")
    receipt_latency_p95_ms: float | None
    latency_sessions: int = Field(description="sessions whose exit time was still known")
    quarantined_events: int
    truncated: bool = Field(description="a read bound was reached; figures cover part")


def nearest_rank(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


class StoreMetrics:
    def __init__(
        self,
        stores: RetailerStores,
        receipts: ReceiptsTable,
        sessions: SessionsTable,
        ingest: IngestTable,
    ) -> None:
        self.stores = stores
        self.receipts = receipts
        self.sessions = sessions
        self.ingest = ingest

    def compute(
        self, caller: Caller, store_id: str, since: datetime, until: datetime
    ) -> MetricsOut:
        if until <= since:
            raise UnprocessableError("query.to: must be after query.from")
        if until - since > MAX_RANGE:
            raise UnprocessableError(f"query.to: the range may span at most {MAX_RANGE.days} days")
        require_store(self.stores, caller, store_id)
        issued, receipts_cut = first_versions(
            self.receipts, store_id, since, until, max_items=MAX_RECEIPTS
        )
        reviewed = sum(1 for r in issued if r.review_status is not ReviewStatus.AUTO)
        auto = len(issued) - reviewed
        metas = sessions_by_id(self.sessions, store_id, (r.session_id for r in issued))
        latencies = sorted(
            (r.issued_at - exit_at).total_seconds() * 1000
            for r in issued
            if (meta := metas.get(r.session_id)) is not None and (exit_at := meta.exit_at)
        )
        quarantined, quarantine_cut = count_quarantined(
            self.ingest, store_id, since, until, max_pages=MAX_QUARANTINE_PAGES
        )
        n = len(issued)
        return MetricsOut.model_validate(
            {
                "store_id": store_id,
                "from": since,
                "to": until,
                "sessions": n,
                "reviewed_sessions": reviewed,
                "review_rate_per_1000": round(reviewed / n * 1000, 3) if n else None,
                "auto_finalized_share": round(auto / n, 6) if n else None,
                "receipt_latency_p50_ms": nearest_rank(latencies, 0.50),
                "receipt_latency_p95_ms": nearest_rank(latencies, 0.95),
                "latency_sessions": len(latencies),
                "quarantined_events": quarantined,
                "truncated": receipts_cut or quarantine_cut,
            }
        )
