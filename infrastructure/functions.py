"""One Walkout Lambda function: Python 3.12 on arm64, the shared layers, its own log group and
its own role, which may write its logs and traces and nothing else until the construct that
owns the function grants exactly what its code calls.

Used by every construct that owns a function (ingest, finalize, review, api).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infrastructure.layers import ARCHITECTURE, RUNTIME
from walkout.config import DeploymentConfig

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
CODE_EXCLUDES = ["__pycache__", "*.pyc"]

# DynamoDB uses a table's key on the caller's behalf: reads decrypt, writes encrypt.
TABLE_KEY_READ = ("kms:Decrypt", "kms:DescribeKey")
TABLE_KEY_WRITE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey")

RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}

RUNTIME_PINNED = (
    "Pinned to Python 3.12 on purpose: the third-party layer (pydantic-core) is built with pip"
    " for cp312 on arm64 and the functions are tested on that runtime; moving runtimes is a"
    " deliberate change of the layer and the tests together."
)


class WalkoutFunction(Construct):
    """`function`, `role`, `log_group`; grant helpers add exactly what the code calls."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        name: str,
        description: str,
        code_dir: Path,
        handler: str,
        layers: Sequence[lambda_.ILayerVersion],
        environment: Mapping[str, str],
        memory_mb: int = 512,
        timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        function_name = f"{config.prefix}-{name}"
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Walkout {config.stage}: the {name} function",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn, f"{self.log_group.log_group_arn}:*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="SendTraces",
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources=["*"],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambda_.Code.from_asset(str(code_dir), exclude=CODE_EXCLUDES),
            layers=list(layers),
            role=self.role,
            memory_size=memory_mb,
            timeout=timeout or Duration.seconds(30),
            environment=dict(environment),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        NagSuppressions.add_resource_suppressions(
            self.function, [NagPackSuppression(id="AwsSolutions-L1", reason=RUNTIME_PINNED)]
        )

    def allow(
        self,
        sid: str,
        actions: Sequence[str],
        resources: Sequence[str],
        conditions: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid=sid,
                actions=list(actions),
                resources=list(resources),
                conditions=dict(conditions) if conditions else None,
            )
        )

    def allow_table(
        self,
        sid: str,
        table: dynamodb.ITable,
        actions: Sequence[str],
        *,
        with_indexes: bool = False,
    ) -> None:
        resources = [table.table_arn]
        if with_indexes:
            resources.append(f"{table.table_arn}/index/*")
        self.allow(sid, actions, resources)

    def allow_key_via(self, sid: str, key: kms.IKey, service: str, actions: Sequence[str]) -> None:
        """Use of the data key through one AWS service only (as the key policy allows it)."""
        stack = Stack.of(self)
        self.allow(
            sid,
            actions,
            [key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"{service}.{stack.region}.{stack.url_suffix}"}
            },
        )

    def suppress_wildcards(
        self, reason: str = "", applies_to: Sequence[str | dict[str, str]] = ()
    ) -> None:
        """The role's wildcards, each with its reason: X-Ray and the own log group's streams
        always, plus what the owning construct adds."""
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "X-Ray's PutTraceSegments has no resource-level permissions, and log"
                        " streams are created under the function's own log group only"
                        + (f"; {reason}" if reason else ".")
                    ),
                    applies_to=[
                        "Resource::*",
                        {"regex": "/^Resource::.*:\\*$/g"},
                        *applies_to,
                    ],
                )
            ],
            apply_to_children=True,
        )
