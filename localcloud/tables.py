"""The DynamoDB tables of `walkout.tables.TABLES`, created through boto3 as the stack creates
them in CloudFormation: same names (from the deployment config), keys, indexes and TTL.

Used wherever the cloud side runs against moto (the local runtime, tests, benchmarks), so
there is one translation of the table spec into DynamoDB calls, not one per caller.
"""

from __future__ import annotations

from typing import Any

from walkout.config import DeploymentConfig
from walkout.tables import PK, SK, TABLES, TTL_ATTRIBUTE, TableSpec


def create_table_request(spec: TableSpec, table_name: str) -> dict[str, Any]:
    """`CreateTable` parameters for one spec: string keys, on-demand, indexes project all."""
    attributes = {PK, SK} | {a for i in spec.indexes for a in (i.partition_key, i.sort_key)}
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": i.name,
                "KeySchema": [
                    {"AttributeName": i.partition_key, "KeyType": "HASH"},
                    {"AttributeName": i.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for i in spec.indexes
        ]
    return request


def create_tables(ddb: Any, config: DeploymentConfig) -> None:
    """Every table of the spec under the config's names, with TTL where the spec has it."""
    for spec in TABLES.values():
        name = config.table_name(spec.key)
        ddb.create_table(**create_table_request(spec, name))
        if spec.ttl:
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
