"""One bench result: the section 8 keys plus operating curve, perception, cost and context."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench.artifacts import RunArtifacts
from benchmarks.bench.cost import cost_breakdown
from benchmarks.bench.perception import perception_figures
from benchmarks.bench.scoring import score_run
from walkout.config import DeploymentConfig


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine_info(load_start: list[float] | None = None) -> dict[str, Any]:
    ram_gb = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram_gb = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "load_start": load_start if load_start is not None else load_average(),
        "load_end": load_average(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def store_hours(truth: Mapping[str, Any]) -> float:
    start, end = truth.get("start_ts"), truth.get("end_ts")
    if isinstance(start, int | float) and isinstance(end, int | float) and end > start:
        return (float(end) - float(start)) / 3600
    return 0.0


def build_result(
    truth: Mapping[str, Any],
    run: RunArtifacts,
    config: DeploymentConfig,
    *,
    recording: Path,
    workdir: Path,
    load_start: list[float] | None = None,
    machine: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """`machine`: where and under what load the run happened (default: this machine now,
    with `load_start` as the load when the run began)."""
    scores = score_run(truth, run)
    perception = perception_figures(truth, run.delivered, run.tracks_csv)
    counts = scores["counts"]
    visits = counts["sessions_opened"] or counts["sessions_true"]
    cost = cost_breakdown(
        run.operations,
        visits=visits,
        store_hours=store_hours(truth),
        config=config,
    )
    tracking = perception.get("tracking")
    return {
        "review_rate_per_1000": scores["review_rate_per_1000"],
        "auto_receipt_accuracy": scores["auto_receipt_accuracy"],
        "receipt_accuracy": scores["receipt_accuracy"],
        "item_f1": scores["item_f1"],
        "weight_events": {"f1": perception["weight_events"]["f1"]},
        "tracking": {"idf1": tracking["idf1"] if tracking else None},
        "actor_top1_accuracy": perception["actor_top1_accuracy"],
        "p95_exit_to_receipt_s": scores["p95_exit_to_receipt_s"],
        "cost_usd_per_1000_visits": cost["cost_usd_per_1000_visits"],
        "events_lost": scores["events_lost"],
        "operating_curve": scores["operating_curve"],
        "perception": perception,
        "cost_breakdown": cost,
        "review_causes": scores["review_causes"],
        "receipt_errors": scores["receipt_errors"],
        "scenario": {
            "name": truth.get("scenario"),
            "seed": truth.get("seed"),
            "recording": str(recording),
            "workdir": str(workdir),
            "review_backend": config.review_backend.value,
            "review_threshold": config.review_threshold,
            "counts": counts,
            "timings_s": run.timings,
            # False when the run timed out before the cloud settled: figures then describe
            # an unfinished run.
            "finished": bool(run.ingest.get("finished", False)),
            "exit_to_receipt_s": scores["latencies_s"],
        },
        "machine": dict(machine) if machine is not None else machine_info(load_start),
        "date": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
