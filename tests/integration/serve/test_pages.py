"""The pages' routes and assets (no network): served with a strict CSP, nothing inline,
nothing third-party, out of the OpenAPI document, shipped as package data."""

from __future__ import annotations

import json
import re
import tomllib
from fnmatch import fnmatch
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from walkout.api import pages
from walkout.api.app import create_app, openapi_json

STATIC = Path(pages.__file__).parent / "static"
COMMON_PYPROJECT = Path(__file__).resolve().parents[3] / "layers" / "common" / "pyproject.toml"


def _unused() -> Any:
    raise AssertionError("the pages need no service")


@pytest.fixture(scope="module")
def app() -> APIGatewayHttpResolver:
    return create_app(_unused, _unused)


def get(app: APIGatewayHttpResolver, path: str, query: str = "") -> dict[str, Any]:
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "::1"},
            "requestId": "r",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    response: dict[str, Any] = app.resolve(event, None)  # type: ignore[arg-type]
    return response


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "script" and data.strip():
            self.inline_script = True


@pytest.mark.parametrize("path", ["/app/review", "/app/cart"])
def test_a_page_is_served_with_a_strict_policy(app: APIGatewayHttpResolver, path: str) -> None:
    response = get(app, path)

    headers = response["headers"]
    policy = headers["Content-Security-Policy"]
    assert response["statusCode"] == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("name", ["review.html", "cart.html"])
def test_a_page_has_nothing_inline_and_nothing_third_party(name: str) -> None:
    parser = Tags()
    parser.feed((STATIC / name).read_text(encoding="utf-8"))

    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all((attrs.get("src") or "").startswith("static/") for attrs in scripts)
    assert not parser.inline_script
    assert not any("style" in attrs for _, attrs in parser.tags)
    assert not any(name.startswith("on") for _, attrs in parser.tags for name in attrs)
    assert any(tag == "meta" and attrs.get("name") == "viewport" for tag, attrs in parser.tags)


def test_no_asset_reaches_outside() -> None:
    for asset in STATIC.iterdir():
        text = asset.read_text(encoding="utf-8")
        # Only the SVG namespace names a URL; nothing is fetched from another origin.
        urls = re.findall(r"https?://[^\s\"')]+", text)
        assert set(urls) <= {"http://www.w3.org/2000/svg"}, asset.name
        assert "innerHTML" not in text and "eval(" not in text, asset.name


def test_assets_are_served_by_name_and_nothing_else(app: APIGatewayHttpResolver) -> None:
    script = get(app, "/app/static/review.js")
    style = get(app, "/app/static/walkout.css")
    icon = get(app, "/app/static/icon.svg")
    missing = get(app, "/app/static/nothing.js")
    page_by_name = get(app, "/app/static/review.html")

    assert (script["statusCode"], style["statusCode"], icon["statusCode"]) == (200, 200, 200)
    assert script["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert style["headers"]["Content-Type"] == "text/css; charset=utf-8"
    assert icon["headers"]["Content-Type"] == "image/svg+xml"
    assert missing["statusCode"] == 404
    assert json.loads(missing["body"])["detail"] == "no asset nothing.js"
    assert page_by_name["statusCode"] == 422
    assert json.loads(page_by_name["body"])["detail"].startswith("path.name")


def test_the_pages_are_not_in_the_api_description(app: APIGatewayHttpResolver) -> None:
    paths = json.loads(openapi_json(app))["paths"]

    assert not [p for p in paths if p.startswith("/app")]


def test_a_local_s3_endpoint_may_serve_images(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    in_the_stack = pages.content_security_policy()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/")
    local = pages.content_security_policy()

    assert "img-src 'self' https:;" in in_the_stack
    assert "img-src 'self' https: http://127.0.0.1:5000;" in local


def test_every_asset_is_package_data() -> None:
    patterns = tomllib.loads(COMMON_PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["walkout"]

    for asset in STATIC.iterdir():
        relative = f"api/static/{asset.name}"
        assert any(fnmatch(relative, p) for p in patterns), relative
