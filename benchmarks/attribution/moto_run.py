"""The real ingest handler on a derived store day, against moto in-process: DynamoDB write
items per event (by type), handler time per 1,000 events, and carts against the truth."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.attribution.cases import Case
from benchmarks.attribution.derive import Derived
from localcloud.tables import create_tables
from walkout.config import DeploymentConfig
from walkout.data import dynamo
from walkout.data.sessions import SessionsTable
from walkout.data.stores import StoreDefinitions
from walkout.events import event_to_json
from walkout.settings import IngestSettings, get_settings

HANDLER = Path(__file__).resolve().parents[2] / "functions" / "ingest" / "handler.py"
REGION = "eu-west-1"
WRITE_CALLS = {"put_item": 1, "update_item": 1, "delete_item": 1}


class _Context:
    function_name = "walkout-bench-ingest"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:walkout-bench-ingest"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _tables(config: DeploymentConfig) -> None:
    create_tables(boto3.client("dynamodb", region_name=REGION), config)


def run_ingest(case: Case, derived: Derived, *, review_threshold: float) -> dict[str, Any]:
    saved = dict(os.environ)
    os.environ.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto's dummy credentials
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    try:
        with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
            figures = _run(case, derived, review_threshold)
        for line in figures.pop("_report"):
            print(line)
        return figures
    finally:
        dynamo.client.cache_clear()
        get_settings.cache_clear()
        os.environ.clear()
        os.environ.update(saved)


def _run(case: Case, derived: Derived, review_threshold: float) -> dict[str, Any]:
    config = DeploymentConfig(stage="bench", review_threshold=review_threshold)
    _tables(config)
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="f", AssumeRolePolicyDocument="{}"
    )
    arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name="finalize",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
        roleArn=role["Role"]["Arn"],
    )["stateMachineArn"]
    boto3.client("events", region_name=REGION).create_event_bus(Name="bench-bus")
    os.environ.update(
        IngestSettings.environment(
            config,
            stores_table=config.table_name("stores"),
            sessions_table=config.table_name("sessions"),
            ingest_table=config.table_name("ingest"),
            finalize_state_machine_arn=arn,
            event_bus_name="bench-bus",
        )
    )
    dynamo.client.cache_clear()
    get_settings.cache_clear()
    ddb = dynamo.client("dynamodb")
    StoreDefinitions(ddb, config.table_name("stores")).put(
        case.definition, version=1, updated_at=datetime.now(UTC)
    )

    writes: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    current = {"type": ""}
    in_aws = [0.0]
    for service in ("dynamodb", "stepfunctions", "events"):
        aws_client = dynamo.client(service)
        for name in aws_client.meta.method_to_api_mapping:
            real = getattr(aws_client, name)

            def timed(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                n = 0
                if _name == "transact_write_items":
                    n = len(kwargs["TransactItems"])
                elif _name == "batch_write_item":
                    n = sum(len(v) for v in kwargs["RequestItems"].values())
                elif _name in WRITE_CALLS:
                    n = 1
                t0 = time.perf_counter()
                try:
                    return _real(*args, **kwargs)
                finally:
                    in_aws[0] += time.perf_counter() - t0
                    writes[current["type"]] += n
                    calls[current["type"]] += 1

            setattr(aws_client, name, timed)

    spec = importlib.util.spec_from_file_location("walkout_bench_ingest_handler", HANDLER)
    assert spec is not None and spec.loader is not None
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    batch_service = handler.service()  # built once, as in a warm container
    original_start = batch_service.start_batch

    events = derived.events
    store_id = case.definition.store.store_id
    batch_size = config.ingest.batch_size
    elapsed = 0.0
    failures = 0
    aws_at_start = in_aws[0]
    types = Counter(e.type for e in events)
    sequence = 49_000_000_000_000_000_000
    for start in range(0, len(events), batch_size):
        chunk = events[start : start + batch_size]
        records = []
        for e in chunk:
            sequence += 1
            records.append(
                {
                    "eventSource": "aws:kinesis",
                    "kinesis": {
                        "partitionKey": store_id,
                        "sequenceNumber": str(sequence),
                        "data": base64.b64encode(event_to_json(e)).decode(),
                        "approximateArrivalTimestamp": 0.0,
                        "kinesisSchemaVersion": "1.0",
                    },
                    "eventID": f"shardId-000000000000:{sequence}",
                }
            )
        types_in_order: list[str] = [e.type for e in chunk]

        def start_batch(recs: Any, _types: list[str] = types_in_order) -> Any:
            batch = original_start(recs)
            real_handle = batch.handle
            position = iter(_types)

            def handle(record: Any) -> Any:
                current["type"] = next(position)
                return real_handle(record)

            batch.handle = handle
            return batch

        batch_service.start_batch = start_batch
        t0 = time.perf_counter()
        response = handler.lambda_handler({"Records": records}, _Context())
        elapsed += time.perf_counter() - t0
        failures += len(response.get("batchItemFailures", []))

    moto_s = in_aws[0] - aws_at_start
    current["type"] = "(reading the results back)"
    table = SessionsTable(
        ddb, config.table_name("sessions"), ttl_days=14, clock=lambda: datetime.now(UTC)
    )
    confident = right_confident = ready = 0
    all_right = 0
    explained = 0  # confident but wrong only because of an uncharged (review) event
    events_of: dict[str, list[str]] = {}
    for event_id, truth in derived.truth.items():
        events_of.setdefault(truth.session_id, []).append(event_id)
    for session_id, receipt in derived.receipts.items():
        session, cart = table.read_session(store_id, session_id)
        if cart is None or session is None:
            continue
        ready += session.status.value == "ready"
        ok = cart.items == receipt
        all_right += ok
        if cart.confidence >= review_threshold:
            confident += 1
            right_confident += ok
            if not ok:
                stored = [table.get_attribution(store_id, e) for e in events_of.get(session_id, [])]
                explained += any(
                    a is not None
                    and not a.decision.changes_a_cart
                    and a.probability < review_threshold
                    for a in stored
                )
    total_writes = sum(writes[t] for t in types)
    total_calls = sum(calls[t] for t in types)
    n = len(events)
    report: list[str] = []
    report.append(f"\n(2) Ingest against moto in-process ({case.name}, batches of {batch_size}):")
    report.append(f"    events {n} ({dict(sorted(types.items()))})")
    report.append(f"    DynamoDB write items per event: {total_writes / n:.3f} overall")
    for t in sorted(types):
        report.append(f"      {t:16s} {writes[t] / types[t]:.3f} per event")
    own = elapsed - moto_s
    report.append(
        f"    handler time per 1,000 events: {1000 * elapsed / n * 1000:.0f} ms, of which moto"
        f" {1000 * moto_s / n * 1000:.0f} ms and Walkout's code {1000 * own / n * 1000:.0f} ms"
        f" (batch item failures {failures})"
    )
    report.append(
        f"    AWS API calls per event: {total_calls / n:.3f}"
        f" ({', '.join(f'{t} {calls[t] / types[t]:.2f}' for t in sorted(types))})"
    )
    report.append(
        f"    sessions handed over {ready}/{len(derived.receipts)};"
        f" confident (>= {review_threshold}) carts equal to the truth:"
        f" {right_confident}/{confident};"
        f" all carts equal to the truth: {all_right}/{len(derived.receipts)}"
    )
    report.append(
        f"    of the {confident - right_confident} confident carts that differ,"
        f" {explained} differ only"
        " by an item whose shelf event was charged to nobody with p below the threshold (an"
        " event the tracker missed the actor of: it goes to review on its own)"
    )
    return {
        "_report": report,
        "case": case.name,
        "events": n,
        "event_types": dict(types),
        "write_items_per_event": total_writes / n,
        "write_items_per_event_by_type": {t: writes[t] / types[t] for t in types},
        "handler_ms_per_1000_events": 1000 * elapsed / n * 1000,
        "moto_ms_per_1000_events": 1000 * moto_s / n * 1000,
        "walkout_code_ms_per_1000_events": 1000 * own / n * 1000,
        "aws_calls_per_event": total_calls / n,
        "batch_item_failures": failures,
        "sessions": len(derived.receipts),
        "sessions_ready": ready,
        "confident_sessions": confident,
        "confident_sessions_right": right_confident,
        "confident_wrong_explained_by_uncharged_events": explained,
        "sessions_right": all_right,
    }
