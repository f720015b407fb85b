"""Live sensors: cameras over RTSP or a local device, load cells and gates over a line feed.

Thin, but real: every sensor runs in its own thread, reconnects with exponential backoff
when its stream drops or cannot be opened, and reports its health (connected, frames per
second, last reading). Readings are stamped with the box's clock when they arrive unless
the feed carries its own timestamp.

Line feeds (TCP, serial, or MQTT when `paho-mqtt` is installed) carry one reading per line:
- load cells: `ts,cell_id,grams` (as in a recording's loadcells.csv; `ts` may be empty) or
  `{"ts": …, "cell_id": …, "grams": …}`;
- gates: `{"kind": "scan"|"enter"|"exit", "gate_id": …, "account_ref": …, "ts": …}` as in a
  recording's gates.jsonl (`ts` optional).
A malformed line is counted and skipped; it never stops the feed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2

from walkout_edge.perception.errors import PerceptionError
from walkout_edge.perception.gates import GateEvent
from walkout_edge.perception.sources import (
    CameraFrame,
    LoadCellReadings,
    Reading,
    SensorStatus,
    load_definition,
    parse_gate_line,
)

log = logging.getLogger("walkout_edge.perception.live")

QUEUE_SIZE = 512


class Backoff:
    """1 s, 2 s, 4 s … up to `cap_s` between reconnection attempts; reset on success."""

    def __init__(self, base_s: float = 1.0, cap_s: float = 30.0) -> None:
        self.base_s, self.cap_s = base_s, cap_s
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.cap_s, self.base_s * float(2**self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Health:
    connected: bool = False
    readings: int = 0
    bad_lines: int = 0
    last_at: float = 0.0
    rate: float = 0.0
    detail: str = ""
    _window: list[float] = field(default_factory=list)

    def tick(self, now: float) -> None:
        self.readings += 1
        self.last_at = now
        self._window.append(now)
        if len(self._window) > 50:
            del self._window[:25]
        if len(self._window) >= 2 and self._window[-1] > self._window[0]:
            self.rate = (len(self._window) - 1) / (self._window[-1] - self._window[0])


class _Reader(threading.Thread):
    """A sensor thread: connect, read until it fails or we stop, back off, reconnect."""

    def __init__(self, name: str, out: queue.Queue[Reading], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.out = out
        self.stop = stop
        self.health = Health()
        self.backoff = Backoff()
        self.dropped = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.session()
                self.backoff.reset()
            except Exception as exc:
                self.health.detail = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("%s: %s", self.name, self.health.detail)
            self.health.connected = False
            if not self.stop.is_set():
                self.stop.wait(self.backoff.next_delay())

    def session(self) -> None:
        raise NotImplementedError

    def put(self, reading: Reading) -> None:
        try:
            self.out.put_nowait(reading)
        except queue.Full:
            self.dropped += 1  # the pipeline is behind: drop rather than lag further


class CameraReader(_Reader):
    def __init__(
        self, camera_id: str, url: str, out: queue.Queue[Reading], stop: threading.Event
    ) -> None:
        super().__init__(f"camera-{camera_id}", out, stop)
        self.camera_id = camera_id
        self.url = url

    def session(self) -> None:
        target: str | int = int(self.url) if self.url.isdigit() else self.url
        capture = cv2.VideoCapture(target)
        if not capture.isOpened():
            raise ConnectionError(f"cannot open {self.url}")
        try:
            self.health.connected = True
            self.health.detail = ""
            while not self.stop.is_set():
                ok, image = capture.read()
                if not ok:
                    raise ConnectionError("stream ended")
                now = time.time()
                self.health.tick(now)
                self.backoff.reset()
                self.put(CameraFrame(self.camera_id, now, image))
        finally:
            capture.release()


class LineParser(Protocol):
    def __call__(self, line: str, received_at: float) -> Reading | None: ...


def parse_loadcell_line(line: str, received_at: float) -> LoadCellReadings | None:
    text = line.strip()
    if not text or text.startswith("ts,"):
        return None
    if text.startswith("{"):
        doc = json.loads(text)
        ts, cell, grams = doc.get("ts"), doc["cell_id"], doc["grams"]
    else:
        ts_text, cell, grams_text = text.split(",")
        ts = float(ts_text) if ts_text else None
        grams = float(grams_text)
    if not isinstance(cell, str) or not cell:
        raise ValueError("cell_id must be a non-empty string")
    return LoadCellReadings(float(ts) if ts is not None else received_at, ((cell, float(grams)),))


def parse_gate_feed_line(line: str, received_at: float) -> GateEvent | None:
    text = line.strip()
    if not text:
        return None
    doc = json.loads(text)
    if isinstance(doc, dict) and "ts" not in doc:
        doc["ts"] = received_at
    return parse_gate_line(json.dumps(doc), "gate feed")


class LineReader(_Reader):
    """One line-based feed over TCP, a serial device, or MQTT."""

    def __init__(
        self,
        name: str,
        feed: Any,
        parse: LineParser,
        out: queue.Queue[Reading],
        stop: threading.Event,
        *,
        on_bad_line: Callable[[str], None] = lambda code: None,
    ) -> None:
        super().__init__(name, out, stop)
        self.feed = feed
        self.parse = parse
        self.on_bad_line = on_bad_line
        if feed.transport == "mqtt":
            try:
                import paho.mqtt.client  # noqa: F401, PLC0415 - optional
            except ImportError:
                raise PerceptionError(
                    f"{name}: transport mqtt needs the paho-mqtt package (pip install paho-mqtt)"
                ) from None

    def session(self) -> None:
        transport = self.feed.transport
        if transport == "tcp":
            self._tcp()
        elif transport == "serial":
            self._serial()
        else:
            self._mqtt()

    def handle(self, line: str) -> None:
        now = time.time()
        try:
            reading = self.parse(line, now)
        except (ValueError, KeyError, TypeError, PerceptionError):
            self.health.bad_lines += 1
            self.on_bad_line(f"{self.name}_bad_line")
            return
        if reading is not None:
            self.health.tick(now)
            self.put(reading)

    def _tcp(self) -> None:
        with socket.create_connection((self.feed.host, self.feed.port), timeout=10) as conn:
            conn.settimeout(1.0)
            self.health.connected = True
            self.health.detail = ""
            buffer = b""
            while not self.stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    raise ConnectionError("connection closed by the feed")
                self.backoff.reset()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    self.handle(raw.decode("utf-8", errors="replace"))

    def _serial(self) -> None:
        try:
            import serial  # noqa: PLC0415 - pyserial is optional
        except ImportError:
            serial = None
        if serial is not None:
            with serial.Serial(self.feed.device, self.feed.baud, timeout=1.0) as port:
                self.health.connected = True
                while not self.stop.is_set():
                    raw = port.readline()
                    if raw:
                        self.handle(raw.decode("utf-8", errors="replace"))
            return
        # Without pyserial: the device as a file (its speed set beforehand, e.g. with stty).
        with Path(self.feed.device).open("rb", buffering=0) as port:
            self.health.connected = True
            for raw in iter(port.readline, b""):
                if self.stop.is_set():
                    return
                self.handle(raw.decode("utf-8", errors="replace"))
            raise ConnectionError("serial device closed")

    def _mqtt(self) -> None:  # pragma: no cover - needs a broker
        import paho.mqtt.client as mqtt  # noqa: PLC0415 - optional

        lost = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if self.feed.tls:
            client.tls_set()

        def on_message(_client: Any, _userdata: Any, message: Any) -> None:
            for line in message.payload.decode("utf-8", errors="replace").splitlines():
                self.handle(line)

        client.on_message = on_message
        client.on_disconnect = lambda *_args: lost.set()
        client.connect(self.feed.host, self.feed.port, keepalive=30)
        client.subscribe(self.feed.topic)
        client.loop_start()
        self.health.connected = True
        try:
            while not self.stop.is_set() and not lost.wait(0.5):
                pass
        finally:
            client.loop_stop()
            with contextlib.suppress(Exception):
                client.disconnect()
        if lost.is_set():
            raise ConnectionError("mqtt connection lost")


class LiveSource:
    """Cameras, load cells and gates of a running store, behind the `SensorSource` interface."""

    def __init__(self, config: Any, on_bad_line: Callable[[str], None] = lambda code: None) -> None:
        self.definition = load_definition(Path(config.store_layout))
        known = {c.camera_id for c in self.definition.store.cameras}
        for cam in config.cameras:
            if cam.id not in known:
                raise PerceptionError(
                    f"source.cameras: camera {cam.id!r} is not in {Path(config.store_layout).name} "
                    f"(known: {', '.join(sorted(known))})"
                )
        self._queue: queue.Queue[Reading] = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self.cameras = [CameraReader(c.id, c.url, self._queue, self._stop) for c in config.cameras]
        self.loadcells = LineReader(
            "loadcells",
            config.loadcells,
            parse_loadcell_line,
            self._queue,
            self._stop,
            on_bad_line=on_bad_line,
        )
        self.gates = LineReader(
            "gates",
            config.gates,
            parse_gate_feed_line,
            self._queue,
            self._stop,
            on_bad_line=on_bad_line,
        )
        self._started = False

    def readings(self, stop: threading.Event) -> Iterator[Reading]:
        if not self._started:
            self._started = True
            for reader in (*self.cameras, self.loadcells, self.gates):
                reader.start()
        while not stop.is_set():
            try:
                yield self._queue.get(timeout=0.2)
            except queue.Empty:
                continue

    def health(self) -> list[SensorStatus]:
        now = time.time()
        out = []
        for cam in self.cameras:
            h = cam.health
            fresh = h.connected and now - h.last_at < 5.0
            out.append(SensorStatus("camera", cam.camera_id, fresh, h.rate, h.detail))
        for kind, reader in (("loadcell", self.loadcells), ("gate", self.gates)):
            h = reader.health
            detail = h.detail or (f"{h.bad_lines} bad lines" if h.bad_lines else "")
            out.append(SensorStatus(kind, reader.name, h.connected, h.rate, detail))
        return out

    def close(self) -> None:
        self._stop.set()
        for reader in (*self.cameras, self.loadcells, self.gates):
            if reader.is_alive():
                reader.join(timeout=2.0)
