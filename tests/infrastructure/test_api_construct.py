"""The HTTP API construct in a small stack, synthesized once, with cdk-nag's AwsSolutions."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from infrastructure.api import SESSIONS_ACTIONS, STORES_ACTIONS, HttpApi
from infrastructure.encryption import DataKey
from infrastructure.state import StateTables
from walkout.api.auth import ADMIN_GROUP, REVIEWER_GROUP
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


def test_the_function_writes_the_stores_table_and_only_reads_sessions(
    probe: tuple[Stack, Template],
) -> None:
    _, template = probe
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "walkout-apiprobe-api",
            "Environment": {"Variables": Match.object_like({ENV_STORES_TABLE: Match.any_value()})},
        },
    )
    dynamo = [s for s in _api_role_statements(template) if str(s["Action"]).count("dynamodb:")]
    by_sid = {s["Sid"]: s for s in dynamo}
    assert set(by_sid) == {"StoresTable", "ReadLiveCarts"}
    assert sorted(by_sid["StoresTable"]["Action"]) == sorted(STORES_ACTIONS)
    assert "Stores" in str(by_sid["StoresTable"]["Resource"])
    assert by_sid["ReadLiveCarts"]["Action"] == SESSIONS_ACTIONS[0]
    assert "Sessions" in str(by_sid["ReadLiveCarts"]["Resource"])


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
