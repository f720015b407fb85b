"""Every resource of the stack, created through boto3 in a local AWS emulation (moto).

Names and settings come from the same `DeploymentConfig` the CDK stack reads (cdk.json
context `walkout`); tables from `walkout.tables.TABLES` (`localcloud.tables`); the
finalize state machine from the same ASL file with the same substitutions CDK fills
(`infrastructure/finalize.py`); each function's environment from the same
`<Settings>.environment(...)` calls the constructs make.

Differences from the stack, all local-only:
- both review topics exist whatever the backend (the stack creates them for Ground Truth
  only), so one local deployment serves both adapters;
- the event bus has rules the stack leaves to the retailer: `ReceiptIssued` and
  `CartUpdated` go to local queues, which the runtime writes to a log;
- Ground Truth's own SQS queue on the input topic (`GroundTruth-...`, which a streaming
  labeling job creates in the account) is created here for the simulated reviewer;
- no IAM enforcement, KMS, logs or alarms (moto does not enforce IAM).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.dispatch import FUNCTIONS
from localcloud.tables import create_tables
from walkout.config import DeploymentConfig
from walkout.finalize.settings import AssessSettings, AttentionSettings, IssueSettings
from walkout.review.settings import (
    GT_CONSOLIDATE_SERVICE,
    GT_PRE_SERVICE,
    GT_RESULT_SERVICE,
    QUEUE_SERVICE,
    ReviewTasksSettings,
    stage_only,
)
from walkout.settings import INGEST_SERVICE, IngestSettings

ROOT = Path(__file__).resolve().parents[1]
ASL_PATH = ROOT / "infrastructure" / "statemachines" / "finalize.asl.json"
RECEIPT_RULE = "local-receipt-issued"
CART_RULE = "local-cart-updated"

Client = Callable[[str], Any]


@dataclass(frozen=True)
class Deployment:
    """What was created: names, ARNs, queue URLs, and the functions' environment."""

    config: DeploymentConfig
    region: str
    account: str
    function_arns: Mapping[str, str]
    state_machine_arn: str
    stream_name: str
    evidence_bucket: str
    review_bucket: str
    bus_name: str
    receipts_queue: str
    carts_queue: str
    ingest_failure_queue: str
    review_result_failure_queue: str
    review_input_topic: str
    review_output_topic: str
    gt_input_queue: str
    environment: Mapping[str, str]

    def function_name(self, suffix: str) -> str:
        return f"{self.config.prefix}-{suffix}"

    def topic_of(self, function_name: str) -> str:
        """The topic a function is subscribed to (only the Ground Truth result function)."""
        return self.review_output_topic


def environment(
    config: DeploymentConfig,
    *,
    state_machine_arn: str,
    evidence_bucket: str,
) -> dict[str, str]:
    """The union of every function's environment, as the constructs set each one."""
    tables = {k: config.table_name(k) for k in ("sessions", "stores", "receipts", "ingest")}
    parts = [
        IngestSettings.environment(
            config,
            stores_table=tables["stores"],
            sessions_table=tables["sessions"],
            ingest_table=tables["ingest"],
            finalize_state_machine_arn=state_machine_arn,
            event_bus_name=config.event_bus_name,
        ),
        AssessSettings.environment(
            config,
            sessions_table=tables["sessions"],
            stores_table=tables["stores"],
            evidence_bucket=evidence_bucket,
        ),
        IssueSettings.environment(
            config,
            sessions_table=tables["sessions"],
            stores_table=tables["stores"],
            receipts_table=tables["receipts"],
        ),
        AttentionSettings.environment(
            config, receipts_table=tables["receipts"], sessions_table=tables["sessions"]
        ),
        stage_only(config, GT_PRE_SERVICE),
        stage_only(config, GT_CONSOLIDATE_SERVICE),
        ReviewTasksSettings.environment(
            config, GT_RESULT_SERVICE, sessions_table=tables["sessions"]
        ),
        ReviewTasksSettings.environment(config, QUEUE_SERVICE, sessions_table=tables["sessions"]),
    ]
    merged: dict[str, str] = {}
    for part in parts:
        for key, value in part.items():
            if key in merged and merged[key] != value and key != "POWERTOOLS_SERVICE_NAME":
                raise ValueError(f"functions disagree on {key}: {merged[key]!r} vs {value!r}")
            merged[key] = value
    # In one process Powertools' service name can be only one: the first (ingest).
    merged["POWERTOOLS_SERVICE_NAME"] = INGEST_SERVICE
    return merged


def finalize_definition(substitutions: Mapping[str, str]) -> str:
    """The ASL file with CDK's `DefinitionSubstitutions` filled in."""
    text = ASL_PATH.read_text(encoding="utf-8")
    # The same check `infrastructure/finalize.py` makes before handing them to CloudFormation.
    missing = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text)) ^ set(substitutions)
    if missing:
        raise ValueError(f"{ASL_PATH.name}: substitutions differ: {sorted(missing)}")
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    if "${" in text.split('"States"', 1)[1]:
        raise ValueError(f"{ASL_PATH.name}: an unsubstituted placeholder is left")
    return text


def _code_zip() -> bytes:
    """A placeholder deployment package: the dispatcher runs `functions/*` instead."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _queue(client: Client, name: str) -> tuple[str, str]:
    sqs = client("sqs")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def _bus_rule(client: Client, bus: str, name: str, pattern: dict[str, Any], target: str) -> None:
    events = client("events")
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "local", "Arn": target}])


def deploy(client: Client, config: DeploymentConfig, region: str, account: str) -> Deployment:
    """Create every resource (into an empty emulated account) and return what was made."""
    prefix = config.prefix
    create_tables(client("dynamodb"), config)

    kinesis = client("kinesis")
    if config.stream.capacity_mode == "on_demand":
        kinesis.create_stream(
            StreamName=config.stream_name, StreamModeDetails={"StreamMode": "ON_DEMAND"}
        )
    else:
        kinesis.create_stream(
            StreamName=config.stream_name,
            ShardCount=config.stream.shard_count,
            StreamModeDetails={"StreamMode": "PROVISIONED"},
        )

    s3 = client("s3")
    evidence_bucket = config.evidence_bucket_name(account, region)
    review_bucket = f"{prefix}-review-{account}-{region}"
    for bucket in (evidence_bucket, review_bucket):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})

    role = client("iam").create_role(RoleName=f"{prefix}-local", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    lam = client("lambda")
    arns: dict[str, str] = {}
    code = _code_zip()
    for suffix in FUNCTIONS:
        memory = config.ingest.memory_mb if suffix == "ingest" else FUNCTIONS[suffix].memory_mb
        arns[suffix] = lam.create_function(
            FunctionName=f"{prefix}-{suffix}",
            Runtime="python3.12",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": code},
            MemorySize=memory,
        )["FunctionArn"]

    bus = config.event_bus_name
    client("events").create_event_bus(Name=bus)
    receipts_url, receipts_arn = _queue(client, f"{prefix}-local-receipts")
    carts_url, carts_arn = _queue(client, f"{prefix}-local-carts")
    _bus_rule(
        client,
        bus,
        RECEIPT_RULE,
        {"source": ["walkout.finalize"], "detail-type": ["ReceiptIssued"]},
        receipts_arn,
    )
    _bus_rule(
        client,
        bus,
        CART_RULE,
        {"source": ["walkout.ingest"], "detail-type": ["CartUpdated"]},
        carts_arn,
    )
    failures_url, _ = _queue(client, f"{prefix}-ingest-failures")
    result_failures_url, _ = _queue(client, f"{prefix}-review-result-failures")

    sns = client("sns")
    input_topic: str = sns.create_topic(Name=f"{prefix}-review-input")["TopicArn"]
    output_topic: str = sns.create_topic(Name=f"{prefix}-review-output")["TopicArn"]
    gt_url, gt_arn = _queue(client, f"GroundTruth-{prefix}-review")
    sns.subscribe(
        TopicArn=input_topic,
        Protocol="sqs",
        Endpoint=gt_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    sns.subscribe(TopicArn=output_topic, Protocol="lambda", Endpoint=arns["review-gt-result"])

    definition = finalize_definition(
        {
            "AssessFunctionArn": arns["finalize-assess"],
            "ReviewQueueFunctionArn": arns["review-queue"],
            "ReviewInputTopicArn": input_topic,
            "IssueReceiptFunctionArn": arns["finalize-issue"],
            "MarkAttentionFunctionArn": arns["finalize-attention"],
            "EventBusName": bus,
        }
    )
    machine: str = client("stepfunctions").create_state_machine(
        name=f"{prefix}-finalize", definition=definition, roleArn=role, type="STANDARD"
    )["stateMachineArn"]

    return Deployment(
        config=config,
        region=region,
        account=account,
        function_arns=arns,
        state_machine_arn=machine,
        stream_name=config.stream_name,
        evidence_bucket=evidence_bucket,
        review_bucket=review_bucket,
        bus_name=bus,
        receipts_queue=receipts_url,
        carts_queue=carts_url,
        ingest_failure_queue=failures_url,
        review_result_failure_queue=result_failures_url,
        review_input_topic=input_topic,
        review_output_topic=output_topic,
        gt_input_queue=gt_url,
        environment=environment(config, state_machine_arn=machine, evidence_bucket=evidence_bucket),
    )
