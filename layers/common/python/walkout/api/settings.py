"""The API function's environment (keys shared with CDK through `walkout.settings`)."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from walkout.config import DeploymentConfig
from walkout.finalize.settings import ENV_EVIDENCE_BUCKET, ENV_RECEIPTS_TABLE
from walkout.settings import (
    ENV_EVENT_BUS_NAME,
    ENV_INGEST_TABLE,
    ENV_METRICS_NAMESPACE,
    ENV_SERVICE_NAME,
    ENV_SESSIONS_TABLE,
    ENV_STAGE,
    ENV_STORES_TABLE,
    ENV_TRANSIENT_TTL_DAYS,
    FunctionSettings,
)

API_SERVICE: Final = "api"
TableName = Annotated[str, Field(min_length=3)]


class ApiSettings(FunctionSettings):
    stage: Annotated[str, Field(alias=ENV_STAGE, min_length=1)]
    stores_table: Annotated[str, Field(alias=ENV_STORES_TABLE, min_length=3)]
    sessions_table: Annotated[str, Field(alias=ENV_SESSIONS_TABLE, min_length=3)]
    receipts_table: Annotated[str, Field(alias=ENV_RECEIPTS_TABLE, min_length=3)]
    ingest_table: Annotated[str, Field(alias=ENV_INGEST_TABLE, min_length=3)]
    # RefundIssued goes here (the bus ReceiptIssued and CartUpdated use).
    event_bus_name: Annotated[str, Field(alias=ENV_EVENT_BUS_NAME, min_length=1)]
    # Review evidence is presigned from this bucket only.
    evidence_bucket: Annotated[str, Field(alias=ENV_EVIDENCE_BUCKET, min_length=3)]
    transient_ttl_days: Annotated[int, Field(alias=ENV_TRANSIENT_TTL_DAYS, ge=1)]

    @staticmethod
    def environment(
        config: DeploymentConfig,
        *,
        stores_table: str,
        sessions_table: str,
        receipts_table: str,
        ingest_table: str,
        event_bus_name: str,
        evidence_bucket: str,
    ) -> dict[str, str]:
        return {
            ENV_STAGE: config.stage,
            ENV_STORES_TABLE: stores_table,
            ENV_SESSIONS_TABLE: sessions_table,
            ENV_RECEIPTS_TABLE: receipts_table,
            ENV_INGEST_TABLE: ingest_table,
            ENV_EVENT_BUS_NAME: event_bus_name,
            ENV_EVIDENCE_BUCKET: evidence_bucket,
            ENV_TRANSIENT_TTL_DAYS: str(config.transient_ttl_days),
            ENV_SERVICE_NAME: API_SERVICE,
            ENV_METRICS_NAMESPACE: "Walkout",
        }
