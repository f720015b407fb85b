"""Counted AWS operations x published on-demand prices -> `cost_usd_per_1000_visits`.

The price table is dated and each price names its source page (docs/cost-model.md lists
them, with the ones that could not be verified). Free tiers are ignored: a store chain's
account uses them up on its first stores, and a per-visit figure should not depend on them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from walkout.config import ConfigError, DeploymentConfig

PRICES_DATE: Final = "2026-11-26"
PRICES_REGION: Final = "us-east-1"
KB: Final = 1024
GB: Final = 1024**3


@dataclass(frozen=True)
class Price:
    usd: float
    per: float  # units the price is for (e.g. 1_000_000 requests)
    unit: str
    source: str
    # "aws page": read on the AWS pricing page; "third party": a dated third-party page
    # quoting it; "unverified": not found in any page the search could read.
    evidence: str


PRICES: Final[dict[str, Price]] = {
    "kinesis_on_demand_stream_hour": Price(
        0.04, 1, "stream-hour", "https://aws.amazon.com/kinesis/data-streams/pricing/", "unverified"
    ),
    "kinesis_on_demand_data_in_gb": Price(
        0.08,
        1,
        "GB ingested (records rounded up to 1 KB)",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        "unverified",
    ),
    "kinesis_on_demand_data_out_gb": Price(
        0.04,
        1,
        "GB retrieved",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        "unverified",
    ),
    "kinesis_shard_hour": Price(
        0.015,
        1,
        "shard-hour",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        "third party",
    ),
    "kinesis_put_payload_units": Price(
        0.014,
        1_000_000,
        "PUT payload units (25 KB)",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        "unverified",
    ),
    "lambda_requests": Price(
        0.20, 1_000_000, "requests", "https://aws.amazon.com/lambda/pricing/", "third party"
    ),
    "lambda_arm64_gb_s": Price(
        0.0000133334,
        1,
        "GB-second (arm64, first 7.5 billion GB-s a month)",
        "https://aws.amazon.com/lambda/pricing/",
        "third party",
    ),
    "dynamodb_write_units": Price(
        0.625,
        1_000_000,
        "write request units (on-demand)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "third party",
    ),
    "dynamodb_read_units": Price(
        0.125,
        1_000_000,
        "read request units (on-demand)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "third party",
    ),
    "stepfunctions_transitions": Price(
        0.025,
        1_000,
        "state transitions (Standard)",
        "https://aws.amazon.com/step-functions/pricing/",
        "aws page",
    ),
    "s3_put": Price(
        0.005,
        1_000,
        "PUT/COPY/POST/LIST requests (S3 Standard)",
        "https://aws.amazon.com/s3/pricing/",
        "third party",
    ),
    "s3_get": Price(
        0.0004,
        1_000,
        "GET requests (S3 Standard)",
        "https://aws.amazon.com/s3/pricing/",
        "unverified",
    ),
    "sns_publishes": Price(
        0.50,
        1_000_000,
        "publishes (64 KB chunks)",
        "https://aws.amazon.com/sns/pricing/",
        "third party",
    ),
    "sqs_requests": Price(
        0.40,
        1_000_000,
        "requests (standard queue)",
        "https://aws.amazon.com/sqs/pricing/",
        "third party",
    ),
    "eventbridge_events": Price(
        1.00,
        1_000_000,
        "custom events published",
        "https://aws.amazon.com/eventbridge/pricing/",
        "third party",
    ),
}


class CostError(ValueError):
    """operations.json lacks a count the cost model needs; the message names it."""


def deployment_config(
    cdk_json: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> DeploymentConfig:
    """The `walkout` context of cdk.json (the stack's own settings), with overrides."""
    path = cdk_json or Path(__file__).resolve().parents[2] / "cdk.json"
    context: dict[str, Any] = {}
    if path.is_file():
        try:
            context = dict(json.loads(path.read_text(encoding="utf-8"))["context"]["walkout"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: no readable context.walkout ({exc})") from None
    context.update(overrides or {})
    return DeploymentConfig.from_context(context)


def _count(ops: Mapping[str, Any], *path: str) -> float:
    node: Any = ops
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise CostError(f"operations.json: no {'.'.join(path)}")
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise CostError(f"operations.json: {'.'.join(path)} is not a number")
    return float(node)


def _line(service: str, item: str, quantity: float, price_key: str) -> dict[str, Any]:
    price = PRICES[price_key]
    return {
        "service": service,
        "item": item,
        "quantity": round(quantity, 6),
        "unit": price.unit,
        "unit_price_usd": price.usd,
        "per": price.per,
        "usd": quantity / price.per * price.usd,
        "price_evidence": price.evidence,
    }


def cost_breakdown(
    operations: Mapping[str, Any],
    *,
    visits: int,
    store_hours: float,
    config: DeploymentConfig,
    region: str | None = None,
) -> dict[str, Any]:
    """Line items of the run's cost and `cost_usd_per_1000_visits`.

    `store_hours`: how long the store was open in the recording (the stream is charged for
    that time, not for how fast the replay ran here).
    """
    lines: list[dict[str, Any]] = []
    kinesis_bytes = _count(operations, "kinesis", "bytes")
    kinesis_records = _count(operations, "kinesis", "records")
    if config.stream.capacity_mode == "on_demand":
        # Each record is rounded up to 1 KB; without per-record sizes, the smallest total
        # consistent with the counts (every record at least 1 KB, all bytes counted).
        data_in_kb = max(kinesis_records, math.ceil(kinesis_bytes / KB))
        lines.append(
            _line(
                "kinesis", "stream hours (on-demand)", store_hours, "kinesis_on_demand_stream_hour"
            )
        )
        lines.append(
            _line("kinesis", "data in", data_in_kb * KB / GB, "kinesis_on_demand_data_in_gb")
        )
        lines.append(
            _line(
                "kinesis",
                "data out (one consumer)",
                kinesis_bytes / GB,
                "kinesis_on_demand_data_out_gb",
            )
        )
    else:
        lines.append(
            _line(
                "kinesis",
                "shard hours (provisioned)",
                config.stream.shard_count * store_hours,
                "kinesis_shard_hour",
            )
        )
        lines.append(
            _line(
                "kinesis",
                "PUT payload units",
                _count(operations, "kinesis", "payload_units_25kb"),
                "kinesis_put_payload_units",
            )
        )
    functions = operations.get("lambda")
    if not isinstance(functions, Mapping):
        raise CostError("operations.json: no lambda")
    invocations = 0.0
    gb_seconds = 0.0
    for name in sorted(functions):
        calls = _count(functions, name, "invocations")
        ms = _count(functions, name, "duration_ms")
        memory = _count(functions, name, "memory_mb")
        invocations += calls
        gb_seconds += memory / 1024 * ms / 1000
    lines.append(_line("lambda", "requests", invocations, "lambda_requests"))
    lines.append(_line("lambda", "compute (arm64)", gb_seconds, "lambda_arm64_gb_s"))
    lines.append(
        _line(
            "dynamodb",
            "write request units",
            _count(operations, "dynamodb", "write_units"),
            "dynamodb_write_units",
        )
    )
    lines.append(
        _line(
            "dynamodb",
            "read request units",
            _count(operations, "dynamodb", "read_units"),
            "dynamodb_read_units",
        )
    )
    lines.append(
        _line(
            "stepfunctions",
            "state transitions",
            _count(operations, "stepfunctions", "transitions"),
            "stepfunctions_transitions",
        )
    )
    lines.append(
        _line(
            "s3",
            "PUT and LIST requests",
            _count(operations, "s3", "put") + _count(operations, "s3", "list"),
            "s3_put",
        )
    )
    lines.append(_line("s3", "GET requests", _count(operations, "s3", "get"), "s3_get"))
    lines.append(_line("sns", "publishes", _count(operations, "sns", "publishes"), "sns_publishes"))
    lines.append(_line("sqs", "requests", _count(operations, "sqs", "requests"), "sqs_requests"))
    lines.append(
        _line(
            "eventbridge",
            "custom events",
            _count(operations, "eventbridge", "entries"),
            "eventbridge_events",
        )
    )
    tasks = _count(operations, "review_tasks")
    lines.append(
        {
            "service": "review",
            "item": "review tasks (configured price per task)",
            "quantity": tasks,
            "unit": "tasks",
            "unit_price_usd": config.review_cost_per_task_usd,
            "per": 1,
            "usd": tasks * config.review_cost_per_task_usd,
            "price_evidence": "setting",
        }
    )
    total = sum(line["usd"] for line in lines)
    aws = total - lines[-1]["usd"]
    for line in lines:
        line["usd"] = round(line["usd"], 8)
    per_1000 = round(1000 * total / visits, 4) if visits else None
    notes = [
        "free tiers ignored; Lambda GB-seconds measured on this machine against moto "
        "(slower than real Lambda, so pessimistic)"
    ]
    if region and region != PRICES_REGION:
        notes.append(f"the config's region is {region}; prices are those of {PRICES_REGION}")
    return {
        "prices_date": PRICES_DATE,
        "prices_region": PRICES_REGION,
        "stream_capacity_mode": config.stream.capacity_mode,
        "visits": visits,
        "store_hours": round(store_hours, 4),
        "lines": lines,
        "aws_usd": round(aws, 6),
        "review_usd": round(lines[-1]["usd"], 6),
        "total_usd": round(total, 6),
        "cost_usd_per_1000_visits": per_1000,
        "aws_usd_per_1000_visits": round(1000 * aws / visits, 4) if visits else None,
        "notes": notes,
    }
