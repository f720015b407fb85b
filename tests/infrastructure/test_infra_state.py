"""The state tables follow `walkout.tables.TABLES`: keys, indexes and TTL come from there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from infrastructure.state import StateTables
from walkout.config import DeploymentConfig
from walkout.tables import PK, SK, TABLES, TTL_ATTRIBUTE, TableSpec

SPECS = list(TABLES.values())


def _table(synthesized: Any, spec: TableSpec) -> dict[str, Any]:
    name = synthesized.config.table_name(spec.key)
    table: dict[str, Any] = synthesized.template.find_resources("AWS::DynamoDB::Table")[
        synthesized.logical_id("AWS::DynamoDB::Table", {"TableName": name})
    ]
    return table


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.key)
def test_table_is_on_demand_with_pitr_and_the_data_key(
    synthesized: Any, key_arn: dict[str, Any], spec: TableSpec
) -> None:
    props = _table(synthesized, spec)["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": key_arn,
    }
    assert props["KeySchema"] == [
        {"AttributeName": PK, "KeyType": "HASH"},
        {"AttributeName": SK, "KeyType": "RANGE"},
    ]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.key)
def test_ttl_only_where_the_spec_says_data_is_transient(synthesized: Any, spec: TableSpec) -> None:
    ttl = _table(synthesized, spec)["Properties"].get("TimeToLiveSpecification")

    if spec.ttl:
        assert ttl == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    else:
        assert ttl is None


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.key)
def test_indexes_are_the_ones_of_the_spec(synthesized: Any, spec: TableSpec) -> None:
    indexes = _table(synthesized, spec)["Properties"].get("GlobalSecondaryIndexes", [])

    assert indexes == [
        {
            "IndexName": index.name,
            "KeySchema": [
                {"AttributeName": index.partition_key, "KeyType": "HASH"},
                {"AttributeName": index.sort_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        for index in spec.indexes
    ]


def test_a_spec_with_an_index_exists() -> None:
    # Guards the index test above against passing vacuously on index-less specs.
    assert any(spec.indexes for spec in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.key)
def test_retained_tables_are_deletion_protected(synthesized: Any, spec: TableSpec) -> None:
    table = _table(synthesized, spec)

    assert synthesized.config.retain_data
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_tables_of_a_throwaway_stage_can_be_deleted(
    synth_construct: Callable[..., Template],
) -> None:
    def tables(stack: Stack, config: DeploymentConfig, key: kms.IKey) -> StateTables:
        return StateTables(stack, "State", config=config, key=key)

    template = synth_construct(tables, stage="scratch", retain_data=False)

    for table in template.find_resources("AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Delete"
        assert table["Properties"]["DeletionProtectionEnabled"] is False
        assert table["Properties"]["TableName"].startswith("walkout-scratch-")
