"""The daemon's `replay` and `live` sources: the perception pipeline behind `SourceRunner`.

Importing this module registers both kinds with `walkout_edge.sources_registry`; it is
light (OpenCV and the pipeline load only when a source is created), and `walkout-edge`'s
CLI imports it, so `walkout-edge run` finds them with a config like

    source: {kind: replay, recording: /data/rec, speed: 1.0}
    source: {kind: live, store_layout: store.json, cameras: [{id: cam-1, url: rtsp://…}],
             loadcells: {transport: tcp, host: 10.0.0.5, port: 7001},
             gates: {transport: tcp, host: 10.0.0.6, port: 7002}}

A replay stamps events (and, through the store clock, heartbeats) with the recording's
time, and restarts from the beginning of the recording when the daemon restarts: it is for
demos and soak tests, not for re-sending a store's day.

When the daemon stops (SIGTERM) neither kind resumes where it was after a restart, so what
the pipeline still holds would be lost: the runner stops reading, flushes the pipeline
(`PerceptionPipeline.flush`: settled weight changes with the evidence seen so far, held
session announcements; no invented exits) into the daemon's sink, which commits each event
to the outbox before returning, and only then returns. The same happens when the source
fails, as far as the pipeline can still emit.

Both kinds take `options: {track_log: PATH}` (an absolute path): the tracker's confirmed
track positions are written there as CSV `ts,track_id,x,y` (UNIX seconds of store time,
store metres; the same writer and format as `walkout-edge replay --tracks`, which
`walkout eval perception --tracks` reads). The file is rewritten from the start each time
the source starts and complete once the source returns (done, stopped or failed).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from walkout_edge.sources_registry import SourceContext, SourceError, SourceRunner, register_source

if TYPE_CHECKING:
    from walkout_edge.perception.pipeline import PerceptionPipeline, TrackLog
    from walkout_edge.perception.sources import SensorSource

HEALTH_EVERY_S = 1.0
# A replay's `options`: once the recording is done, the watermark moves this far past its
# last reading (how long a store would stay quiet after it).
DEFAULT_TAIL_S = 60.0
MAX_TAIL_S = 86_400.0

log = logging.getLogger("walkout_edge.perception.runner")


class PipelineRunner:
    """Feeds a sensor source through the pipeline into the daemon's sink."""

    def __init__(
        self,
        source: SensorSource,
        context: SourceContext,
        finite: bool,
        tail_s: float,
        track_log: TrackLog | None = None,
    ) -> None:
        from walkout_edge.perception.pipeline import PerceptionPipeline, utc  # noqa: PLC0415

        self.source = source
        self.context = context
        self.finite = finite
        self.tail_s = tail_s
        self.pipeline: PerceptionPipeline = PerceptionPipeline(
            source.definition,
            context.sink,
            store_id=context.store_id,
            device_id=context.device_id,
            next_seq=context.next_seq,
            track_log=track_log,
        )
        # Closed by `pipeline.finish` at the end of a replay, else when `run` returns.
        self._track_log = track_log
        self._utc = utc
        if finite:
            # A replay's heartbeats are in the recording's time, like its events.
            context.clock.use(self._store_now)

    def _store_now(self) -> Any:
        now = self.pipeline.now
        return self._utc(now if now is not None else time.time())

    def run(self, stop: threading.Event) -> None:
        last_report = 0.0
        try:
            try:
                for reading in self.source.readings(stop):
                    self.pipeline.feed(reading)
                    wall = time.monotonic()
                    if wall - last_report >= HEALTH_EVERY_S:
                        last_report = wall
                        self._report()
            except Exception:
                self._flush_after_failure()
                raise
            if self.finite and not stop.is_set():
                self.pipeline.finish()
                self._track_log = None
                end = self.pipeline.now
                if end is not None:
                    self.context.watermark.advance(self._utc(end + self.tail_s))
            else:
                # Stopped (a live source only ends so): flush before closing the sensors.
                self._flush("stop")
            self._report()
        finally:
            self.source.close()
            if self._track_log is not None:
                self._track_log.close()
                self._track_log = None

    def _flush(self, reason: str) -> None:
        """Emit what the pipeline holds (each event is on disk when `emit` returns); log it."""
        started = time.monotonic()
        held = len(self.pipeline.held_shelf_changes())
        flushed = self.pipeline.flush()
        now = self.pipeline.now
        log.info(
            "pipeline flushed",
            extra={
                "reason": reason,
                # The time of the last reading fed (seconds, as the source stamps them).
                "store_time_s": now,
                "held_shelf_changes": held,
                "flushed": flushed,
                "flushed_total": sum(flushed.values()),
                "weight_changes_in_motion": self.pipeline.changes_in_motion(),
                "flush_s": round(time.monotonic() - started, 3),
            },
        )

    def _flush_after_failure(self) -> None:
        # The source (or a reading) failed: save what can be saved before the daemon stops.
        # If the pipeline or the sink is what failed, this may fail too; the first error is
        # the one reported.
        try:
            self._flush("source failed")
        except Exception as exc:  # the original error is re-raised
            log.warning("pipeline not flushed", extra={"error": f"{type(exc).__name__}: {exc}"})

    def _report(self) -> None:
        sensors = self.context.sensors
        for status in self.source.health():
            if status.kind == "camera":
                sensors.report_camera(status.sensor_id, status.fps or 0.0, status.ok)
            else:
                sensors.report_sensor(status.kind, status.sensor_id, status.ok)
        if self.finite:
            # A replay has no live load-cell or gate feeds; they are as healthy as the file.
            sensors.report_sensor("loadcell", "recording", True)
        mark = self.pipeline.watermark()
        if mark is not None:
            self.context.watermark.advance(self._utc(mark))


def _check_options(options: dict[str, Any], known: tuple[str, ...]) -> None:
    """Unknown keys of `source.options` stop the daemon, like unknown keys anywhere else."""
    for key in options:
        if key not in known:
            takes = f"known: {', '.join(known)}" if known else "this source takes none"
            raise SourceError(f"source.options.{key}: unknown option ({takes})")


def _tail_s(options: dict[str, Any]) -> float:
    value = options.get("tail_s", DEFAULT_TAIL_S)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceError(f"source.options.tail_s: must be a number of seconds, not {value!r}")
    if not 0 <= value <= MAX_TAIL_S:
        raise SourceError(f"source.options.tail_s: must be from 0 to {MAX_TAIL_S:g} s")
    return float(value)


def _track_log_path(options: dict[str, Any]) -> Path | None:
    value = options.get("track_log")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SourceError(f"source.options.track_log: must be a file path, not {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise SourceError(f"source.options.track_log: {value!r} must be an absolute path")
    if path.is_dir():
        raise SourceError(f"source.options.track_log: {path} is a directory")
    return path


def _open_track_log(path: Path | None) -> TrackLog | None:
    """The CSV writer of `walkout-edge replay --tracks`; opened (and truncated) now."""
    from walkout_edge.perception.pipeline import open_track_log  # noqa: PLC0415

    try:
        return open_track_log(path)
    except OSError as exc:
        raise SourceError(
            f"source.options.track_log: cannot write {path} ({exc.strerror or exc})"
        ) from None


def _runner(
    source: SensorSource, context: SourceContext, *, finite: bool, tail_s: float, track: Path | None
) -> PipelineRunner:
    track_log = _open_track_log(track)
    try:
        return PipelineRunner(source, context, finite=finite, tail_s=tail_s, track_log=track_log)
    except BaseException:
        if track_log is not None:
            track_log.close()
        raise


def create_replay(config: Any, context: SourceContext) -> SourceRunner:
    from walkout_edge.perception.errors import PerceptionError  # noqa: PLC0415
    from walkout_edge.perception.sources import RecordingSource  # noqa: PLC0415

    _check_options(config.options, ("tail_s", "track_log"))
    tail_s = _tail_s(config.options)
    track = _track_log_path(config.options)
    try:
        source = RecordingSource(config.recording, speed=config.speed)
        return _runner(source, context, finite=True, tail_s=tail_s, track=track)
    except PerceptionError as exc:
        raise SourceError(f"source.recording: {exc}") from None


def create_live(config: Any, context: SourceContext) -> SourceRunner:
    from walkout_edge.perception.errors import PerceptionError  # noqa: PLC0415
    from walkout_edge.perception.live import LiveSource  # noqa: PLC0415

    _check_options(config.options, ("track_log",))
    track = _track_log_path(config.options)
    try:
        source = LiveSource(config, on_bad_line=context.report_error)
        return _runner(source, context, finite=False, tail_s=0.0, track=track)
    except PerceptionError as exc:
        raise SourceError(f"source: {exc}") from None


register_source("replay", create_replay)
register_source("live", create_live)
