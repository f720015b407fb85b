"""The customer-managed KMS key that encrypts Walkout's data at rest.

The key policy does not give the account `kms:*`. The account's principals may *administer*
the key (with IAM permission), but may *use* it only through the AWS services that store
Walkout's data (`kms:ViaService`), and only with IAM permission of their own. So a role that
can read a table can decrypt its items through DynamoDB, yet nobody can call `kms:Decrypt` on
the key directly. A later construct whose service encrypts with this key (SQS, SNS, Step Functions,
CloudWatch Logs) calls `allow_use_via` or adds its service principal statement here.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from walkout.config import DeploymentConfig

# Managing the key: everything except the cryptographic operations and grant creation.
# Put* lets the account fix the policy later (KMS refuses a policy that would lock it out).
ADMIN_ACTIONS = (
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:UpdateAlias",
    "kms:Describe*",
    "kms:Get*",
    "kms:List*",
    "kms:Enable*",
    "kms:Disable*",
    "kms:Put*",
    "kms:Update*",
    "kms:RevokeGrant",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)

# What a storage service needs on the caller's behalf; CreateGrant is how DynamoDB keeps
# using the key for background work (backups, PITR, TTL deletes).
USE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
    "kms:CreateGrant",
)

# The services that hold Walkout's data in this issue: stream, tables, evidence bucket.
DATA_SERVICES = ("kinesis", "dynamodb", "s3")

# KMS allows a deletion waiting period of 7-30 days; the longest gives time to notice.
PENDING_DELETION = Duration.days(30)


class DataKey(Construct):
    """One key for the stream, the tables and the evidence bucket of a stage."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig) -> None:
        super().__init__(scope, construct_id)
        account = iam.AccountRootPrincipal()
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="AccountAdministersKeyThroughIam",
                    principals=[account],
                    actions=list(ADMIN_ACTIONS),
                    resources=["*"],
                )
            ]
        )
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{config.prefix}-data",
            description=f"Walkout {config.stage}: stream, tables and evidence at rest",
            enable_key_rotation=True,
            policy=policy,
            pending_window=PENDING_DELETION,
            # Retained tables and objects are unreadable without their key.
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        for service in DATA_SERVICES:
            self.allow_use_via(service)
        # DynamoDB checks the key's state in the background (documented key policy for
        # tables encrypted with a customer-managed key); metadata only, no data access.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DynamoDbReadsKeyMetadata",
                principals=[iam.ServicePrincipal("dynamodb.amazonaws.com")],
                actions=["kms:Describe*", "kms:Get*", "kms:List*"],
                resources=["*"],
            )
        )

    def allow_use_via(self, service: str) -> None:
        """Let account principals with IAM permission use the key through `service` only."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"UseThrough{service.capitalize()}",
                principals=[iam.AccountRootPrincipal()],
                actions=list(USE_ACTIONS),
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"{service}.{stack.region}.{stack.url_suffix}",
                        "kms:CallerAccount": stack.account,
                    }
                },
            )
        )
