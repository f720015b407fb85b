"""Source `kind: events`: replays recorded walkout.event/1 events into the daemon's sink.

The file is what `walkout-edge replay --out EVENTS.jsonl --evidence-dir DIR` writes: one
event per line, evidence images under DIR by their S3 key. Events are sent as recorded:
their ids, devices and seq numbers are the recording's, not re-stamped for this box.

- The whole file is validated before the first event is sent: a bad line stops the daemon
  with its line number instead of shipping half a recording.
- Pacing follows the events' `ts` at `speed` store seconds per wall second (0: as fast as
  possible); events due at the same moment are committed together.
- After a restart it resumes after the last seq the outbox holds for each device, so a
  crash never enqueues an event twice.
- The watermark follows the replay's store clock (never past an event not yet emitted);
  once the file is done it moves `tail_s` past the last event, so the cloud can finalize
  the recording's last visits.
- The daemon's own heartbeats need seq numbers of their own device, so the recording must
  come from another `device_id` than the daemon's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from walkout.events import Event, EventError, ShelfChanged, parse_event, utc_now
from walkout_edge.config import EventsSourceConfig
from walkout_edge.sinks import EvidenceImage
from walkout_edge.sources_registry import SourceContext, SourceError, SourceRunner

# Longest wall-clock sleep between watermark updates while waiting for the next event.
WATERMARK_STEP_S: Final = 0.2
# At speed 0, events are committed in groups of at most this many (one fsync per group).
BATCH: Final = 256

log = logging.getLogger("walkout_edge.events_source")


def read_events(path: Path, *, store_id: str, daemon_device_id: str) -> list[Event]:
    """Every event of the file, validated; `SourceError` names the first bad line."""
    events: list[Event] = []
    last_seq: dict[str, int] = {}
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SourceError(f"source.path: cannot read {path} ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"source.path: {path.name} line {number}"
            try:
                event = parse_event(line)
            except EventError as exc:
                raise SourceError(f"{where}: {exc}") from None
            if event.store_id != store_id:
                raise SourceError(
                    f"{where}: store_id {event.store_id!r} is not this box's store {store_id!r}"
                )
            if event.device_id == daemon_device_id:
                raise SourceError(
                    f"{where}: recorded device_id {event.device_id!r} is the daemon's own "
                    "device_id; give the daemon another one (its heartbeats are numbered "
                    "apart from the recording)"
                )
            previous = last_seq.get(event.device_id)
            if previous is not None and event.seq <= previous:
                raise SourceError(
                    f"{where}: seq {event.seq} of device {event.device_id!r} does not "
                    f"follow {previous}"
                )
            last_seq[event.device_id] = event.seq
            events.append(event)
    return events


class RecordedEventsSource:
    def __init__(
        self,
        config: EventsSourceConfig,
        context: SourceContext,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._context = context
        self._monotonic = monotonic
        events = read_events(
            config.path, store_id=context.store_id, daemon_device_id=context.device_id
        )
        resume = {device: context.last_seq(device) for device in {e.device_id for e in events}}
        self._events = [e for e in events if (last := resume[e.device_id]) is None or e.seq > last]
        self.skipped = len(events) - len(self._events)
        # Earliest ts still to come from position i on: the watermark may not pass it.
        self._earliest_after: list[datetime] = [e.ts for e in self._events]
        for i in range(len(self._events) - 2, -1, -1):
            self._earliest_after[i] = min(self._earliest_after[i], self._earliest_after[i + 1])
        self._lock = threading.Lock()
        self._store_now: datetime | None = events[-1].ts if events else None
        self._anchor: tuple[float, datetime] | None = None
        if self._events:
            self._store_now = self._events[0].ts
            context.watermark.advance(self._events[0].ts)
        elif self._store_now is not None:
            context.watermark.advance(self._store_now + timedelta(seconds=config.tail_s))
        context.clock.use(self.store_now)
        if self.skipped:
            log.info(
                "resuming the recording",
                extra={"already_enqueued": self.skipped, "to_send": len(self._events)},
            )

    def store_now(self) -> datetime:
        """The replay's store time: paced from the first pending event's ts."""
        with self._lock:
            if self._anchor is not None and self._config.speed > 0:
                wall0, store0 = self._anchor
                elapsed = (self._monotonic() - wall0) * self._config.speed
                return store0 + timedelta(seconds=elapsed)
            if self._store_now is None:  # an empty recording: nothing to pace by
                return utc_now()
            return self._store_now

    def run(self, stop: threading.Event) -> None:
        events = self._events
        speed = self._config.speed
        if events:
            with self._lock:
                self._anchor = (self._monotonic(), events[0].ts)
        i = 0
        while i < len(events) and not stop.is_set():
            if speed > 0:
                if not self._wait_until_due(events[i], i, stop):
                    return
                due = self.store_now()
                j = i
                while j < len(events) and events[j].ts <= due and j - i < BATCH:
                    j += 1
                j = max(j, i + 1)
            else:
                j = min(len(events), i + BATCH)
            self._emit(events[i:j])
            with self._lock:
                if speed == 0:
                    self._store_now = max(e.ts for e in events[i:j])
            i = j
            if i < len(events):
                self._context.watermark.advance(min(self.store_now(), self._earliest_after[i]))
        if i == len(events):
            self._finish()

    def _wait_until_due(self, event: Event, index: int, stop: threading.Event) -> bool:
        while not stop.is_set():
            now = self.store_now()
            if now >= event.ts:
                return True
            self._context.watermark.advance(min(now, self._earliest_after[index]))
            wall_left = (event.ts - now).total_seconds() / self._config.speed
            stop.wait(min(wall_left, WATERMARK_STEP_S))
        return False

    def _finish(self) -> None:
        last = max((e.ts for e in self._events), default=None)
        if last is not None:
            self._context.watermark.advance(last + timedelta(seconds=self._config.tail_s))
        log.info("recording replayed", extra={"events": len(self._events)})

    def _emit(self, batch: Sequence[Event]) -> None:
        items = [(event, self._evidence(event)) for event in batch]
        emit_many = getattr(self._context.sink, "emit_many", None)
        if emit_many is not None:
            emit_many(items)
        else:
            for event, evidence in items:
                self._context.sink.emit(event, evidence)

    def _evidence(self, event: Event) -> list[EvidenceImage]:
        directory = self._config.evidence_dir
        if directory is None or not isinstance(event, ShelfChanged):
            return []
        images = []
        for key in event.data.evidence:
            path = directory / key
            try:
                images.append(EvidenceImage(key, path.read_bytes()))
            except OSError as exc:
                # The event still goes: a missing image costs a reviewer a picture, while
                # holding the event back would cost the shopper's cart.
                log.warning(
                    "evidence image missing, event sent without it",
                    extra={"event_id": event.event_id, "key": key, "error": exc.strerror},
                )
                self._context.report_error("evidence_missing")
        return images


def create_events_source(config: EventsSourceConfig, context: SourceContext) -> SourceRunner:
    return RecordedEventsSource(config, context)
