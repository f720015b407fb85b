"""How fast the local cloud handles a store's events, without the edge: a repeatable measure.

`python -m localcloud.feedbench --events FILE.jsonl --recording DIR` runs the local
pipeline (`localcloud.pipeline.LocalPipeline`: the same runtime, deployment, store
definition, pump, reviewer, observe loop and run artifacts) with one difference: instead
of the edge daemon, a feeder thread in this process puts pre-recorded `walkout.event/1`
events (one JSON object a line, e.g. an earlier run's `run/delivered.jsonl`) into the
stream, KPL-aggregated per partition key (`store_id`) by the edge's own request planner, at
`--rate` events per second of wall time (0: all at once). It then waits, as a run does,
until the stream is drained and no workflow runs, and prints:

- the events handled per second (distinct event ids the ingest function handled, over the
  wall time from the first put until the last of them was handled);
- the wall time from the first put until the pipeline was done (every session that became
  ready has its receipt);
- the workflows running, sessions, receipts and handled events over time;
- the process's CPU time (user + system) and wall time.

`--json OUT` writes the same figures; `--compare RUN_DIR` compares this run's receipts with
an earlier run's `receipts.jsonl` (by the truth's session id: `(sku, qty)` lines and
totals) so a change can be checked for the same results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.pipeline import LocalPipeline, PipelineOptions, _ThreadStdout
from walkout_edge.uplink.outbox import QueuedEvent
from walkout_edge.uplink.producer import plan_request

# The feeder puts what is due every tick.
TICK_S = 0.1
# PutRecords limits: 500 records and 5 MiB per request.


def read_events(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The `walkout.event/1` events of a JSON Lines file, in file order."""
    events: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as exc:
                raise SystemExit(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(event, dict) or event.get("schema") != "walkout.event/1":
                raise SystemExit(f"{path}:{number}: not a walkout.event/1 event")
            events.append(event)
            if limit is not None and len(events) >= limit:
                break
    if not events:
        raise SystemExit(f"{path}: no events")
    return events


@dataclass
class Feeder:
    """Puts the events into the stream at `rate` events/s (0: as fast as it can)."""

    kinesis: Any
    stream_name: str
    events: Sequence[dict[str, Any]]
    rate: float
    started: float | None = None
    finished: float | None = None
    put: int = 0
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            self.started = time.time()
            while self.put < len(self.events) and not self._stop.is_set():
                elapsed = time.time() - self.started
                due = len(self.events) if self.rate <= 0 else int(elapsed * self.rate) + 1
                due = min(due, len(self.events))
                if due > self.put:
                    self._put(self.events[self.put : due])
                    self.put = due
                if self.put < len(self.events):
                    self._stop.wait(TICK_S)
            self.finished = time.time()
        except BaseException as exc:
            self.error = exc
            self.finished = time.time()

    def _put(self, events: Sequence[dict[str, Any]]) -> None:
        """The events in PutRecords requests planned as the edge's producer plans them."""
        queue = [
            QueuedEvent(n, str(e["store_id"]), json.dumps(e, separators=(",", ":")).encode())
            for n, e in enumerate(events)
        ]
        while queue:
            plan = plan_request(queue)
            self._send([{"Data": e.data, "PartitionKey": e.partition_key} for e in plan.entries])
            sent = {n for e in plan.entries for n in e.positions}
            queue = [q for q in queue if q.pos not in sent]

    def _send(self, request: list[dict[str, Any]]) -> None:
        """One PutRecords; refused records are sent again in order (one key per store)."""
        while request:
            response = self.kinesis.put_records(StreamName=self.stream_name, Records=request)
            if not response.get("FailedRecordCount"):
                return
            first = next(i for i, r in enumerate(response["Records"]) if "ErrorCode" in r)
            request = request[first:]
            self._stop.wait(TICK_S)


@dataclass
class Sample:
    wall_s: float
    handled: int
    sessions: int
    ready: int
    receipts: int
    running: int
    reviews: int
    answered: int
    cpu_s: float


def cpu_seconds() -> float:
    """This process's CPU time (its function worker processes' counts once they were
    stopped and waited for: at the end of a run)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class FeedPipeline(LocalPipeline):
    """The local pipeline with the feeder in place of the edge daemon."""

    def __init__(
        self,
        recording: Path,
        workdir: Path,
        options: PipelineOptions,
        progress: Callable[[str], None],
        *,
        events: Sequence[dict[str, Any]],
        rate: float,
    ) -> None:
        super().__init__(recording, workdir, options, progress)
        self.events = events
        self.rate = rate
        self.feeder: Feeder | None = None
        self.samples: list[Sample] = []
        self.all_handled_wall: float | None = None
        self._distinct = {str(e["event_id"]) for e in events}

    def start_edge(self) -> None:
        deployment = self.cloud.deployment
        assert deployment is not None
        self.feeder = Feeder(
            kinesis=self.cloud.client("kinesis"),
            stream_name=deployment.stream_name,
            events=self.events,
            rate=self.rate,
        )
        self.feeder.start()
        self.progress(
            f"feeding {len(self.events)} events"
            f" ({'as fast as possible' if self.rate <= 0 else f'{self.rate:g}/s'})"
        )

    def edge_status(self) -> int | None:
        assert self.feeder is not None
        if self.feeder.finished is None:
            return None
        if self.feeder.error is not None:
            self.progress(f"feeder failed: {self.feeder.error!r}")
            return 1
        return 0

    def stop_daemon(self) -> None:
        if self.feeder is not None:
            self.feeder.stop()

    def observe(self) -> dict[str, Any]:
        state = super().observe()
        assert self.pump is not None and self.feeder is not None
        with self.pump._lock:
            handled = len(self.pump.decided & self._distinct)
        now = time.time()
        if handled >= len(self._distinct) and self.all_handled_wall is None:
            self.all_handled_wall = now
        started = self.feeder.started or now
        self.samples.append(
            Sample(
                wall_s=round(now - started, 2),
                handled=handled,
                sessions=state["sessions"],
                ready=state["ready"],
                receipts=state["receipts"],
                running=state["running"],
                reviews=state["reviews"],
                answered=state["answered"],
                cpu_s=round(cpu_seconds(), 2),
            )
        )
        return state


def receipt_key(line: dict[str, Any]) -> tuple[Any, ...]:
    lines = sorted((str(item["sku"]), int(item["qty"])) for item in line.get("lines", []))
    return (tuple(lines), line.get("total_minor"), line.get("review_status"))


def compare_receipts(this_run: Path, other_run: Path) -> dict[str, Any]:
    """Receipts of two runs by the truth's session id: how many agree, which differ."""

    def load(run: Path) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {}
        with (run / "receipts.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                receipt = json.loads(line)
                out[str(receipt["session_id"])] = receipt_key(receipt)
        return out

    ours, theirs = load(this_run), load(other_run)
    common = ours.keys() & theirs.keys()
    differ = sorted(s for s in common if ours[s] != theirs[s])
    return {
        "receipts": len(ours),
        "other_receipts": len(theirs),
        "same": len(common) - len(differ),
        "differ": differ[:20],
        "differ_count": len(differ),
        "only_here": len(ours.keys() - theirs.keys()),
        "only_there": len(theirs.keys() - ours.keys()),
    }


def figures(pipeline: FeedPipeline, wall_start: float, cpu_start: float) -> dict[str, Any]:
    feeder = pipeline.feeder
    assert feeder is not None
    started = feeder.started or wall_start
    distinct = len(pipeline._distinct)
    handled = pipeline.samples[-1].handled if pipeline.samples else 0
    handled_at = pipeline.all_handled_wall
    timings = json.loads((pipeline.run_dir / "timings.json").read_text(encoding="utf-8"))
    ingest = json.loads((pipeline.run_dir / "ingest.json").read_text(encoding="utf-8"))
    done_s = timings["total_s"] - (started - wall_start)
    return {
        "events": len(pipeline.events),
        "distinct_events": distinct,
        "handled_events": handled,
        "feed_s": round((feeder.finished or time.time()) - started, 2),
        "all_handled_s": round(handled_at - started, 2) if handled_at else None,
        "events_per_s": round(handled / (handled_at - started), 1) if handled_at else None,
        "done_s": round(done_s, 2),
        "finished": ingest["finished"],
        "cpu_s": round(cpu_seconds() - cpu_start, 2),
        "wall_s": round(time.time() - wall_start, 2),
        "max_running": max((s.running for s in pipeline.samples), default=0),
        "sessions": pipeline.samples[-1].sessions if pipeline.samples else 0,
        "receipts": pipeline.samples[-1].receipts if pipeline.samples else 0,
        "pump": ingest["pump"],
        "samples": [vars(s) for s in pipeline.samples],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.feedbench", description=__doc__)
    parser.add_argument("--events", type=Path, required=True, help="walkout.event/1 JSON Lines")
    parser.add_argument("--recording", type=Path, required=True, help="the simulator recording")
    parser.add_argument("--workdir", type=Path, default=Path("build/feedbench"))
    parser.add_argument("--rate", type=float, default=0.0, help="events/s (0: all at once)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N events")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds")
    parser.add_argument("--review-backend", default="console")
    parser.add_argument(
        "--console-reviewers", type=int, default=4, help="simulated console reviewers at once"
    )
    parser.add_argument(
        "--function-processes",
        type=int,
        default=PipelineOptions.function_processes,
        help="worker processes the functions run in (0: in this process)",
    )
    parser.add_argument(
        "--config-overrides",
        type=json.loads,
        default={},
        help="JSON merged into the deployment config (as PipelineOptions.config_overrides)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--compare", type=Path, default=None, help="an earlier run/ folder")
    args = parser.parse_args(argv)
    if args.rate < 0:
        parser.error("--rate must be 0 (as fast as possible) or more")
    if args.function_processes < 0:
        parser.error("--function-processes must be 0 (in this process) or more")
    if args.compare is not None and not (args.compare / "receipts.jsonl").is_file():
        parser.error(f"--compare {args.compare}: no receipts.jsonl there (not a finished run)")
    if not isinstance(args.config_overrides, dict):
        parser.error("--config-overrides must be a JSON object")
    events = read_events(args.events, args.limit)
    options = PipelineOptions(
        review_backend=args.review_backend,
        timeout_s=args.timeout,
        console_reviewers=args.console_reviewers,
        config_overrides=args.config_overrides,
        function_processes=args.function_processes,
    )
    wall_start, cpu_start = time.time(), cpu_seconds()

    def progress(line: str) -> None:
        stamp = f"[{time.time() - wall_start:7.1f} s, cpu {cpu_seconds() - cpu_start:6.1f} s]"
        print(f"{stamp} {line}", flush=True)

    pipeline = FeedPipeline(
        args.recording, args.workdir, options, progress, events=events, rate=args.rate
    )
    try:
        with contextlib.redirect_stdout(_ThreadStdout(sys.stdout, pipeline.function_log)):
            run_dir = pipeline.run()
        # The function workers stop (and are waited for) first: their CPU time counts.
        pipeline.cloud.dispatcher.fresh_containers()
        result = figures(pipeline, wall_start, cpu_start)
    finally:
        pipeline.close()
    if args.compare is not None:
        result["compare"] = compare_receipts(run_dir, args.compare)
    shown = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(shown, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0 if result["finished"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
