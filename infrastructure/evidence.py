"""The evidence bucket: JPEGs from the edge (the reach images of shelf events, and a crop of
every shopper as they came in through the gate), shown to reviewers, then forgotten.

Versioning is off on purpose. Evidence images show shoppers, and the promise is that they
are gone after `evidence_retention_days`; with versioning a delete or overwrite only makes a
noncurrent version that lives on. Little is lost without it: each image is written once,
under a key of its own event, and only read afterwards. The lifecycle rule still expires
noncurrent versions, so switching versioning on later cannot keep images forever.

Server access logs (who read which image) go to a separate bucket. S3 log delivery supports
only SSE-S3 there, not SSE-KMS.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from walkout.config import DeploymentConfig

# Multipart uploads that never completed still cost storage and hold image parts.
ABORT_INCOMPLETE_UPLOADS = Duration.days(1)
# A superseded version only exists if versioning is switched on; one day is an undo window.
NONCURRENT_VERSION_LIFETIME = Duration.days(1)
ACCESS_LOG_PREFIX = "evidence/"


class EvidenceStore(Construct):
    """`bucket` holds the evidence; `access_log_bucket` holds its server access logs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Without `auto_delete_objects` (it would add a custom-resource Lambda): deleting a
        # stage that does not retain data needs its buckets emptied first, or they expire.
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(config.log_retention_days),
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS,
                )
            ],
            removal_policy=removal,
        )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=config.evidence_bucket_name(stack.account, stack.region),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            # One data key per object would mean one KMS call per image; the bucket key
            # cuts KMS requests (and their cost) for a stream of small JPEGs.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-evidence",
                    expiration=Duration.days(config.evidence_retention_days),
                    noncurrent_version_expiration=NONCURRENT_VERSION_LIFETIME,
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS,
                )
            ],
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            removal_policy=removal,
        )
