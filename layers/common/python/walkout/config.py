"""One typed deployment config, read from `cdk.json` context by CDK and by the local runtime.

Resource names derive from it here, in one place, so the stack and the local emulation can
never disagree about what a table or stream is called.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from walkout._base import Model
from walkout.tables import TABLES

CONTEXT_KEY = "walkout"
# One @, no spaces, a dot in the domain: enough to catch a typo before SNS mails nobody.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


class ReviewBackend(StrEnum):
    CONSOLE = "console"
    GROUNDTRUTH = "groundtruth"


class StreamSettings(Model):
    capacity_mode: Literal["on_demand", "provisioned"] = "on_demand"
    shard_count: Annotated[int, Field(ge=1, le=500)] = 1
    retention_hours: Annotated[int, Field(ge=24, le=8760)] = 24

    @model_validator(mode="after")
    def _shards_only_when_provisioned(self) -> StreamSettings:
        if self.capacity_mode == "on_demand" and self.shard_count != 1:
            raise ValueError("shard_count applies only to capacity_mode 'provisioned'")
        return self


class IngestTuning(Model):
    """The ingest function and its Kinesis event source mapping (see infrastructure/ingest.py).

    Defaults: a cart should change within about two seconds of the shelf (batching window 1 s
    plus processing), a store's events stay in order (the mapping keeps partition-key order
    within each of `parallelization_factor` concurrent batches per shard), and a record that
    keeps failing is given up on only after `retry_attempts` tries or `max_record_age_s`,
    leaving its position in the failure queue while the stream still holds it.
    """

    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 200
    batching_window_s: Annotated[int, Field(ge=0, le=300)] = 1
    parallelization_factor: Annotated[int, Field(ge=1, le=10)] = 4
    retry_attempts: Annotated[int, Field(ge=0, le=10_000)] = 10
    max_record_age_s: Annotated[int, Field(ge=60, le=604_800)] = 6 * 3600
    memory_mb: Annotated[int, Field(ge=128, le=10_240)] = 1024
    timeout_s: Annotated[int, Field(ge=3, le=900)] = 60
    iterator_age_alarm_s: Annotated[int, Field(ge=1, le=86_400)] = 60

    @model_validator(mode="after")
    def _age_within_reason(self) -> IngestTuning:
        if self.max_record_age_s < self.timeout_s:
            raise ValueError("max_record_age_s must be at least timeout_s")
        return self


class GroundTruthSettings(Model):
    """The streaming labeling job behind `review_backend: groundtruth` (docs/review.md).

    A task reaches workers after the pre-annotation Lambda took it in (it sends the
    workflow's heartbeat), waits up to `task_availability_s` for a worker, who then has
    `task_time_limit_s`; so the answer follows that heartbeat within their sum, which
    must fit in `review_heartbeat_s`. `job_version` is part of the job's name (names are
    unique forever): raise it to replace the job on purpose.
    """

    workteam_arn: (
        Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:workteam/")]
        | None
    ) = None
    # 1-9 workers per task (the API's limit); an odd number lets a majority form.
    workers_per_task: Annotated[int, Field(ge=1, le=9)] = 3
    # Custom tasks allow at most 8 hours per worker.
    task_time_limit_s: Annotated[int, Field(ge=30, le=28_800)] = 600
    task_availability_s: Annotated[int, Field(ge=60, le=864_000)] = 2400
    max_concurrent_tasks: Annotated[int, Field(ge=1, le=5000)] = 100
    job_version: Annotated[int, Field(ge=1, le=9999)] = 1


class DeploymentConfig(Model):
    """Settings of one deployment (a stage)."""

    stage: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")] = "dev"
    stream: StreamSettings = StreamSettings()
    evidence_retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    transient_ttl_days: Annotated[int, Field(ge=1, le=365)] = 14
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 180, 365] = 30
    review_backend: ReviewBackend = ReviewBackend.CONSOLE
    review_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.95
    review_timeout_s: Annotated[int, Field(ge=60, le=28_800)] = 4 * 3600
    # The longest silence a review may keep: the adapters send a heartbeat when the task is
    # taken in (Ground Truth's pre-annotation) or taken by a reviewer (console), so a lost
    # task falls back long before `review_timeout_s`.
    review_heartbeat_s: Annotated[int, Field(ge=60, le=28_800)] = 3600
    # A session whose uncertain events are already in another session's open review waits
    # for that answer instead of asking the same question again; it looks again this often.
    review_await_s: Annotated[int, Field(ge=1, le=3600)] = 60
    # A session whose exit the edge doubted (its person may still have been inside, lost by
    # the tracker, and named later by another shopper's review) holds its receipt until
    # every session in the store with it has its own questions answered, at most this long
    # (0: never holds).
    doubted_exit_hold_s: Annotated[int, Field(ge=0, le=86_400)] = 900
    # ... looking again this often.
    doubted_exit_poll_s: Annotated[int, Field(ge=1, le=3600)] = 30
    # Treat every exit as doubted: every session is listed among the people present 30 s
    # or more after it left (the more the edge doubted its exit, up to 60 s) and holds
    # its receipt for the others in the store (more people per
    # question, every receipt later). A tracker that swaps people in a crowd is wrong about
    # exits it was sure of too (docs/review.md: measured gain and cost). On by default:
    # a receipt a few minutes later is worth its being right.
    hold_every_exit: bool = True
    # What one reviewed session costs (for cost reports); an assumption, not a price list.
    review_cost_per_task_usd: Annotated[float, Field(ge=0, le=100)] = 0.1
    groundtruth: GroundTruthSettings = GroundTruthSettings()
    readiness_grace_s: Annotated[float, Field(ge=0, le=600)] = 5.0
    # A device whose watermark trails the store's most advanced one by more than this has
    # gone silent (unplugged, retired) and no longer holds back readiness (StaleDevices).
    device_stale_after_s: Annotated[float, Field(ge=60, le=86_400)] = 600.0
    retain_data: bool = True
    # Subscribed by e-mail to the deployment's alarm topic (None: subscribe someone later).
    alarm_email: Annotated[str, Field(max_length=254)] | None = None
    ingest: IngestTuning = IngestTuning()
    # Store boxes authenticate through IAM Roles Anywhere with this trust anchor (None: the
    # edge role trusts only Roles Anywhere sessions of this account; see docs/edge-install.md).
    edge_trust_anchor_arn: (
        Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:rolesanywhere:")] | None
    ) = None
    # The session tag that carries a box's store id (x509Subject/OU with Roles Anywhere).
    edge_store_tag_key: Annotated[str, Field(min_length=1, max_length=128)] = "store_id"

    @field_validator("alarm_email")
    @classmethod
    def _an_email_address(cls, address: str | None) -> str | None:
        if address is not None and EMAIL.fullmatch(address) is None:
            raise ValueError("not an e-mail address (expected e.g. ops@example.com)")
        return address

    @model_validator(mode="after")
    def _review_limits_fit(self) -> DeploymentConfig:
        if self.review_heartbeat_s > self.review_timeout_s:
            raise ValueError("review_heartbeat_s must not exceed review_timeout_s")
        if self.review_backend is ReviewBackend.GROUNDTRUTH:
            gt = self.groundtruth
            if gt.workteam_arn is None:
                raise ValueError(
                    "groundtruth.workteam_arn is required for review_backend groundtruth"
                )
            if gt.task_availability_s + gt.task_time_limit_s > self.review_heartbeat_s:
                raise ValueError(
                    "groundtruth.task_availability_s + task_time_limit_s must fit in"
                    " review_heartbeat_s (the answer follows the pre-annotation heartbeat)"
                )
        return self

    @property
    def prefix(self) -> str:
        return f"walkout-{self.stage}"

    @property
    def event_bus_name(self) -> str:
        """The bus for `CartUpdated` and `ReceiptIssued`."""
        return f"{self.prefix}-bus"

    @property
    def stream_name(self) -> str:
        return f"{self.prefix}-events"

    def table_name(self, key: str) -> str:
        if key not in TABLES:
            raise KeyError(f"no table {key!r}; known: {', '.join(sorted(TABLES))}")
        return f"{self.prefix}-{key}"

    def evidence_bucket_name(self, account: str, region: str) -> str:
        return f"{self.prefix}-evidence-{account}-{region}"

    @classmethod
    def from_context(cls, context: dict[str, Any] | None) -> DeploymentConfig:
        """Parse the `walkout` context object; errors name the offending key."""
        try:
            return cls.model_validate(context or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or CONTEXT_KEY
            raise ConfigError(f"{CONTEXT_KEY}.{where}: {first['msg']}") from None


class ConfigError(ValueError):
    """A deployment config that cannot be used, with the key that is wrong."""
