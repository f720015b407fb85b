"""`walkout-edge run`: the store daemon. Source → outbox → Kinesis and S3, with heartbeats.

Threads: the source (the pipeline, or a recorded-events replay) emits into the outbox;
one loop ships events to Kinesis, one uploads evidence to S3; heartbeats go into the outbox
on a fixed period; `/healthz` answers on loopback. The main thread waits for one of:
- SIGTERM/SIGINT: stop the source, which first emits what its pipeline still holds (a
  source does not resume where it stopped; each event is committed to the outbox, fsync'd,
  before `emit` returns), and wait for it up to `SOURCE_STOP_S`; then enqueue a last
  heartbeat (its watermark covers only what was enqueued), send what can be sent within
  `uplink.shutdown_flush_s`, keep the rest on disk for the next start, exit 0 (a second
  signal cuts the sending short);
- a finite source is done: last heartbeat, drain the outbox completely, exit 0;
- a fatal error (the outbox file damaged or the disk refusing writes, the source failing):
  log it, stop, exit 1. Nothing committed is lost: it stays in the outbox.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, Final

import boto3
from botocore.config import Config as BotoConfig

from walkout_edge import __version__
from walkout_edge.config import EdgeConfig
from walkout_edge.sources_registry import (
    SourceContext,
    SourceError,
    SourceRunner,
    registered_kinds,
    resolve_source,
)
from walkout_edge.uplink.backoff import Backoff
from walkout_edge.uplink.evidence import EvidenceUploader
from walkout_edge.uplink.health import HealthReport, HealthServer, UplinkStatus
from walkout_edge.uplink.heartbeat import HeartbeatEmitter
from walkout_edge.uplink.loop import DeliveryLoop
from walkout_edge.uplink.outbox import Outbox, OutboxError
from walkout_edge.uplink.producer import KinesisProducer
from walkout_edge.uplink.sink import OutboxSink, Sequencer

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_CONFIG: Final = 2
# How long the source gets to return after being told to stop, flushing what it holds
# (a pipeline flush takes milliseconds: a few events and their JPEG crops).
SOURCE_STOP_S: Final = 5.0

log = logging.getLogger("walkout_edge.daemon")


class DaemonError(RuntimeError):
    """Cannot start or keep running; `exit_code` says whether the config is to blame."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def aws_clients(config: EdgeConfig) -> tuple[Any, Any]:
    """Kinesis and S3 clients from the default credential chain, one of each per process.

    botocore's own retries are off: the outbox loops retry with their own backoff, which
    knows about offline periods and never gives up, and botocore's retries inside a call
    would hide failures from it and multiply connection attempts.
    """
    settings = config.uplink
    common = {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "connect_timeout": settings.connect_timeout_s,
        "read_timeout": settings.read_timeout_s,
        "max_pool_connections": 2,
        "tcp_keepalive": True,
        "user_agent_extra": f"walkout-edge/{__version__}",
    }
    session = boto3.session.Session(region_name=config.region)
    kinesis = session.client(
        "kinesis", endpoint_url=config.endpoint_url, config=BotoConfig(**common)
    )
    # A custom endpoint (a local emulator, a VPC endpoint by IP) has no bucket subdomains.
    s3_style = {"s3": {"addressing_style": "path"}} if config.endpoint_url else {}
    s3 = session.client(
        "s3", endpoint_url=config.endpoint_url, config=BotoConfig(**common, **s3_style)
    )
    return kinesis, s3


@dataclass
class _Parts:
    outbox: Outbox
    status: UplinkStatus
    producer: DeliveryLoop
    uploader: DeliveryLoop
    heartbeat: HeartbeatEmitter
    health: HealthServer
    context: SourceContext
    runner: SourceRunner


class Daemon:
    def __init__(self, config: EdgeConfig, *, clients: tuple[Any, Any] | None = None) -> None:
        self.config = config
        self._clients = clients
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._signals = 0
        self._fatal: BaseException | None = None
        self._source_done = threading.Event()
        self.health_address: tuple[str, int] | None = None

    # --- signals and failures -----------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        self.request_stop()

    def _on_fatal(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
        self._wake.set()

    # --- start-up -----------------------------------------------------------------------

    def _assemble(self) -> _Parts:
        config = self.config
        factory = resolve_source(config.source.kind)
        if factory is None:
            raise DaemonError(
                f"source.kind: no source is registered for kind {config.source.kind!r} in "
                f"this installation (registered: {', '.join(registered_kinds())})",
                EXIT_CONFIG,
            )
        outbox = Outbox(
            config.outbox_path,
            store_id=config.store_id,
            depth_threshold=config.uplink.outbox_threshold,
        )
        try:
            return self._assemble_with(outbox, factory)
        except BaseException:
            outbox.close()
            raise

    def _assemble_with(self, outbox: Outbox, factory: Any) -> _Parts:
        config = self.config
        status = UplinkStatus()
        sequencer = Sequencer(config.device_id, outbox.last_seq(config.device_id))
        sink = OutboxSink(outbox, store_id=config.store_id, sequencer=sequencer)
        context = SourceContext(
            store_id=config.store_id,
            device_id=config.device_id,
            sink=sink,
            next_seq=sequencer.next_seq,
            last_seq=outbox.last_seq,
            report_error=status.source_error,
        )
        try:
            runner: SourceRunner = factory(config.source, context)
        except SourceError as exc:
            raise DaemonError(str(exc), EXIT_CONFIG) from None
        kinesis, s3 = self._clients if self._clients is not None else aws_clients(config)
        schedules = config.uplink.schedules()
        producer = DeliveryLoop(
            KinesisProducer(
                outbox,
                client=kinesis,
                stream_name=config.stream_name,
                status=status,
                backoff=Backoff(schedules),
                max_record_bytes=config.uplink.max_record_bytes,
                linger_s=config.uplink.linger_s,
            ),
            outbox,
            on_fatal=self._on_fatal,
        )
        uploader = DeliveryLoop(
            EvidenceUploader(
                outbox,
                client=s3,
                bucket=config.evidence_bucket,
                status=status,
                backoff=Backoff(schedules),
            ),
            outbox,
            on_fatal=self._on_fatal,
        )
        heartbeat = HeartbeatEmitter(
            sink=sink,
            sequencer=sequencer,
            outbox=outbox,
            store_id=config.store_id,
            device_id=config.device_id,
            period_s=config.heartbeat_s,
            watermark=context.watermark,
            clock=context.clock,
            sensors=context.sensors,
        )
        report = HealthReport(
            store_id=config.store_id,
            device_id=config.device_id,
            outbox=outbox,
            status=status,
            sensors=context.sensors,
            watermark=context.watermark,
        )
        try:
            health = HealthServer(config.health.host, config.health.port, report)
        except OSError as exc:
            raise DaemonError(
                f"health.port: cannot listen on {config.health.host}:{config.health.port} "
                f"({exc.strerror})"
            ) from None
        return _Parts(outbox, status, producer, uploader, heartbeat, health, context, runner)

    # --- running ------------------------------------------------------------------------

    def _run_source(self, parts: _Parts, stop: threading.Event) -> None:
        parts.status.source_state = "running"
        try:
            parts.runner.run(stop)
        except Exception as exc:
            parts.status.source_state = "failed"
            if isinstance(exc, OutboxError | SourceError):
                log.error("source stopped", extra={"error": str(exc)})
            else:
                log.exception("source crashed")
            self._on_fatal(exc)
            return
        parts.status.source_state = "stopped" if stop.is_set() else "done"
        self._source_done.set()
        self._wake.set()

    def run(self, *, install_signals: bool = True) -> int:
        """Run until stopped, done or failed; the exit status. Raises `DaemonError`."""
        parts = self._assemble()
        config = self.config
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        parts.health.start()
        self.health_address = parts.health.address
        log.info(
            "walkout-edge started",
            extra={
                "version": __version__,
                "store_id": config.store_id,
                "device_id": config.device_id,
                "source": config.source.kind,
                "stream": config.stream_name,
                "outbox": str(config.outbox_path),
                "outbox_depth": parts.outbox.depth,
                "evidence_depth": parts.outbox.evidence_depth,
                "health": f"http://{self.health_address[0]}:{self.health_address[1]}/healthz",
            },
        )
        parts.producer.start()
        parts.uploader.start()
        heartbeat_stop = threading.Event()
        parts.heartbeat.start(heartbeat_stop, self._on_fatal)
        source_stop = threading.Event()
        source = threading.Thread(
            target=self._run_source, args=(parts, source_stop), name="source", daemon=True
        )
        source.start()
        try:
            return self._supervise(parts, source, source_stop, heartbeat_stop)
        finally:
            parts.health.stop()
            parts.outbox.close()

    def _supervise(
        self,
        parts: _Parts,
        source: threading.Thread,
        source_stop: threading.Event,
        heartbeat_stop: threading.Event,
    ) -> int:
        draining = False
        while True:
            if self._stop.is_set() or self._fatal is not None:
                break
            if self._source_done.is_set() and not draining:
                draining = True
                heartbeat_stop.set()
                parts.heartbeat.join()
                self._final_heartbeat(parts)
                log.info("source done, draining the outbox", extra=self._depths(parts))
                parts.producer.finish(None)
                parts.uploader.finish(None)
            if draining and parts.producer.join(0) and parts.uploader.join(0):
                if self._fatal is None:
                    log.info("outbox drained, exiting", extra=self._depths(parts))
                    return EXIT_OK
                break
            self._wake.wait(0.5)
            self._wake.clear()

        source_stop.set()
        source.join(SOURCE_STOP_S)
        if source.is_alive():
            log.warning("source did not stop in time", extra={"waited_s": SOURCE_STOP_S})
        heartbeat_stop.set()
        parts.heartbeat.join()
        if self._fatal is None:
            self._final_heartbeat(parts)
            self._flush(parts)
            log.info("stopped", extra=self._depths(parts))
            return EXIT_OK
        parts.producer.halt()
        parts.uploader.halt()
        parts.producer.join(2.0)
        parts.uploader.join(2.0)
        raise DaemonError(_fatal_message(self._fatal))

    def _flush(self, parts: _Parts) -> None:
        settings = self.config.uplink
        deadline = time.monotonic() + settings.shutdown_flush_s
        parts.producer.finish(deadline)
        parts.uploader.finish(deadline)
        # A call in flight may take up to the read timeout past the deadline.
        limit = deadline + settings.read_timeout_s + settings.connect_timeout_s
        signals_seen = self._signals
        while time.monotonic() < limit:
            if parts.producer.join(0.2) and parts.uploader.join(0.2):
                return
            if self._signals > signals_seen:
                log.warning("second stop signal: leaving the rest in the outbox")
                break
        parts.producer.halt()
        parts.uploader.halt()

    def _final_heartbeat(self, parts: _Parts) -> None:
        try:
            parts.heartbeat.emit_once()
        except (OutboxError, ValueError) as exc:
            log.warning("last heartbeat not enqueued", extra={"error": str(exc)})

    @staticmethod
    def _depths(parts: _Parts) -> dict[str, int]:
        return {
            "outbox_depth": parts.outbox.depth,
            "evidence_depth": parts.outbox.evidence_depth,
        }


def _fatal_message(exc: BaseException) -> str:
    if isinstance(exc, OutboxError | SourceError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
