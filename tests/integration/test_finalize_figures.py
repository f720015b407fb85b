"""Issue 7's figures, printed:

    .venv/bin/pytest -m slow -s tests/integration/test_finalize_figures.py


1. State transitions per session on each path, counted from moto's execution history.
2. Exit -> receipt processing time of auto sessions in the local runtime: wire events through
   the real ingest handler (issue 6) until the heartbeat that makes the session ready, then
   the real finalize state machine until `ReceiptIssued` is on the bus.
3. The share of a session's events sent to review when it is reviewed, on simulated stores
   (issue 6's attribution replayed on the simulator's test seeds) at the configured
   threshold.

Each figure also carries a loose check, so a regression fails the run instead of printing.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
from finalize_support import FinalizeCloud, Pick, finalize_cloud
from ingest_support import STORE, Edge, FakeContext, load_handler, records_of

from walkout.config import DeploymentConfig
from walkout.review.contract import EventAnswer
from walkout.settings import IngestSettings, get_settings

pytestmark = pytest.mark.slow

AUTO = [
    Pick("L1", who=[("s-auto", 0.99)], what=[("cola", 1, 0.995)], p=0.995),
    Pick("L3", who=[("s-auto", 0.99)], what=[("soap", 1, 0.99)], p=0.99),
]
REVIEWED = [
    Pick("L1", who=[("s-rev", 0.999)], what=[("cola", 2, 0.999)], p=0.999),
    Pick("L2", who=[("s-rev", 0.97)], what=[("chips", 1, 0.6), ("tea", 1, 0.37)], p=0.6),
    Pick("L3", who=[("s-rev", 0.998)], what=[("soap", 1, 0.998)], p=0.998),
]


@pytest.fixture(scope="module")
def cloud() -> Iterator[FinalizeCloud]:
    yield from finalize_cloud()


def _report(capsys: pytest.CaptureFixture[str], lines: list[str]) -> None:
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_state_transitions_per_session(
    cloud: FinalizeCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    paths: dict[str, list[str]] = {}

    cloud.configure()
    auto = cloud.start(cloud.seed(AUTO)["s-auto"])
    cloud.wait(auto)
    paths["auto"] = cloud.entered_states(auto)

    session = cloud.seed(REVIEWED)["s-rev"]
    reviewed = cloud.start(session)
    task = cloud.queued_task(session)
    view = cloud.console().next_task("retailer-1", "r1")
    assert view is not None
    cloud.console().answer_task(
        task.task_id,
        [EventAnswer(event_id=q.event_id, shopper=None, sku=None, qty=0) for q in task.questions],
        reviewer_id="r1",
        retailer_id="retailer-1",
    )
    cloud.wait(reviewed)
    paths["reviewed"] = cloud.entered_states(reviewed)

    cloud.configure(review_timeout_s=1, review_heartbeat_s=1)
    timed_out = cloud.start(cloud.seed(REVIEWED)["s-rev"])
    cloud.wait(timed_out)
    paths["review timed out"] = cloud.entered_states(timed_out)

    failed = cloud.start("s-unknown")
    cloud.wait(failed)
    paths["failed step"] = cloud.entered_states(failed)

    _report(
        capsys,
        ["(1) State transitions per session (states entered; retries would add one each):"]
        + [f"    {name:17s} {len(states)}  {' > '.join(states)}" for name, states in paths.items()],
    )
    assert len(paths["auto"]) == 4
    assert len(paths["reviewed"]) == 5
    assert len(paths["review timed out"]) == 6


def test_exit_to_receipt_time_of_auto_sessions(
    cloud: FinalizeCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given ingest (issue 6's handler) wired to this finalize state machine
    cloud.configure()
    config = DeploymentConfig(stage="test", readiness_grace_s=1.0)
    os.environ.update(
        IngestSettings.environment(
            config,
            stores_table=config.table_name("stores"),
            sessions_table=config.table_name("sessions"),
            ingest_table=config.table_name("ingest"),
            finalize_state_machine_arn=cloud.state_machine_arn,
            event_bus_name=cloud.bus_name,
        )
    )
    get_settings.cache_clear()
    ingest = load_handler()
    edge = Edge()
    runs = 12
    timings: list[float] = []
    statuses: list[str] = []
    for n in range(runs):
        session, track, at = f"e2e-{n}", f"track-{n}", 100.0 * n
        # When a shopper takes one cola and leaves, and the store's heartbeat passes the exit
        _send(
            ingest,
            [
                edge.entered(session, [track], at_s=at),
                edge.shelf("L1", -354.0, [(track, session, 0.95, 0.3)], at_s=at + 10),
                edge.exited(session, track, at_s=at + 30),
            ],
        )
        started = time.monotonic()
        _send(ingest, [edge.heartbeat(watermark_s=at + 40)])
        # Then the receipt is issued
        [event] = cloud.receipt_events(session, wait_s=20)
        timings.append(time.monotonic() - started)
        statuses.append(event["detail"]["review_status"])

    auto = [t for t, s in zip(timings, statuses, strict=True) if s == "auto"]
    quantiles = statistics.quantiles(auto, n=20, method="inclusive") if len(auto) > 1 else auto * 19
    _report(
        capsys,
        [
            "(2) Exit -> receipt processing time, auto sessions, local runtime (moto in-process,"
            " 2 shared cores), from the heartbeat batch that makes the session ready to"
            " ReceiptIssued on the bus's queue:",
            f"    sessions {len(auto)} of {runs} auto;"
            f" median {statistics.median(auto) * 1000:.0f} ms,"
            f" p95 {quantiles[18] * 1000:.0f} ms, max {max(auto) * 1000:.0f} ms",
        ],
    )
    assert auto, f"no session was issued automatically: {statuses}"
    assert statistics.median(auto) < 5.0


def test_share_of_events_sent_to_review(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("simulator")
    from benchmarks.attribution.cases import simulated  # noqa: PLC0415 - slow, optional
    from benchmarks.attribution.replay import replay  # noqa: PLC0415
    from benchmarks.attribution_study import TEST, _derive  # noqa: PLC0415
    from walkout.attribution import DEFAULT_PARAMS  # noqa: PLC0415
    from walkout.finalize.scoring import assess  # noqa: PLC0415

    threshold = DeploymentConfig().review_threshold
    rows: list[str] = []
    all_shares: list[float] = []
    for scenario, seeds in TEST.items():
        shares: list[float] = []
        sent: list[int] = []
        events: list[int] = []
        sessions = 0
        for seed in seeds:
            case = simulated(scenario, seed)
            derived = _derive(case)
            run = replay(case.definition, derived.events, DEFAULT_PARAMS, truth=derived.truth)
            for state in run.sessions.values():
                sessions += 1
                assessment = assess(state.factors, threshold)
                if assessment.needs_review:
                    shares.append(assessment.review_share)
                    sent.append(len(assessment.to_review))
                    events.append(len(assessment.events))
        all_shares += shares
        rows.append(
            f"    {scenario:8s} sessions {sessions:4d}, reviewed {len(shares):4d}"
            f" ({len(shares) / sessions:.0%}); per reviewed session:"
            f" events {statistics.mean(events):.1f}, sent {statistics.mean(sent):.1f},"
            f" share mean {statistics.mean(shares):.0%}"
            f" median {statistics.median(shares):.0%}"
        )
    _report(
        capsys,
        [
            f"(3) Share of a reviewed session's events sent to review (threshold {threshold},"
            " simulated test seeds, issue 6's attribution):",
            *rows,
        ],
    )
    assert all(0 < s <= 1 for s in all_shares)
    assert statistics.mean(all_shares) < 1.0  # review asks about some events, not the visit


def _send(handler: Any, events: list[Any]) -> None:
    response = handler.lambda_handler({"Records": records_of(events, STORE)}, FakeContext())
    assert not response.get("batchItemFailures"), response
