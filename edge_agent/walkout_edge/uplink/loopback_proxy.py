"""A loopback HTTP proxy in front of an AWS endpoint (a local moto server) that misbehaves
on purpose: for the uplink bench and tests, which must exercise the real boto3 client.

- `reject_fraction`: that share of the records of each Kinesis PutRecords request is
  refused with `ProvisionedThroughputExceededException`. The refused records are taken out
  of the request before it is forwarded, so they are really not stored, and put back into
  the response at their positions, as Kinesis does for a partial failure.
- `down`: every connection is accepted and closed without an answer (and counted), as
  when the link to AWS is gone; persistent connections are cut at their next request.
- `response_delay_s`: PutRecords answers are held back that long *after* upstream stored
  the records: a window in which a client crash leaves records delivered but unacknowledged.
- counters: connections, requests and bytes on the wire per API call (request line,
  headers and body as received), records seen and refused.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

PUT_RECORDS_TARGET: Final = "Kinesis_20131202.PutRecords"
THROTTLED: Final = {
    "ErrorCode": "ProvisionedThroughputExceededException",
    "ErrorMessage": "Rate exceeded for shard shardId-000000000000 (injected by loopback proxy)",
}
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "expect", "upgrade"}
)


@dataclass
class ProxyCounters:
    connections: int = 0
    refused_while_down: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    request_bytes: Counter[str] = field(default_factory=Counter)
    records_seen: int = 0
    records_refused: int = 0
    put_records_forwarded: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the second waits for the
    # client's delayed ACK (40 ms on Linux) and every proxied call would take that long.
    disable_nagle_algorithm = True
    server: _ProxyServer

    def setup(self) -> None:
        super().setup()
        proxy = self.server.proxy
        with proxy.lock:
            proxy.counters.connections += 1
        self._upstream: http.client.HTTPConnection | None = None

    def handle(self) -> None:
        if self.server.proxy.down:
            self._refuse()
            return
        super().handle()

    def _refuse(self) -> None:
        proxy = self.server.proxy
        with proxy.lock:
            proxy.counters.refused_while_down += 1
        self.close_connection = True
        # RST rather than FIN: the client sees the connection dropped, as on a dead link.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")

    def finish(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._proxy()

    def do_HEAD(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def _proxy(self) -> None:
        proxy = self.server.proxy
        if proxy.down:
            self._refuse()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target") or f"{self.command} {urlsplit(self.path).path}"
        api = target if target.startswith("Kinesis") else f"s3 {self.command}"
        wire = len(self.requestline) + 2 + len(self.headers.as_bytes()) + len(body)
        with proxy.lock:
            proxy.counters.requests[api] += 1
            proxy.counters.request_bytes[api] += wire
        if target == PUT_RECORDS_TARGET:
            status, headers, payload = self._put_records(body)
        else:
            status, headers, payload = self._forward(body)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        if self._upstream is None:
            host, port = self.server.proxy.upstream
            self._upstream = http.client.HTTPConnection(host, port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        self._upstream.request(self.command, self.path, body=body, headers=headers)
        response = self._upstream.getresponse()
        payload = response.read()
        return response.status, response.getheaders(), payload

    def _put_records(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        request = json.loads(body)
        records = request.get("Records", [])
        refused = proxy.choose_refused(len(records))
        kept = [r for i, r in enumerate(records) if i not in refused]
        results: list[dict[str, Any]] = []
        status, headers = 200, [("Content-Type", "application/x-amz-json-1.1")]
        if kept:
            forwarded = dict(request, Records=kept)
            status, headers, payload = self._forward(json.dumps(forwarded).encode())
            if status != 200:
                return status, headers, payload
            results = json.loads(payload)["Records"]
            with proxy.lock:
                proxy.counters.put_records_forwarded += 1
            proxy.after_forward()
        merged: list[dict[str, Any]] = []
        accepted = iter(results)
        for i in range(len(records)):
            merged.append(dict(THROTTLED) if i in refused else next(accepted))
        failed = sum(1 for r in merged if "ErrorCode" in r)
        payload = json.dumps({"FailedRecordCount": failed, "Records": merged}).encode()
        return status, headers, payload


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: LoopbackProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", proxy.listen_port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that died mid-request (the crash tests kill it on purpose) is expected.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class LoopbackProxy:
    def __init__(
        self,
        upstream_url: str,
        *,
        reject_fraction: float = 0.0,
        response_delay_s: float = 0.0,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.reject_fraction = reject_fraction
        self.response_delay_s = response_delay_s
        self.listen_port = port
        self.down = False
        self.lock = threading.Lock()
        self.counters = ProxyCounters()
        self.forwarded = threading.Condition()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LoopbackProxy:
        self._server = _ProxyServer(self)
        self.listen_port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="loopback-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def set_down(self, down: bool) -> None:
        self.down = down

    def choose_refused(self, count: int) -> set[int]:
        with self.lock:
            refused = {i for i in range(count) if self._rng.random() < self.reject_fraction}
            self.counters.records_seen += count
            self.counters.records_refused += len(refused)
        return refused

    def after_forward(self) -> None:
        with self.forwarded:
            self.forwarded.notify_all()
        if self.response_delay_s > 0:
            time.sleep(self.response_delay_s)

    def wait_forwarded(self, count: int, timeout: float) -> bool:
        """Wait until at least `count` PutRecords requests reached upstream."""
        with self.forwarded:
            return self.forwarded.wait_for(
                lambda: self.counters.put_records_forwarded >= count, timeout
            )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            c = self.counters
            return {
                "connections": c.connections,
                "refused_while_down": c.refused_while_down,
                "requests": dict(c.requests),
                "request_bytes": dict(c.request_bytes),
                "records_seen": c.records_seen,
                "records_refused": c.records_refused,
                "put_records_forwarded": c.put_records_forwarded,
            }
