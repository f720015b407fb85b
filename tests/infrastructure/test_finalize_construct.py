"""The finalize and review constructs in two small stacks (Ground Truth and console backends),
synthesized once, with cdk-nag's AwsSolutions checks."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions

from infrastructure.encryption import DataKey
from infrastructure.finalize import ASL_PATH, SUBSTITUTIONS, Finalization, placeholders
from infrastructure.review import ReviewAdapters
from infrastructure.state import StateTables
from walkout.config import DeploymentConfig
from walkout.finalize.receipt import RECEIPT_ISSUED, RECEIPT_SOURCE
from walkout.finalize.scoring import Route
from walkout.finalize.settings import (
    ENV_EVIDENCE_BUCKET,
    ENV_RECEIPTS_TABLE,
    ENV_REVIEW_BACKEND,
    ENV_REVIEW_HEARTBEAT_S,
    ENV_REVIEW_TIMEOUT_S,
)
from walkout.review.contract import REVIEW_UNRESOLVED
from walkout.review.labeling_job import LabelingJobSpec
from walkout.review.template import template_sha256

ROOT = Path(__file__).resolve().parents[2]
WORKTEAM = "arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/walkout-reviewers"
GT_SETTINGS: dict[str, Any] = {
    "stage": "probe",
    "review_backend": "groundtruth",
    "review_timeout_s": 7200,
    "review_heartbeat_s": 3000,
    "groundtruth": {"workteam_arn": WORKTEAM, "job_version": 3},
}
CONSOLE_SETTINGS: dict[str, Any] = {"stage": "probec"}
NAG_FINDING = Match.string_like_regexp(r"^AwsSolutions-")


@dataclass
class Probe:
    stack: Stack
    config: DeploymentConfig
    finalize: Finalization
    review: ReviewAdapters
    template: Template

    def resources(self, kind: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(self.template.find_resources(kind, {"Properties": props} if props else None))

    def function(self, name: str) -> dict[str, Any]:
        [(_, resource)] = self.resources(
            "AWS::Lambda::Function", {"FunctionName": f"{self.config.prefix}-{name}"}
        ).items()
        props: dict[str, Any] = resource["Properties"]
        return props

    def policy_statements(self, role_logical_prefix: str) -> list[dict[str, Any]]:
        statements = []
        for logical_id, resource in self.resources("AWS::IAM::Policy").items():
            if logical_id.startswith(role_logical_prefix):
                statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
        return statements

    def definition(self) -> dict[str, Any]:
        [(_, machine)] = self.resources("AWS::StepFunctions::StateMachine").items()
        props: dict[str, Any] = machine["Properties"]
        return props


def _probe(app: App, name: str, settings: dict[str, Any]) -> tuple[Stack, DeploymentConfig, Any]:
    stack = Stack(app, name)
    config = DeploymentConfig.from_context(settings)
    data_key = DataKey(stack, "DataKey", config=config)
    state = StateTables(stack, "State", config=config, key=data_key.key)
    access_logs = s3.Bucket(
        stack,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    )
    evidence = s3.Bucket(
        stack,
        "Evidence",
        server_access_logs_bucket=access_logs,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=data_key.key,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        server_access_logs_prefix="evidence/",
    )
    NagSuppressions.add_resource_suppressions(
        access_logs,
        [
            NagPackSuppression(
                id="AwsSolutions-S1",
                reason=(
                    "The probe's own access log bucket; the stack's is EvidenceStore's,"
                    " which tests/infrastructure/test_infra_evidence.py covers."
                ),
            )
        ],
    )
    layers = [
        lambda_.LayerVersion.from_layer_version_arn(
            stack, n, f"arn:aws:lambda:eu-west-1:123456789012:layer:{n}:1"
        )
        for n in ("deps", "common")
    ]
    review = ReviewAdapters(
        stack,
        "Review",
        config=config,
        tables=state.tables,
        data_key=data_key,
        layers=layers,
        evidence_bucket=evidence,
        access_log_bucket=access_logs,
    )
    finalize = Finalization(
        stack,
        "Finalize",
        config=config,
        tables=state.tables,
        key=data_key.key,
        layers=layers,
        evidence_bucket=evidence,
        review=review,
    )
    return stack, config, (finalize, review)


@pytest.fixture(scope="module")
def probes(cdk_context: Callable[..., dict[str, Any]]) -> dict[str, Probe]:
    app = App(context=cdk_context())
    built = {
        "gt": _probe(app, "FinalizeGroundTruthProbe", GT_SETTINGS),
        "console": _probe(app, "FinalizeConsoleProbe", CONSOLE_SETTINGS),
    }
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()
    return {
        key: Probe(stack, config, parts[0], parts[1], Template.from_stack(stack))
        for key, (stack, config, parts) in built.items()
    }


@pytest.fixture(scope="module")
def gt(probes: dict[str, Probe]) -> Probe:
    return probes["gt"]


@pytest.fixture(scope="module")
def console(probes: dict[str, Probe]) -> Probe:
    return probes["console"]


# --- the definition file ----------------------------------------------------------------------


def test_the_asl_file_is_used_as_it_is_with_its_substitutions(gt: Probe) -> None:
    props = gt.definition()
    text = ASL_PATH.read_text()

    assert props["DefinitionString"] == text
    assert set(props["DefinitionSubstitutions"]) == set(SUBSTITUTIONS) == placeholders(text)
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == "walkout-probe-finalize"


def test_the_asl_speaks_the_domains_names() -> None:
    # Given the definition and the constants the Lambda code uses
    states = json.loads(ASL_PATH.read_text())["States"]
    routes = {c["StringEquals"] for c in states["Route"]["Choices"]}
    [entry] = states["PublishReceiptIssued"]["Parameters"]["Entries"]
    fallbacks = [
        set(c["ErrorEquals"])
        for name in ("ReviewInConsole", "ReviewByGroundTruth")
        for c in states[name]["Catch"]
        if c["Next"] == "FallBackToConfidentItems"
    ]

    assert routes == {r.value for r in Route}
    assert (entry["Source"], entry["DetailType"]) == (RECEIPT_SOURCE, RECEIPT_ISSUED)
    assert fallbacks == [{"States.Timeout", "States.HeartbeatTimeout", REVIEW_UNRESOLVED}] * 2


def test_every_task_retries_transient_errors_with_backoff_and_ends_caught() -> None:
    states = json.loads(ASL_PATH.read_text())["States"]
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task"}

    for name, task in tasks.items():
        [retry] = task["Retry"]
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3, name
        assert "States.ALL" not in retry["ErrorEquals"], name
        assert "States.Timeout" not in retry["ErrorEquals"], name
        assert any("States.ALL" in c["ErrorEquals"] for c in task["Catch"]), name
    assert "Lambda.TooManyRequestsException" in tasks["Assess"]["Retry"][0]["ErrorEquals"]
    assert states["FinalizeFailed"]["Type"] == "Fail"


def test_review_waits_with_a_token_and_the_configured_limits() -> None:
    states = json.loads(ASL_PATH.read_text())["States"]

    for name in ("ReviewInConsole", "ReviewByGroundTruth"):
        assert states[name]["Resource"].endswith(".waitForTaskToken"), name
        assert states[name]["TimeoutSecondsPath"] == "$.review.timeout_s"
        assert states[name]["HeartbeatSecondsPath"] == "$.review.heartbeat_s"


def test_the_limits_come_from_the_config_through_the_assess_function(gt: Probe) -> None:
    env = gt.function("finalize-assess")["Environment"]["Variables"]

    assert env[ENV_REVIEW_TIMEOUT_S] == "7200"
    assert env[ENV_REVIEW_HEARTBEAT_S] == "3000"
    assert env[ENV_REVIEW_BACKEND] == "groundtruth"
    assert ENV_EVIDENCE_BUCKET in env


# --- state machine ----------------------------------------------------------------------------


def test_the_state_machine_logs_every_state_without_data_and_traces(gt: Probe) -> None:
    props = gt.definition()

    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_the_state_machine_role_may_invoke_its_steps_publish_and_put_events_only(
    gt: Probe, console: Probe
) -> None:
    def actions(probe: Probe) -> set[str]:
        found = set()
        for s in probe.policy_statements("FinalizeStateMachineRole"):
            found |= {s["Action"]} if isinstance(s["Action"], str) else set(s["Action"])
        return found

    invoke = next(
        s
        for s in gt.policy_statements("FinalizeStateMachineRole")
        if s.get("Sid") == "InvokeTheSteps"
    )
    assert len(invoke["Resource"]) == 4  # assess, issue, attention, review queue; no ":*"
    assert {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish"} <= actions(gt)
    assert "sns:Publish" not in actions(console)
    assert not any(a.endswith(":*") and a != "kms:GenerateDataKey*" for a in actions(gt))


def test_the_bus_is_created_for_receipts_and_cart_updates(gt: Probe) -> None:
    gt.template.has_resource_properties("AWS::Events::EventBus", {"Name": "walkout-probe-bus"})


# --- functions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "finalize-assess",
        "finalize-issue",
        "finalize-attention",
        "review-queue",
        "review-gt-pre",
        "review-gt-consolidate",
        "review-gt-result",
        "review-labeling-job",
    ],
)
def test_each_function_runs_python_312_on_arm64_with_both_layers_and_its_own_role(
    gt: Probe, name: str
) -> None:
    props = gt.function(name)

    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert len(props["Layers"]) == 2
    assert props["TracingConfig"] == {"Mode": "Active"}
    role = props["Role"]["Fn::GetAtt"][0]
    others = [
        p["Role"]["Fn::GetAtt"][0]
        for p in (r["Properties"] for r in gt.resources("AWS::Lambda::Function").values())
        if p.get("FunctionName", "").startswith("walkout-probe-")
        and p["FunctionName"] != props["FunctionName"]
    ]
    assert role not in others


def test_the_issue_step_may_write_receipts_but_not_delete_them(gt: Probe) -> None:
    statements = gt.policy_statements("FinalizeIssueRole")
    receipts = next(s for s in statements if s.get("Sid") == "ReceiptsTable")

    assert set(receipts["Action"]) == {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
    }
    assert gt.function("finalize-issue")["Environment"]["Variables"][ENV_RECEIPTS_TABLE]


def test_the_assess_step_lists_evidence_under_stores_only(gt: Probe) -> None:
    statements = gt.policy_statements("FinalizeAssessRole")
    listing = next(s for s in statements if s.get("Sid") == "ListEvidence")

    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["stores/*"]}}


def _session_table_writes(gt: Probe, role: str) -> dict[str, dict[str, Any]]:
    return {
        s["Sid"]: s
        for s in gt.policy_statements(role)
        if any(a in json.dumps(s) for a in ("PutItem", "DeleteItem", "UpdateItem"))
        and "Sessions" in json.dumps(s["Resource"])
    }


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted([action] if isinstance(action, str) else action)


def test_finalize_writes_into_the_sessions_table_only_under_event_partitions(gt: Probe) -> None:
    # Assess marks the events its review asks; IssueReceipt keeps answers and drops marks
    for role, sid, actions in (
        ("FinalizeAssessRole", "MarkAskedEvents", ["dynamodb:PutItem"]),
        ("FinalizeIssueRole", "KeepReviewAnswers", ["dynamodb:DeleteItem", "dynamodb:PutItem"]),
        ("FinalizeAttentionRole", "DropAskedMarks", ["dynamodb:DeleteItem"]),
    ):
        writes = _session_table_writes(gt, role)
        writes.pop("MarkQuestionsDone", None)
        [statement] = writes.values()
        assert statement["Sid"] == sid
        assert _actions(statement) == actions
        assert statement["Condition"]["ForAllValues:StringLike"] == {
            "dynamodb:LeadingKeys": ["EVENT#*"]
        }
    # Assess writes only a mark's attributes (never a `record`: no attribution, no answer)
    statements = gt.policy_statements("FinalizeAssessRole")
    [marks] = [s for s in statements if s.get("Sid") == "MarkAskedEvents"]
    attributes = marks["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert "record" not in attributes and {"pk", "sk", "task_id", "until"} <= set(attributes)


@pytest.mark.parametrize(
    ("role", "writes"),
    [
        ("FinalizeAssessRole", False),
        ("FinalizeIssueRole", True),
        ("FinalizeAttentionRole", True),
    ],
)
def test_only_issue_and_attention_note_a_session_done_asking_and_nothing_else_there(
    gt: Probe, role: str, writes: bool
) -> None:
    statement = _session_table_writes(gt, role).get("MarkQuestionsDone")

    if not writes:
        assert statement is None
        return
    assert statement is not None
    assert _actions(statement) == ["dynamodb:PutItem"]
    assert statement["Condition"]["ForAllValues:StringLike"] == {"dynamodb:LeadingKeys": ["DONE#*"]}
    attributes = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    # in a partition of its own, and only the marker's attributes
    assert set(attributes) == {"pk", "sk", "done_at", "expires_at"}


# --- Ground Truth -----------------------------------------------------------------------------


def test_the_review_topics_are_encrypted_with_the_data_key_and_tls_only(gt: Probe) -> None:
    topics = gt.resources("AWS::SNS::Topic")

    assert {t["Properties"]["TopicName"] for t in topics.values()} == {
        "walkout-probe-review-input",
        "walkout-probe-review-output",
    }
    for topic in topics.values():
        assert "KmsMasterKeyId" in topic["Properties"]
    policies = json.dumps(gt.resources("AWS::SNS::TopicPolicy"))
    assert '"aws:SecureTransport": "false"' in policies


def test_the_result_function_listens_to_the_output_topic(gt: Probe) -> None:
    [subscription] = gt.resources("AWS::SNS::Subscription").values()

    assert subscription["Properties"]["Protocol"] == "lambda"
    assert "ReviewOutputTopic" in json.dumps(subscription["Properties"]["TopicArn"])
    assert "DeadLetterConfig" in gt.function("review-gt-result")


def test_the_labeling_job_custom_resource_carries_a_versioned_spec(gt: Probe) -> None:
    [job] = gt.resources("Custom::WalkoutLabelingJob").values()
    props = job["Properties"]

    spec_keys = {f.alias for f in LabelingJobSpec.model_fields.values()}
    assert spec_keys <= set(props)
    assert props["WorkteamArn"] == WORKTEAM
    assert props["JobVersion"] == 3
    assert props["TemplateSha256"] == template_sha256()
    assert props["WorkersPerTask"] == 3


def test_the_groundtruth_role_is_assumed_by_sagemaker_and_invokes_only_its_functions(
    gt: Probe,
) -> None:
    [role] = gt.resources(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": Match.object_like(
                {
                    "Statement": [
                        Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})
                    ]
                }
            )
        },
    ).values()
    assert role
    statements = gt.policy_statements("ReviewGroundTruthRole")
    invoke = next(s for s in statements if s.get("Sid") == "CallTheJobFunctions")
    assert len(invoke["Resource"]) == 2


def test_the_labeling_job_handler_may_pass_the_job_role_to_sagemaker_only(gt: Probe) -> None:
    statements = gt.policy_statements("ReviewLabelingJobHandlerRole")
    pass_role = next(s for s in statements if s.get("Sid") == "PassTheJobRole")

    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_the_console_backend_deploys_no_ground_truth_resources(console: Probe) -> None:
    assert console.resources("AWS::SNS::Topic") == {}
    assert console.resources("Custom::WalkoutLabelingJob") == {}
    substitution = console.definition()["DefinitionSubstitutions"]["ReviewInputTopicArn"]
    assert "not-deployed" in json.dumps(substitution)


# --- cdk-nag ----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["gt", "console"])
def test_cdk_nag_finds_nothing_unsuppressed(probes: dict[str, Probe], which: str) -> None:
    annotations = Annotations.from_stack(probes[which].stack)

    assert annotations.find_error("*", NAG_FINDING) == []
    assert annotations.find_warning("*", NAG_FINDING) == []


def test_every_suppression_of_these_constructs_carries_a_reason(gt: Probe) -> None:
    found = set()
    for logical_id, resource in gt.template.to_json()["Resources"].items():
        if not logical_id.startswith(("Finalize", "Review")):
            continue
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            assert len(rule["reason"]) >= 80, f"{logical_id} {rule['id']}: reason too thin"
            found.add(rule["id"])

    assert found <= {
        "AwsSolutions-IAM5",
        "AwsSolutions-L1",
        "AwsSolutions-SQS3",
    }


def test_the_asl_file_passes_asl_validator() -> None:
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    assert validator.exists(), "asl-validator is missing: run `make setup` (npm ci)"

    result = subprocess.run(
        [str(validator), "--json-path", str(ASL_PATH)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("role", "sid"),
    [
        ("FinalizeAssessRole", "ReadAnswersNamingSession"),
        # the answers naming a session, and the sessions a held receipt waits for
        ("FinalizeIssueRole", "ReadStoreSessionsAndNamedAnswers"),
    ],
)
def test_the_steps_read_the_answers_naming_a_session_on_one_index_only(
    gt: Probe, role: str, sid: str
) -> None:
    statements = gt.policy_statements(role)
    [statement] = [s for s in statements if s.get("Sid") == sid]

    assert statement["Action"] == "dynamodb:Query"
    assert json.dumps(statement["Resource"]).endswith('/index/by-store-status"]]}')
