"""The API's two pages, served by the API function itself so they deploy with the stack.

- `GET /app/review`: the review console (a reviewer claims a task and answers its events).
- `GET /app/cart?store=…&session=…`: the shopper's live cart.
- `GET /app/static/<name>`: their scripts, style sheet and icon (package data in `static/`).

The pages are static: no build step, no inline script, no third-party asset. They read
their bearer token from the URL fragment (never sent to a server) or a paste box and call
the API like any client, so these routes need no token and carry no data. They are left
out of the OpenAPI document. Every answer carries a Content-Security-Policy that allows
scripts, styles and calls from this origin only; images also from https (presigned
evidence URLs) and from a local S3 endpoint when one is configured (moto, `walkout serve`).
"""

from __future__ import annotations

import functools
import os
import re
from importlib import resources
from typing import Annotated, Final
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from walkout.api.problems import ResourceNotFoundError

PAGES_PATH: Final = "/app"
REVIEW_PAGE: Final = f"{PAGES_PATH}/review"
CART_PAGE: Final = f"{PAGES_PATH}/cart"
STATIC_PATH: Final = f"{PAGES_PATH}/static"
ASSET_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,40}\.(js|css|svg)$"
_CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_PAGES: Final = {REVIEW_PAGE: "review.html", CART_PAGE: "cart.html"}
# Endpoints boto3 honours for S3; set only when S3 is local (moto), never in the stack.
_S3_ENDPOINT_VARS: Final = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")

AssetName = Annotated[str, Path(pattern=ASSET_PATTERN, max_length=48)]


@functools.cache
def asset(name: str) -> str:
    """The text of a packaged page or asset; `ResourceNotFoundError` if there is none."""
    if name not in {*_PAGES.values()} and not re.match(ASSET_PATTERN, name):
        raise ResourceNotFoundError(f"no asset {name}")
    source = resources.files("walkout.api").joinpath("static", name)
    if not source.is_file():
        raise ResourceNotFoundError(f"no asset {name}")
    return source.read_text(encoding="utf-8")


def _image_sources() -> str:
    sources = ["'self'", "https:"]
    for var in _S3_ENDPOINT_VARS:
        endpoint = urlsplit(os.environ.get(var, ""))
        if endpoint.scheme in {"http", "https"} and endpoint.netloc:
            sources.append(f"{endpoint.scheme}://{endpoint.netloc}")
            break
    return " ".join(sources)


def content_security_policy() -> str:
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {_image_sources()}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _served(name: str, cache_control: str) -> Response[str]:
    suffix = name[name.rfind(".") :]
    return Response(
        status_code=200,
        content_type=_CONTENT_TYPES[suffix],
        body=asset(name),
        headers={
            "Content-Security-Policy": content_security_policy(),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cache-Control": cache_control,
        },
    )


def register_pages(app: APIGatewayHttpResolver) -> None:
    """Add the page and asset routes to `app` (none of them in the OpenAPI document)."""

    @app.get(REVIEW_PAGE, include_in_schema=False)
    def review_page() -> Response[str]:
        return _served(_PAGES[REVIEW_PAGE], "no-store")

    @app.get(CART_PAGE, include_in_schema=False)
    def cart_page() -> Response[str]:
        return _served(_PAGES[CART_PAGE], "no-store")

    @app.get(f"{STATIC_PATH}/<name>", include_in_schema=False)
    def static_asset(name: AssetName) -> Response[str]:
        # Short-lived: a deploy changes the assets under the same names.
        return _served(name, "public, max-age=300")
