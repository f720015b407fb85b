"""The review adapters (DESIGN.md section 5): where the finalize workflow sends the uncertain
events of a session, and how the answer comes back.

Always: the console queue (`queue`), the function the workflow's `ReviewInConsole` step
invokes with the task and its token; it keeps both in the sessions table for the HTTP API
(next issue), which answers through `walkout.review.console`.

With `review_backend: groundtruth` also: the streaming labeling job and what it needs. An
input topic (the workflow publishes one data object per review) and an output topic (Ground
Truth publishes each finished object), both encrypted with the data key and TLS-only; a
bucket for the worker template and Ground Truth's output; the pre-annotation,
consolidation and result functions; the job's own role; and a custom resource that creates
the job (CloudFormation has no labeling-job resource) under a versioned name and stops it
when replaced or deleted.

The workflow's state machine ARN is known before the state machine exists (its name is
fixed), so the result functions' roles need no reference to it: token callbacks are not
resource-scoped anyway (see `TOKEN_CALLBACKS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import ArnFormat, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct
from pydantic.alias_generators import to_pascal

from infrastructure.encryption import DataKey
from infrastructure.functions import (
    FUNCTIONS_DIR,
    RETENTION,
    TABLE_KEY_WRITE,
    WalkoutFunction,
)
from walkout.config import DeploymentConfig, ReviewBackend
from walkout.review.labeling_job import LabelingJobSpec
from walkout.review.settings import (
    GT_CONSOLIDATE_SERVICE,
    GT_PRE_SERVICE,
    GT_RESULT_SERVICE,
    LABELING_JOB_SERVICE,
    QUEUE_SERVICE,
    ReviewTasksSettings,
    stage_only,
)
from walkout.review.template import template_sha256

# Step Functions cannot scope token callbacks to a resource: a service-integration task
# token is not tied to an ARN IAM could name, so these actions take "*" only.
TOKEN_CALLBACKS = ("states:SendTaskSuccess", "states:SendTaskFailure")
TOKEN_HEARTBEAT = ("states:SendTaskHeartbeat",)
# What the review functions call on the sessions table (walkout.data.review_tasks).
REVIEW_TASK_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
# Ground Truth's own log group and the SQS queue a streaming job creates in the account.
GT_LOG_GROUP = "/aws/sagemaker/LabelingJobs"
GT_QUEUE_PREFIX = "GroundTruth"
RESULT_FAILURE_RETENTION = Duration.days(14)


class ReviewAdapters(Construct):
    """`queue` always; `input_topic`, `output_topic`, `bucket`, `groundtruth_role`, `pre`,
    `consolidate`, `result`, `labeling_job` with the Ground Truth backend (else None)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        tables: Mapping[str, dynamodb.ITable],
        data_key: DataKey,
        layers: Sequence[lambda_.ILayerVersion],
        evidence_bucket: s3.IBucket,
        access_log_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self.key = data_key.key
        sessions = tables["sessions"]

        # A retried review step re-settles a task answered before with its new token.
        self.queue = self._task_function(
            "Queue",
            QUEUE_SERVICE,
            "Walkout review: queue a console review task with its task token",
            "review_queue",
            layers=layers,
            sessions=sessions,
            callback_sid="SettleRetriedReviews",
        )

        self.input_topic: sns.Topic | None = None
        self.output_topic: sns.Topic | None = None
        self.bucket: s3.Bucket | None = None
        self.groundtruth_role: iam.Role | None = None
        self.pre: WalkoutFunction | None = None
        self.consolidate: WalkoutFunction | None = None
        self.result: WalkoutFunction | None = None
        self.labeling_job: CustomResource | None = None
        if config.review_backend is ReviewBackend.GROUNDTRUTH:
            data_key.allow_use_via("sns")
            self._groundtruth(tables, layers, evidence_bucket, access_log_bucket)

    @property
    def input_topic_arn(self) -> str:
        """The topic the workflow's `ReviewByGroundTruth` step publishes to. Without Ground
        Truth the step is never routed to; it gets an ARN of a topic that does not exist
        (and its role no right to publish), so a misrouted review fails visibly."""
        if self.input_topic is not None:
            return self.input_topic.topic_arn
        return Stack.of(self).format_arn(
            service="sns", resource=f"{self.config.prefix}-review-input-not-deployed"
        )

    def _task_function(
        self,
        construct_id: str,
        service: str,
        description: str,
        folder: str,
        *,
        layers: Sequence[lambda_.ILayerVersion],
        sessions: dynamodb.ITable,
        callback_sid: str,
    ) -> WalkoutFunction:
        """A function that keeps review tasks in the sessions table and sends task tokens
        back to the workflow (the console queue and the Ground Truth result)."""
        function = WalkoutFunction(
            self,
            construct_id,
            config=self.config,
            name=service,
            description=description,
            code_dir=FUNCTIONS_DIR / folder,
            handler="handler.lambda_handler",
            layers=layers,
            environment=ReviewTasksSettings.environment(
                self.config, service, sessions_table=sessions.table_name
            ),
        )
        function.allow_table("ReviewTasks", sessions, REVIEW_TASK_ACTIONS)
        function.allow_key_via("UseTableKeyThroughDynamoDb", self.key, "dynamodb", TABLE_KEY_WRITE)
        function.allow(callback_sid, TOKEN_CALLBACKS, ["*"])
        function.suppress_wildcards(
            f"{_CALLBACK_REASON}; {_TABLE_WRITE_REASON}",
            ["Resource::*", "Action::kms:GenerateDataKey*"],
        )
        return function

    # --- Ground Truth -------------------------------------------------------------------------

    def _groundtruth(
        self,
        tables: Mapping[str, dynamodb.ITable],
        layers: Sequence[lambda_.ILayerVersion],
        evidence_bucket: s3.IBucket,
        access_log_bucket: s3.IBucket,
    ) -> None:
        config = self.config
        prefix = config.prefix
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self.input_topic = sns.Topic(
            self,
            "InputTopic",
            topic_name=f"{prefix}-review-input",
            display_name="Walkout review tasks for Ground Truth",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.output_topic = sns.Topic(
            self,
            "OutputTopic",
            topic_name=f"{prefix}-review-output",
            display_name="Walkout review answers from Ground Truth",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="review/",
            lifecycle_rules=[
                # Worker answers refer to evidence that expires; they go with it.
                s3.LifecycleRule(
                    id="expire-output",
                    prefix="output/",
                    expiration=Duration.days(config.evidence_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal,
        )

        self.pre = WalkoutFunction(
            self,
            "Pre",
            config=config,
            name=GT_PRE_SERVICE,
            description="Walkout review: Ground Truth pre-annotation (task input, heartbeat)",
            code_dir=FUNCTIONS_DIR / "gt_pre",
            handler="handler.lambda_handler",
            layers=layers,
            environment=stage_only(config, GT_PRE_SERVICE),
        )
        self.pre.allow("TellTheWorkflowTheTaskArrived", TOKEN_HEARTBEAT, ["*"])
        self.pre.suppress_wildcards(_CALLBACK_REASON, ["Resource::*"])

        self.consolidate = WalkoutFunction(
            self,
            "Consolidate",
            config=config,
            name=GT_CONSOLIDATE_SERVICE,
            description="Walkout review: Ground Truth answer consolidation (majority)",
            code_dir=FUNCTIONS_DIR / "gt_consolidate",
            handler="handler.lambda_handler",
            layers=layers,
            environment=stage_only(config, GT_CONSOLIDATE_SERVICE),
            timeout=Duration.seconds(60),
        )
        self.consolidate.allow(
            "ReadWorkerAnswers", ["s3:GetObject"], [self.bucket.arn_for_objects("output/*")]
        )
        self.consolidate.allow_key_via(
            "DecryptThroughS3", self.key, "s3", ("kms:Decrypt", "kms:DescribeKey")
        )
        self.consolidate.suppress_wildcards(
            "Ground Truth writes each job's worker answers under output/ with names of its own",
            [{"regex": "/^Resource::.*/output/\\*$/g"}],
        )

        self.result_failures = sqs.Queue(
            self,
            "ResultFailures",
            queue_name=f"{prefix}-review-result-failures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RESULT_FAILURE_RETENTION,
            removal_policy=removal,
        )
        self.result = self._task_function(
            "Result",
            GT_RESULT_SERVICE,
            "Walkout review: Ground Truth answers back to the workflow",
            "gt_result",
            layers=layers,
            sessions=tables["sessions"],
            callback_sid="AnswerTheWorkflow",
        )
        self.result.allow(
            "KeepUndeliveredAnswers", ["sqs:SendMessage"], [self.result_failures.queue_arn]
        )
        result_function = self.result.function
        assert isinstance(result_function, lambda_.Function)
        result_function.configure_async_invoke(retry_attempts=2)
        cfn_function = result_function.node.default_child
        assert cfn_function is not None
        cfn_function.add_property_override(  # type: ignore[attr-defined]
            "DeadLetterConfig.TargetArn", self.result_failures.queue_arn
        )
        self.output_topic.add_subscription(subscriptions.LambdaSubscription(result_function))

        self.groundtruth_role = self._job_role(evidence_bucket)
        self.labeling_job = self._labeling_job(layers)
        self._suppressions()

    def _job_role(self, evidence_bucket: s3.IBucket) -> iam.Role:
        """The role Ground Truth runs the job as: exactly the job's own resources."""
        assert self.bucket and self.input_topic and self.output_topic
        assert self.pre and self.consolidate
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "GroundTruthRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Walkout {self.config.stage}: the review labeling job",
        )

        def allow(sid: str, actions: Sequence[str], resources: Sequence[str], **kw: Any) -> None:
            role.add_to_policy(
                iam.PolicyStatement(sid=sid, actions=list(actions), resources=list(resources), **kw)
            )

        allow(
            "ReadTheJobBucket", ["s3:ListBucket", "s3:GetBucketLocation"], [self.bucket.bucket_arn]
        )
        allow(
            "UseTheJobBucket",
            ["s3:GetObject", "s3:PutObject"],
            [self.bucket.arn_for_objects("*")],
        )
        # grant_read_access presigns evidence URLs with this role.
        allow("ShowEvidence", ["s3:GetObject"], [evidence_bucket.arn_for_objects("stores/*")])
        allow("TakeTasksIn", ["sns:Subscribe"], [self.input_topic.topic_arn])
        allow("PublishAnswers", ["sns:Publish"], [self.output_topic.topic_arn])
        allow(
            "CallTheJobFunctions",
            ["lambda:InvokeFunction"],
            [self.pre.function.function_arn, self.consolidate.function.function_arn],
        )
        allow(
            "StreamingJobQueue",
            [
                "sqs:CreateQueue",
                "sqs:DeleteQueue",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:SendMessage",
                "sqs:SetQueueAttributes",
            ],
            [stack.format_arn(service="sqs", resource=f"{GT_QUEUE_PREFIX}*")],
        )
        log_group = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{GT_LOG_GROUP}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        allow(
            "WriteJobLogs",
            [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            [log_group],
        )
        allow(
            "JobMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "AWS/SageMaker/LabelingJobs"}},
        )
        for service in ("s3", "sns"):
            allow(
                f"UseDataKeyThrough{service.capitalize()}",
                ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                [self.key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"{service}.{stack.region}.{stack.url_suffix}"
                    }
                },
            )
        NagSuppressions.add_resource_suppressions(
            role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Scoped to the job's own resources: objects of its bucket and the"
                        " evidence under stores/ (presigned for workers), the SQS queue a"
                        " streaming job creates for itself (named GroundTruth*), Ground Truth's"
                        " log group, metrics in the labeling-job namespace only, and data-key"
                        " use through S3 and SNS only."
                    ),
                    applies_to=[
                        {"regex": "/^Resource::.*\\/\\*$/g"},
                        {"regex": "/^Resource::.*/stores/\\*$/g"},
                        {"regex": "/^Resource::.*:GroundTruth\\*$/g"},
                        {"regex": "/^Resource::.*LabelingJobs:\\*$/g"},
                        "Resource::*",
                        "Action::kms:GenerateDataKey*",
                    ],
                )
            ],
            apply_to_children=True,
        )
        return role

    def _labeling_job(self, layers: Sequence[lambda_.ILayerVersion]) -> CustomResource:
        assert self.bucket and self.input_topic and self.output_topic and self.groundtruth_role
        assert self.pre and self.consolidate
        config = self.config
        gt = config.groundtruth
        assert gt.workteam_arn is not None  # the config requires it for this backend
        stack = Stack.of(self)
        handler = WalkoutFunction(
            self,
            "LabelingJobHandler",
            config=config,
            name=LABELING_JOB_SERVICE,
            description="Walkout review: creates and stops the streaming labeling job",
            code_dir=FUNCTIONS_DIR / "labeling_job",
            handler="handler.lambda_handler",
            layers=layers,
            environment=stage_only(config, LABELING_JOB_SERVICE),
            timeout=Duration.minutes(2),
        )
        jobs = stack.format_arn(
            service="sagemaker", resource="labeling-job", resource_name=f"{config.prefix}-review-*"
        )
        handler.allow(
            "ManageTheReviewJob",
            [
                "sagemaker:CreateLabelingJob",
                "sagemaker:DescribeLabelingJob",
                "sagemaker:StopLabelingJob",
                "sagemaker:AddTags",
            ],
            [jobs],
        )
        handler.allow(
            "PassTheJobRole",
            ["iam:PassRole"],
            [self.groundtruth_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        handler.allow(
            "UploadTheTemplate", ["s3:PutObject"], [self.bucket.arn_for_objects("templates/*")]
        )
        handler.allow_key_via(
            "EncryptThroughS3",
            self.key,
            "s3",
            ("kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"),
        )
        handler.suppress_wildcards(
            "labeling jobs are named <stage prefix>-review-v<version>-<hash> (names are unique"
            " forever, so each version is a new job) and templates are content-addressed under"
            " templates/",
            [
                {"regex": "/^Resource::.*labeling-job/.*-review-\\*$/g"},
                {"regex": "/^Resource::.*/templates/\\*$/g"},
                "Action::kms:GenerateDataKey*",
            ],
        )

        provider_logs = logs.LogGroup(
            self,
            "LabelingJobProviderLogs",
            retention=RETENTION[config.log_retention_days],
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        provider_role = iam.Role(
            self,
            "LabelingJobProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Walkout {config.stage}: CloudFormation's custom resource framework",
        )
        provider_role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[provider_logs.log_group_arn, f"{provider_logs.log_group_arn}:*"],
            )
        )
        provider = cr.Provider(
            self,
            "LabelingJobProvider",
            on_event_handler=handler.function,
            log_group=provider_logs,
            framework_on_event_role=provider_role,
        )
        NagSuppressions.add_resource_suppressions(
            provider,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "CDK's custom resource framework invokes its one handler function by"
                        " ARN and version (function:*), and writes log streams of its own"
                        " log group only."
                    ),
                    applies_to=[
                        {"regex": "/^Resource::.*:\\*$/g"},
                        {"regex": "/^Resource::<.*Arn>:\\*$/g"},
                    ],
                ),
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason=(
                        "The framework function's runtime is chosen by aws-cdk-lib and moves"
                        " with its upgrades; it runs only during deployments."
                    ),
                ),
            ],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            provider_role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "CDK's custom resource framework invokes its one handler function by"
                        " ARN and version (function:*), and writes log streams of its own"
                        " log group only."
                    ),
                    applies_to=[{"regex": "/^Resource::.*:\\*$/g"}],
                )
            ],
            apply_to_children=True,
        )

        values: dict[str, Any] = {
            "name_prefix": config.prefix,
            "job_version": gt.job_version,
            "workteam_arn": gt.workteam_arn,
            "role_arn": self.groundtruth_role.role_arn,
            "input_topic_arn": self.input_topic.topic_arn,
            "output_topic_arn": self.output_topic.topic_arn,
            "bucket": self.bucket.bucket_name,
            "kms_key_arn": self.key.key_arn,
            "pre_lambda_arn": self.pre.function.function_arn,
            "consolidation_lambda_arn": self.consolidate.function.function_arn,
            "template_sha256": template_sha256(),
            "workers_per_task": gt.workers_per_task,
            "task_time_limit_s": gt.task_time_limit_s,
            "task_availability_s": gt.task_availability_s,
            "max_concurrent_tasks": gt.max_concurrent_tasks,
        }
        assert set(values) == set(LabelingJobSpec.model_fields), "labeling job properties drifted"
        job = CustomResource(
            self,
            "LabelingJob",
            service_token=provider.service_token,
            resource_type="Custom::WalkoutLabelingJob",
            properties={to_pascal(k): v for k, v in values.items()},
        )
        # The job uses its role's permissions and its output subscriber at once; the role,
        # topics and functions themselves are referenced by the properties already.
        policy = self.groundtruth_role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            job.node.add_dependency(policy)
        if self.result is not None:
            job.node.add_dependency(self.result)
        return job

    def _suppressions(self) -> None:
        assert self.result_failures is not None
        NagSuppressions.add_resource_suppressions(
            self.result_failures,
            [
                NagPackSuppression(
                    id="AwsSolutions-SQS3",
                    reason=(
                        "This queue is itself the dead-letter queue of the Ground Truth result"
                        " function: an answer it could not hand to the workflow waits here for"
                        " an operator (the workflow falls back when its review times out)."
                    ),
                )
            ],
        )


_TABLE_WRITE_REASON = "DynamoDB encrypts each write with a data key of its own (GenerateDataKey*)"
_CALLBACK_REASON = (
    "task-token callbacks (SendTaskSuccess/Failure/Heartbeat) accept no resource: a token"
    " issued by a service-integration state is not tied to an ARN IAM can name"
)
