"""The finalize workflow (DESIGN.md sections 5 and 6): the Standard state machine from
`statemachines/finalize.asl.json`, its three step functions, and the event bus.

The definition file is used as it is: CloudFormation fills its `${...}` substitutions
(`SUBSTITUTIONS`) with the ARNs made here, exactly as the local runtime fills them with
its own. Each function has its own role with what its code calls; the state machine's role
may invoke those functions and the review queue, publish to the Ground Truth input topic
(when deployed), put events on the bus, and write its logs and traces.

The bus carries `ReceiptIssued` (from here) and `CartUpdated` (from ingest): the stack
passes one in, or this construct creates `<prefix>-bus` and exposes it as `event_bus`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infrastructure.functions import (
    FUNCTIONS_DIR,
    RETENTION,
    TABLE_KEY_WRITE,
    WalkoutFunction,
)
from infrastructure.review import ReviewAdapters
from walkout.config import DeploymentConfig
from walkout.data.sessions import STATUS_INDEX
from walkout.finalize.settings import (
    ASSESS_SERVICE,
    ATTENTION_SERVICE,
    ISSUE_SERVICE,
    AssessSettings,
    AttentionSettings,
    IssueSettings,
)
from walkout.tables import TTL_ATTRIBUTE

ASL_PATH = Path(__file__).resolve().parent / "statemachines" / "finalize.asl.json"
SUBSTITUTIONS = (
    "AssessFunctionArn",
    "ReviewQueueFunctionArn",
    "ReviewInputTopicArn",
    "IssueReceiptFunctionArn",
    "MarkAttentionFunctionArn",
    "EventBusName",
)
# What each step's code calls (walkout.data.*), per table.
# Attribution records are read in batches (`SessionsTable.get_attributions`).
ASSESS_SESSIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem")
ISSUE_SESSIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem")
# Finalize writes into the sessions table only under the events' partitions: Assess marks
# the events its review asks about (`ASKED`, in one transaction: each Put is authorised as
# PutItem); IssueReceipt keeps the review's answers for the other sessions the events touch
# (`SETTLED`) and drops its marks.
ASSESS_ASKED = ("dynamodb:PutItem",)
ISSUE_SETTLED = ("dynamodb:PutItem", "dynamodb:DeleteItem")
EVENT_KEYS = ("EVENT#*",)
UNDER_EVENTS = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(EVENT_KEYS)}}
ASKED_ATTRIBUTES = ("pk", "sk", "task_id", "until", TTL_ATTRIBUTE)
# IssueReceipt and MarkForAttention note a session done asking (`DONE#<store>#<session>`, a
# partition of its own, so they cannot touch the session's items): only that item's
# attributes.
DONE_KEYS = ("DONE#*",)
DONE_ATTRIBUTES = ("pk", "sk", "done_at", TTL_ATTRIBUTE)
MARK_DONE_CONDITIONS = {
    "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(DONE_KEYS)},
    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(DONE_ATTRIBUTES)},
}
# (BatchGetItem: whether those a held receipt waits for have receipts, keys only)
ISSUE_RECEIPTS = ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchGetItem")
ATTENTION_RECEIPTS = ("dynamodb:PutItem",)
STORES = ("dynamodb:GetItem",)


def placeholders(definition: str) -> set[str]:
    """The `${Name}` substitutions a definition expects."""
    return set(re.findall(r"\$\{([A-Za-z0-9]+)\}", definition))


def state_machine_name(config: DeploymentConfig) -> str:
    return f"{config.prefix}-finalize"


def state_machine_arn(scope: Construct, config: DeploymentConfig) -> str:
    """The state machine's ARN from its fixed name (usable before it exists)."""
    return Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=state_machine_name(config),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class Finalization(Construct):
    """`state_machine`, `event_bus`, the step functions `assess`, `issue`, `attention`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        tables: Mapping[str, dynamodb.ITable],
        key: kms.IKey,
        layers: Sequence[lambda_.ILayerVersion],
        evidence_bucket: s3.IBucket,
        review: ReviewAdapters,
        event_bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = key
        self.event_bus = event_bus or events.EventBus(
            self,
            "Bus",
            event_bus_name=config.event_bus_name,
            description="Walkout: CartUpdated (ingest) and ReceiptIssued (finalize)",
        )
        sessions, stores, receipts = tables["sessions"], tables["stores"], tables["receipts"]
        code = FUNCTIONS_DIR / "finalize"

        self.assess = WalkoutFunction(
            self,
            "Assess",
            config=config,
            name=ASSESS_SERVICE,
            description="Walkout finalize: score a session, build its review task if unsure",
            code_dir=code,
            handler="handler.assess",
            layers=layers,
            environment=AssessSettings.environment(
                config,
                sessions_table=sessions.table_name,
                stores_table=stores.table_name,
                evidence_bucket=evidence_bucket.bucket_name,
            ),
        )
        self.assess.allow_table("SessionsTable", sessions, ASSESS_SESSIONS)
        # The answers that name a session are listed on this index (NAMED#<store>#<session>).
        self.assess.allow(
            "ReadAnswersNamingSession",
            ["dynamodb:Query"],
            [f"{sessions.table_arn}/index/{STATUS_INDEX}"],
        )
        self.assess.allow(
            "MarkAskedEvents",
            ASSESS_ASKED,
            [sessions.table_arn],
            conditions={
                **UNDER_EVENTS,
                # Only a mark's attributes: Assess cannot write an attribution or an answer.
                "ForAllValues:StringEquals": {"dynamodb:Attributes": list(ASKED_ATTRIBUTES)},
            },
        )
        self.assess.allow_table("StoresTable", stores, STORES)
        self.assess.allow_key_via("UseTableKeyThroughDynamoDb", key, "dynamodb", TABLE_KEY_WRITE)
        self.assess.allow(
            "ListEvidence",
            ["s3:ListBucket"],
            [evidence_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": ["stores/*"]}},
        )
        self.assess.suppress_wildcards(
            "DynamoDB encrypts each write with a data key of its own (GenerateDataKey*)",
            ["Action::kms:GenerateDataKey*"],
        )

        self.issue = WalkoutFunction(
            self,
            "Issue",
            config=config,
            name=ISSUE_SERVICE,
            description="Walkout finalize: settle the review, price and store the receipt",
            code_dir=code,
            handler="handler.issue_receipt",
            layers=layers,
            environment=IssueSettings.environment(
                config,
                sessions_table=sessions.table_name,
                stores_table=stores.table_name,
                receipts_table=receipts.table_name,
            ),
        )
        self.issue.allow_table("SessionsTable", sessions, ISSUE_SESSIONS)
        # The answers naming a session (NAMED#<store>#<session>), and the store's sessions a
        # held receipt waits for, are read from this index.
        self.issue.allow(
            "ReadStoreSessionsAndNamedAnswers",
            ["dynamodb:Query"],
            [f"{sessions.table_arn}/index/{STATUS_INDEX}"],
        )
        self.issue.allow(
            "KeepReviewAnswers",
            ISSUE_SETTLED,
            [sessions.table_arn],
            conditions=UNDER_EVENTS,
        )
        self.issue.allow(
            "MarkQuestionsDone",
            ["dynamodb:PutItem"],
            [sessions.table_arn],
            conditions=MARK_DONE_CONDITIONS,
        )
        self.issue.allow_table("StoresTable", stores, STORES)
        self.issue.allow_table("ReceiptsTable", receipts, ISSUE_RECEIPTS)
        self.issue.allow_key_via("UseTableKeyThroughDynamoDb", key, "dynamodb", TABLE_KEY_WRITE)
        self.issue.suppress_wildcards(
            "DynamoDB encrypts each write with a data key of its own (GenerateDataKey*)",
            ["Action::kms:GenerateDataKey*"],
        )

        self.attention = WalkoutFunction(
            self,
            "Attention",
            config=config,
            name=ATTENTION_SERVICE,
            description="Walkout finalize: flag a session whose finalization failed",
            code_dir=code,
            handler="handler.mark_attention",
            layers=layers,
            environment=AttentionSettings.environment(
                config, receipts_table=receipts.table_name, sessions_table=sessions.table_name
            ),
        )
        self.attention.allow_table("ReceiptsTable", receipts, ATTENTION_RECEIPTS)
        # A failed session's review no longer asks: its marks on the events go.
        self.attention.allow(
            "DropAskedMarks",
            ["dynamodb:DeleteItem"],
            [sessions.table_arn],
            conditions=UNDER_EVENTS,
        )
        # ... and sessions holding their receipts for it go on.
        self.attention.allow(
            "MarkQuestionsDone",
            ["dynamodb:PutItem"],
            [sessions.table_arn],
            conditions=MARK_DONE_CONDITIONS,
        )
        self.attention.allow_key_via("UseTableKeyThroughDynamoDb", key, "dynamodb", TABLE_KEY_WRITE)
        self.attention.suppress_wildcards(
            "DynamoDB encrypts each write with a data key of its own (GenerateDataKey*)",
            ["Action::kms:GenerateDataKey*"],
        )

        self.state_machine = self._state_machine(review)

    def _state_machine(self, review: ReviewAdapters) -> sfn.StateMachine:
        config = self.config
        definition = ASL_PATH.read_text(encoding="utf-8")
        substitutions = {
            "AssessFunctionArn": self.assess.function.function_arn,
            "ReviewQueueFunctionArn": review.queue.function.function_arn,
            "ReviewInputTopicArn": review.input_topic_arn,
            "IssueReceiptFunctionArn": self.issue.function.function_arn,
            "MarkAttentionFunctionArn": self.attention.function.function_arn,
            "EventBusName": self.event_bus.event_bus_name,
        }
        missing = placeholders(definition) ^ set(substitutions)
        if missing:
            raise ValueError(f"{ASL_PATH.name}: substitutions differ: {sorted(missing)}")
        log_group = logs.LogGroup(
            self,
            "Logs",
            # Step Functions delivers logs through CloudWatch's vended-log path.
            log_group_name=f"/aws/vendedlogs/states/{state_machine_name(config)}",
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name(config),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            # Every state's events, without their data: states carry receipts and tokens.
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
            tracing_enabled=True,
            comment="Walkout finalize: one execution per session",
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeTheSteps",
                actions=["lambda:InvokeFunction"],
                resources=[
                    self.assess.function.function_arn,
                    self.issue.function.function_arn,
                    self.attention.function.function_arn,
                    review.queue.function.function_arn,
                ],
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="PublishReceiptIssued",
                actions=["events:PutEvents"],
                resources=[self.event_bus.event_bus_arn],
            )
        )
        if review.input_topic is not None:
            stack = Stack.of(self)
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    sid="SendReviewsToGroundTruth",
                    actions=["sns:Publish"],
                    resources=[review.input_topic.topic_arn],
                )
            )
            machine.add_to_role_policy(
                iam.PolicyStatement(
                    sid="EncryptReviewsThroughSns",
                    actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                    resources=[self.key.key_arn],
                    conditions={
                        "StringEquals": {"kms:ViaService": f"sns.{stack.region}.{stack.url_suffix}"}
                    },
                )
            )
        NagSuppressions.add_resource_suppressions(
            machine,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Step Functions' log delivery (CreateLogDelivery and friends) and X-Ray"
                        " accept no resource-level permissions; publishing to the encrypted"
                        " review topic needs a data key per message (GenerateDataKey*, through"
                        " SNS only)."
                    ),
                    applies_to=["Resource::*", "Action::kms:GenerateDataKey*"],
                )
            ],
            apply_to_children=True,
        )
        return machine
