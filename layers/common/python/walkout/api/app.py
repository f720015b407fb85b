"""The HTTP API's resolver and routes (Powertools `APIGatewayHttpResolver`, validated).

Routes are thin: resolve the caller, call `StoreAdmin`, shape the output model. Every
retailer path is scoped to the caller's retailer inside `StoreAdmin`; a role that may not
use a route gets 403 before anything is read, so neither answer reveals another tenant's
data. All errors leave as `application/problem+json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Final

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body

from walkout.api.auth import Caller, ForbiddenError, Role, UnauthenticatedError, caller_from_claims
from walkout.api.carts import LiveCarts
from walkout.api.cursor import BadCursorError, encode_cursor
from walkout.api.models import (
    BulkImportIn,
    BulkImportOut,
    LiveCartOut,
    PlanogramIn,
    PlanogramOut,
    ProductIn,
    ProductListOut,
    ProductOut,
    PromotionListOut,
    PromotionOut,
    StoreDefinitionIn,
    StoreDefinitionOut,
    StoreListOut,
    definition_out,
    live_cart_out,
    product_out,
    summary_out,
)
from walkout.api.pages import register_pages
from walkout.api.params import (
    READERS,
    Cursor,
    Limit,
    PromotionId,
    SessionId,
    Sku,
    StoreId,
)
from walkout.api.params import (
    json_response as _json,
)
from walkout.api.params import (
    responses as _responses,
)
from walkout.api.problems import ApiProblemError, describe_errors, problem
from walkout.api.routes import register_operations as _register_operations
from walkout.api.services import Operations
from walkout.api.stores import StoreAdmin, page_after
from walkout.catalog import Promotion

TITLE: Final = "Walkout API"
API_VERSION: Final = "1.0.0"
OPENAPI_VERSION: Final = "3.1.0"
SWAGGER_PATH: Final = "/docs"
_SECURITY: Final = {
    "security_schemes": {"bearer": HTTPBearer(bearerFormat="JWT")},
    "security": [{"bearer": []}],
}


def create_app(
    admin: Callable[[], StoreAdmin],
    carts: Callable[[], LiveCarts],
    operations: Callable[[], Operations] | None = None,
) -> APIGatewayHttpResolver:
    """The resolver with every route; `admin`, `carts` and `operations` give the services
    (made lazily, once per container, so a route never builds a client it does not use).
    Without `operations` the session, receipt, review and metrics routes answer 501."""
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=finite_json)
    app.configure_openapi(
        title=TITLE,
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        description="Walkout's HTTP API for retailers, reviewers and shoppers.",
        **_SECURITY,  # type: ignore[arg-type]
    )
    app.enable_swagger(path=SWAGGER_PATH, title=TITLE, version=API_VERSION)

    def caller(*roles: Role) -> Caller:
        authorizer = app.current_event.raw_event.get("requestContext", {}).get("authorizer")
        claims = (authorizer or {}).get("jwt", {}).get("claims")
        return caller_from_claims(claims).require(*roles)

    # --- stores -------------------------------------------------------------------------
    @app.post(
        "/stores",
        tags=["stores"],
        summary="Create a store from its whole definition",
        responses=_responses(201, "Created"),
    )
    def create_store(body: StoreDefinitionIn) -> Response[StoreDefinitionOut]:
        stored = admin().create(caller(Role.ADMIN), body)
        return _json(201, definition_out(stored))

    @app.get(
        "/stores", tags=["stores"], summary="List the caller's stores", responses=_responses(200)
    )
    def list_stores(limit: Limit = 50, cursor: Cursor = None) -> StoreListOut:
        page = admin().list(caller(*READERS), limit=limit, cursor=cursor)
        return StoreListOut(
            items=[summary_out(s) for s in page.stores],
            next_cursor=encode_cursor(page.last_key) if page.last_key else None,
        )

    @app.get(
        "/stores/<store_id>",
        tags=["stores"],
        summary="A store's whole definition",
        responses=_responses(200),
    )
    def get_store(store_id: StoreId) -> StoreDefinitionOut:
        return definition_out(admin().get(caller(*READERS), store_id))

    @app.put(
        "/stores/<store_id>",
        tags=["stores"],
        summary="Replace a store's definition",
        responses=_responses(200),
    )
    def replace_store(store_id: StoreId, body: StoreDefinitionIn) -> StoreDefinitionOut:
        return definition_out(admin().replace(caller(Role.ADMIN), store_id, body))

    # --- catalog ------------------------------------------------------------------------
    @app.get(
        "/stores/<store_id>/products",
        tags=["catalog"],
        summary="List the catalog",
        responses=_responses(200),
    )
    def list_products(
        store_id: StoreId, limit: Limit = 50, cursor: Cursor = None
    ) -> ProductListOut:
        stored = admin().get(caller(*READERS), store_id)
        page, next_cursor = page_after(
            stored.definition.catalog.products, lambda p: p.sku, limit=limit, cursor=cursor
        )
        return ProductListOut(items=[product_out(p) for p in page], next_cursor=next_cursor)

    @app.get(
        "/stores/<store_id>/products/<sku>",
        tags=["catalog"],
        summary="One SKU",
        responses=_responses(200),
    )
    def get_product(store_id: StoreId, sku: Sku) -> ProductOut:
        return product_out(admin().product(caller(*READERS), store_id, sku))

    @app.put(
        "/stores/<store_id>/products/<sku>",
        tags=["catalog"],
        summary="Create or replace a SKU",
        responses=_responses(200, "Replaced", or_created=True),
    )
    def put_product(store_id: StoreId, sku: Sku, body: ProductIn) -> Response[ProductOut]:
        stored, created = admin().put_product(caller(Role.ADMIN), store_id, sku, body)
        return _json(201 if created else 200, product_out(stored.definition.catalog.by_sku()[sku]))

    @app.delete(
        "/stores/<store_id>/products/<sku>",
        tags=["catalog"],
        summary="Delete a SKU",
        responses=_responses(204, "Deleted"),
    )
    def delete_product(store_id: StoreId, sku: Sku) -> Response[None]:
        admin().delete_product(caller(Role.ADMIN), store_id, sku)
        return Response(status_code=204)

    @app.post(
        "/stores/<store_id>/products/imports",
        tags=["catalog"],
        summary="Create or replace many SKUs at once (all or nothing)",
        responses=_responses(200),
    )
    def import_products(store_id: StoreId, body: BulkImportIn) -> BulkImportOut:
        stored, created, replaced = admin().import_products(caller(Role.ADMIN), store_id, body)
        return BulkImportOut(created=created, replaced=replaced, version=stored.version)

    # --- planogram ----------------------------------------------------------------------
    @app.get(
        "/stores/<store_id>/planogram",
        tags=["planogram"],
        summary="Lane to SKU",
        responses=_responses(200),
    )
    def get_planogram(store_id: StoreId) -> PlanogramOut:
        stored = admin().get(caller(*READERS), store_id)
        return _planogram_out(stored.definition.store.store_id, stored)

    @app.put(
        "/stores/<store_id>/planogram",
        tags=["planogram"],
        summary="Replace the planogram",
        responses=_responses(200),
    )
    def put_planogram(store_id: StoreId, body: PlanogramIn) -> PlanogramOut:
        stored = admin().set_planogram(caller(Role.ADMIN), store_id, body)
        return _planogram_out(store_id, stored)

    # --- promotions ---------------------------------------------------------------------
    @app.get(
        "/stores/<store_id>/promotions",
        tags=["promotions"],
        summary="List promotions",
        responses=_responses(200),
    )
    def list_promotions(
        store_id: StoreId, limit: Limit = 50, cursor: Cursor = None
    ) -> PromotionListOut:
        stored = admin().get(caller(*READERS), store_id)
        page, next_cursor = page_after(
            stored.definition.catalog.promotions,
            lambda p: p.promotion_id,
            limit=limit,
            cursor=cursor,
        )
        return PromotionListOut(items=page, next_cursor=next_cursor)

    @app.put(
        "/stores/<store_id>/promotions/<promotion_id>",
        tags=["promotions"],
        summary="Create or replace a promotion",
        responses=_responses(200, "Replaced", or_created=True),
    )
    def put_promotion(
        store_id: StoreId, promotion_id: PromotionId, body: Annotated[Promotion, Body()]
    ) -> Response[PromotionOut]:
        stored, created = admin().put_promotion(caller(Role.ADMIN), store_id, promotion_id, body)
        return _json(201 if created else 200, PromotionOut(promotion=body, version=stored.version))

    @app.delete(
        "/stores/<store_id>/promotions/<promotion_id>",
        tags=["promotions"],
        summary="Delete a promotion",
        responses=_responses(204, "Deleted"),
    )
    def delete_promotion(store_id: StoreId, promotion_id: PromotionId) -> Response[None]:
        admin().delete_promotion(caller(Role.ADMIN), store_id, promotion_id)
        return Response(status_code=204)

    # --- sessions -----------------------------------------------------------------------
    @app.get(
        "/stores/<store_id>/sessions/<session_id>/cart",
        tags=["sessions"],
        summary="A session's live cart (staff of the store, or the session's shopper)",
        responses=_responses(200),
    )
    def get_live_cart(store_id: StoreId, session_id: SessionId) -> LiveCartOut:
        who = caller(Role.ADMIN, Role.REVIEWER, Role.SHOPPER)
        return live_cart_out(*carts().read(who, store_id, session_id))

    register_pages(app)
    _register_operations(app, caller, operations or _unconfigured)
    _register_errors(app)
    return app


def finite_json(text: str) -> Any:
    """A request body parsed as JSON proper: Python's parser also takes `NaN` and
    `Infinity`, which no JSON number is and which pass `gt`/`ge` bounds (inf > 0)."""

    def refuse(constant: str) -> Any:
        raise json.JSONDecodeError(f"{constant} is not a JSON number", text, text.find(constant))

    return json.loads(text, parse_constant=refuse)


def _unconfigured() -> Operations:
    raise ServiceError(501, "this deployment of the API does not serve this route")


def _planogram_out(store_id: str, stored: Any) -> PlanogramOut:
    return PlanogramOut(
        store_id=store_id, version=stored.version, entries=stored.definition.planogram.entries
    )


def _register_errors(app: APIGatewayHttpResolver) -> None:
    def invalid_request(exc: RequestValidationError) -> Response[str]:
        detail, errors = describe_errors(exc.errors())
        return problem(422, "Invalid request", detail, errors=errors)

    def api_problem(exc: ApiProblemError) -> Response[str]:
        return problem(exc.status, exc.title, exc.detail)

    def undecodable_body(exc: UnicodeDecodeError) -> Response[str]:
        # A body that is not UTF-8 arrives base64-encoded; Powertools fails decoding it.
        return problem(400, "Bad request", "body: not UTF-8 encoded JSON")

    def bad_cursor(exc: BadCursorError) -> Response[str]:
        return problem(400, "Bad request", f"query.cursor: {exc}")

    def unauthenticated(exc: UnauthenticatedError) -> Response[str]:
        return problem(401, "Unauthorized", str(exc))

    def forbidden(exc: ForbiddenError) -> Response[str]:
        return problem(403, "Forbidden", str(exc))

    def service_error(exc: ServiceError) -> Response[str]:
        return problem(exc.status_code, "Error", str(exc.msg))

    def not_found(exc: NotFoundError) -> Response[str]:
        event = app.current_event
        return problem(404, "Not found", f"no route {event.http_method} {event.path}")

    for kind, handler in (
        (RequestValidationError, invalid_request),
        (ApiProblemError, api_problem),
        (BadCursorError, bad_cursor),
        (UnicodeDecodeError, undecodable_body),
        (UnauthenticatedError, unauthenticated),
        (ForbiddenError, forbidden),
        (ServiceError, service_error),
    ):
        app.exception_handler(kind)(handler)
    app.not_found(not_found)


def openapi_json(app: APIGatewayHttpResolver) -> str:
    """The OpenAPI 3.1 document of `app` (what `walkout openapi export` writes)."""
    return app.get_openapi_json_schema(
        title=TITLE,
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        description="Walkout's HTTP API for retailers, reviewers and shoppers.",
        **_SECURITY,  # type: ignore[arg-type]
    )
