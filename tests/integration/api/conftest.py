from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import REGION, TABLE, Tokens, create_tables, sessions_table
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from moto import mock_aws

from walkout.api.app import create_app
from walkout.api.carts import LiveCarts
from walkout.api.stores import StoreAdmin
from walkout.data.catalog_admin import RetailerStores

AWS_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Walkout",
}


@pytest.fixture(scope="session")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    # One RSA key for the whole run: generating one costs more than all route tests.
    return Tokens(Path(tmp_path_factory.mktemp("dev-issuer")))


def _moto_stores() -> Iterator[object]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        with mock_aws():
            yield create_tables()


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
    return create_app(lambda: admin, lambda: carts)


@pytest.fixture
def app(ddb: object) -> APIGatewayHttpResolver:
    return _app(ddb)


@pytest.fixture(scope="module")
def module_app(module_ddb: object) -> APIGatewayHttpResolver:
    return _app(module_ddb)
