"""The operations alarm topic: where every alarm of a deployment sends ALARM and OK.

One SNS topic per deployment, encrypted with the stack's data key and refusing plain HTTP
(like the review topics). CloudWatch publishes to it on behalf of the deployment's alarms
only: the topic policy and the key policy let the CloudWatch service principal publish and
use the key for alarms of this account named `<prefix>-*` (every alarm here is named so),
and nothing else. Without the key statement CloudWatch could not publish to an encrypted
topic at all, and the notifications would be dropped silently.

`alarm_email` in the deployment config subscribes one address (AWS sends it a confirmation
mail first); other subscribers (chat, paging) are added to the topic outside the stack.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from walkout.config import DeploymentConfig

CLOUDWATCH = "cloudwatch.amazonaws.com"
# What a publisher needs on an encrypted topic's key (SNS encrypts with a data key of it).
PUBLISH_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")


def alarm_arn_pattern(stack: Stack, config: DeploymentConfig) -> str:
    """The ARNs of the deployment's alarms: every alarm is named `<prefix>-...`."""
    return stack.format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name=f"{config.prefix}-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class AlarmTopic(Construct):
    """`topic`: the deployment's operations alarm topic, for every construct with alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"{config.prefix}-alarms",
            display_name=f"Walkout {config.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # Confused-deputy guard: CloudWatch acts only for this account's alarms of the stage.
        only_our_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": alarm_arn_pattern(stack, config)},
        }
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=only_our_alarms,
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheAlarmTopic",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=list(PUBLISH_KEY_ACTIONS),
                resources=["*"],
                conditions=only_our_alarms,
            )
        )
        if config.alarm_email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
