"""The HTTP API construct in a small stack, synthesized once, with cdk-nag's AwsSolutions."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from infrastructure.api import (
    EVIDENCE_OBJECTS,
    INGEST_ACTIONS,
    RECEIPTS_ACTIONS,
    REVIEW_TASK_WRITES,
    SESSIONS_ACTIONS,
    STORES_ACTIONS,
    TOKEN_ACTIONS,
    HttpApi,
)
from infrastructure.encryption import DataKey
from infrastructure.state import StateTables
from walkout.api.auth import ADMIN_GROUP, REVIEWER_GROUP
from walkout.api.settings import ApiSettings
from walkout.config import DeploymentConfig
from walkout.settings import ENV_STORES_TABLE


@pytest.fixture(scope="module")
def probe() -> tuple[Stack, Template]:
    app = App()
    stack = Stack(app, "ApiProbe", env={"region": "eu-west-1", "account": "123456789012"})
    config = DeploymentConfig.from_context({"stage": "apiprobe"})
    data_key = DataKey(stack, "DataKey", config=config)
    state = StateTables(stack, "State", config=config, key=data_key.key)
    layers = [
        lambda_.LayerVersion.from_layer_version_arn(
            stack, n, f"arn:aws:lambda:eu-west-1:123456789012:layer:{n}:1"
        )
        for n in ("deps", "common")
    ]
    HttpApi(
        stack,
        "Http",
        config=config,
        stores_table=state.tables["stores"],
        sessions_table=state.tables["sessions"],
        receipts_table=state.tables["receipts"],
        ingest_table=state.tables["ingest"],
        event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "walkout-apiprobe-bus"),
        evidence_bucket=s3.Bucket.from_bucket_name(stack, "Evidence", "walkout-apiprobe-evidence"),
        data_key=data_key.key,
        layers=layers,
    )
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()
    return stack, Template.from_stack(stack)


def _api_role_statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if logical_id.startswith("HttpFunction"):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def test_the_user_pool_has_the_tenant_attribute_and_both_groups(
    probe: tuple[Stack, Template],
) -> None:
    _, template = probe
    template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Schema": Match.array_with(
                [Match.object_like({"Name": "retailer_id", "Mutable": False})]
            ),
        },
    )
    for group in (ADMIN_GROUP, REVIEWER_GROUP):
        template.has_resource_properties("AWS::Cognito::UserPoolGroup", {"GroupName": group})
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient", {"ClientName": "walkout-apiprobe-shoppers"}
    )


def test_no_client_may_write_the_tenancy_claims_and_access_logs_carry_no_ip(
    probe: tuple[Stack, Template],
) -> None:
    _, template = probe
    clients = template.find_resources("AWS::Cognito::UserPoolClient")
    assert len(clients) == 2
    for client in clients.values():
        writes = client["Properties"]["WriteAttributes"]
        assert writes == ["email"]
    stages = template.find_resources("AWS::ApiGatewayV2::Stage")
    for stage in stages.values():
        log_format = stage["Properties"]["AccessLogSettings"]["Format"]
        assert "sourceIp" not in log_format
        assert "requestId" in log_format


def test_routes_use_the_jwt_authorizer_except_the_swagger_page(
    probe: tuple[Stack, Template],
) -> None:
    _, template = probe
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {"AuthorizerType": "JWT", "IdentitySource": ["$request.header.Authorization"]},
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route", {"RouteKey": "ANY /{proxy+}", "AuthorizationType": "JWT"}
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route", {"RouteKey": "GET /docs", "AuthorizationType": "NONE"}
    )
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"AccessLogSettings": Match.object_like({"DestinationArn": Match.any_value()})},
    )


def test_the_function_gets_every_setting_of_its_environment(
    probe: tuple[Stack, Template],
) -> None:
    _, template = probe
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": "walkout-apiprobe-api"}}
    )
    (function,) = functions.values()
    variables = function["Properties"]["Environment"]["Variables"]
    required = {f.alias for f in ApiSettings.model_fields.values()}
    assert required <= set(variables), required - set(variables)
    assert ENV_STORES_TABLE in variables


def _by_sid(template: Template) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in _api_role_statements(template) if "Sid" in s}


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return sorted([action] if isinstance(action, str) else action)


def test_table_access_is_least_privilege(probe: tuple[Stack, Template]) -> None:
    _, template = probe
    statements = _by_sid(template)
    dynamo = {sid for sid, s in statements.items() if "dynamodb:" in str(s["Action"])}

    assert dynamo == {
        "StoresTable",
        "ReadSessions",
        "WriteReviewTasksOnly",
        "ReceiptsAndDisputes",
        "CountQuarantined",
    }
    assert _actions(statements["StoresTable"]) == sorted(STORES_ACTIONS)
    assert _actions(statements["ReadSessions"]) == sorted(SESSIONS_ACTIONS)
    assert "Sessions" in str(statements["ReadSessions"]["Resource"])
    # Writes to the sessions table reach review-task items only.
    writes = statements["WriteReviewTasksOnly"]
    assert _actions(writes) == sorted(REVIEW_TASK_WRITES)
    assert writes["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["REVIEW#*"]}
    }
    assert "Sessions" in str(writes["Resource"])
    # Receipts are appended, never updated or deleted.
    assert _actions(statements["ReceiptsAndDisputes"]) == sorted(RECEIPTS_ACTIONS)
    assert "Receipts" in str(statements["ReceiptsAndDisputes"]["Resource"])
    assert _actions(statements["CountQuarantined"]) == sorted(INGEST_ACTIONS)
    assert "Ingest" in str(statements["CountQuarantined"]["Resource"])
    every_action = [a for s in statements.values() for a in _actions(s)]
    assert not [a for a in every_action if a.endswith(("DeleteItem", "Scan", "*Table"))]


def test_the_function_answers_workflows_publishes_refunds_and_reads_evidence_only(
    probe: tuple[Stack, Template],
) -> None:
    _, template = probe
    statements = _by_sid(template)

    assert _actions(statements["AnswerReviewWorkflows"]) == sorted(TOKEN_ACTIONS)
    assert _actions(statements["PublishRefunds"]) == ["events:PutEvents"]
    assert "walkout-apiprobe-bus" in str(statements["PublishRefunds"]["Resource"])
    assert _actions(statements["PresignEvidence"]) == ["s3:GetObject"]
    evidence = str(statements["PresignEvidence"]["Resource"])
    assert "walkout-apiprobe-evidence" in evidence
    assert EVIDENCE_OBJECTS in evidence
    # The data key decrypts evidence through S3 only.
    assert "'s3." in str(statements["EvidenceKey"]["Condition"]["StringEquals"])


def test_cdk_nag_finds_nothing(probe: tuple[Stack, Template]) -> None:
    stack, _ = probe
    errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("AwsSolutions-.*")
    )
    assert errors == [], [e.entry.data for e in errors]
    assert warnings == [], [w.entry.data for w in warnings]
