"""`walkout demo`: a simulated store day through the whole pipeline on this machine.

Records a scenario with the simulator (or takes `--recording DIR`), runs the edge daemon on
it as a separate process against the local runtime (moto in server mode with the stack's
resources and the real handlers, `localcloud`), answers reviews with the simulated reviewer,
and prints what came out: sessions, review rate, receipt accuracy against the truth, two
sample receipts. No AWS account is used; nothing leaves the machine.

The simulator and the runtime are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from walkout_cli.errors import CliError

if TYPE_CHECKING:
    from simulator.scenario import Scenario

DEFAULT_WORKDIR = Path("build") / "demo"


def _same_recording(out: Path, scenario: Scenario) -> bool:
    """Whether `out` already holds a complete recording of exactly this scenario (a seed gives
    the same bytes, so recording it again would change nothing)."""
    try:
        meta = json.loads((out / "recording.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("scenario") == scenario.model_dump(mode="json")
        and (out / "truth.json").is_file()
        and all((out / c["video"]).is_file() for c in meta.get("cameras", []))
    )


def _record(scenario_name: str, out: Path, *, again: bool) -> Path:
    from simulator.recording import record  # noqa: PLC0415 - heavy, see the module doc
    from simulator.scenario import ScenarioError, load_scenario  # noqa: PLC0415
    from walkout_cli.sim import ProgressBar  # noqa: PLC0415

    try:
        scenario = load_scenario(scenario_name)
    except ScenarioError as exc:
        raise CliError(str(exc)) from None
    if not again and _same_recording(out, scenario):
        print(f"reusing the recording of scenario {scenario.name!r} in {out}", flush=True)
        return out
    if out.exists():
        shutil.rmtree(out)
    bar = ProgressBar()
    summary = record(scenario, out, progress=bar)
    bar.done()
    print(
        f"recorded scenario {scenario.name!r}: {len(summary.world.sessions)} sessions,"
        f" {scenario.duration_s:.0f} s of store time, into {out}",
        flush=True,
    )
    return out


def _demo(args: argparse.Namespace) -> int:
    from localcloud.pipeline import PipelineError, PipelineOptions, run_pipeline  # noqa: PLC0415
    from localcloud.summary import receipt_text, summarize  # noqa: PLC0415

    workdir = Path(args.workdir).resolve()
    if workdir.exists() and not workdir.is_dir():
        raise CliError(f"--workdir {workdir}: exists and is not a folder")
    workdir.mkdir(parents=True, exist_ok=True)
    if not 0.0 <= args.reviewer_error_rate <= 1.0:
        raise CliError(f"--reviewer-error-rate {args.reviewer_error_rate}: must be within 0..1")
    started = time.perf_counter()

    def progress(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {line}", flush=True)

    if args.recording:
        recording = Path(args.recording).resolve()
        if not (recording / "truth.json").is_file():
            raise CliError(f"--recording {recording}: not a simulator recording (no truth.json)")
    else:
        recording = _record(args.scenario, workdir / "recording", again=args.record_again)
    # A run starts clean: the edge's outbox and the last run's artifacts would carry over.
    for stale in (workdir / "edge", workdir / "run"):
        if stale.exists():
            shutil.rmtree(stale)
    progress(f"running the pipeline (review backend {args.review_backend})")
    options = PipelineOptions(
        review_backend=args.review_backend,
        reviewer_error_rate=args.reviewer_error_rate,
        reviewer_delay_s=args.reviewer_delay_s,
        timeout_s=args.timeout_s,
    )
    try:
        run_dir = run_pipeline(recording, workdir, options, progress)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    summary = summarize(recording, run_dir)
    (workdir / "summary.json").write_text(
        json.dumps(summary.as_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    took = time.perf_counter() - started
    meta = json.loads((recording / "recording.json").read_text(encoding="utf-8"))
    name = meta.get("scenario", {}).get("name", recording.name)
    print()
    print(f"Walkout demo: scenario {name!r} through the local pipeline in {took:.0f} s")
    print(
        f"  sessions            {summary.truth_sessions} shoppers' visits in the truth,"
        f" {summary.cloud_sessions} opened by the cloud, {summary.receipts} receipts"
    )
    print(
        f"  receipt accuracy    {summary.receipt_accuracy:.1%}"
        f" ({summary.correct} of {summary.truth_sessions} receipts equal the truth)"
    )
    print(
        f"  review rate         {summary.review_rate_per_1000:.0f} per 1,000 sessions"
        f" ({summary.reviewed} receipts settled by the simulated {args.review_backend}"
        f" reviewer's answers in {summary.review_tasks} review task(s),"
        f" {summary.answers_wrong} wrong answers)"
    )
    print(
        f"  events              {summary.events} delivered, {summary.duplicates} duplicates,"
        f" {summary.quarantined} quarantined"
    )
    timings = summary.timings
    print(
        f"  time                edge {timings['edge_s']:.0f} s, cloud drain"
        f" {timings['cloud_drain_s']:.0f} s, pipeline {timings['total_s']:.0f} s"
    )
    for wrong in summary.wrong_sessions:
        print(f"  wrong: {wrong['session_id']}: truth {wrong['truth']}, receipt {wrong['receipt']}")
    for receipt in summary.samples:
        print()
        for line in receipt_text(receipt):
            print(line)
    print()
    print(f"work dir: {workdir} (run artifacts in run/, summary in summary.json)")
    return 0 if summary.receipts else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="a simulated store day through the whole pipeline on this machine"
    )
    parser.add_argument(
        "--scenario", default="demo", help="scenario YAML file or bundled name (default: demo)"
    )
    parser.add_argument("--recording", help="use this recording instead of recording one")
    parser.add_argument(
        "--record-again",
        action="store_true",
        help="record the scenario even if the work folder holds its recording already",
    )
    parser.add_argument(
        "--workdir", default=str(DEFAULT_WORKDIR), help=f"work folder (default: {DEFAULT_WORKDIR})"
    )
    parser.add_argument("--review-backend", choices=("console", "groundtruth"), default="console")
    parser.add_argument("--reviewer-error-rate", type=float, default=0.0)
    parser.add_argument("--reviewer-delay-s", type=float, default=0.5)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.set_defaults(func=_demo)
