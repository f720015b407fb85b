"""`walkout bench`: a scenario through the whole local pipeline, scored against its truth.

    walkout bench --scenario busy --json busy.json [--workdir DIR] [--recording DIR]
                  [--review-backend console|groundtruth] [--reviewer-error-rate P]
                  [--reviewer-delay-s S] [--edge-speed X] [--timeout-s S] [--score-only]

Records the scenario (or reuses `--recording`, which must be a recording of that scenario),
runs `localcloud.pipeline.run_pipeline` in `--workdir`, scores the run
(`benchmarks.bench`), prints the DESIGN.md section 8 table, writes the JSON (exactly the
section 8 keys plus `operating_curve`, `perception`, `cost_breakdown`, `review_causes`,
`receipt_errors`, `scenario`, `machine`, `date`) and `WORKDIR/report.html`. `--score-only`
scores the run already in `--workdir` without running anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from walkout_cli.errors import CliError


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _scenario(name_or_path: str) -> Any:
    from simulator.scenario import ScenarioError, load_scenario  # noqa: PLC0415 - heavy

    try:
        return load_scenario(name_or_path)
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


def _workdir(args: argparse.Namespace, scenario_name: str) -> Path:
    workdir = (
        Path(args.workdir)
        if args.workdir
        else Path(tempfile.gettempdir()) / "walkout-bench" / scenario_name
    )
    if workdir.exists() and not workdir.is_dir():
        raise CliError(f"--workdir {workdir}: exists and is not a folder")
    return workdir


def _given_recording(path: Path, scenario_name: str) -> dict[str, Any]:
    from walkout_cli.eval import load_truth  # noqa: PLC0415

    if not path.is_dir():
        raise CliError(f"--recording {path}: no such folder")
    truth = load_truth(path)
    if truth.get("scenario") != scenario_name:
        raise CliError(
            f"--recording {path}: a recording of scenario {truth.get('scenario')!r}, "
            f"not {scenario_name!r}"
        )
    return truth


def _record(scenario: Any, out: Path) -> None:
    from simulator.recording import record  # noqa: PLC0415 - heavy
    from walkout_cli.sim import ProgressBar, _prepare_out  # noqa: PLC0415

    _prepare_out(out)
    bar = ProgressBar()
    record(scenario, out, progress=bar)
    bar.done()


def _run_pipeline(recording: Path, workdir: Path, args: argparse.Namespace) -> None:
    try:
        from localcloud.pipeline import (  # noqa: PLC0415 - moto and the functions: heavy
            PipelineError,
            PipelineOptions,
            run_pipeline,
        )
    except ImportError as exc:
        raise CliError(f"the local pipeline is not available ({exc})") from None
    options = PipelineOptions(
        review_backend=args.review_backend,
        reviewer_error_rate=args.reviewer_error_rate,
        reviewer_delay_s=args.reviewer_delay_s,
        edge_speed=args.edge_speed,
        timeout_s=args.timeout_s,
    )
    # The functions run in this process and print their metrics (EMF lines) to stdout;
    # they go to a file so that stdout keeps only the table.
    log = workdir / "functions.stdout.log"
    try:
        with log.open("a", encoding="utf-8") as out, contextlib.redirect_stdout(out):
            run_pipeline(recording, workdir, options, progress=_progress)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        raise CliError(f"interrupted; what the run wrote is in {workdir}") from None


def _score(
    truth: dict[str, Any], recording: Path, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    from benchmarks.bench.artifacts import ArtifactError, load_run  # noqa: PLC0415
    from benchmarks.bench.cost import CostError, deployment_config  # noqa: PLC0415
    from benchmarks.bench.result import build_result  # noqa: PLC0415
    from walkout.config import ConfigError, ReviewBackend  # noqa: PLC0415

    try:
        run = load_run(workdir)
        # The backend may differ from cdk.json's; the Ground Truth settings it would require
        # do not change the cost model, so the copy is not re-validated.
        config = deployment_config().model_copy(
            update={"review_backend": ReviewBackend(args.review_backend)}
        )
        return build_result(
            truth, run, config, recording=recording, workdir=workdir, machine=args.machine
        )
    except (ArtifactError, CostError, ConfigError) as exc:
        raise CliError(str(exc)) from None


def _machine_of_run(path: Path) -> dict[str, Any] | None:
    try:
        machine = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return machine if isinstance(machine, dict) else None


def _run(args: argparse.Namespace) -> int:
    from benchmarks.bench.report import html_report, text_table  # noqa: PLC0415
    from benchmarks.bench.result import load_average, machine_info  # noqa: PLC0415

    load_start = load_average()
    scenario = _scenario(args.scenario)
    workdir = _workdir(args, scenario.name)
    out = Path(args.json)
    if out.is_dir():
        raise CliError(f"--json {out}: is a folder")
    if args.recording:
        recording = Path(args.recording)
    else:
        recording = workdir / "recording"
        if not args.score_only:
            _progress(f"recording {scenario.name} into {recording}")
            _record(scenario, recording)
    truth = _given_recording(recording, scenario.name)
    machine_file = workdir / "machine.json"
    if not args.score_only:
        workdir.mkdir(parents=True, exist_ok=True)
        _run_pipeline(recording, workdir, args)
        # The load while the pipeline ran, kept for a later --score-only.
        machine = {
            **machine_info(load_start),
            "run_ended": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        machine_file.write_text(json.dumps(machine) + "\n", encoding="utf-8")
    args.machine = _machine_of_run(machine_file) or machine_info(load_start)
    result = _score(truth, recording, workdir, args)
    report = workdir / "report.html"
    report.write_text(html_report(result), encoding="utf-8")
    print(text_table(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} and {report}")
    return 0


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench", help="run a scenario through the local pipeline and score it (DESIGN.md 8)"
    )
    parser.add_argument(
        "--scenario", required=True, help="a scenario YAML file or a bundled name (busy, ...)"
    )
    parser.add_argument("--json", required=True, help="write the figures as JSON here")
    parser.add_argument(
        "--workdir", help="work folder (default: TMPDIR/walkout-bench/SCENARIO); report.html"
    )
    parser.add_argument(
        "--recording", help="reuse this recording of the scenario instead of recording it"
    )
    parser.add_argument("--review-backend", choices=("console", "groundtruth"), default="console")
    parser.add_argument(
        "--reviewer-error-rate",
        type=_unit_interval,
        default=0.0,
        help="simulated reviewer: chance an answer is wrong (default 0)",
    )
    parser.add_argument(
        "--reviewer-delay-s",
        type=_non_negative,
        default=0.5,
        help="simulated reviewer: wall seconds before answering (default 0.5)",
    )
    parser.add_argument(
        "--edge-speed",
        type=_non_negative,
        default=0.0,
        help="replay speed of the edge daemon (0: as fast as possible, the default)",
    )
    parser.add_argument(
        "--timeout-s",
        type=_non_negative,
        default=900.0,
        help="stop waiting for the cloud after this many wall seconds (default 900)",
    )
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="score the run already in --workdir (no recording, no pipeline)",
    )
    parser.set_defaults(func=_run)
