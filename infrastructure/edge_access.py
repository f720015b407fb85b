"""The role store boxes work as: put events on the stream, put evidence under their store.

Nothing else: no reads, no describes, no other store's prefix. A box's credentials live on
a machine in a shop, so they are assumed to leak one day; what leaks must be worth little.

Per-store scope comes from a principal tag, `aws:PrincipalTag/store_id` by default:
- S3: `PutObject` only on `stores/${aws:PrincipalTag/store_id}/evidence/*`. A box of
  store-042 cannot write, overwrite or plant images of store-007.
- Kinesis: IAM has no condition key for a record's partition key, so the stream cannot be
  split per store in IAM; the statement only requires that the session carries a store
  tag at all. A box could still put records claiming another store id: the ingest side
  treats `store_id` as a claim and can check it against the evidence it sees; a store-
  scoped stream would be one stream per store (not worth it at this scale).
- KMS: `GenerateDataKey` on the data key, only as Kinesis or S3 call it on the box's
  behalf (`kms:ViaService`) and only for this stream's or this bucket's encryption context.

Where the tag comes from (see docs/edge-install.md):
- IAM Roles Anywhere (`trust_anchor_arn`): the box authenticates with its X.509 certificate;
  Roles Anywhere turns certificate fields into session tags named `x509Subject/<RDN>`,
  so put the store id in the certificate's OU and pass `store_tag_key="x509Subject/OU"`.
- A trusted broker (`session_tag_principals`, e.g. the role the AWS IoT credentials provider
  hands a box, or a provisioning service) that calls `AssumeRole` with the session tag
  `store_id`; the trust policy refuses an `AssumeRole` without that tag.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

ROLES_ANYWHERE = "rolesanywhere.amazonaws.com"
EVIDENCE_PREFIX = "stores/{store}/evidence/*"
# Credentials on a shop-floor box should expire soon; the credential helpers refresh them.
SESSION_DURATION = Duration.hours(1)
# How cdk-nag names the evidence wildcard (the bucket's logical id varies with the stack).
_EVIDENCE_FINDING = r"/^Resource::.*\/stores\/<aws:PrincipalTag\/[^>]+>\/evidence\/\*$/g"


class EdgeAccess(Construct):
    """`role`: what a store box assumes to ship its events and evidence."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream: kinesis.IStream,
        bucket: s3.IBucket,
        key: kms.IKey,
        trust_anchor_arn: str | None = None,
        session_tag_principals: Sequence[iam.IPrincipal] = (),
        store_tag_key: str = "store_id",
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        store = f"${{aws:PrincipalTag/{store_tag_key}}}"
        has_store_tag = {"Null": {f"aws:PrincipalTag/{store_tag_key}": "false"}}

        # Roles Anywhere is the default route; without a trust anchor it is limited to
        # anchors of this account.
        anchor_condition = (
            {"ArnEquals": {"aws:SourceArn": trust_anchor_arn}}
            if trust_anchor_arn
            else {"StringEquals": {"aws:SourceAccount": stack.account}}
        )
        roles_anywhere = iam.ServicePrincipal(ROLES_ANYWHERE)
        self.role = iam.Role(
            self,
            "Role",
            description="Walkout store box: put events on the stream, evidence under its store",
            assumed_by=iam.SessionTagsPrincipal(
                iam.PrincipalWithConditions(roles_anywhere, anchor_condition)
            ),
            max_session_duration=SESSION_DURATION,
        )
        trust = self.role.assume_role_policy
        assert trust is not None  # a Role always has one
        trust.add_statements(
            iam.PolicyStatement(
                actions=["sts:SetSourceIdentity"],
                principals=[roles_anywhere],
                conditions=anchor_condition,
            )
        )
        for principal in session_tag_principals:
            trust.add_statements(
                iam.PolicyStatement(
                    actions=["sts:AssumeRole", "sts:TagSession"],
                    principals=[principal],
                    conditions={"Null": {f"aws:RequestTag/{store_tag_key}": "false"}},
                )
            )

        evidence_objects = bucket.arn_for_objects(EVIDENCE_PREFIX.format(store=store))
        statements = [
            iam.PolicyStatement(
                sid="PutEventsOfATaggedStore",
                actions=["kinesis:PutRecord", "kinesis:PutRecords"],
                resources=[stream.stream_arn],
                conditions=has_store_tag,
            ),
            iam.PolicyStatement(
                sid="PutEvidenceUnderOwnStore",
                actions=["s3:PutObject"],
                resources=[evidence_objects],
                conditions=has_store_tag,
            ),
            iam.PolicyStatement(
                sid="EncryptStreamRecords",
                actions=["kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"kinesis.{stack.region}.{stack.url_suffix}",
                        "kms:EncryptionContext:aws:kinesis:arn": stream.stream_arn,
                    }
                },
            ),
            iam.PolicyStatement(
                sid="EncryptEvidenceObjects",
                actions=["kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{stack.region}.{stack.url_suffix}"},
                    # With an S3 bucket key the context is the bucket; without, the object.
                    "StringLike": {
                        "kms:EncryptionContext:aws:s3:arn": [bucket.bucket_arn, evidence_objects]
                    },
                },
            ),
        ]
        self.policy = iam.Policy(self, "Policy", statements=statements, roles=[self.role])

        NagSuppressions.add_resource_suppressions(
            self.policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Evidence object names are only known to the box (event id and view); "
                        "the wildcard is confined to the box's own store prefix by the "
                        "principal-tag policy variable, and the only action is PutObject."
                    ),
                    applies_to=[RegexAppliesTo(regex=_EVIDENCE_FINDING)],
                )
            ],
        )
