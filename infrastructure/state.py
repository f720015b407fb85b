"""The state tables, built from `walkout.tables.TABLES` (keys and indexes are declared there
once, for this stack and for the local runtime alike)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from walkout.config import DeploymentConfig
from walkout.tables import PK, SK, TABLES, TTL_ATTRIBUTE, TableSpec


def _string(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


class StateTables(Construct):
    """One DynamoDB table per `TableSpec`; `tables[key]` is the table of that spec."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DeploymentConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {
            spec.key: self._table(spec, config, key) for spec in TABLES.values()
        }

    def _table(self, spec: TableSpec, config: DeploymentConfig, key: kms.IKey) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.key.capitalize(),
            table_name=config.table_name(spec.key),
            partition_key=_string(PK),
            sort_key=_string(SK),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            time_to_live_attribute=TTL_ATTRIBUTE if spec.ttl else None,
            deletion_protection=config.retain_data,
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        for index in spec.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string(index.partition_key),
                sort_key=_string(index.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table
