"""`/healthz` on loopback, and JSON log lines that never carry shopper identity."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_events import STORE, T0, pending

from walkout_edge.jsonlog import setup_logging
from walkout_edge.sources_registry import SensorHealth, Watermark
from walkout_edge.uplink.backoff import Failure
from walkout_edge.uplink.health import HealthReport, HealthServer, UplinkStatus
from walkout_edge.uplink.outbox import Outbox


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Outbox, UplinkStatus, SensorHealth, str]]:
    outbox = Outbox(tmp_path / "outbox.db", store_id=STORE, depth_threshold=2)
    status, sensors, watermark = UplinkStatus(), SensorHealth(), Watermark()
    watermark.advance(T0)
    report = HealthReport(
        store_id=STORE,
        device_id="edge-1",
        outbox=outbox,
        status=status,
        sensors=sensors,
        watermark=watermark,
    )
    server = HealthServer("127.0.0.1", 0, report)
    server.start()
    host, port = server.address
    yield outbox, status, sensors, f"http://{host}:{port}"
    server.stop()
    outbox.close()


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_healthz_reports_ok_with_fps_depth_and_last_put(parts: Any) -> None:
    outbox, status, sensors, url = parts
    sensors.report_camera("cam-1", 14.9)
    outbox.enqueue([pending(0)])
    status.delivered(status.kinesis, 10, requests=1, nbytes=4000)

    code, body = _get(f"{url}/healthz")

    assert code == 200 and body["status"] == "ok"
    assert body["cameras"] == {"cam-1": {"fps": 14.9}}
    assert body["outbox"]["depth"] == 1 and body["outbox"]["oldest_age_s"] >= 0
    assert body["last_successful_put"].endswith("Z")
    assert body["online"] is True
    assert body["watermark_ts"] == "2026-11-25T18:00:00.000Z"


def test_healthz_is_503_and_says_why_when_offline_and_backed_up(parts: Any) -> None:
    outbox, status, _, url = parts
    outbox.enqueue([pending(0), pending(1)])
    status.failed(status.kinesis, Failure.OFFLINE, "EndpointConnectionError", "no route")

    code, body = _get(f"{url}/healthz")

    assert code == 503
    assert body["problems"] == ["outbox over threshold", "offline"]
    assert body["kinesis"]["errors"] == {"EndpointConnectionError": 1}
    assert body["offline_since"] is not None
    assert _get(f"{url}/other")[0] == 404


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_log_lines_are_json_and_account_tokens_are_redacted_at_any_depth(
    root_logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    setup_logging("info", static={"store_id": STORE}, stream=stream)
    log = logging.getLogger("walkout_edge.test")

    log.info(
        "session seen",
        extra={"account_ref": "acct-123", "event": {"data": {"account_ref": "acct-456"}}},
    )
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "session seen" and first["level"] == "info"
    assert first["store_id"] == STORE
    assert first["account_ref"] == "[redacted]"
    assert first["event"]["data"]["account_ref"] == "[redacted]"
    assert "acct-" not in stream.getvalue()
    assert second["level"] == "error" and "ValueError: boom" in second["exc"]
