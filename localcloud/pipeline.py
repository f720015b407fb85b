"""A simulator recording through the whole pipeline on the local runtime, with run artifacts.

`run_pipeline(recording, workdir, options, progress)`:
1. starts the local cloud (`localcloud.runtime`) with the deployment config from cdk.json
   (plus `options.config_overrides`), and puts the recording's store definition;
2. starts the Kinesis pump (`localcloud.pump`) and the simulated reviewer
   (`localcloud.reviewer`) for the chosen backend;
3. runs the edge daemon (`walkout-edge run`) as a separate process on the recording
   (`source: replay`), shipping events to the local Kinesis and evidence to the local S3;
4. waits until the daemon is done, the stream is drained, and every session that became
   ready has its receipt (reviews answered), or until `options.timeout_s`;
5. writes the run artifacts (`workdir/run/*`, the contract the bench reads) and stops.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml

from localcloud.pump import Checkpoints, KinesisPump
from localcloud.reviewer import (
    ConsoleReviewer,
    GroundTruthReviewer,
    LocalTaskCallbacks,
    Oracle,
    ReviewLog,
    Truth,
    WorkSignal,
)
from localcloud.runtime import LOCAL_CREDENTIALS, REGION, LocalCloud
from walkout.cart import Receipt, ReviewStatus
from walkout.config import CONTEXT_KEY, DeploymentConfig, ReviewBackend
from walkout.data.ingest import IngestTable
from walkout.data.receipts import FlagKind, ReceiptsTable
from walkout.data.review_tasks import ReviewTasksTable
from walkout.data.sessions import SessionRecord, SessionsTable, session_stays
from walkout.data.stores import StoreDefinitions
from walkout.definition import StoreDefinition
from walkout.ingest.lifecycle import SessionStatus

ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = ROOT / "cdk.json"
EDGE_DEVICE = "edge-local-1"
# Ground Truth needs a work team; locally the simulated workers are it.
LOCAL_WORKTEAM = "arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/walkout-local"
POLL_S = 0.5
# Once everything looks finished, it must stay so this long (a last heartbeat batch may
# still make a session ready).
SETTLE_S = 2.0
# A progress line when something changed, else this often.
PROGRESS_EVERY_S = 5.0
# Running workflows counted per look (the most `ListExecutions` gives in one page).
RUNNING_PAGE = 1000
# Pause after looking at the cloud's state, as a multiple of what the look took, but never
# longer than MAX_PAUSE_S: a look that took a minute while the functions were busy must not
# keep the run from seeing, for nine more, that everything has ended.
OBSERVE_SHARE = 9.0
MAX_PAUSE_S = 15.0


@dataclass(frozen=True)
class PipelineOptions:
    review_backend: str = "console"  # "console" | "groundtruth"
    reviewer_error_rate: float = 0.0  # simulated reviewer: chance an answer is wrong
    reviewer_delay_s: float = 0.5  # simulated reviewer: wall delay before answering
    # Console reviewers working the queue at once (each claims its own tasks); the Ground
    # Truth job is one consumer of its queue with `groundtruth.workers_per_task` workers.
    console_reviewers: int = 4
    edge_speed: float = 0.0  # replay speed for the edge daemon (0 = as fast as possible)
    config_overrides: Mapping[str, Any] = field(default_factory=dict)
    # Give up waiting for the cloud to finish after this many seconds.
    timeout_s: float = 900.0
    # Restart the runtime's threads (pump, reviewer, function containers) once this many
    # events were delivered: the pump resumes from its checkpoint file (tests use it).
    restart_after_events: int | None = None
    reviewer_seed: int = 0
    # Worker processes the functions run in (`localcloud.containers`), beside the process
    # that runs moto; 0 runs every handler in that process.
    function_processes: int = 2


class PipelineError(RuntimeError):
    """The pipeline could not run (bad input, the edge daemon failed)."""


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def deployment_config(
    backend: str, overrides: Mapping[str, Any], cdk_json: Path = CDK_JSON
) -> DeploymentConfig:
    """The stack's config (cdk.json context `walkout`) with the run's overrides."""
    context = json.loads(cdk_json.read_text(encoding="utf-8"))["context"].get(CONTEXT_KEY, {})
    try:
        chosen = ReviewBackend(backend)
    except ValueError:
        raise PipelineError(
            f"review backend {backend!r}: must be one of "
            + ", ".join(b.value for b in ReviewBackend)
        ) from None
    context = _merge(context, {"review_backend": chosen.value})
    if chosen is ReviewBackend.GROUNDTRUTH and not (context.get("groundtruth") or {}).get(
        "workteam_arn"
    ):
        context = _merge(context, {"groundtruth": {"workteam_arn": LOCAL_WORKTEAM}})
    return DeploymentConfig.from_context(_merge(context, overrides))


def _check_recording(recording: Path) -> StoreDefinition:
    for name in ("store.json", "truth.json", "recording.json"):
        if not (recording / name).is_file():
            raise PipelineError(f"{recording}: not a simulator recording (no {name})")
    return StoreDefinition.load(recording / "store.json")


class _Every:
    """`fn` every `period_s` on a thread of its own, until `stop`. A failed call is tried
    again at the next tick; `attempts` failures in a row stop it, and `check` raises the
    last error (`stop` does not: it runs while a run is being torn down)."""

    def __init__(
        self, period_s: float, fn: Callable[[], None], name: str, attempts: int = 3
    ) -> None:
        self.period_s = period_s
        self.fn = fn
        self.attempts = attempts
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.wait(self.period_s):
            try:
                self.fn()
                failures = 0
            except Exception as exc:  # handed to the caller by check
                failures += 1
                if failures >= self.attempts:
                    self.error = exc
                    return

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class _JsonLines:
    def __init__(self, path: Path) -> None:
        self.handle: IO[str] = path.open("a", encoding="utf-8")

    def write(self, line: Mapping[str, Any]) -> None:
        self.handle.write(json.dumps(line, sort_keys=True, default=str) + "\n")

    def close(self) -> None:
        self.handle.close()


@dataclass
class _Delivered:
    """`delivered.jsonl` and the counts `ingest.json` needs."""

    out: _JsonLines
    records: int = 0
    events: int = 0
    ids: set[str] = field(default_factory=set)
    # session -> wall time the pump first read the latest `track.exited` of one of its
    # people (a record read again after a restart keeps its first time)
    exits: dict[str, float] = field(default_factory=dict)

    def __call__(self, user_records: list[dict[str, Any]]) -> None:
        aggregates = {r["kinesis"]["sequenceNumber"] for r in user_records}
        self.records += len(aggregates)
        for record in user_records:
            raw = base64.b64decode(record["kinesis"]["data"])
            try:
                event = json.loads(raw)
            except ValueError:
                event = {"undecodable": raw.decode(errors="replace")[:200]}
            self.events += 1
            if isinstance(event, dict) and "event_id" in event:
                first_read = str(event["event_id"]) not in self.ids
                self.ids.add(str(event["event_id"]))
                data = event.get("data")
                session_id = data.get("session_id") if isinstance(data, dict) else None
                if event.get("type") == "track.exited" and session_id and first_read:
                    self.exits[str(session_id)] = time.time()
            self.out.write(event if isinstance(event, dict) else {"value": event})
        self.out.handle.flush()


class LocalPipeline:
    """The pieces of one run, startable and stoppable (see `run_pipeline`)."""

    def __init__(
        self,
        recording: Path,
        workdir: Path,
        options: PipelineOptions,
        progress: Callable[[str], None],
    ) -> None:
        if options.console_reviewers < 1:
            raise PipelineError(
                f"console_reviewers {options.console_reviewers}: must be at least 1"
            )
        self.recording = recording.resolve()
        self.workdir = workdir.resolve()
        self.options = options
        self.progress = progress
        self.definition = _check_recording(self.recording)
        self.store_id = self.definition.store.store_id
        # The simulated reviewers answer after `reviewer_delay_s` of wall time (a person
        # takes minutes), so a session waiting for another session's review looks again
        # after a few seconds instead of the deployed minute: 3 s, not 1 s, since every
        # look is an invocation in the one local cloud process (stadium-rush seed 223 at
        # 0b7f5f8: 2,188 looks at 1 s, the cloud busy until 903 s).
        await_s = max(3, math.ceil(options.reviewer_delay_s))
        # A receipt held for the sessions in the store with it waits for their reviews,
        # which come as fast: its first look is after 4 s, not the deployed 30 s (then twice
        # as long each time). Every look is an invocation and three transitions in the one
        # moto process: a stadium-rush run with a look every 2 s made 13,198 of them (27
        # November); 4 s was not measured against 2 s with the doubling.
        hold_poll_s = max(4, await_s)
        self.config = deployment_config(
            options.review_backend,
            {
                "review_await_s": await_s,
                "doubted_exit_poll_s": hold_poll_s,
                **options.config_overrides,
            },
        )
        self.truth = Truth.load(self.recording)
        self.run_dir = self.workdir / "run"
        self.edge_dir = self.workdir / "edge"
        # A run starts clean: an old outbox would make the edge resume instead of replaying.
        for directory in (self.run_dir, self.edge_dir):
            if directory.exists():
                shutil.rmtree(directory)
            directory.mkdir(parents=True)
        self.function_log = (self.run_dir / "functions.log").open("a", encoding="utf-8")
        self.cloud = LocalCloud(
            self.config,
            function_log=self.function_log,
            function_processes=options.function_processes,
        )
        self.review_log = ReviewLog()
        # Console reviewers look at the queue when the queue function has queued a task.
        self.review_signal = WorkSignal()
        self.cloud.dispatcher.listeners.append(self._on_function_called)
        self.oracle = Oracle(
            self.truth,
            options.reviewer_error_rate,
            self.truth_session,
            seed=options.reviewer_seed,
        )
        self._truth_sessions: dict[str, str | None] = {}
        self.delivered = _Delivered(_JsonLines(self.run_dir / "delivered.jsonl"))
        self.bus_log = _JsonLines(self.run_dir / "bus.jsonl")
        self.pump: KinesisPump | None = None
        self.bus_reader: _Every | None = None
        self.reviewers: list[ConsoleReviewer | GroundTruthReviewer] = []
        self.daemon: subprocess.Popen[bytes] | None = None
        self.exit_seen: dict[str, float] = {}
        self.issued: dict[str, float] = {}
        # The latest `time` (put on the bus) of a ReceiptIssued, as a Unix time.
        self.last_receipt_at = 0.0
        self.restarted = False
        # How many errors of each list (by id) were shown.
        self._errors_shown: dict[int, int] = {}

    # --- tables ----------------------------------------------------------------------------

    def sessions_table(self) -> SessionsTable:
        return SessionsTable(
            self.cloud.client("dynamodb"),
            self.config.table_name("sessions"),
            ttl_days=self.config.transient_ttl_days,
            clock=lambda: datetime.now(UTC),
        )

    def receipts_table(self) -> ReceiptsTable:
        return ReceiptsTable(
            self.cloud.client("dynamodb"),
            self.config.table_name("receipts"),
            clock=lambda: datetime.now(UTC),
        )

    def truth_session(self, session_id: str) -> str | None:
        """The truth's session for a cloud session, joined on the gate scan's account token
        (the edge names sessions itself; the token is what the scan and the truth share)."""
        if session_id not in self._truth_sessions:
            record, _ = self.sessions_table().read_session(self.store_id, session_id)
            found = self.truth.sessions_by_account.get(record.account_ref) if record else None
            if record is None:
                return None
            self._truth_sessions[session_id] = found
        return self._truth_sessions[session_id]

    # --- pieces ----------------------------------------------------------------------------

    def start_cloud(self) -> None:
        deployment = self.cloud.start()
        StoreDefinitions(self.cloud.client("dynamodb"), self.config.table_name("stores")).put(
            self.definition, version=1, updated_at=datetime.now(UTC)
        )
        self.progress(
            f"local cloud up at {self.cloud.endpoint}: stream {deployment.stream_name},"
            f" state machine {deployment.state_machine_arn.rsplit(':', 1)[-1]},"
            f" review backend {self.config.review_backend.value}"
        )

    def start_threads(self) -> None:
        """The pump (from its checkpoint file) and the reviewer."""
        deployment = self.cloud.deployment
        assert deployment is not None
        decided = self.pump.decided if self.pump is not None else set()
        self.pump = KinesisPump(
            kinesis=self.cloud.client("kinesis"),
            sqs=self.cloud.client("sqs"),
            stream_name=deployment.stream_name,
            region=REGION,
            tuning=self.config.ingest,
            invoke=lambda event: self.cloud.dispatcher.call("ingest", event),
            failure_queue_url=deployment.ingest_failure_queue,
            checkpoints=Checkpoints(self.run_dir / "checkpoint.json"),
            on_read=self.delivered,
        )
        self.pump.decided |= decided
        self.pump.start()
        # Receipts are noted when the bus delivers them, on a timer of their own: the main
        # loop may look at the cloud only every few seconds in a big run.
        self.bus_reader = _Every(POLL_S, self.drain_bus, "bus-reader")
        self.bus_reader.start()
        self.reviewers = []
        if self.config.review_backend is ReviewBackend.GROUNDTRUTH:
            gt = GroundTruthReviewer(
                client=self.cloud.client,
                sessions=self.sessions_table(),
                input_queue_url=deployment.gt_input_queue,
                output_topic_arn=deployment.review_output_topic,
                bucket=deployment.review_bucket,
                pre_function=deployment.function_name("review-gt-pre"),
                consolidate_function=deployment.function_name("review-gt-consolidate"),
                job_name=f"{self.config.prefix}-review-v{self.config.groundtruth.job_version}",
                workers=self.config.groundtruth.workers_per_task,
                oracle=self.oracle,
                log=self.review_log,
                delay_s=self.options.reviewer_delay_s,
            )
            self.reviewers.append(gt)
        else:
            tasks = ReviewTasksTable(
                self.cloud.client("dynamodb"),
                self.config.table_name("sessions"),
                ttl_days=self.config.transient_ttl_days,
                clock=lambda: datetime.now(UTC),
            )
            self.review_signal.reopen()
            for n in range(self.options.console_reviewers):
                console = ConsoleReviewer(
                    tasks=tasks,
                    sessions=self.sessions_table(),
                    callbacks=LocalTaskCallbacks(self.cloud.client("stepfunctions")),
                    retailers=[(self.definition.store.retailer_id, self.store_id)],
                    oracle=self.oracle,
                    log=self.review_log,
                    delay_s=self.options.reviewer_delay_s,
                    reviewer_id=f"sim-reviewer-{n + 1}",
                    signal=self.review_signal,
                )
                self.reviewers.append(console)
        for reviewer in self.reviewers:
            reviewer.start()

    def _on_function_called(self, suffix: str) -> None:
        if suffix == "review-queue":
            self.review_signal.notify()

    def stop_threads(self) -> None:
        if self.pump is not None:
            self.pump.stop()
        if self.bus_reader is not None:
            self.bus_reader.stop()
        for reviewer in self.reviewers:
            reviewer.stop()

    def restart_threads(self) -> None:
        """Stop the pump and the reviewer mid-stream and start them again: the pump resumes
        from the checkpoint file, every function gets a fresh container."""
        self.stop_threads()
        self.cloud.dispatcher.fresh_containers()
        self.progress("runtime restarted: the pump resumes from its checkpoint")
        self.start_threads()
        self.restarted = True

    def edge_config(self) -> Path:
        deployment = self.cloud.deployment
        assert deployment is not None
        config = {
            "store_id": self.store_id,
            "device_id": EDGE_DEVICE,
            "region": REGION,
            "endpoint_url": self.cloud.endpoint,
            "stream_name": deployment.stream_name,
            "evidence_bucket": deployment.evidence_bucket,
            "outbox_path": str(self.edge_dir / "outbox.db"),
            "heartbeat_s": 1.0,
            "health": {"port": 0},
            "source": {
                "kind": "replay",
                "recording": str(self.recording),
                "speed": self.options.edge_speed,
                # The tracker's track positions, for the bench's tracking figures
                # (benchmarks/bench/artifacts.py looks for edge/tracks.csv).
                "options": {"track_log": str(self.edge_dir / "tracks.csv")},
            },
        }
        path = self.edge_dir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def start_edge(self) -> None:
        config = self.edge_config()
        script = Path(sys.executable).with_name("walkout-edge")
        if not script.exists():
            raise PipelineError(f"{script}: the edge agent is not installed (make setup)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(LOCAL_CREDENTIALS)
        log = (self.edge_dir / "daemon.log").open("ab")
        self.daemon = subprocess.Popen(  # noqa: S603 - our own installed executable
            [str(script), "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        self.progress(
            f"edge daemon started (pid {self.daemon.pid}), log {self.edge_dir}/daemon.log"
        )

    # --- state -----------------------------------------------------------------------------

    def sessions(self) -> list[SessionRecord]:
        """Every session, by status in lifecycle order: one that moves on between two
        queries shows up twice (the later status wins), never not at all."""
        table = self.sessions_table()
        latest: dict[str, SessionRecord] = {}
        for status in (SessionStatus.OPEN, SessionStatus.CLOSING, SessionStatus.READY):
            for s in table.list_sessions(self.store_id, status):
                latest[s.session_id] = s
        return list(latest.values())

    def stays(self) -> dict[str, tuple[SessionStatus, bool]]:
        """Every session's status and whether it has left, by id, as `sessions` reads
        them (the later status wins), reading only the stays (`session_stays`): the run
        looks every few seconds, and reading whole records took 9% of the local cloud's
        samples on this thread alone (a minute's profile, 240 s into a stadium-rush feed)."""
        table = self.sessions_table()
        latest: dict[str, tuple[SessionStatus, bool]] = {}
        for status in (SessionStatus.OPEN, SessionStatus.CLOSING, SessionStatus.READY):
            for stay in session_stays(table, self.store_id, status):
                latest[str(stay["session_id"])] = (status, stay.get("exit_at") is not None)
        return latest

    def observe(self) -> dict[str, Any]:
        """What the cloud holds now; notes when a session's exit reached the cloud: when
        the pump read its latest `track.exited` (now, for an exit it has no record of).
        Receipts are noted on the bus (`drain_bus`)."""
        now = time.time()
        sessions = self.stays()
        for session_id, (_, left) in sessions.items():
            if left:
                self.exit_seen.setdefault(session_id, self.delivered.exits.get(session_id, now))
        ready = [i for i, (status, _) in sessions.items() if status is SessionStatus.READY]
        deployment = self.cloud.deployment
        assert deployment is not None
        running = running_workflows(
            self.cloud.client("stepfunctions"), deployment.state_machine_arn
        )
        reviews = self.review_log.all()
        return {
            "sessions": len(sessions),
            "open": len(sessions) - len(ready),
            "ready": len(ready),
            "receipts": sum(1 for i in ready if i in self.issued),
            "running": running,
            "reviews": len(reviews),
            "answered": sum(1 for r in reviews if r["answered_wall"] is not None),
            "events": self.delivered.events,
        }

    def drain_bus(self) -> None:
        deployment = self.cloud.deployment
        assert deployment is not None
        sqs = self.cloud.client("sqs")
        for queue in (deployment.receipts_queue, deployment.carts_queue):
            while True:
                messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                    "Messages", []
                )
                if not messages:
                    break
                for m in messages:
                    event = json.loads(m["Body"])
                    detail = event.get("detail", {})
                    if event.get("detail-type") == "ReceiptIssued":
                        self.issued.setdefault(str(detail.get("session_id")), time.time())
                        self.last_receipt_at = max(self.last_receipt_at, _event_time(event))
                    self.bus_log.write({"received_wall": time.time(), **event})
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> Path:
        started = time.time()
        self.start_cloud()
        self.start_threads()
        edge_started = time.time()
        self.start_edge()
        edge_done: float | None = None
        settled_since: float | None = None
        last_key: tuple[int, ...] = ()
        last_shown = 0.0
        deadline = started + self.options.timeout_s
        finished = False
        pause = POLL_S
        while time.time() < deadline:
            time.sleep(pause)
            polled = time.monotonic()
            status = self.edge_status() if edge_done is None else None
            if status is not None:
                edge_done = time.time()
                if status != 0:
                    raise PipelineError(
                        f"the edge daemon exited with status {status}:"
                        f" see {self.edge_dir}/daemon.log"
                    )
                self.progress(f"edge daemon done in {edge_done - edge_started:.1f} s")
            limit = self.options.restart_after_events
            if limit is not None and not self.restarted and self.delivered.events >= limit:
                self.restart_threads()
            self.report_errors()
            assert self.bus_reader is not None
            self.bus_reader.check()
            state = self.observe()
            # With thousands of sessions a look costs time of its own (moto sorts the whole
            # sessions table for each index query and serialises every session it returns),
            # taken from the functions in this process: look less often then, so looking
            # takes at most about a tenth of the time (and the end is seen within MAX_PAUSE_S).
            pause = min(MAX_PAUSE_S, max(POLL_S, OBSERVE_SHARE * (time.monotonic() - polled)))
            key = tuple(
                state[k]
                for k in ("sessions", "ready", "receipts", "running", "reviews", "answered")
            )
            if key != last_key or time.time() - last_shown >= PROGRESS_EVERY_S:
                self.progress(
                    f"events {state['events']}, sessions {state['sessions']}"
                    f" (ready {state['ready']}, receipts {state['receipts']}),"
                    f" workflows running {state['running']},"
                    f" reviews answered {state['answered']}/{state['reviews']}"
                )
                last_key, last_shown = key, time.time()
            assert self.pump is not None
            # Every workflow started has ended: a ready session has its receipt, or its
            # workflow failed (flagged for attention); sessions not ready never will be.
            # The pump must have found the stream drained by a read that started after the
            # edge had put its last record.
            done = (
                edge_done is not None and self.pump.idle(since=edge_done) and state["running"] == 0
            )
            if not done:
                settled_since = None
                continue
            settled_since = settled_since or time.time()
            if time.time() - settled_since >= SETTLE_S:
                finished = True
                break
        ended = time.time()
        if not finished:
            self.progress(f"timed out after {self.options.timeout_s:.0f} s; writing what there is")
        self.stop_daemon()
        if self.bus_reader is not None:
            self.bus_reader.stop()  # the last look at the bus is this thread's
        self.drain_bus()
        self.stop_threads()
        stopped = time.time()
        self.write_artifacts(
            {
                "edge_s": round((edge_done or ended) - edge_started, 3),
                "cloud_drain_s": round(ended - (edge_done or ended), 3),
                "total_s": round(ended - started, 3),
                # When the last receipt was put on the bus (whole seconds: the event's
                # `time`); the run notices its end a little later, between pauses.
                "last_receipt_s": round(max(self.last_receipt_at, started) - started, 3),
            },
            finished,
        )
        self.progress(
            f"threads stopped in {stopped - ended:.1f} s,"
            f" run artifacts written in {time.time() - stopped:.1f} s: {self.run_dir}"
        )
        return self.run_dir

    def report_errors(self) -> None:
        """Show each new error of the pump or the reviewer once (they carry on), and each
        task token a console reviewer's heartbeat found refused."""
        sources = [self.pump.errors] if self.pump else []
        sources += [reviewer.errors for reviewer in self.reviewers]
        sources += [r.callbacks.refused for r in self.reviewers if isinstance(r, ConsoleReviewer)]
        for errors in sources:
            shown = self._errors_shown.get(id(errors), 0)
            for error in errors[shown:]:
                self.progress(f"error (retrying): {error}")
            self._errors_shown[id(errors)] = len(errors)

    def edge_status(self) -> int | None:
        """The edge daemon's exit status once it has exited, else None."""
        assert self.daemon is not None
        return self.daemon.poll()

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()

    def close(self) -> None:
        closing = time.time()
        self.stop_daemon()
        self.stop_threads()
        self.cloud.close()
        self.progress(f"local cloud stopped in {time.time() - closing:.1f} s")
        self.delivered.out.close()
        self.bus_log.close()
        self.function_log.close()

    # --- artifacts -------------------------------------------------------------------------

    def write_artifacts(self, timings: Mapping[str, float], finished: bool) -> None:
        sessions = self.sessions()
        table = self.sessions_table()
        receipts = self.receipts_table()
        reviews = self.review_log.all()
        causes: dict[str, list[str]] = {}
        for review in reviews:
            causes.setdefault(review["session_id"], []).extend(e["cause"] for e in review["events"])
        attention = {f.session_id for f in receipts.flags(self.store_id, FlagKind.ATTENTION)}
        audit = {f.session_id for f in receipts.flags(self.store_id, FlagKind.AUDIT)}
        session_lines, receipt_lines = [], []
        for s in sorted(sessions, key=lambda s: s.session_id):
            _, cart = table.read_session(self.store_id, s.session_id)
            receipt = receipts.latest(self.store_id, s.session_id)
            reviewed = s.session_id in causes
            session_lines.append(
                {
                    "store_id": s.store_id,
                    "session_id": self.truth_session(s.session_id) or s.session_id,
                    "cloud_session_id": s.session_id,
                    "status": s.status.value,
                    "confidence": round(cart.confidence, 6) if cart is not None else None,
                    "reviewed": reviewed,
                    "review_causes": sorted(set(causes.get(s.session_id, []))),
                    "exit_ts": s.exit_at.isoformat().replace("+00:00", "Z") if s.exit_at else None,
                    "exit_seen_wall": self.exit_seen.get(s.session_id),
                    "finalized": receipt is not None,
                    # The live cart as ingest left it: what the receipt would be without
                    # review (finalize reads it, never writes it).
                    "pre_review_lines": dict(cart.items) if cart is not None else None,
                }
            )
            if receipt is not None:
                flags = sorted(
                    ({"attention"} if s.session_id in attention else set())
                    | ({"audit"} if s.session_id in audit else set())
                    | (
                        {"review-timeout"}
                        if receipt.review_status is ReviewStatus.TIMEOUT_PARTIAL
                        else set()
                    )
                )
                line = receipt_line(receipt, flags, self.issued.get(s.session_id, time.time()))
                line["session_id"] = self.truth_session(s.session_id) or s.session_id
                line["cloud_session_id"] = s.session_id
                receipt_lines.append(line)
        self._write_lines("sessions.jsonl", session_lines)
        self._write_lines("receipts.jsonl", receipt_lines)
        self._write_lines(
            "reviews.jsonl",
            [
                {
                    **r,
                    "session_id": self.truth_session(r["session_id"]) or r["session_id"],
                    "cloud_session_id": r["session_id"],
                }
                for r in reviews
            ],
        )

        quarantined = IngestTable(
            self.cloud.client("dynamodb"),
            self.config.table_name("ingest"),
            ttl_days=self.config.transient_ttl_days,
            clock=lambda: datetime.now(UTC),
        ).quarantined(self.store_id)
        reasons: dict[str, int] = {}
        for q in quarantined:
            reasons[q.reason] = reasons.get(q.reason, 0) + 1
        # Decided: the events of every record the function handled (the pump's view of
        # the batch responses), and every quarantined record that names an event.
        decided = set(self.pump.decided) if self.pump else set()
        decided |= {i for i in (_event_id(q.raw) for q in quarantined) if i is not None}
        self._write_json(
            "ingest.json",
            {
                "records": self.delivered.records,
                "events": self.delivered.events,
                "duplicates": self.delivered.events - len(self.delivered.ids),
                "quarantined": len(quarantined),
                "quarantine_reasons": reasons,
                "decided": len(decided),
                "decided_event_ids": sorted(decided),
                "pump": vars(self.pump.stats) if self.pump else {},
                "finished": finished,
            },
        )
        self._write_json("operations.json", self.operations(len(reviews)))
        self._write_json("timings.json", dict(timings))

    def operations(self, review_tasks: int) -> dict[str, Any]:
        counted = self.cloud.counter.snapshot()
        memory = {"ingest": self.config.ingest.memory_mb}
        lambdas = {
            suffix: {
                "invocations": stats.invocations,
                "errors": stats.errors,
                "duration_ms": round(stats.duration_ms, 1),
                "memory_mb": memory.get(suffix, 512),
            }
            for suffix, stats in sorted(self.cloud.dispatcher.stats.items())
        }
        sfn = self.cloud.client("stepfunctions")
        deployment = self.cloud.deployment
        assert deployment is not None
        executions = []
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=deployment.state_machine_arn
        ):
            executions.extend(page["executions"])
        transitions = 0
        for execution in executions:
            for page in sfn.get_paginator("get_execution_history").paginate(
                executionArn=execution["executionArn"]
            ):
                transitions += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
        return {
            **counted,
            "lambda": lambdas,
            "stepfunctions": {"executions": len(executions), "transitions": transitions},
            "review_tasks": review_tasks,
        }

    def _write_lines(self, name: str, lines: list[dict[str, Any]]) -> None:
        with (self.run_dir / name).open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line, sort_keys=True, default=str) + "\n")

    def _write_json(self, name: str, data: Mapping[str, Any]) -> None:
        (self.run_dir / name).write_text(
            json.dumps(data, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8"
        )


def _event_time(event: Mapping[str, Any]) -> float:
    """An EventBridge event's `time` as a Unix time (0 if it has none)."""
    try:
        return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return 0.0


def _event_id(raw: bytes) -> str | None:
    """The event id a stored record names, if it is a JSON object with one."""
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    return str(event["event_id"]) if isinstance(event, dict) and "event_id" in event else None


def receipt_line(receipt: Receipt, flags: list[str], issued_wall: float) -> dict[str, Any]:
    """A receipt as `receipts.jsonl` has it: each line's share of the savings allotted by
    its gross among the lines a promotion covers (remainder to the last of them)."""
    line_savings = {line.sku: 0 for line in receipt.lines}
    gross = {line.sku: line.gross_minor for line in receipt.lines}
    for saving in receipt.savings:
        covered = [sku for sku in saving.skus if sku in gross]
        total = sum(gross[sku] for sku in covered)
        left = saving.amount_minor
        for i, sku in enumerate(covered):
            share = left if i == len(covered) - 1 else saving.amount_minor * gross[sku] // total
            line_savings[sku] += share
            left -= share
    return {
        "store_id": receipt.store_id,
        "session_id": receipt.session_id,
        "version": receipt.version,
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "qty": line.qty,
                "unit_price_minor": line.unit_price_minor,
                "line_total_minor": line.gross_minor,
                "savings_minor": line_savings[line.sku],
            }
            for line in receipt.lines
        ],
        "currency": receipt.currency,
        "subtotal_minor": receipt.totals.subtotal_minor,
        "savings_minor": receipt.totals.savings_minor,
        "total_minor": receipt.totals.total_minor,
        "reviewed": receipt.review_status is not ReviewStatus.AUTO,
        "review_status": receipt.review_status.value,
        "savings": [
            {"name": s.name, "amount_minor": s.amount_minor, "skus": list(s.skus)}
            for s in receipt.savings
        ],
        "flags": flags,
        "issued_wall": issued_wall,
    }


def running_workflows(sfn: Any, state_machine_arn: str) -> int:
    """The state machine's running executions, in one `ListExecutions` page of the most
    the API gives (`RUNNING_PAGE`): enough to tell none from some (the run's end) and to
    count a stadium day's workflows.

    Paging on is fragile: a page's token names the first execution of the next page, and
    moto refuses it (`InvalidToken`) once that execution has finished, which in a busy run
    it often has by then (a seed-223 bench run stopped on that)."""
    page = sfn.list_executions(
        stateMachineArn=state_machine_arn, statusFilter="RUNNING", maxResults=RUNNING_PAGE
    )
    return len(page["executions"])


def run_pipeline(
    recording: Path,
    workdir: Path,
    options: PipelineOptions = PipelineOptions(),
    progress: Callable[[str], None] = print,
) -> Path:
    """Run the recording through the local pipeline; returns `workdir / "run"`.

    The functions run in this process and Powertools prints metrics on stdout: while the
    pipeline runs, what other threads print goes to `run/functions.log`; this thread's
    (the progress lines) still reaches the terminal."""
    pipeline = LocalPipeline(recording, workdir, options, progress)
    try:
        with contextlib.redirect_stdout(_ThreadStdout(sys.stdout, pipeline.function_log)):
            return pipeline.run()
    finally:
        pipeline.close()


class _ThreadStdout(io.TextIOBase):
    """stdout for the calling thread, a log file for every other thread."""

    def __init__(self, terminal: IO[str], log: IO[str]) -> None:
        self.terminal = terminal
        self.log = log
        self.owner = threading.get_ident()

    def _target(self) -> IO[str]:
        return self.terminal if threading.get_ident() == self.owner else self.log

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()
