"""The review functions' environment: keys (shared with CDK) and one model per function."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from walkout.config import DeploymentConfig
from walkout.data.dynamo import client, utc_clock
from walkout.data.review_tasks import ReviewTasksTable
from walkout.data.task_tokens import TaskCallbacks
from walkout.settings import (
    ENV_METRICS_NAMESPACE,
    ENV_SERVICE_NAME,
    ENV_SESSIONS_TABLE,
    ENV_STAGE,
    ENV_TRANSIENT_TTL_DAYS,
    FunctionSettings,
)

QUEUE_SERVICE: Final = "review-queue"
GT_PRE_SERVICE: Final = "review-gt-pre"
GT_CONSOLIDATE_SERVICE: Final = "review-gt-consolidate"
GT_RESULT_SERVICE: Final = "review-gt-result"
LABELING_JOB_SERVICE: Final = "review-labeling-job"

Stage = Annotated[str, Field(alias=ENV_STAGE, min_length=1)]


def stage_only(config: DeploymentConfig, service: str) -> dict[str, str]:
    return {ENV_STAGE: config.stage, ENV_SERVICE_NAME: service, ENV_METRICS_NAMESPACE: "Walkout"}


class StageSettings(FunctionSettings):
    """Functions that need nothing but their stage (their inputs say the rest)."""

    stage: Stage


class ReviewTasksSettings(FunctionSettings):
    """Functions that keep review tasks or answers in the sessions table."""

    stage: Stage
    sessions_table: Annotated[str, Field(alias=ENV_SESSIONS_TABLE, min_length=3)]
    transient_ttl_days: Annotated[int, Field(alias=ENV_TRANSIENT_TTL_DAYS, ge=1)]

    @staticmethod
    def environment(
        config: DeploymentConfig, service: str, *, sessions_table: str
    ) -> dict[str, str]:
        return {
            **stage_only(config, service),
            ENV_SESSIONS_TABLE: sessions_table,
            ENV_TRANSIENT_TTL_DAYS: str(config.transient_ttl_days),
        }


def review_ports(settings: ReviewTasksSettings) -> tuple[ReviewTasksTable, TaskCallbacks]:
    """What the console queue and the Ground Truth result function both work with: the
    review tasks in the sessions table and the workflow's task-token callbacks."""
    tasks = ReviewTasksTable(
        client("dynamodb"),
        settings.sessions_table,
        ttl_days=settings.transient_ttl_days,
        clock=utc_clock,
    )
    return tasks, TaskCallbacks(client("stepfunctions"))
