"""The ingest function: the stream's records into sessions, live carts and attributions.

One function with its own role that may do exactly what `walkout.ingest` does: read the
stream; read store definitions; read and write the sessions and ingest tables (no scans;
the only delete is of the ingest table's PENDING# items, held events once applied); start
the finalize workflow; put `CartUpdated` on the bus. The event source mapping keeps each
store's order (partition key = store id), reports partial batch failures, splits failing
batches, gives up after bounded retries or record age and then leaves the batch's position
in an encrypted, TLS-only failure queue, from which operators replay while the stream
still holds the records.

Alarms: the stream falling behind (iterator age), failed invocations, quarantined events,
a device gone silent (stale devices no longer hold back readiness, so an operator must know),
and batches given up on (anything in the failure queue is an event that reached no cart).
Each notifies the deployment's alarm topic (`infrastructure.alarms`) of ALARM and OK; each
is named `<prefix>-...`, the names CloudWatch may publish to that topic for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infrastructure.functions import FUNCTIONS_DIR, TABLE_KEY_WRITE, WalkoutFunction
from walkout.config import DeploymentConfig
from walkout.observability import NAMESPACE, MetricName
from walkout.settings import INGEST_SERVICE, IngestSettings

INGEST_CODE_DIR = FUNCTIONS_DIR / "ingest"

# What the code calls, per table (walkout.data.*): nothing more.
SESSIONS_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
)
INGEST_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
PENDING_ITEMS = "PENDING#*"  # partition keys of held events (walkout.data.ingest.pending_pk)
# partition keys of track ambiguities (walkout.data.sessions.ambiguity_pk), put in batches
AMBIGUITY_ITEMS = "STORE#*#AMBIGUITY"
STORES_ACTIONS = ("dynamodb:GetItem",)
# A failure-queue message holds batch positions, not records; kept as long as SQS allows.
FAILURE_RETENTION = Duration.days(14)


def walkout_metric(
    config: DeploymentConfig,
    name: str,
    *,
    service: str = INGEST_SERVICE,
    statistic: str = "Sum",
    period: Duration | None = None,
    extra: Mapping[str, str] | None = None,
    label: str | None = None,
) -> cloudwatch.Metric:
    """A metric the functions emit through Powertools (EMF): namespace Walkout, dimensions
    stage and service (and any `extra`), exactly as `walkout.observability` writes them."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"stage": config.stage, "service": service, **(extra or {})},
        statistic=statistic,
        period=period or Duration.minutes(1),
        label=label,
    )


class IngestPipeline(Construct):
    """`function`, `role`, `failure_queue`, `event_source` and `alarms` of the ingest path."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        stream: kinesis.IStream,
        tables: Mapping[str, dynamodb.ITable],
        key: kms.IKey,
        layers: Sequence[lambda_.ILayerVersion],
        state_machine_arn: str,
        event_bus: events.IEventBus,
        alarm_topic: sns.ITopic | None = None,
        code_dir: Path = INGEST_CODE_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        tuning = config.ingest
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        environment = IngestSettings.environment(
            config,
            stores_table=tables["stores"].table_name,
            sessions_table=tables["sessions"].table_name,
            ingest_table=tables["ingest"].table_name,
            finalize_state_machine_arn=state_machine_arn,
            event_bus_name=event_bus.event_bus_name,
        )
        ingest = WalkoutFunction(
            self,
            "Handler",
            config=config,
            name="ingest",
            description="Walkout ingest: stream records -> sessions, live carts, attributions",
            code_dir=code_dir,
            handler="handler.lambda_handler",
            layers=layers,
            environment=environment,
            memory_mb=tuning.memory_mb,
            timeout=Duration.seconds(tuning.timeout_s),
        )
        self.function, self.role, self.log_group = ingest.function, ingest.role, ingest.log_group
        ingest.allow_table("SessionsTable", tables["sessions"], SESSIONS_ACTIONS, with_indexes=True)
        ingest.allow_table("IngestTable", tables["ingest"], INGEST_ACTIONS)
        # Held joins/exits are forgotten once applied (walkout.data.ingest.release_pending):
        # the one delete ingest makes, and only of PENDING# items.
        ingest.allow(
            "ReleaseHeldEvents",
            ["dynamodb:DeleteItem"],
            [tables["ingest"].table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [PENDING_ITEMS]}},
        )
        # Ambiguities are put 25 a request; a batch write may delete too, so only there.
        ingest.allow(
            "PutAmbiguitiesInBatches",
            ["dynamodb:BatchWriteItem"],
            [tables["sessions"].table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [AMBIGUITY_ITEMS]}},
        )
        ingest.allow_table("StoresTable", tables["stores"], STORES_ACTIONS)
        ingest.allow_key_via("UseTableKeyThroughDynamoDb", key, "dynamodb", TABLE_KEY_WRITE)
        ingest.allow("HandOverReadySessions", ["states:StartExecution"], [state_machine_arn])
        event_bus.grant_put_events_to(self.role)
        ingest.suppress_wildcards(
            "querying the sessions table's by-store-status index needs the table's index/* ARN",
            applies_to=[{"regex": "/^Resource::.*/index/\\*$/g"}, "Action::kms:GenerateDataKey*"],
        )

        self.failure_queue = sqs.Queue(
            self,
            "Failures",
            queue_name=f"{config.prefix}-ingest-failures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=FAILURE_RETENTION,
            removal_policy=removal,
        )
        self.event_source = sources.KinesisEventSource(
            stream,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=tuning.batch_size,
            max_batching_window=Duration.seconds(tuning.batching_window_s),
            parallelization_factor=tuning.parallelization_factor,
            bisect_batch_on_error=True,
            retry_attempts=tuning.retry_attempts,
            max_record_age=Duration.seconds(tuning.max_record_age_s),
            on_failure=sources.SqsDlq(self.failure_queue),
            report_batch_item_failures=True,
        )
        self.function.add_event_source(self.event_source)

        self.alarms = self._alarms(alarm_topic)
        self._suppressions()

    def _alarms(self, topic: sns.ITopic | None) -> list[cloudwatch.Alarm]:
        tuning = self.config.ingest
        prefix = self.config.prefix
        alarms = [
            cloudwatch.Alarm(
                self,
                "IteratorAgeAlarm",
                alarm_name=f"{prefix}-ingest-iterator-age",
                alarm_description=(
                    "Ingest is falling behind the stream: live carts lag and readiness waits."
                ),
                metric=self.function.metric(
                    "IteratorAge", statistic="Maximum", period=Duration.minutes(1)
                ),
                threshold=tuning.iterator_age_alarm_s * 1000,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "ErrorsAlarm",
                alarm_name=f"{prefix}-ingest-errors",
                alarm_description=(
                    "Ingest invocations failed as a whole (crash, timeout, every record failed)."
                ),
                metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "QuarantineAlarm",
                alarm_name=f"{prefix}-ingest-quarantined",
                alarm_description=(
                    "Records were quarantined (bad event, unknown store, lane or session):"
                    " see the ingest table's QUARANTINE# items."
                ),
                metric=walkout_metric(
                    self.config, MetricName.QUARANTINED, period=Duration.minutes(5)
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "StaleDevicesAlarm",
                alarm_name=f"{prefix}-ingest-stale-devices",
                alarm_description=(
                    "A device of a store went silent: its watermark trails the store's most"
                    f" advanced one by more than {self.config.device_stale_after_s:g} s, so"
                    " sessions are handed over without waiting for it and whatever it still"
                    " sends arrives late and charges nobody. Bring the device or its edge"
                    " agent back (a device removed for good keeps this alarm on until its"
                    " WATERMARK# item in the ingest table expires or is deleted)."
                ),
                # Emitted per batch as the most devices skipped in one readiness check, and
                # only when there is one: Maximum, and no data means none is stale.
                metric=walkout_metric(
                    self.config,
                    MetricName.STALE_DEVICES,
                    statistic="Maximum",
                    period=Duration.minutes(5),
                ),
                threshold=0,
                # A device is only called stale after `device_stale_after_s` of silence
                # (10 minutes by default): one period is already a sustained outage.
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "GivenUpAlarm",
                alarm_name=f"{prefix}-ingest-given-up",
                alarm_description=(
                    "Ingest gave up on a batch after its retries: replay it from the failure"
                    " queue's stream positions before the stream's retention ends."
                ),
                metric=self.failure_queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        if topic is not None:
            action = cloudwatch_actions.SnsAction(topic)
            for alarm in alarms:
                alarm.add_alarm_action(action)
                alarm.add_ok_action(action)  # operators learn when it recovered, too
        return alarms

    def _suppressions(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self.failure_queue,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason=(
                        "This queue is itself the dead end of the ingest event source mapping:"
                        " it holds stream positions of batches given up on, for replay; an"
                        " alarm fires on its first message."
                    ),
                )
            ],
        )
