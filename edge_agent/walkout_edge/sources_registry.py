"""What the daemon runs as its source, looked up by the config's `source.kind`.

A source is anything that runs a pipeline into an `EventSink` until a stop flag is set: the
`events` kind replays a walkout.event/1 JSONL file (built in, `walkout_edge.events_source`);
the perception pipeline registers `replay` (a simulator recording) and `live` (cameras,
load cells, gates) without touching the daemon, in either way:

    from walkout_edge.sources_registry import register_source

    @register_source("replay")
    def create_replay(config: ReplaySourceConfig, context: SourceContext) -> SourceRunner: ...

(which works once the module is imported), or, so that the daemon finds it without anyone
importing it, as an entry point in `edge_agent/pyproject.toml`:

    [project.entry-points."walkout_edge.sources"]
    replay = "walkout_edge.perception.sources:create_replay"

The factory gets the validated config model of its kind and a `SourceContext`. It may raise
`SourceError` for bad input (a missing recording file, a bad calibration): the daemon prints
its message as one line and exits with status 2. What a runner must do:
- number this device's events with `context.next_seq()` and emit them in that order (the
  daemon's heartbeats draw from the same counter, which survives restarts);
- call `context.watermark.advance(ts)` once everything it will ever emit with a time before
  `ts` has been emitted (heartbeats carry it; the cloud finalizes sessions on it);
- report camera frame rates and sensor health to `context.sensors`;
- return from `run` soon after `stop` is set, having emitted what it still holds (nothing
  resumes where it stopped; the daemon sends the outbox afterwards); a finite source may
  also return on its own when it is done.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from typing import Any, Final, Protocol

from walkout.events import utc_now
from walkout_edge.sinks import EventSink

ENTRY_POINT_GROUP: Final = "walkout_edge.sources"
# A camera or sensor that has not reported for this long counts as failing.
STALE_AFTER_S: Final = 10.0


class SourceRunner(Protocol):
    def run(self, stop: threading.Event) -> None:
        """Feed the sink until `stop` is set (or, for a finite source, until done)."""


class SourceError(ValueError):
    """The source's input cannot be used; the message names the key, file or line."""


class Watermark:
    """The time before which everything this device will emit has been emitted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: datetime | None = None

    def advance(self, ts: datetime) -> None:
        """Move the watermark forward to `ts`; an earlier `ts` is ignored (it never recedes)."""
        with self._lock:
            if self._value is None or ts > self._value:
                self._value = ts

    @property
    def value(self) -> datetime | None:
        with self._lock:
            return self._value


class StoreClock:
    """The time events are stamped in: the wall clock live, the recording's time in a replay."""

    def __init__(self) -> None:
        self._now: Callable[[], datetime] = utc_now

    def use(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now()


@dataclass(frozen=True)
class SensorSnapshot:
    cameras_ok: bool
    loadcells_ok: bool
    faults: list[str]
    camera_fps: dict[str, float]


@dataclass
class _Report:
    ok: bool
    at: float
    fps: float | None = None


class SensorHealth:
    """Latest health per sensor, as the source reports it."""

    def __init__(
        self, stale_after_s: float = STALE_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, str], _Report] = {}
        self._stale_after_s = stale_after_s
        self._clock = clock

    def report_camera(self, camera_id: str, fps: float, ok: bool = True) -> None:
        with self._lock:
            self._reports[("camera", camera_id)] = _Report(ok, self._clock(), fps)

    def report_sensor(self, kind: str, sensor_id: str, ok: bool) -> None:
        """`kind` is `loadcell`, `gate` or another sensor kind; only load cells and cameras
        have their own flag in heartbeats, every failing sensor is listed in `faults`."""
        with self._lock:
            self._reports[(kind, sensor_id)] = _Report(ok, self._clock())

    def snapshot(self) -> SensorSnapshot:
        now = self._clock()
        with self._lock:
            reports = dict(self._reports)
        faults: set[str] = set()
        failing_kinds: set[str] = set()
        for (kind, sensor_id), report in reports.items():
            if not report.ok or now - report.at > self._stale_after_s:
                faults.add(sensor_id)
                failing_kinds.add(kind)
        return SensorSnapshot(
            cameras_ok="camera" not in failing_kinds,
            loadcells_ok="loadcell" not in failing_kinds,
            faults=sorted(faults),
            camera_fps={
                sensor_id: float(report.fps or 0.0)
                for (kind, sensor_id), report in sorted(reports.items())
                if kind == "camera"
            },
        )


@dataclass
class SourceContext:
    """What a source gets from the daemon."""

    store_id: str
    device_id: str
    sink: EventSink
    next_seq: Callable[[], int]
    last_seq: Callable[[str], int | None]
    """The last seq enqueued for a device id (None if none): where a replay resumes."""
    watermark: Watermark = field(default_factory=Watermark)
    clock: StoreClock = field(default_factory=StoreClock)
    sensors: SensorHealth = field(default_factory=SensorHealth)
    report_error: Callable[[str], None] = field(default=lambda code: None)
    """Count a problem of the source's input by a short code (shown on `/healthz`)."""


SourceFactory = Callable[[Any, SourceContext], SourceRunner]

_factories: dict[str, SourceFactory] = {}
_builtin: Final[dict[str, str]] = {"events": "walkout_edge.events_source:create_events_source"}


def register_source(
    kind: str, factory: SourceFactory | None = None
) -> Callable[[SourceFactory], SourceFactory]:
    """Register `factory` for `kind` (usable as a decorator); a later call replaces it."""

    def add(f: SourceFactory) -> SourceFactory:
        _factories[kind] = f
        return f

    if factory is not None:
        add(factory)
    return add


def _load(target: str) -> SourceFactory:
    module_name, _, attribute = target.partition(":")
    factory: SourceFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def resolve_source(kind: str) -> SourceFactory | None:
    """The factory for `kind`: registered, built in, or from an installed entry point."""
    if kind in _factories:
        return _factories[kind]
    if kind in _builtin:
        return register_source(kind)(_load(_builtin[kind]))
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == kind:
            return register_source(kind)(entry.load())
    return None


def registered_kinds() -> list[str]:
    kinds = set(_factories) | set(_builtin)
    kinds |= {entry.name for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(kinds)
