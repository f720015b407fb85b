"""The evidence bucket: private, TLS only, KMS, forgotten after the retention period."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from infrastructure.evidence import EvidenceStore
from walkout.config import DeploymentConfig

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def _evidence_store(stack: Stack, config: DeploymentConfig, key: kms.IKey) -> EvidenceStore:
    return EvidenceStore(stack, "Evidence", config=config, key=key)


def _bucket_ids(synthesized: Any) -> tuple[str, str]:
    """(evidence bucket, access log bucket) logical ids."""
    evidence = synthesized.logical_id(
        "AWS::S3::Bucket", {"LoggingConfiguration": {"LogFilePrefix": "evidence/"}}
    )
    logs = synthesized.template.find_resources("AWS::S3::Bucket")[evidence]["Properties"][
        "LoggingConfiguration"
    ]["DestinationBucketName"]["Ref"]
    return evidence, logs


def _props(synthesized: Any, logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = synthesized.template.find_resources("AWS::S3::Bucket")[logical_id][
        "Properties"
    ]
    return props


def _policy_statements(synthesized: Any, bucket_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        p
        for p in synthesized.template.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return list(policy["Properties"]["PolicyDocument"]["Statement"])


def test_both_buckets_block_all_public_access(synthesized: Any) -> None:
    for bucket_id in _bucket_ids(synthesized):
        assert _props(synthesized, bucket_id)["PublicAccessBlockConfiguration"] == BLOCK_ALL


def test_both_buckets_deny_requests_without_tls(synthesized: Any) -> None:
    for bucket_id in _bucket_ids(synthesized):
        denials = [
            s
            for s in _policy_statements(synthesized, bucket_id)
            if s["Effect"] == "Deny"
            and s["Principal"] == {"AWS": "*"}
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denials, f"{bucket_id} allows plain HTTP"
        assert denials[0]["Action"] == "s3:*"


def test_evidence_bucket_is_named_from_the_config(synthesized: Any) -> None:
    evidence, _ = _bucket_ids(synthesized)
    separator, parts = _props(synthesized, evidence)["BucketName"]["Fn::Join"]
    name = separator.join(p if isinstance(p, str) else "${" + p["Ref"] + "}" for p in parts)

    assert name == synthesized.config.evidence_bucket_name("${AWS::AccountId}", "${AWS::Region}")


def test_evidence_is_encrypted_with_the_data_key_and_a_bucket_key(
    synthesized: Any, key_arn: dict[str, Any]
) -> None:
    evidence, _ = _bucket_ids(synthesized)

    assert _props(synthesized, evidence)["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": key_arn,
                },
            }
        ]
    }


def test_evidence_expires_after_the_configured_retention(synthesized: Any) -> None:
    evidence, _ = _bucket_ids(synthesized)
    (rule,) = _props(synthesized, evidence)["LifecycleConfiguration"]["Rules"]

    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == synthesized.config.evidence_retention_days
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    assert "Prefix" not in rule and "TagFilters" not in rule  # applies to every object


def test_retention_follows_the_config(synth_construct: Callable[..., Template]) -> None:
    template = synth_construct(_evidence_store, evidence_retention_days=7, log_retention_days=90)

    expirations = sorted(
        bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
        for bucket in template.find_resources("AWS::S3::Bucket").values()
    )
    assert expirations == [7, 90]


def test_access_logs_are_sse_s3_and_expire(synthesized: Any) -> None:
    _, logs = _bucket_ids(synthesized)
    props = _props(synthesized, logs)

    encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == synthesized.config.log_retention_days


def test_evidence_bucket_is_not_versioned(synthesized: Any) -> None:
    evidence, _ = _bucket_ids(synthesized)

    assert "VersioningConfiguration" not in _props(synthesized, evidence)
