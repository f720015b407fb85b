"""The HTTP API function: API Gateway HTTP API (payload v2, JWT authorizer) → the resolver."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.api.app import create_app
from walkout.api.carts import LiveCarts
from walkout.api.services import Operations, operations_from_settings
from walkout.api.settings import ApiSettings
from walkout.api.stores import StoreAdmin
from walkout.data.catalog_admin import RetailerStores
from walkout.data.dynamo import client, utc_clock
from walkout.data.sessions import SessionsTable
from walkout.observability import logger, metrics, set_stage, tracer
from walkout.settings import get_settings, init_environment

_admin: StoreAdmin | None = None
_carts: LiveCarts | None = None
_operations: Operations | None = None


@functools.cache  # one per container, shared by the admin and cart routes
def _stores() -> RetailerStores:
    settings = get_settings(ApiSettings)
    set_stage(settings.stage)
    return RetailerStores(client("dynamodb"), settings.stores_table)


def admin() -> StoreAdmin:
    global _admin  # noqa: PLW0603 - one per container
    if _admin is None:
        _admin = StoreAdmin(_stores())
    return _admin


def carts() -> LiveCarts:
    global _carts  # noqa: PLW0603 - one per container
    if _carts is None:
        settings = get_settings(ApiSettings)
        sessions = SessionsTable(
            client("dynamodb"),
            settings.sessions_table,
            ttl_days=settings.transient_ttl_days,
            clock=utc_clock,
        )
        _carts = LiveCarts(_stores(), sessions)
    return _carts


def operations() -> Operations:
    global _operations  # noqa: PLW0603 - one per container
    if _operations is None:
        _operations = operations_from_settings(get_settings(ApiSettings), _stores())
    return _operations


app = create_app(admin, carts, operations)


@init_environment(ApiSettings)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
