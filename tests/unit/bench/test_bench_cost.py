"""The cost model: counted operations x the dated price table, per 1,000 visits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_support import operations

from benchmarks.bench.cost import PRICES, CostError, cost_breakdown, deployment_config
from walkout.config import DeploymentConfig


def _price(key: str) -> float:
    return PRICES[key].usd / PRICES[key].per


def _expected_aws(store_hours: float) -> float:
    gb_s = 1.0 * 2.0 + 0.5 * 1.0  # ingest 1 GB x 2 s, assess 0.5 GB x 1 s
    return (
        store_hours * _price("kinesis_on_demand_stream_hour")
        + 10 * 1024 / 1024**3 * _price("kinesis_on_demand_data_in_gb")  # 10 records >= 1 KB
        + 5000 / 1024**3 * _price("kinesis_on_demand_data_out_gb")
        + 8 * _price("lambda_requests")
        + gb_s * _price("lambda_arm64_gb_s")
        + 2000 * _price("dynamodb_write_units")
        + 1000 * _price("dynamodb_read_units")
        + 17 * _price("stepfunctions_transitions")
        + 100 * _price("s3_put")
        + 10 * _price("s3_get")
        + 3 * _price("sns_publishes")
        + 12 * _price("eventbridge_events")
    )


def test_cost_per_1000_visits_adds_every_line_and_the_review_tasks() -> None:
    config = DeploymentConfig(review_cost_per_task_usd=0.25)

    cost = cost_breakdown(operations(), visits=4, store_hours=0.5, config=config)

    aws = _expected_aws(0.5)
    assert cost["aws_usd"] == pytest.approx(aws, abs=1e-6)
    assert cost["review_usd"] == pytest.approx(0.25)
    assert cost["cost_usd_per_1000_visits"] == pytest.approx(1000 * (aws + 0.25) / 4, abs=1e-3)
    assert cost["prices_date"] and cost["prices_region"] == "us-east-1"
    assert {line["service"] for line in cost["lines"]} >= {"kinesis", "lambda", "review"}


def test_provisioned_streams_pay_shard_hours_and_payload_units() -> None:
    config = DeploymentConfig.model_validate(
        {"stream": {"capacity_mode": "provisioned", "shard_count": 2}}
    )

    cost = cost_breakdown(operations(), visits=1, store_hours=3.0, config=config)

    items = {line["item"]: line for line in cost["lines"] if line["service"] == "kinesis"}
    assert items["shard hours (provisioned)"]["quantity"] == 6.0
    assert items["PUT payload units"]["usd"] == pytest.approx(
        10 * _price("kinesis_put_payload_units")
    )


def test_a_missing_count_names_it() -> None:
    ops = operations()
    del ops["dynamodb"]["write_units"]

    with pytest.raises(CostError, match=r"dynamodb\.write_units"):
        cost_breakdown(ops, visits=1, store_hours=1.0, config=DeploymentConfig())


def test_another_region_is_noted() -> None:
    cost = cost_breakdown(
        operations(), visits=1, store_hours=1.0, config=DeploymentConfig(), region="eu-west-1"
    )

    assert any("eu-west-1" in note for note in cost["notes"])


def test_the_config_comes_from_cdk_json_with_overrides(tmp_path: Path) -> None:
    cdk = tmp_path / "cdk.json"
    cdk.write_text(json.dumps({"context": {"walkout": {"review_cost_per_task_usd": 0.3}}}))

    assert deployment_config(cdk).review_cost_per_task_usd == 0.3
    assert deployment_config(cdk, {"review_cost_per_task_usd": 0.0}).review_cost_per_task_usd == 0


def test_every_price_is_dated_sourced_and_says_how_it_was_checked() -> None:
    for key, price in PRICES.items():
        assert price.usd > 0 and price.per > 0, key
        assert price.source.startswith("https://aws.amazon.com/"), key
        assert price.evidence in {"aws page", "third party", "unverified"}, key
