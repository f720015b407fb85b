"""WalkoutStack: the one stack of a stage, composed of one construct per concern.

Later concerns (ingest, finalize, review, api, observability, edge access) are added as
constructs that take what they need from the attributes below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Stack, Tags
from constructs import Construct

from infrastructure.alarms import AlarmTopic
from infrastructure.api import HttpApi
from infrastructure.edge_access import EdgeAccess
from infrastructure.encryption import DataKey
from infrastructure.evidence import EvidenceStore
from infrastructure.finalize import Finalization
from infrastructure.ingest import IngestPipeline
from infrastructure.layers import DEPS_LAYER_DIR, SharedLayers
from infrastructure.observability import WalkoutDashboard
from infrastructure.review import ReviewAdapters
from infrastructure.state import StateTables
from infrastructure.stream import EventStream
from walkout.config import CONTEXT_KEY, ConfigError, DeploymentConfig


def read_config(app: App) -> DeploymentConfig:
    """The `walkout` context of `cdk.json`, or of `-c walkout='{...}'` (a JSON string)."""
    context: Any = app.node.try_get_context(CONTEXT_KEY)
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{CONTEXT_KEY}: not a JSON object ({exc.msg})") from None
    if context is not None and not isinstance(context, dict):
        raise ConfigError(f"{CONTEXT_KEY}: expected an object, got {type(context).__name__}")
    return DeploymentConfig.from_context(context)


class WalkoutStack(Stack):
    """Stream, state tables, evidence store, layers and the key that encrypts them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        deps_layer_dir: Path = DEPS_LAYER_DIR,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Walkout checkout-free store system, stage {config.stage}",
            **kwargs,
        )
        self.config = config
        Tags.of(self).add("project", "walkout")
        Tags.of(self).add("walkout:stage", config.stage)

        self.data_key = DataKey(self, "DataKey", config=config)
        key = self.data_key.key
        self.alarm_topic = AlarmTopic(self, "Alarms", config=config, key=key)
        self.events = EventStream(self, "Events", config=config, key=key)
        self.state = StateTables(self, "State", config=config, key=key)
        self.evidence = EvidenceStore(self, "Evidence", config=config, key=key)
        self.layers = SharedLayers(self, "Layers", config=config, deps_dir=deps_layer_dir)
        self.edge_access = EdgeAccess(
            self,
            "EdgeAccess",
            stream=self.events.stream,
            bucket=self.evidence.bucket,
            key=key,
            trust_anchor_arn=config.edge_trust_anchor_arn,
            store_tag_key=config.edge_store_tag_key,
        )
        layers = [self.layers.deps, self.layers.common]
        tables = self.state.tables
        self.review = ReviewAdapters(
            self,
            "Review",
            config=config,
            tables=tables,
            data_key=self.data_key,
            layers=layers,
            evidence_bucket=self.evidence.bucket,
            access_log_bucket=self.evidence.access_log_bucket,
        )
        self.finalize = Finalization(
            self,
            "Finalize",
            config=config,
            tables=tables,
            key=key,
            layers=layers,
            evidence_bucket=self.evidence.bucket,
            review=self.review,
        )
        self.ingest = IngestPipeline(
            self,
            "Ingest",
            config=config,
            stream=self.events.stream,
            tables=tables,
            key=key,
            layers=layers,
            state_machine_arn=self.finalize.state_machine.state_machine_arn,
            event_bus=self.finalize.event_bus,
            alarm_topic=self.alarm_topic.topic,
        )
        self.dashboard = WalkoutDashboard(self, "Observability", config=config, ingest=self.ingest)
        self.api = HttpApi(
            self,
            "Http",
            config=config,
            stores_table=tables["stores"],
            sessions_table=tables["sessions"],
            receipts_table=tables["receipts"],
            ingest_table=tables["ingest"],
            event_bus=self.finalize.event_bus,
            evidence_bucket=self.evidence.bucket,
            data_key=key,
            layers=layers,
        )

        self._outputs()

    def _outputs(self) -> None:
        stream = self.events.stream
        CfnOutput(
            self,
            "EdgeRoleArn",
            value=self.edge_access.role.role_arn,
            description="the role store boxes assume (Roles Anywhere or a tag-setting broker)",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.alarm_topic.topic.topic_arn,
            description="every alarm's ALARM and OK notifications (subscribe operators here)",
        )
        CfnOutput(self, "StreamName", value=stream.stream_name, description="event stream")
        CfnOutput(self, "StreamArn", value=stream.stream_arn, description="event stream ARN")
        for key, table in self.state.tables.items():
            CfnOutput(
                self,
                f"{key.capitalize()}TableName",
                value=table.table_name,
                description=f"{key} table",
            )
        CfnOutput(
            self,
            "EvidenceBucketName",
            value=self.evidence.bucket.bucket_name,
            description="evidence images (expire after evidence_retention_days)",
        )
