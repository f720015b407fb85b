"""The cloud-only measure (`python -m localcloud.feedbench`): an earlier run's delivered
events, fed again without the edge, give the same receipts, with nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_local_pipeline import STRICT_REVIEW, TINY_SCENARIO, assert_nothing_lost_or_doubled

from localcloud import feedbench
from localcloud.pipeline import PipelineOptions, run_pipeline


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator.recording import record  # noqa: PLC0415 - heavy; only for these tests
    from simulator.scenario import load_scenario  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("tiny-feed")
    scenario_file = folder / "tiny.yaml"
    scenario_file.write_text(TINY_SCENARIO, encoding="utf-8")
    out = folder / "recording"
    record(load_scenario(str(scenario_file)), out)
    return out


def test_fed_events_give_the_receipts_of_the_run_they_came_from(
    recording: Path, tmp_path: Path
) -> None:
    # Given a run of the tiny store through the edge daemon, with its delivered events
    first = run_pipeline(
        recording,
        tmp_path / "edge-run",
        PipelineOptions(reviewer_delay_s=0.1, timeout_s=600, config_overrides=STRICT_REVIEW),
        lambda line: None,
    )
    receipts = (first / "receipts.jsonl").read_text(encoding="utf-8").splitlines()
    assert receipts

    # When those events are fed to a fresh local cloud, a few a second, with two reviewers
    code = feedbench.main(
        [
            "--events",
            str(first / "delivered.jsonl"),
            "--recording",
            str(recording),
            "--workdir",
            str(tmp_path / "feed"),
            "--rate",
            "40",
            "--console-reviewers",
            "2",
            "--config-overrides",
            json.dumps(STRICT_REVIEW),
            "--json",
            str(tmp_path / "feed.json"),
            "--compare",
            str(first),
        ]
    )

    # Then it finished, every event was handled, and every receipt is the same as before
    assert code == 0
    figures = json.loads((tmp_path / "feed.json").read_text(encoding="utf-8"))
    assert figures["handled_events"] == figures["distinct_events"] > 0
    assert figures["events_per_s"] > 0
    assert figures["samples"]
    compare = figures["compare"]
    assert compare["receipts"] == compare["other_receipts"] == len(receipts)
    assert compare["differ_count"] == 0
    assert compare["same"] == len(receipts)
    assert_nothing_lost_or_doubled(tmp_path / "feed" / "run")
    assert any(json.loads(line)["reviewed"] for line in receipts), (
        "the scenario had nothing to review"
    )
