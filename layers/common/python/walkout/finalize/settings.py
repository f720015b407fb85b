"""The finalize functions' environment: keys (shared with CDK) and one model per function.

Keys already defined by `walkout.settings` (stage, tables, bus, threshold) are reused, so a
setting has one name across all functions.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from walkout.config import DeploymentConfig, ReviewBackend
from walkout.settings import (
    ENV_METRICS_NAMESPACE,
    ENV_REVIEW_THRESHOLD,
    ENV_SERVICE_NAME,
    ENV_SESSIONS_TABLE,
    ENV_STAGE,
    ENV_STORE_CACHE_S,
    ENV_STORES_TABLE,
    ENV_TRANSIENT_TTL_DAYS,
    FunctionSettings,
)

ENV_RECEIPTS_TABLE: Final = "WALKOUT_RECEIPTS_TABLE"
ENV_EVIDENCE_BUCKET: Final = "WALKOUT_EVIDENCE_BUCKET"
ENV_REVIEW_BACKEND: Final = "WALKOUT_REVIEW_BACKEND"
ENV_REVIEW_TIMEOUT_S: Final = "WALKOUT_REVIEW_TIMEOUT_S"
ENV_REVIEW_HEARTBEAT_S: Final = "WALKOUT_REVIEW_HEARTBEAT_S"
ENV_REVIEW_AWAIT_S: Final = "WALKOUT_REVIEW_AWAIT_S"
ENV_DOUBTED_EXIT_HOLD_S: Final = "WALKOUT_DOUBTED_EXIT_HOLD_S"
ENV_DOUBTED_EXIT_POLL_S: Final = "WALKOUT_DOUBTED_EXIT_POLL_S"
ENV_HOLD_EVERY_EXIT: Final = "WALKOUT_HOLD_EVERY_EXIT"

ASSESS_SERVICE: Final = "finalize-assess"
ISSUE_SERVICE: Final = "finalize-issue"
ATTENTION_SERVICE: Final = "finalize-attention"

Stage = Annotated[str, Field(alias=ENV_STAGE, min_length=1)]
TableName = Annotated[str, Field(min_length=3)]


def _common(config: DeploymentConfig, service: str) -> dict[str, str]:
    return {ENV_STAGE: config.stage, ENV_SERVICE_NAME: service, ENV_METRICS_NAMESPACE: "Walkout"}


class AssessSettings(FunctionSettings):
    stage: Stage
    sessions_table: Annotated[str, Field(alias=ENV_SESSIONS_TABLE, min_length=3)]
    stores_table: Annotated[str, Field(alias=ENV_STORES_TABLE, min_length=3)]
    evidence_bucket: Annotated[str, Field(alias=ENV_EVIDENCE_BUCKET, min_length=3)]
    review_threshold: Annotated[float, Field(alias=ENV_REVIEW_THRESHOLD, gt=0, lt=1)]
    review_backend: Annotated[ReviewBackend, Field(alias=ENV_REVIEW_BACKEND)]
    # Seconds: at least 1 here (tests use short reviews); the deployment config asks more.
    review_timeout_s: Annotated[int, Field(alias=ENV_REVIEW_TIMEOUT_S, ge=1, le=28_800)]
    review_heartbeat_s: Annotated[int, Field(alias=ENV_REVIEW_HEARTBEAT_S, ge=1, le=28_800)]
    review_await_s: Annotated[int, Field(alias=ENV_REVIEW_AWAIT_S, ge=1, le=3600)] = 60
    hold_every_exit: Annotated[bool, Field(alias=ENV_HOLD_EVERY_EXIT)] = False
    transient_ttl_days: Annotated[int, Field(alias=ENV_TRANSIENT_TTL_DAYS, ge=1)]
    store_cache_s: Annotated[float, Field(alias=ENV_STORE_CACHE_S, ge=0)] = 60.0

    @staticmethod
    def environment(
        config: DeploymentConfig, *, sessions_table: str, stores_table: str, evidence_bucket: str
    ) -> dict[str, str]:
        return {
            **_common(config, ASSESS_SERVICE),
            ENV_SESSIONS_TABLE: sessions_table,
            ENV_STORES_TABLE: stores_table,
            ENV_EVIDENCE_BUCKET: evidence_bucket,
            ENV_REVIEW_THRESHOLD: repr(config.review_threshold),
            ENV_REVIEW_BACKEND: config.review_backend.value,
            ENV_REVIEW_TIMEOUT_S: str(config.review_timeout_s),
            ENV_REVIEW_HEARTBEAT_S: str(config.review_heartbeat_s),
            ENV_REVIEW_AWAIT_S: str(config.review_await_s),
            ENV_HOLD_EVERY_EXIT: str(config.hold_every_exit).lower(),
            ENV_TRANSIENT_TTL_DAYS: str(config.transient_ttl_days),
        }


class IssueSettings(FunctionSettings):
    stage: Stage
    sessions_table: Annotated[str, Field(alias=ENV_SESSIONS_TABLE, min_length=3)]
    stores_table: Annotated[str, Field(alias=ENV_STORES_TABLE, min_length=3)]
    receipts_table: Annotated[str, Field(alias=ENV_RECEIPTS_TABLE, min_length=3)]
    transient_ttl_days: Annotated[int, Field(alias=ENV_TRANSIENT_TTL_DAYS, ge=1)]
    store_cache_s: Annotated[float, Field(alias=ENV_STORE_CACHE_S, ge=0)] = 60.0
    doubted_exit_hold_s: Annotated[int, Field(alias=ENV_DOUBTED_EXIT_HOLD_S, ge=0, le=86_400)] = 0
    doubted_exit_poll_s: Annotated[int, Field(alias=ENV_DOUBTED_EXIT_POLL_S, ge=1, le=3600)] = 30
    hold_every_exit: Annotated[bool, Field(alias=ENV_HOLD_EVERY_EXIT)] = False

    @staticmethod
    def environment(
        config: DeploymentConfig, *, sessions_table: str, stores_table: str, receipts_table: str
    ) -> dict[str, str]:
        return {
            **_common(config, ISSUE_SERVICE),
            ENV_SESSIONS_TABLE: sessions_table,
            ENV_STORES_TABLE: stores_table,
            ENV_RECEIPTS_TABLE: receipts_table,
            ENV_TRANSIENT_TTL_DAYS: str(config.transient_ttl_days),
            ENV_DOUBTED_EXIT_HOLD_S: str(config.doubted_exit_hold_s),
            ENV_DOUBTED_EXIT_POLL_S: str(config.doubted_exit_poll_s),
            ENV_HOLD_EVERY_EXIT: str(config.hold_every_exit).lower(),
        }


class AttentionSettings(FunctionSettings):
    stage: Stage
    receipts_table: Annotated[str, Field(alias=ENV_RECEIPTS_TABLE, min_length=3)]
    sessions_table: Annotated[str, Field(alias=ENV_SESSIONS_TABLE, min_length=3)]
    transient_ttl_days: Annotated[int, Field(alias=ENV_TRANSIENT_TTL_DAYS, ge=1)]

    @staticmethod
    def environment(
        config: DeploymentConfig, *, receipts_table: str, sessions_table: str
    ) -> dict[str, str]:
        return {
            **_common(config, ATTENTION_SERVICE),
            ENV_RECEIPTS_TABLE: receipts_table,
            ENV_SESSIONS_TABLE: sessions_table,
            ENV_TRANSIENT_TTL_DAYS: str(config.transient_ttl_days),
        }
