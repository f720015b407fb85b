"""The services behind the operational routes, made once per container: the handler builds
them from `ApiSettings` (`operations_from_settings`), tests and the local server from
their own clients (`make_operations`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from walkout.api.metrics import StoreMetrics
from walkout.api.receipts import Receipts
from walkout.api.review import EvidenceLinks, ReviewDesk, presigning_s3
from walkout.api.sessions import SessionViews
from walkout.api.settings import ApiSettings
from walkout.data.catalog_admin import RetailerStores
from walkout.data.dynamo import Clock, client, utc_clock
from walkout.data.ingest import IngestTable
from walkout.data.receipts import ReceiptsTable
from walkout.data.review_tasks import ReviewTasksTable
from walkout.data.sessions import SessionsTable
from walkout.data.task_tokens import TaskCallbacks
from walkout.review.console import ConsoleReview


@dataclass(frozen=True)
class Operations:
    sessions: SessionViews
    receipts: Receipts
    review: ReviewDesk
    metrics: StoreMetrics


def make_operations(
    stores: RetailerStores,
    *,
    ddb: Any,
    sfn: Any,
    s3: Any,
    events: Any,
    sessions_table: str,
    receipts_table: str,
    ingest_table: str,
    transient_ttl_days: int,
    event_bus_name: str,
    evidence_bucket: str,
    clock: Clock = utc_clock,
) -> Operations:
    sessions = SessionsTable(ddb, sessions_table, ttl_days=transient_ttl_days, clock=clock)
    receipts = ReceiptsTable(ddb, receipts_table, clock=clock)
    ingest = IngestTable(ddb, ingest_table, ttl_days=transient_ttl_days, clock=clock)
    tasks = ReviewTasksTable(ddb, sessions_table, ttl_days=transient_ttl_days, clock=clock)
    console = ConsoleReview(tasks, TaskCallbacks(sfn), clock=clock)
    return Operations(
        sessions=SessionViews(stores, sessions),
        receipts=Receipts(stores, receipts, events, event_bus_name, clock=clock),
        review=ReviewDesk(stores, console, tasks, EvidenceLinks(s3, evidence_bucket), clock=clock),
        metrics=StoreMetrics(stores, receipts, sessions, ingest),
    )


def operations_from_settings(settings: ApiSettings, stores: RetailerStores) -> Operations:
    return make_operations(
        stores,
        ddb=client("dynamodb"),
        sfn=client("stepfunctions"),
        s3=presigning_s3(),
        events=client("events"),
        sessions_table=settings.sessions_table,
        receipts_table=settings.receipts_table,
        ingest_table=settings.ingest_table,
        transient_ttl_days=settings.transient_ttl_days,
        event_bus_name=settings.event_bus_name,
        evidence_bucket=settings.evidence_bucket,
    )
