"""The data key: rotated, and usable only through the services that store Walkout's data
(and by CloudWatch, to publish this stage's alarms to the encrypted alarm topic)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template

# The services that store Walkout data in this stack: the stream, the tables, the evidence.
DATA_SERVICES = {"kinesis", "dynamodb", "s3"}
CRYPTO_ACTIONS = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"}
# The one service principal that uses the key: CloudWatch, to publish alarms to the alarm
# topic (infrastructure/alarms.py; tested in test_infra_alarms.py).
CLOUDWATCH = "cloudwatch.amazonaws.com"


def _key(template: Template) -> dict[str, Any]:
    (key,) = template.find_resources("AWS::KMS::Key").values()
    return dict(key)


def _statements(template: Template) -> list[dict[str, Any]]:
    return list(_key(template)["Properties"]["KeyPolicy"]["Statement"])


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _flatten(value: Any) -> str:
    """`Fn::Join`/`Ref` rendered as text, e.g. `kinesis.${AWS::Region}.${AWS::URLSuffix}`."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    separator, parts = value["Fn::Join"]
    return str(separator).join(_flatten(part) for part in parts)


def test_key_rotation_is_on(template: Template) -> None:
    assert _key(template)["Properties"]["EnableKeyRotation"] is True


def test_key_survives_the_stack_when_data_is_retained(template: Template) -> None:
    assert _key(template)["DeletionPolicy"] == "Retain"


def test_nobody_gets_kms_star(template: Template) -> None:
    for statement in _statements(template):
        assert "kms:*" not in _actions(statement), statement["Sid"]


def test_cryptographic_use_only_through_data_services(template: Template) -> None:
    via_services = set()
    for statement in _statements(template):
        if not _actions(statement) & CRYPTO_ACTIONS:
            continue
        if statement["Principal"].get("Service") == CLOUDWATCH:
            continue
        condition = statement["Condition"]["StringEquals"]
        via_services.add(_flatten(condition["kms:ViaService"]))
        assert condition["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}

    assert via_services == {f"{s}.${{AWS::Region}}.${{AWS::URLSuffix}}" for s in DATA_SERVICES}


def test_dynamodb_may_create_the_grants_it_keeps_using_the_key_with(template: Template) -> None:
    (statement,) = [s for s in _statements(template) if s.get("Sid") == "UseThroughDynamodb"]

    assert _actions(statement) >= CRYPTO_ACTIONS | {"kms:CreateGrant", "kms:DescribeKey"}


def test_unconditional_statements_only_administer_or_describe(template: Template) -> None:
    for statement in _statements(template):
        if "Condition" in statement:
            continue
        assert not _actions(statement) & (CRYPTO_ACTIONS | {"kms:CreateGrant"}), statement["Sid"]


def test_service_principals_get_metadata_or_publish_alarms_only(template: Template) -> None:
    service_statements = {
        s["Principal"]["Service"]: s for s in _statements(template) if "Service" in s["Principal"]
    }

    assert set(service_statements) == {"dynamodb.amazonaws.com", CLOUDWATCH}
    assert all(
        a.split(":")[1].startswith(("Describe", "Get", "List"))
        for a in _actions(service_statements["dynamodb.amazonaws.com"])
    )
    # CloudWatch: what publishing to an encrypted topic takes, for this account's alarms only
    cloudwatch = service_statements[CLOUDWATCH]
    assert _actions(cloudwatch) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert "aws:SourceArn" in cloudwatch["Condition"]["ArnLike"]
