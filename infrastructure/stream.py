"""The event stream: every edge record of every store, partitioned by `store_id`."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from walkout.config import DeploymentConfig


class EventStream(Construct):
    """Kinesis data stream, encrypted with the data key, sized from the config."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        settings = config.stream
        provisioned = settings.capacity_mode == "provisioned"
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=config.stream_name,
            stream_mode=kinesis.StreamMode.PROVISIONED
            if provisioned
            else kinesis.StreamMode.ON_DEMAND,
            shard_count=settings.shard_count if provisioned else None,
            retention_period=Duration.hours(settings.retention_hours),
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            # Records only pass through: ingest turns them into table items within seconds and
            # the stream forgets them after its retention anyway. A named stream kept after
            # the stack is deleted would only block the next deployment of the stage.
            removal_policy=RemovalPolicy.DESTROY,
        )
        NagSuppressions.add_resource_suppressions(
            self.stream,
            [
                NagPackSuppression(
                    id="AwsSolutions-KDS3",
                    reason=(
                        "Records carry shopper session ids and account tokens; one customer-"
                        "managed key per stage lets operators audit and revoke access to stream, "
                        "tables and evidence together. Kinesis calls KMS about every 5 minutes "
                        "per producer or consumer credential (AWS: a few dollars a month)."
                    ),
                )
            ],
        )
