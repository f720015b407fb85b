from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from api_support import (
    BUS,
    EVIDENCE_BUCKET,
    INGEST_TABLE,
    RECEIPTS_TABLE,
    REGION,
    SESSIONS_TABLE,
    TABLE,
    Tokens,
    create_operations_resources,
    create_tables,
    sessions_table,
)
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from botocore.config import Config
from moto import mock_aws

from walkout.api.app import create_app
from walkout.api.carts import LiveCarts
from walkout.api.services import make_operations
from walkout.api.stores import StoreAdmin
from walkout.data.catalog_admin import RetailerStores

AWS_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Walkout",
}
# moto runs state machines (so a review's task token is a real, waiting one).
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}}


@pytest.fixture(scope="session")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    # One RSA key for the whole run: generating one costs more than all route tests.
    return Tokens(Path(tmp_path_factory.mktemp("dev-issuer")))


def _moto_stores() -> Iterator[object]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        with mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]
            ddb = create_tables()
            create_operations_resources()
            yield ddb


@pytest.fixture
def ddb() -> Iterator[object]:
    yield from _moto_stores()


@pytest.fixture(scope="module")
def module_ddb() -> Iterator[object]:
    """One moto table for a module whose tests only read, or write what they check."""
    yield from _moto_stores()


def _app(ddb: object) -> APIGatewayHttpResolver:
    stores = RetailerStores(ddb, TABLE)
    admin = StoreAdmin(stores)
    carts = LiveCarts(stores, sessions_table(ddb))
    operations = make_operations(
        stores,
        ddb=ddb,
        sfn=boto3.client("stepfunctions", region_name=REGION),
        s3=boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4")),
        events=boto3.client("events", region_name=REGION),
        sessions_table=SESSIONS_TABLE,
        receipts_table=RECEIPTS_TABLE,
        ingest_table=INGEST_TABLE,
        transient_ttl_days=14,
        event_bus_name=BUS,
        evidence_bucket=EVIDENCE_BUCKET,
    )
    return create_app(lambda: admin, lambda: carts, lambda: operations)


@pytest.fixture
def app(ddb: object) -> APIGatewayHttpResolver:
    return _app(ddb)


@pytest.fixture(scope="module")
def module_app(module_ddb: object) -> APIGatewayHttpResolver:
    return _app(module_ddb)
