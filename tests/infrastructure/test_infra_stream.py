"""The event stream: KMS with the data key, capacity and retention from the config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from infrastructure.stream import EventStream
from walkout.config import DeploymentConfig


def _event_stream(stack: Stack, config: DeploymentConfig, key: kms.IKey) -> EventStream:
    return EventStream(stack, "Events", config=config, key=key)


def test_stream_is_encrypted_with_the_data_key(template: Template, key_arn: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {"StreamEncryption": {"EncryptionType": "KMS", "KeyId": key_arn}},
    )


def test_default_stream_is_on_demand_without_shards(synthesized: Any) -> None:
    config = synthesized.config
    synthesized.template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "Name": config.stream_name,
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "RetentionPeriodHours": config.stream.retention_hours,
            "ShardCount": Match.absent(),
        },
    )


def test_provisioned_stream_has_the_configured_shards_and_retention(
    synth_construct: Callable[..., Template],
) -> None:
    template = synth_construct(
        _event_stream,
        stream={"capacity_mode": "provisioned", "shard_count": 3, "retention_hours": 48},
    )

    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "ShardCount": 3,
            "RetentionPeriodHours": 48,
        },
    )
