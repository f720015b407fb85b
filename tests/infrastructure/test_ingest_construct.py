"""The ingest construct and the dashboard, synthesized once in a small stack of their own."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from infrastructure.ingest import (
    AMBIGUITY_ITEMS,
    INGEST_ACTIONS,
    PENDING_ITEMS,
    SESSIONS_ACTIONS,
    STORES_ACTIONS,
    IngestPipeline,
)
from infrastructure.observability import WalkoutDashboard
from infrastructure.state import StateTables
from walkout.config import DeploymentConfig
from walkout.data.ingest import pending_pk
from walkout.data.sessions import ambiguity_pk, event_pk, lanes_pk, session_pk
from walkout.events import EVENT_TYPES
from walkout.observability import MetricName
from walkout.settings import (
    ENV_EVENT_BUS_NAME,
    ENV_FINALIZE_STATE_MACHINE_ARN,
    ENV_INGEST_TABLE,
    ENV_READINESS_GRACE_S,
    ENV_REVIEW_THRESHOLD,
    ENV_SESSIONS_TABLE,
    ENV_STAGE,
    ENV_STORES_TABLE,
    ENV_TRANSIENT_TTL_DAYS,
    IngestSettings,
)

STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:walkout-probe-finalize"
SETTINGS = {"stage": "probe", "ingest": {"batch_size": 150, "parallelization_factor": 3}}


class Probe:
    def __init__(self, cdk_context: dict[str, Any], *, nag: bool = False) -> None:
        app = App(context=cdk_context)
        self.stack = Stack(app, "IngestProbe")
        self.config = DeploymentConfig.from_context(SETTINGS)
        key = kms.Key(self.stack, "Key", enable_key_rotation=True)
        stream = kinesis.Stream(self.stack, "Stream", encryption=kinesis.StreamEncryption.MANAGED)
        self.state = StateTables(self.stack, "State", config=self.config, key=key)
        layers = [
            lambda_.LayerVersion.from_layer_version_arn(
                self.stack, name, f"arn:aws:lambda:eu-west-1:123456789012:layer:{name}:1"
            )
            for name in ("deps", "common")
        ]
        topic = sns.Topic(self.stack, "Alarms", enforce_ssl=True, master_key=key)
        self.ingest = IngestPipeline(
            self.stack,
            "Ingest",
            config=self.config,
            stream=stream,
            tables=self.state.tables,
            key=key,
            layers=layers,
            state_machine_arn=STATE_MACHINE_ARN,
            event_bus=events.EventBus(self.stack, "Bus", event_bus_name="walkout-probe-bus"),
            alarm_topic=topic,
        )
        WalkoutDashboard(self.stack, "Observability", config=self.config, ingest=self.ingest)
        if nag:
            Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
        self.template = Template.from_stack(self.stack)
        self.annotations = Annotations.from_stack(self.stack)

    def ref(self, resource_type: str, props: dict[str, Any] | None = None) -> str:
        found = self.template.find_resources(
            resource_type, {"Properties": props} if props else None
        )
        assert len(found) == 1, f"{resource_type}: {sorted(found)}"
        return next(iter(found))

    def table_ref(self, key: str) -> str:
        return self.ref("AWS::DynamoDB::Table", {"TableName": self.config.table_name(key)})


@pytest.fixture(scope="module")
def probe(cdk_context: Callable[..., dict[str, Any]]) -> Probe:
    return Probe(cdk_context())


def _function(probe: Probe) -> dict[str, Any]:
    props: dict[str, Any] = probe.template.find_resources("AWS::Lambda::Function")[
        probe.ref("AWS::Lambda::Function")
    ]["Properties"]
    return props


def test_the_function_runs_python_3_12_on_arm64_with_tracing_and_both_layers(probe: Probe) -> None:
    props = _function(probe)
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert len(props["Layers"]) == 2
    assert props["MemorySize"] == probe.config.ingest.memory_mb
    assert props["Timeout"] == probe.config.ingest.timeout_s


def test_the_environment_is_the_settings_models_keys(probe: Probe) -> None:
    variables = _function(probe)["Environment"]["Variables"]
    assert set(variables) == set(
        IngestSettings.environment(
            probe.config,
            stores_table="x",
            sessions_table="x",
            ingest_table="x",
            finalize_state_machine_arn="x",
            event_bus_name="x",
        )
    )
    assert variables[ENV_STAGE] == "probe"
    assert variables[ENV_FINALIZE_STATE_MACHINE_ARN] == STATE_MACHINE_ARN
    assert variables[ENV_REVIEW_THRESHOLD] == repr(probe.config.review_threshold)
    assert variables[ENV_READINESS_GRACE_S] == repr(probe.config.readiness_grace_s)
    assert variables[ENV_TRANSIENT_TTL_DAYS] == str(probe.config.transient_ttl_days)
    for env, key in (
        (ENV_SESSIONS_TABLE, "sessions"),
        (ENV_INGEST_TABLE, "ingest"),
        (ENV_STORES_TABLE, "stores"),
    ):
        assert variables[env] == {"Ref": probe.table_ref(key)}
    assert variables[ENV_EVENT_BUS_NAME] == {"Ref": probe.ref("AWS::Events::EventBus")}


def test_the_event_source_mapping_keeps_order_and_reports_partial_failures(probe: Probe) -> None:
    mapping = probe.template.find_resources("AWS::Lambda::EventSourceMapping")[
        probe.ref("AWS::Lambda::EventSourceMapping")
    ]["Properties"]
    tuning = probe.config.ingest
    assert mapping["BatchSize"] == 150
    assert mapping["ParallelizationFactor"] == 3
    assert mapping["MaximumBatchingWindowInSeconds"] == tuning.batching_window_s
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == tuning.retry_attempts
    assert mapping["MaximumRecordAgeInSeconds"] == tuning.max_record_age_s
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    queue = probe.ref("AWS::SQS::Queue")
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}
    }


def test_the_failure_queue_is_encrypted_and_refuses_plain_http(probe: Probe) -> None:
    queue = probe.ref("AWS::SQS::Queue")
    props = probe.template.find_resources("AWS::SQS::Queue")[queue]["Properties"]
    assert props["SqsManagedSseEnabled"] is True
    policy = probe.template.find_resources("AWS::SQS::QueuePolicy")
    statements = [
        s for p in policy.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def _role_statements(probe: Probe) -> list[dict[str, Any]]:
    role = probe.ref("AWS::IAM::Role")
    statements = []
    for policy in probe.template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_the_role_may_do_what_ingest_does_and_no_more(probe: Probe) -> None:
    statements = _role_statements(probe)
    # No wildcard actions, no deletes or scans anywhere
    every_action = set().union(*(_actions(s) for s in statements))
    assert not any(
        a.endswith("*") and not a.startswith(("kms:GenerateDataKey", "xray:")) for a in every_action
    )
    assert not any(a in every_action for a in ("dynamodb:Scan", "dynamodb:UpdateTable"))
    # The one delete: held events of the ingest table (PENDING# items), once applied; and
    # batch writes (which could delete too) only of ambiguity items of the sessions table
    for action, sid, table, keys in (
        ("dynamodb:DeleteItem", "ReleaseHeldEvents", "ingest", PENDING_ITEMS),
        ("dynamodb:BatchWriteItem", "PutAmbiguitiesInBatches", "sessions", AMBIGUITY_ITEMS),
    ):
        allowing = [s for s in statements if action in _actions(s)]
        assert [s.get("Sid") for s in allowing] == [sid]
        assert _actions(allowing[0]) == {action}
        assert allowing[0]["Resource"] == {"Fn::GetAtt": [probe.table_ref(table), "Arn"]}
        assert allowing[0]["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [keys]}
        }
    assert pending_pk("s1", "x").startswith(PENDING_ITEMS.rstrip("*"))
    assert fnmatch.fnmatchcase(ambiguity_pk("store-1"), AMBIGUITY_ITEMS)
    others = (session_pk("store-1", "s"), event_pk("store-1", "e"), lanes_pk("store-1"))
    assert not any(fnmatch.fnmatchcase(pk, AMBIGUITY_ITEMS) for pk in others)
    # Each table gets exactly the calls its data-access module makes
    by_sid = {s.get("Sid"): s for s in statements}
    for sid, actions, key in (
        ("SessionsTable", SESSIONS_ACTIONS, "sessions"),
        ("IngestTable", INGEST_ACTIONS, "ingest"),
        ("StoresTable", STORES_ACTIONS, "stores"),
    ):
        assert _actions(by_sid[sid]) == set(actions)
        resources = json.dumps(by_sid[sid]["Resource"])
        assert probe.table_ref(key) in resources
    # The table key only through DynamoDB; the workflow only the finalize state machine
    assert "kms:ViaService" in json.dumps(by_sid["UseTableKeyThroughDynamoDb"]["Condition"])
    assert by_sid["HandOverReadySessions"]["Resource"] == STATE_MACHINE_ARN
    assert any(_actions(s) == {"events:PutEvents"} for s in statements)
    assert any("kinesis:GetRecords" in _actions(s) for s in statements)


def test_alarms_watch_lag_errors_quarantine_stale_devices_and_given_up_batches(
    probe: Probe,
) -> None:
    alarms = probe.template.find_resources("AWS::CloudWatch::Alarm")
    by_metric = {a["Properties"].get("MetricName"): a["Properties"] for a in alarms.values()}
    assert by_metric["IteratorAge"]["Threshold"] == probe.config.ingest.iterator_age_alarm_s * 1000
    assert by_metric["Errors"]["Threshold"] == 1
    ingest_dimensions = {"stage": "probe", "service": "ingest"}
    quarantine = by_metric[MetricName.QUARANTINED]
    assert quarantine["Namespace"] == "Walkout"
    assert {d["Name"]: d["Value"] for d in quarantine["Dimensions"]} == ingest_dimensions
    # Any device gone silent alarms; no data (the metric is only emitted when one is) is fine
    stale = by_metric[MetricName.STALE_DEVICES]
    assert stale["Namespace"] == "Walkout"
    assert {d["Name"]: d["Value"] for d in stale["Dimensions"]} == ingest_dimensions
    assert stale["Statistic"] == "Maximum"
    assert stale["ComparisonOperator"] == "GreaterThanThreshold"
    assert stale["Threshold"] == 0
    assert stale["TreatMissingData"] == "notBreaching"
    assert stale["AlarmName"] == "walkout-probe-ingest-stale-devices"
    assert "ApproximateNumberOfMessagesVisible" in by_metric
    topic = probe.ref("AWS::SNS::Topic")
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic}] for a in alarms.values())
    # ... and when it recovered
    assert all(a["Properties"]["OKActions"] == [{"Ref": topic}] for a in alarms.values())


def test_the_dashboard_shows_lag_event_types_quarantine_sessions_and_review_rate(
    probe: Probe,
) -> None:
    dashboard = probe.template.find_resources("AWS::CloudWatch::Dashboard")[
        probe.ref("AWS::CloudWatch::Dashboard")
    ]["Properties"]
    body = json.dumps(dashboard["DashboardBody"])
    for title in (
        "Ingest lag",
        "Events per type",
        "Quarantined",
        "Sessions opened and ready",
        "Review rate",
        "Stale devices",
        "Joins and exits held until their session opened",
    ):
        assert title in body
    for name in (
        MetricName.QUARANTINED,
        MetricName.SESSIONS_OPENED,
        MetricName.SESSIONS_READY,
        MetricName.STALE_DEVICES,
        MetricName.HELD_EVENTS,
        MetricName.HELD_EVENTS_APPLIED,
        "IteratorAge",
    ):
        assert name in body
    # (HeldEvents on its own, not only as the start of HeldEventsApplied)
    assert body.count(MetricName.HELD_EVENTS) > body.count(MetricName.HELD_EVENTS_APPLIED)
    for event_type in EVENT_TYPES:
        assert event_type in body
    # Every ingest alarm, the stale-devices one included, shows its state on the dashboard
    for alarm in probe.template.find_resources("AWS::CloudWatch::Alarm"):
        assert json.dumps({"Fn::GetAtt": [alarm, "Arn"]}) in body
    assert dashboard["DashboardName"] == "walkout-probe-operations"


@pytest.mark.slow
def test_cdk_nag_has_nothing_left_to_say(cdk_context: Callable[..., dict[str, Any]]) -> None:
    # (slow: a second synthesis with the AwsSolutions pack; the full stack's nag test covers
    # these constructs too once they are wired in)
    probe = Probe(cdk_context(), nag=True)
    finding = Match.string_like_regexp(r"^AwsSolutions-")
    assert probe.annotations.find_error("*", finding) == []
    assert probe.annotations.find_warning("*", finding) == []
    suppressed = {
        rule["id"]
        for resource in probe.template.to_json()["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    }
    assert suppressed <= {"AwsSolutions-L1", "AwsSolutions-IAM5", "AwsSolutions-SQS3"}
