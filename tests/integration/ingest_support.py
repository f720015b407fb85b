"""Test support for the ingest handler against moto: tables from `walkout.tables.TABLES`
(names from `DeploymentConfig`), a minimal finalize state machine, an event bus, a small
store, wire-event builders and Kinesis/KPL record builders. Real boto3 calls throughout."""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from aws_kinesis_agg.aggregator import RecordAggregator
from moto import mock_aws

from localcloud import tables as localcloud_tables
from walkout.catalog import Catalog, MultiBuy, Planogram, PlanogramEntry, Product, TaxClass
from walkout.config import DeploymentConfig
from walkout.data import dynamo
from walkout.data.ingest import IngestTable
from walkout.data.sessions import CartRecord, SessionRecord, SessionsTable
from walkout.data.stores import StoreDefinitions
from walkout.definition import StoreDefinition
from walkout.events import Event, event_to_json, make_event
from walkout.settings import IngestSettings, get_settings
from walkout.store import Camera, Floor, Gate, Lane, LoadCell, Point, Rect, Shelf, Store

ROOT = Path(__file__).resolve().parents[2]
HANDLER_PATH = ROOT / "functions" / "ingest" / "handler.py"
REGION = "eu-west-1"
STORE = "store-1"
T0 = datetime(2026, 11, 25, 18, 0, 0, tzinfo=UTC)

# lane -> (sku, unit weight g, tolerance g, price minor)
LANES = {
    "L1": ("cola", 355.0, 5.0, 199),
    "L2": ("chips", 150.0, 4.0, 249),
    "L3": ("soap", 410.0, 6.0, 349),
    "L4": ("juice", 1000.0, 10.0, 299),
    "L5": ("tea", 152.0, 4.0, 399),
    "L6": ("candy", 60.0, 2.0, 99),
}


def small_definition(store_id: str = STORE) -> StoreDefinition:
    lanes = [
        Lane(
            lane_id=lane_id,
            level=i // 3,
            height_m=0.4 + 0.6 * (i // 3),
            front_center=Point(x=1.0 + 0.4 * (i % 3), y=2.0),
            width_m=0.35,
            load_cell=LoadCell(cell_id=f"cell-{lane_id}", hub_id="hub-1", rate_hz=20),
        )
        for i, lane_id in enumerate(LANES)
    ]
    store = Store(
        store_id=store_id,
        retailer_id="retailer-1",
        name="Small store",
        currency="EUR",
        floor=Floor(width_m=6, depth_m=5),
        cameras=[
            Camera.overhead(
                "cam-1", x=3, y=2.5, height_m=3.5, resolution=(640, 480), fps=10, hfov_deg=90
            )
        ],
        shelves=[
            Shelf(
                shelf_id="S1",
                aisle=0,
                footprint=Rect(x0=0.8, y0=2.0, x1=2.2, y1=2.5),
                facing="south",
                lanes=lanes,
            )
        ],
        gates=[
            Gate(gate_id="in", kind="entry", area=Rect(x0=0, y0=0, x1=1, y1=0.5)),
            Gate(gate_id="out", kind="exit", area=Rect(x0=5, y0=0, x1=6, y1=0.5)),
        ],
    )
    catalog = Catalog(
        currency="EUR",
        tax_classes=[TaxClass(tax_class="std", name="Standard", rate_bp=2000)],
        products=[
            Product(
                sku=sku,
                name=sku.title(),
                price_minor=price,
                currency="EUR",
                unit_weight_g=weight,
                weight_tolerance_g=tol,
                tax_class="std",
            )
            for sku, weight, tol, price in LANES.values()
        ],
        promotions=[
            MultiBuy(
                promotion_id="cola-2",
                name="2 colas for 3.00",
                skus=["cola"],
                buy_qty=2,
                price_minor=300,
            )
        ],
    )
    planogram = Planogram(
        entries=[
            PlanogramEntry(lane_id=lane, sku=v[0], initial_units=10) for lane, v in LANES.items()
        ]
    )
    return StoreDefinition(store=store, catalog=catalog, planogram=planogram)


# --- wire events ------------------------------------------------------------------------------


@dataclass
class Edge:
    """An edge device emitting events with strictly increasing `seq`."""

    store_id: str = STORE
    device_id: str = "edge-1"
    seqs: Iterable[int] = field(default_factory=lambda: itertools.count(1))

    def event(self, type_: str, data: dict[str, Any], at_s: float) -> Event:
        return make_event(
            type_,
            data,
            store_id=self.store_id,
            device_id=self.device_id,
            seq=next(iter(self.seqs)),
            ts=T0 + timedelta(seconds=at_s),
        )

    def entered(
        self,
        session: str,
        tracks: Sequence[str],
        at_s: float,
        account: str = "acct-secret-1",
        looks: Sequence[str] = (),
    ) -> Event:
        event = self.event(
            "session.entered",
            {
                "session_id": session,
                "gate_id": "in",
                "account_ref": account,
                "track_ids": list(tracks),
            },
            at_s,
        )
        return self.with_looks(event, looks)

    def joined(self, session: str, track: str, at_s: float, looks: Sequence[str] = ()) -> Event:
        event = self.event("session.joined", {"session_id": session, "track_id": track}, at_s)
        return self.with_looks(event, looks)

    def with_looks(self, event: Event, names: Sequence[str]) -> Event:
        """The event with looks named `names`, under its own evidence prefix."""
        keys = [f"stores/{self.store_id}/evidence/{event.event_id}/{n}.jpg" for n in names]
        return event.model_copy(update={"data": event.data.model_copy(update={"evidence": keys})})

    def exited(
        self, session: str | None, track: str, at_s: float, same_person: float | None = None
    ) -> Event:
        data: dict[str, Any] = {"track_id": track, "session_id": session, "gate_id": "out"}
        if same_person is not None:
            data["same_person_probability"] = same_person
        return self.event("track.exited", data, at_s)

    def shelf(
        self,
        lane: str,
        delta_g: float,
        candidates: Sequence[tuple[str, str | None, float, float]],
        at_s: float,
        noise_g: float = 1.5,
    ) -> Event:
        t = T0 + timedelta(seconds=at_s)
        return self.event(
            "shelf.changed",
            {
                "shelf_id": "S1",
                "lane_id": lane,
                "delta_g": delta_g,
                "t_start": t - timedelta(seconds=1),
                "t_end": t,
                "noise_g": noise_g,
                "candidates": [
                    {"track_id": tr, "session_id": s, "reach_score": r, "distance_m": d}
                    for tr, s, r, d in candidates
                ],
                "evidence": [],
            },
            at_s,
        )

    def ambiguity(self, a: str, b: str, p: float, at_s: float) -> Event:
        t = T0 + timedelta(seconds=at_s)
        return self.event(
            "track.ambiguity",
            {
                "track_ids": [a, b],
                "t_start": t - timedelta(seconds=1),
                "t_end": t,
                "swap_probability": p,
            },
            at_s,
        )

    def heartbeat(self, watermark_s: float, at_s: float | None = None) -> Event:
        return self.event(
            "heartbeat",
            {
                "watermark_ts": T0 + timedelta(seconds=watermark_s),
                "outbox_depth": 0,
                "cameras_ok": True,
                "loadcells_ok": True,
            },
            watermark_s if at_s is None else at_s,
        )


# --- Kinesis records --------------------------------------------------------------------------

_sequence = itertools.count(49_600_000_000_000_000_000_000_000_000_000_000_000_000_000_000)


def kinesis_record(
    partition_key: str, data: bytes, sequence_number: int | None = None
) -> dict[str, Any]:
    return {
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/walkout-test-events",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/ingest",
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": str(
                sequence_number if sequence_number is not None else next(_sequence)
            ),
            "approximateArrivalTimestamp": 1_795_000_000.0,
            "data": base64.b64encode(data).decode(),
        },
    }


def records_of(events: Iterable[Event | bytes], partition_key: str = STORE) -> list[dict[str, Any]]:
    return [
        kinesis_record(partition_key, e if isinstance(e, bytes) else event_to_json(e))
        for e in events
    ]


def kpl_records(events: Iterable[Event], partition_key: str = STORE) -> list[dict[str, Any]]:
    """Events packed into KPL aggregated records, as the edge agent's producer sends them."""
    aggregator = RecordAggregator()
    out: list[dict[str, Any]] = []
    for e in events:
        full = aggregator.add_user_record(partition_key, event_to_json(e))
        if full is not None:
            pk, _, data = full.get_contents()
            out.append(kinesis_record(pk, data))
    rest = aggregator.clear_and_get()
    if rest is not None:
        pk, _, data = rest.get_contents()
        out.append(kinesis_record(pk, data))
    return out


# --- the moto deployment ----------------------------------------------------------------------


class FakeContext:
    function_name = "walkout-test-ingest"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:walkout-test-ingest"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/walkout-test-ingest"
    log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("walkout_ingest_handler", HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def create_tables(config: DeploymentConfig) -> None:
    """The tables exactly as `walkout.tables.TABLES` declares them (as CDK builds them)."""
    localcloud_tables.create_tables(boto3.client("dynamodb", region_name=REGION), config)


MINIMAL_FINALIZE = {
    "Comment": "Stand-in for the finalize workflow (next issue): accepts the session key.",
    "StartAt": "Accept",
    "States": {"Accept": {"Type": "Pass", "End": True}},
}


@dataclass
class MotoIngest:
    """Everything the ingest function talks to, inside an active `mock_aws`."""

    config: DeploymentConfig
    state_machine_arn: str
    bus_name: str
    handler: ModuleType

    @classmethod
    def create(cls, stage: str = "test", grace_s: float = 2.0) -> MotoIngest:
        config = DeploymentConfig(stage=stage, readiness_grace_s=grace_s)
        create_tables(config)
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="finalize", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name=f"{config.prefix}-finalize", definition=json.dumps(MINIMAL_FINALIZE), roleArn=role
        )["stateMachineArn"]
        bus = f"{config.prefix}-bus"
        boto3.client("events", region_name=REGION).create_event_bus(Name=bus)
        env = IngestSettings.environment(
            config,
            stores_table=config.table_name("stores"),
            sessions_table=config.table_name("sessions"),
            ingest_table=config.table_name("ingest"),
            finalize_state_machine_arn=arn,
            event_bus_name=bus,
        )
        os.environ.update(env)
        dynamo.client.cache_clear()
        get_settings.cache_clear()
        handler = load_handler()
        return cls(config=config, state_machine_arn=arn, bus_name=bus, handler=handler)

    # tables ----------------------------------------------------------------------------------

    @property
    def ddb(self) -> Any:
        return dynamo.client("dynamodb")

    def sessions(self) -> SessionsTable:
        return SessionsTable(
            self.ddb,
            self.config.table_name("sessions"),
            ttl_days=14,
            clock=lambda: datetime.now(UTC),
        )

    def ingest(self) -> IngestTable:
        return IngestTable(
            self.ddb, self.config.table_name("ingest"), ttl_days=14, clock=lambda: datetime.now(UTC)
        )

    def put_store(self, definition: StoreDefinition | None = None) -> StoreDefinition:
        definition = definition or small_definition()
        StoreDefinitions(self.ddb, self.config.table_name("stores")).put(
            definition, version=1, updated_at=T0
        )
        return definition

    def invoke(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = self.handler.lambda_handler({"Records": records}, FakeContext())
        return response

    def send(self, events: Iterable[Event | bytes], partition_key: str = STORE) -> dict[str, Any]:
        return self.invoke(records_of(events, partition_key))

    def read(
        self, session_id: str, store_id: str = STORE
    ) -> tuple[SessionRecord | None, CartRecord | None]:
        return self.sessions().read_session(store_id, session_id)

    def items(self, session_id: str) -> dict[str, int]:
        _, cart = self.read(session_id)
        assert cart is not None, f"no cart for {session_id}"
        return cart.items

    def executions(self) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        return list(sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"])

    def scan_count(self, table_key: str) -> int:
        return int(
            self.ddb.scan(TableName=self.config.table_name(table_key), Select="COUNT")["Count"]
        )


def failures(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]


def moto_ingest(grace_s: float = 2.0) -> Iterator[MotoIngest]:
    """A fresh moto account with the ingest deployment; for a test module's fixture."""
    saved = dict(os.environ)
    os.environ.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_DEV="false",
    )
    try:
        with mock_aws():
            deployment = MotoIngest.create(grace_s=grace_s)
            deployment.put_store()
            yield deployment
    finally:
        dynamo.client.cache_clear()
        get_settings.cache_clear()
        os.environ.clear()
        os.environ.update(saved)
