"""End to end on the local runtime: a tiny simulated store through the edge daemon (a separate
process), Kinesis, the ingest function, the finalize workflow and the simulated reviewer.

With the reviewer at zero error, every shopper who left ends with a receipt equal to the
truth, through either review adapter; a restart of the runtime mid-stream (the pump and the
reviewer stopped, function containers dropped, the pump resumed from its checkpoint file)
loses nothing and applies nothing twice.

The review threshold is raised so that anything the cloud is not practically sure about goes
to the reviewer: the test is about the pipeline carrying events and answers end to end, not
about how often attribution is right on its own (the bench measures that).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from localcloud.pipeline import PipelineOptions, run_pipeline

TINY_SCENARIO = """\
name: e2e-tiny
seed: 3
duration_s: 45
store: {width_m: 5, depth_m: 5, aisles: 1, shelves_per_aisle: 2, lanes_per_shelf: 4,
        catalog_size: 8, similar_weight_fraction: 0.0}
cameras: {resolution: [640, 480], fps: 10, height_m: 4.0, overlap: 0.2, noise_sigma: 2,
          frame_drop_rate: 0.0, lighting_drift: 0.0}
loadcells: {rate_hz: 20, noise_g: 1.0, drift_g_per_hour: 0, vibration_per_hour: 0,
            clock_skew_ms: 20}
shoppers: {arrivals_per_hour: 500, max_concurrent: 3, group_sizes: {1: 1.0},
           items_per_visit_mean: 2, multi_pick_prob: 0.1, put_back_prob: 0.1,
           misplace_prob: 0.0, handoff_prob: 0.0, linger_prob: 0.0}
network: {outages: []}
"""
# Everything below practically certain goes to review (see the module doc).
STRICT_REVIEW = {"review_threshold": 0.999}
ARTIFACTS = {
    "delivered.jsonl",
    "sessions.jsonl",
    "receipts.jsonl",
    "reviews.jsonl",
    "ingest.json",
    "operations.json",
    "timings.json",
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator.recording import record  # noqa: PLC0415 - heavy; only for these tests
    from simulator.scenario import load_scenario  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("tiny")
    scenario_file = folder / "tiny.yaml"
    scenario_file.write_text(TINY_SCENARIO, encoding="utf-8")
    out = folder / "recording"
    record(load_scenario(str(scenario_file)), out)
    return out


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run(recording: Path, workdir: Path, **options: Any) -> tuple[Path, list[str]]:
    progress: list[str] = []
    run_dir = run_pipeline(
        recording,
        workdir,
        PipelineOptions(
            reviewer_delay_s=0.1, timeout_s=600, config_overrides=STRICT_REVIEW, **options
        ),
        progress.append,
    )
    return run_dir, progress


def assert_every_receipt_is_the_truth(recording: Path, run_dir: Path) -> None:
    truth = json.loads((recording / "truth.json").read_text(encoding="utf-8"))
    left = [s for s in truth["sessions"] if s["exit_ts"] is not None]
    assert left, "the scenario has no shopper who left"
    receipts = {r["session_id"]: r for r in lines(run_dir / "receipts.jsonl")}
    for session in left:
        receipt = receipts.get(session["session_id"])
        assert receipt is not None, f"no receipt for {session['session_id']}"
        charged = Counter({line["sku"]: line["qty"] for line in receipt["lines"]})
        assert charged == Counter(session["receipt"]), session["session_id"]


def assert_nothing_lost_or_doubled(run_dir: Path) -> None:
    delivered = lines(run_dir / "delivered.jsonl")
    ids = [e["event_id"] for e in delivered]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    ingest = json.loads((run_dir / "ingest.json").read_text(encoding="utf-8"))
    assert ingest["events"] == len(delivered)
    assert ingest["quarantined"] == 0, ingest["quarantine_reasons"]
    assert ingest["pump"]["given_up_records"] == 0
    assert ingest["finished"]
    # Every delivered event reached a decision of the ingest function.
    assert set(ids) <= set(ingest["decided_event_ids"])
    assert ingest["decided"] == len(ingest["decided_event_ids"])


def assert_reviews_answered(run_dir: Path, backend: str) -> None:
    reviews = lines(run_dir / "reviews.jsonl")
    for review in reviews:
        assert review["backend"] == backend
        assert review["answered_wall"] is not None
        assert review["answers_wrong"] == 0
        for event in review["events"]:
            # The log says whom each question showed and whom the answer named.
            assert event["answer"] == event["truth"], event
            assert event["truth"] is None or event["truth"] in event["shown"], event
    reviewed = {r["session_id"] for r in lines(run_dir / "receipts.jsonl") if r["reviewed"]}
    assert reviewed == {r["session_id"] for r in reviews}


def test_every_shopper_gets_the_true_receipt_through_the_console_even_across_a_restart(
    recording: Path, tmp_path: Path
) -> None:
    # Given the tiny store's recording, with the runtime restarted after its first events
    run_dir, progress = run(recording, tmp_path, review_backend="console", restart_after_events=5)

    # Then the restart happened mid-stream and every shopper who left has the true receipt
    assert any("restarted" in line for line in progress)
    assert {p.name for p in run_dir.iterdir()} >= ARTIFACTS
    # The edge wrote its track log where the bench looks for it.
    assert (tmp_path / "edge" / "tracks.csv").read_text(encoding="utf-8").strip()
    assert_every_receipt_is_the_truth(recording, run_dir)
    assert_nothing_lost_or_doubled(run_dir)
    assert_reviews_answered(run_dir, "console")
    operations = json.loads((run_dir / "operations.json").read_text(encoding="utf-8"))
    assert operations["kinesis"]["records"] > 0
    assert operations["lambda"]["ingest"]["invocations"] > 0
    assert operations["stepfunctions"]["executions"] >= 1
    # The last receipt went out during the run (its bus time, in whole seconds).
    timings = json.loads((run_dir / "timings.json").read_text(encoding="utf-8"))
    assert 0 < timings["last_receipt_s"] <= timings["total_s"] + 1


def test_every_shopper_gets_the_true_receipt_through_ground_truth(
    recording: Path, tmp_path: Path
) -> None:
    # Given the same recording, reviewed through the simulated Ground Truth job
    run_dir, _ = run(recording, tmp_path, review_backend="groundtruth")

    # Then every shopper who left has the true receipt, reviews went through the job's path
    assert_every_receipt_is_the_truth(recording, run_dir)
    assert_nothing_lost_or_doubled(run_dir)
    assert_reviews_answered(run_dir, "groundtruth")
    operations = json.loads((run_dir / "operations.json").read_text(encoding="utf-8"))
    reviews = lines(run_dir / "reviews.jsonl")
    if reviews:
        assert operations["lambda"]["review-gt-pre"]["invocations"] >= len(reviews)
        assert operations["lambda"]["review-gt-result"]["invocations"] >= len(reviews)
