"""What the uplink has done lately, and `/healthz` on loopback to read it.

`GET /healthz` answers JSON: `status` (`ok`, or `degraded` with its `problems`), the outbox
depth and age of its oldest event, whether the link is up, the last successful put, error
counters and the last error per channel, frames per second per camera and sensor health.
HTTP 200 when ok, 503 when degraded, so a plain `curl -f` or a systemd watchdog script can
use it. Only loopback addresses are accepted in the config: it says nothing secret, but a
store box's LAN is no place to advertise its state.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from walkout.events import format_timestamp
from walkout_edge.sources_registry import SensorHealth, Watermark
from walkout_edge.uplink.backoff import Failure
from walkout_edge.uplink.outbox import Outbox

log = logging.getLogger("walkout_edge.health")


def _now_text() -> str:
    return format_timestamp(datetime.now(UTC))


class ChannelStatus:
    """Counters of one destination (Kinesis or S3)."""

    def __init__(self) -> None:
        self.last_success: str | None = None
        self.delivered = 0
        self.requests = 0
        self.bytes = 0
        self.errors: dict[str, int] = {}
        self.last_error: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "last_success": self.last_success,
            "delivered": self.delivered,
            "requests": self.requests,
            "bytes": self.bytes,
            "errors": dict(self.errors),
            "last_error": self.last_error,
        }


class UplinkStatus:
    """Thread-safe record of deliveries and failures, read by `/healthz` and logs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kinesis = ChannelStatus()
        self.s3 = ChannelStatus()
        self.source_errors: dict[str, int] = {}
        self.source_state = "starting"
        self._offline_since: str | None = None
        self._online: bool | None = None

    def delivered(self, channel: ChannelStatus, items: int, requests: int, nbytes: int) -> None:
        with self._lock:
            channel.last_success = _now_text()
            channel.delivered += items
            channel.requests += requests
            channel.bytes += nbytes
            self._online = True
            self._offline_since = None

    def failed(
        self, channel: ChannelStatus, failure: Failure, code: str, message: str, count: int = 1
    ) -> None:
        with self._lock:
            channel.errors[code] = channel.errors.get(code, 0) + count
            channel.last_error = {
                "at": _now_text(),
                "kind": failure.value,
                "code": code,
                "message": message[:300],
            }
            if failure is Failure.OFFLINE:
                if self._online is not False:
                    self._offline_since = _now_text()
                self._online = False

    def source_error(self, code: str) -> None:
        with self._lock:
            self.source_errors[code] = self.source_errors.get(code, 0) + 1

    @property
    def online(self) -> bool | None:
        with self._lock:
            return self._online

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "online": self._online,
                "offline_since": self._offline_since,
                "kinesis": self.kinesis.as_dict(),
                "s3": self.s3.as_dict(),
                "source": {"state": self.source_state, "errors": dict(self.source_errors)},
            }


class HealthReport:
    """Assembles the `/healthz` document from the daemon's parts."""

    def __init__(
        self,
        *,
        store_id: str,
        device_id: str,
        outbox: Outbox,
        status: UplinkStatus,
        sensors: SensorHealth,
        watermark: Watermark,
    ) -> None:
        self._identity = {"store_id": store_id, "device_id": device_id}
        self._outbox = outbox
        self._status = status
        self._sensors = sensors
        self._watermark = watermark
        self._started = time.monotonic()

    def __call__(self) -> dict[str, Any]:
        uplink = self._status.snapshot()
        sensors = self._sensors.snapshot()
        watermark = self._watermark.value
        oldest = self._outbox.oldest_age_s()
        outbox = {
            "depth": self._outbox.depth,
            "evidence_depth": self._outbox.evidence_depth,
            "threshold": self._outbox.depth_threshold,
            "over_threshold": self._outbox.over_threshold,
            "oldest_age_s": None if oldest is None else round(oldest, 3),
        }
        problems = []
        if outbox["over_threshold"]:
            problems.append("outbox over threshold")
        if uplink["online"] is False:
            problems.append("offline")
        if not sensors.cameras_ok or not sensors.loadcells_ok or sensors.faults:
            problems.append("sensor faults")
        if uplink["source"]["state"] == "failed":
            problems.append("source failed")
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            **self._identity,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "watermark_ts": None if watermark is None else format_timestamp(watermark),
            "outbox": outbox,
            "online": uplink["online"],
            "offline_since": uplink["offline_since"],
            "last_successful_put": uplink["kinesis"]["last_success"],
            "kinesis": uplink["kinesis"],
            "evidence": uplink["s3"],
            "source": uplink["source"],
            "cameras": {cid: {"fps": round(fps, 2)} for cid, fps in sensors.camera_fps.items()},
            "sensors": {
                "cameras_ok": sensors.cameras_ok,
                "loadcells_ok": sensors.loadcells_ok,
                "faults": sensors.faults,
            },
        }


class _Handler(BaseHTTPRequestHandler):
    server: _HealthHTTPServer

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/healthz":
            self._reply(404, {"error": "not found", "try": "/healthz"})
            return
        try:
            report = self.server.report()
        except Exception as exc:  # the endpoint must answer even when a part is broken
            log.exception("health report failed")
            self._reply(500, {"status": "error", "error": str(exc)})
            return
        self._reply(200 if report["status"] == "ok" else 503, report)

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("healthz request", extra={"request": format % args})


class _HealthHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], report: Callable[[], dict[str, Any]]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.report = report


class HealthServer:
    """`/healthz` served from a background thread."""

    def __init__(self, host: str, port: int, report: Callable[[], dict[str, Any]]) -> None:
        self._server = _HealthHTTPServer((host, port), report)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="healthz", kwargs={"poll_interval": 0.5}
        )
        self._thread.daemon = True

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
