"""The store box role: put events, put evidence under its own store, encrypt through both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import App, Aspects, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks

from infrastructure.edge_access import EdgeAccess
from walkout.config import DeploymentConfig

ANCHOR = "arn:aws:rolesanywhere:eu-west-1:123456789012:trust-anchor/0f2b6a3c"
BROKER = "arn:aws:iam::123456789012:role/walkout-iot-bootstrap"


def _build(**options: Any) -> Callable[[Stack, DeploymentConfig, kms.IKey], EdgeAccess]:
    def build(stack: Stack, config: DeploymentConfig, key: kms.IKey) -> EdgeAccess:
        stream = kinesis.Stream(
            stack, "Stream", encryption=kinesis.StreamEncryption.KMS, encryption_key=key
        )
        bucket = s3.Bucket(
            stack,
            "Evidence",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
        )
        return EdgeAccess(stack, "EdgeAccess", stream=stream, bucket=bucket, key=key, **options)

    return build


def _arn(template: Template, resource_type: str) -> dict[str, Any]:
    (logical_id,) = template.find_resources(resource_type)
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _evidence_path(template: Template, tag: str = "store_id") -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [_arn(template, "AWS::S3::Bucket"), f"/stores/${{aws:PrincipalTag/{tag}}}/evidence/*"],
        ]
    }


def _statements(template: Template) -> list[dict[str, Any]]:
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


@pytest.fixture(scope="module")
def stacks() -> dict[str, Stack]:
    # One app, synthesized once with cdk-nag watching: jsii synthesis costs seconds here.
    app = App()
    config = DeploymentConfig.from_context({})
    probe = Stack(app, "Probe")
    _build(trust_anchor_arn=ANCHOR, session_tag_principals=[iam.ArnPrincipal(BROKER)])(
        probe, config, kms.Key(probe, "Key")
    )
    by_certificate = Stack(app, "ByCertificate")
    _build(store_tag_key="x509Subject/OU")(by_certificate, config, kms.Key(by_certificate, "Key"))
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return {"probe": probe, "by_certificate": by_certificate}


@pytest.fixture(scope="module")
def template(stacks: dict[str, Stack]) -> Template:
    return Template.from_stack(stacks["probe"])


def test_the_role_allows_exactly_put_events_put_evidence_and_encrypting_them(
    template: Template,
) -> None:
    statements = _statements(template)

    actions = sorted(
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == [
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kms:GenerateDataKey",
        "kms:GenerateDataKey",
        "s3:PutObject",
    ]
    assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in statements)
    assert len(template.find_resources("AWS::IAM::Policy")) == 1
    assert not template.find_resources("AWS::IAM::ManagedPolicy")


def test_events_go_to_the_stream_only_from_a_session_with_a_store_tag(
    template: Template,
) -> None:
    (kinesis_statement,) = [
        s for s in _statements(template) if s["Sid"] == "PutEventsOfATaggedStore"
    ]

    assert kinesis_statement["Resource"] == _arn(template, "AWS::Kinesis::Stream")
    assert kinesis_statement["Condition"] == {"Null": {"aws:PrincipalTag/store_id": "false"}}


def test_evidence_goes_only_under_the_sessions_own_store_prefix(template: Template) -> None:
    (s3_statement,) = [s for s in _statements(template) if s["Sid"] == "PutEvidenceUnderOwnStore"]

    assert s3_statement["Action"] == "s3:PutObject"
    assert s3_statement["Resource"] == _evidence_path(template)


def test_the_data_key_is_usable_only_through_kinesis_and_s3_for_this_stream_and_bucket(
    template: Template,
) -> None:
    by_sid = {s["Sid"]: s for s in _statements(template)}
    key_arn = _arn(template, "AWS::KMS::Key")

    stream = by_sid["EncryptStreamRecords"]
    assert stream["Resource"] == key_arn
    assert stream["Condition"]["StringEquals"]["kms:EncryptionContext:aws:kinesis:arn"] == _arn(
        template, "AWS::Kinesis::Stream"
    )
    assert "kinesis." in str(stream["Condition"]["StringEquals"]["kms:ViaService"])

    evidence = by_sid["EncryptEvidenceObjects"]
    assert evidence["Resource"] == key_arn
    assert "s3." in str(evidence["Condition"]["StringEquals"]["kms:ViaService"])
    assert evidence["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [
        _arn(template, "AWS::S3::Bucket"),
        _evidence_path(template),
    ]


def test_roles_anywhere_of_the_trust_anchor_and_a_broker_that_tags_the_session_may_assume_it(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Statement": Match.array_equals(
                    [
                        {
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                            "Condition": {"ArnEquals": {"aws:SourceArn": ANCHOR}},
                            "Effect": "Allow",
                            "Principal": {"Service": "rolesanywhere.amazonaws.com"},
                        },
                        {
                            "Action": "sts:SetSourceIdentity",
                            "Condition": {"ArnEquals": {"aws:SourceArn": ANCHOR}},
                            "Effect": "Allow",
                            "Principal": {"Service": "rolesanywhere.amazonaws.com"},
                        },
                        {
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                            "Condition": {"Null": {"aws:RequestTag/store_id": "false"}},
                            "Effect": "Allow",
                            "Principal": {"AWS": BROKER},
                        },
                    ]
                ),
            },
        },
    )


def test_a_certificate_field_can_carry_the_store_id(stacks: dict[str, Stack]) -> None:
    template = Template.from_stack(stacks["by_certificate"])

    by_sid = {s["Sid"]: s for s in _statements(template)}
    assert by_sid["PutEvidenceUnderOwnStore"]["Resource"] == _evidence_path(
        template, "x509Subject/OU"
    )
    assert by_sid["PutEventsOfATaggedStore"]["Condition"] == {
        "Null": {"aws:PrincipalTag/x509Subject/OU": "false"}
    }
    # without a trust anchor, Roles Anywhere is limited to anchors of the account
    trust = template.find_resources("AWS::IAM::Role")
    (role,) = trust.values()
    first = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert first["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize("name", ["probe", "by_certificate"])
def test_nag_has_nothing_to_say_about_the_role_beyond_its_reasoned_wildcard(
    stacks: dict[str, Stack], name: str
) -> None:
    # (the probe's own key, bucket and stream are bare on purpose: only the role counts)
    annotations = Annotations.from_stack(stacks[name])
    finding = Match.string_like_regexp(r"^AwsSolutions-")
    findings = annotations.find_error("*", finding) + annotations.find_warning("*", finding)

    assert {f.id.split("/")[2] for f in findings} == {"Key", "Evidence", "Stream"}
    (policy,) = Template.from_stack(stacks[name]).find_resources("AWS::IAM::Policy").values()
    (suppressed,) = policy["Metadata"]["cdk_nag"]["rules_to_suppress"]
    assert suppressed["id"] == "AwsSolutions-IAM5" and len(suppressed["reason"]) >= 80
