"""Heartbeats on a fixed period: the watermark, the outbox depth and sensor health.

A heartbeat goes through the outbox like any event, behind the events it vouches for: the
watermark says everything this device will emit with a time before it has been enqueued,
and the outbox sends in enqueue order, so a consumer that sees the heartbeat has already
seen those events. During an outage heartbeats queue up too; they arrive late but true.

`faults` lists failing sensors and, when the outbox holds more than its threshold,
`outbox.backlog`: the depth alone does not say whether it is a problem.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from walkout.events import Event, make_event
from walkout_edge.sources_registry import SensorHealth, StoreClock, Watermark
from walkout_edge.uplink.outbox import Outbox
from walkout_edge.uplink.sink import OutboxSink, Sequencer

BACKLOG_FAULT: Final = "outbox.backlog"
# How long a heartbeat waits for seq numbers the pipeline took but has not emitted yet,
# and after how many such waits in a row those numbers are given up as abandoned.
SEQ_WAIT_S: Final = 1.0
ABANDON_AFTER: Final = 3

log = logging.getLogger("walkout_edge.uplink.heartbeat")


class HeartbeatEmitter:
    def __init__(
        self,
        *,
        sink: OutboxSink,
        sequencer: Sequencer,
        outbox: Outbox,
        store_id: str,
        device_id: str,
        period_s: float,
        watermark: Watermark,
        clock: StoreClock,
        sensors: SensorHealth,
    ) -> None:
        self._sink = sink
        self._sequencer = sequencer
        self._outbox = outbox
        self._store_id = store_id
        self._device_id = device_id
        self.period_s = period_s
        self._watermark = watermark
        self._clock = clock
        self._sensors = sensors
        self._waits = 0
        self._warned_no_watermark = False
        self._thread: threading.Thread | None = None

    def emit_once(self) -> Event | None:
        """Enqueue one heartbeat now; None if there is no watermark yet or seq is busy."""
        watermark = self._watermark.value
        if watermark is None:
            if not self._warned_no_watermark:
                log.info("no heartbeat yet: the source has not set a watermark")
                self._warned_no_watermark = True
            return None
        sensors = self._sensors.snapshot()
        faults = list(sensors.faults)
        if self._outbox.over_threshold:
            faults.append(BACKLOG_FAULT)
        data = {
            "watermark_ts": watermark,
            "outbox_depth": self._outbox.depth,
            "cameras_ok": sensors.cameras_ok,
            "loadcells_ok": sensors.loadcells_ok,
            "faults": faults,
        }
        try:
            with self._sequencer.exclusive(SEQ_WAIT_S) as seq:
                event = make_event(
                    "heartbeat",
                    data,
                    store_id=self._store_id,
                    device_id=self._device_id,
                    seq=seq,
                    ts=max(self._clock.now(), watermark),
                )
                self._sink.emit(event)
        except TimeoutError as exc:
            self._waits += 1
            log.warning("heartbeat skipped", extra={"reason": str(exc), "waits": self._waits})
            if self._waits >= ABANDON_AFTER:
                log.warning("giving up seq numbers the pipeline never emitted")
                self._sequencer.forget_outstanding()
                self._waits = 0
            return None
        self._waits = 0
        return event

    def run(self, stop: threading.Event) -> None:
        """Emit every `period_s` (on a fixed grid, not drifting with emit time) until stop."""
        next_at = time.monotonic()
        while not stop.is_set():
            self.emit_once()
            next_at += self.period_s
            now = time.monotonic()
            if next_at < now:  # fell behind (a stalled disk): skip, do not burst
                next_at = now + self.period_s
            stop.wait(next_at - now)

    def start(self, stop: threading.Event, on_fatal: Callable[[BaseException], None]) -> None:
        def guarded() -> None:
            try:
                self.run(stop)
            except Exception as exc:
                log.exception("heartbeat failed")
                on_fatal(exc)

        self._thread = threading.Thread(target=guarded, name="heartbeat", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
