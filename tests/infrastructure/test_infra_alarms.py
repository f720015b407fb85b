"""The operations alarm topic: every alarm notifies it, it is encrypted with the data key and
TLS-only, CloudWatch may publish to it for this stage's alarms only, and an e-mail address
is subscribed only when configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from infrastructure.alarms import AlarmTopic
from walkout.config import ConfigError, DeploymentConfig


def _topic_id(synthesized: Any) -> str:
    return str(synthesized.logical_id("AWS::SNS::Topic", {"TopicName": "walkout-dev-alarms"}))


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_every_alarm_of_the_stack_notifies_the_alarm_topic_of_alarm_and_ok(
    synthesized: Any,
) -> None:
    topic = {"Ref": _topic_id(synthesized)}
    alarms = synthesized.template.find_resources("AWS::CloudWatch::Alarm")

    assert alarms  # (the ingest alarms at least)
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert topic in props.get("AlarmActions", []), logical_id
        assert topic in props.get("OKActions", []), logical_id
        # The topic and key policies let CloudWatch publish for alarms named so only.
        assert props["AlarmName"].startswith(f"{synthesized.config.prefix}-"), logical_id


def test_the_alarm_topic_is_encrypted_with_the_data_key_and_refuses_plain_http(
    synthesized: Any, key_arn: dict[str, Any]
) -> None:
    topic_id = _topic_id(synthesized)
    topic = synthesized.template.find_resources("AWS::SNS::Topic")[topic_id]["Properties"]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.template.find_resources("AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_id} in p["Properties"]["Topics"]
    ]

    assert topic["KmsMasterKeyId"] == key_arn
    [statements] = policies
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert _actions(allow) == {"sns:Publish"}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "ArnLike" in allow["Condition"]


def test_cloudwatch_may_use_the_key_only_to_publish_for_this_stages_alarms(
    synthesized: Any,
) -> None:
    (key,) = synthesized.template.find_resources("AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    [statement] = [
        s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]

    assert _actions(statement) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    condition = statement["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    separator, parts = condition["ArnLike"]["aws:SourceArn"]["Fn::Join"]
    assert separator == ""
    assert parts[-1] == f":alarm:{synthesized.config.prefix}-*"


def _topic_in_a_small_stack(synth_construct: Callable[..., Template], **settings: Any) -> Template:
    def build(stack: Stack, config: DeploymentConfig, key: kms.IKey) -> object:
        return AlarmTopic(stack, "Alarms", config=config, key=key)

    return synth_construct(build, **settings)


def test_no_subscription_unless_an_alarm_email_is_configured(
    synth_construct: Callable[..., Template],
) -> None:
    template = _topic_in_a_small_stack(synth_construct)

    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_an_alarm_email_is_subscribed_to_the_topic(
    synth_construct: Callable[..., Template],
) -> None:
    template = _topic_in_a_small_stack(synth_construct, alarm_email="ops@example.com")

    [topic_id] = template.find_resources("AWS::SNS::Topic")
    [subscription] = template.find_resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
    assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id}


@pytest.mark.parametrize("address", ["ops", "ops@example", "two words@example.com", "a@b@c.de"])
def test_an_alarm_email_that_is_no_address_names_the_key(address: str) -> None:
    with pytest.raises(ConfigError, match=r"^walkout\.alarm_email: .*not an e-mail address"):
        DeploymentConfig.from_context({"alarm_email": address})
