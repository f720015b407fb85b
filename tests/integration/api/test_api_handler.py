"""The Lambda entry point: environment, Powertools decorators and the resolver together."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from api_support import (
    BUS,
    EVIDENCE_BUCKET,
    INGEST_TABLE,
    RECEIPTS_TABLE,
    SESSIONS_TABLE,
    TABLE,
    FakeContext,
    Tokens,
    http_event,
    store_body,
)

from walkout.api.settings import ApiSettings
from walkout.config import DeploymentConfig
from walkout.settings import get_settings

HANDLER = Path(__file__).resolve().parents[3] / "functions" / "api" / "handler.py"


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("walkout_api_handler", HANDLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_handler_creates_and_reads_a_store(
    ddb: object, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ApiSettings.environment(
        DeploymentConfig(),
        stores_table=TABLE,
        sessions_table=SESSIONS_TABLE,
        receipts_table=RECEIPTS_TABLE,
        ingest_table=INGEST_TABLE,
        event_bus_name=BUS,
        evidence_bucket=EVIDENCE_BUCKET,
    ).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    handler = load_handler()
    claims = tokens.admin("retailer-h")

    created = handler.lambda_handler(
        http_event("POST", "/stores", claims, store_body()), FakeContext()
    )
    listed = handler.lambda_handler(http_event("GET", "/stores", claims), FakeContext())
    store_id = json.loads(created["body"])["store_id"]
    receipts = handler.lambda_handler(
        http_event("GET", f"/stores/{store_id}/receipts", claims), FakeContext()
    )
    metrics = handler.lambda_handler(
        http_event("GET", f"/stores/{store_id}/metrics", claims), FakeContext()
    )

    assert created["statusCode"] == 201
    assert listed["statusCode"] == 200
    assert '"Corner shop"' in listed["body"]
    assert receipts["statusCode"] == 200, receipts["body"]
    assert json.loads(receipts["body"])["items"] == []
    assert metrics["statusCode"] == 200, metrics["body"]
    assert json.loads(metrics["body"])["sessions"] == 0
    get_settings.cache_clear()
