"""Scoring of a run against the truth: receipts, item F1, review rate, events lost, curve."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from bench_support import (
    heartbeat,
    receipt,
    session,
    session_entered,
    shelf_changed,
    truth_doc,
    write_run,
)

from benchmarks.bench.artifacts import ArtifactError, ReceiptRow, load_run
from benchmarks.bench.scoring import (
    Assessed,
    item_counts,
    operating_curve,
    percentile,
    receipt_errors,
    reliability,
    score_run,
)

TRUTH = truth_doc(
    {
        "s1": {"sku-1": 1, "sku-2": 2},
        "s2": {"sku-3": 1},
        "s3": {"sku-4": 3},
        "s4": {"sku-5": 1},
    },
    open_sessions=1,
)


def _run(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    """s1 right without review, s2 wrong without review (one extra unit), s3 reviewed and
    right, s4 never got a receipt."""
    write_run(
        tmp_path,
        sessions=[
            session("s1", confidence=0.99, exit_wall=100.0),
            session("s2", confidence=0.97, exit_wall=100.0),
            session(
                "s3",
                confidence=0.4,
                reviewed=True,
                causes=("low_confidence",),
                exit_wall=100.0,
                pre_review={"sku-4": 2},
            ),
            session("s4", confidence=None, exit_wall=None),
        ],
        receipts=[
            receipt("s1", {"sku-1": 1, "sku-2": 2}, issued_wall=101.0),
            receipt("s2", {"sku-3": 2}, issued_wall=102.0),
            receipt("s3", {"sku-4": 3}, reviewed=True, issued_wall=110.0),
        ],
        reviews=[
            {
                "task_id": "t1",
                "session_id": "s3",
                "backend": "console",
                "events": [
                    {"event_id": "a", "cause": "low_confidence"},
                    {"event_id": "b", "cause": "unlisted_actor"},
                ],
                "created_wall": 103.0,
                "answered_wall": 104.0,
                "answers_wrong": 0,
            }
        ],
        **kw,
    )
    return score_run(TRUTH, load_run(tmp_path))


def test_receipt_figures_count_missing_receipts_as_wrong(tmp_path: Path) -> None:
    result = _run(tmp_path)

    assert result["auto_receipt_accuracy"] == 0.5  # s1 right, s2 wrong
    assert result["receipt_accuracy"] == 0.5  # s1, s3 right of s1..s4 (s4 has no receipt)
    # per (session, sku): tp = 1+2 + 1 + 3 = 7, fp = 1 (s2 extra), fn = 1 (s4)
    assert result["item_f1"] == round(14 / 16, 4)
    assert result["counts"]["receipts_missing"] == 1
    assert result["counts"]["sessions_open_in_truth"] == 1


def test_review_rate_counts_sessions_sent_to_review(tmp_path: Path) -> None:
    result = _run(tmp_path)

    assert result["review_rate_per_1000"] == 250.0  # s3 of 4 opened


def test_p95_exit_to_receipt_interpolates(tmp_path: Path) -> None:
    result = _run(tmp_path)

    # latencies 1, 2, 10: rank 0.95 * 2 = 1.9 -> 2 + 0.9 * 8
    assert result["p95_exit_to_receipt_s"] == pytest.approx(9.2)
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0


def test_item_counts_per_session_and_sku() -> None:
    counts = item_counts({"a": {"x": 3, "y": 1}, "b": {"z": 1}}, {"a": {"x": 2, "w": 1}})

    assert (counts.tp, counts.fp, counts.fn) == (2, 3, 1)
    assert counts.f1 == pytest.approx(4 / 8)


def test_events_lost_is_zero_when_every_distinct_event_was_decided(tmp_path: Path) -> None:
    delivered = [heartbeat(0), shelf_changed(1, "lane-1", 10.0), heartbeat(2)]
    delivered.append(delivered[1])  # a redelivery
    result = _run(
        tmp_path,
        delivered=delivered,
        ingest={"records": 4, "events": 4, "duplicates": 1, "quarantined": 0},
    )

    assert result["events_lost"] == 0
    assert result["counts"]["events"]["delivered_distinct"] == 3


def test_events_lost_counts_delivered_events_the_ingest_never_decided(tmp_path: Path) -> None:
    delivered = [heartbeat(0), shelf_changed(1, "lane-1", 10.0), heartbeat(2)]
    result = _run(
        tmp_path,
        delivered=delivered,
        ingest={"records": 3, "events": 2, "duplicates": 0, "quarantined": 1},
    )

    assert result["events_lost"] == 1


def test_events_lost_adds_what_stayed_in_the_edge_outbox(tmp_path: Path) -> None:
    edge = tmp_path / "edge"
    edge.mkdir()
    with sqlite3.connect(edge / "outbox.db") as db:
        db.execute("CREATE TABLE events (pos INTEGER PRIMARY KEY, event_id TEXT)")
        db.executemany("INSERT INTO events (event_id) VALUES (?)", [("x",), ("y",)])
    (edge / "config.yaml").write_text("region: eu-west-1\noutbox_path: outbox.db\n")

    result = _run(tmp_path)

    assert result["events_lost"] == 2
    assert load_run(tmp_path).region == "eu-west-1"


def test_operating_curve_uses_the_cart_before_review(tmp_path: Path) -> None:
    curve = _run(tmp_path)["operating_curve"]

    # s1 (0.99, right), s2 (0.97, wrong), s3 (0.4, pre-review cart wrong); s4 no confidence
    assert curve["sessions_used"] == 3
    assert curve["no_confidence"] == 1
    by_t = {row["threshold"]: row for row in curve["thresholds"]}
    assert by_t[0.5]["reviewed"] == 1
    assert by_t[0.5]["auto_receipt_error"] == 0.5
    assert by_t[0.98]["reviewed"] == 2
    assert by_t[0.98]["auto_receipt_error"] == 0.0
    assert by_t[0.999]["auto_receipts"] == 0
    assert by_t[0.999]["auto_receipt_error"] is None


def test_operating_curve_leaves_out_reviewed_sessions_without_a_pre_review_cart() -> None:
    rows = operating_curve([Assessed("a", 0.3, False), Assessed("b", 0.9, True)], (0.2, 0.5))

    assert [r["auto_receipt_error"] for r in rows] == [0.5, 0.0]
    assert [r["review_rate_per_1000"] for r in rows] == [0.0, 500.0]


def test_reliability_bins_and_ece() -> None:
    assessed = [Assessed("a", 0.95, True), Assessed("b", 0.95, False), Assessed("c", 0.15, False)]

    table = reliability(assessed)

    top = table["bins"][9]
    assert (top["sessions"], top["confidence"], top["right"]) == (2, 0.95, 0.5)
    assert table["bins"][1]["sessions"] == 1
    assert table["ece"] == pytest.approx(2 / 3 * 0.45 + 1 / 3 * 0.15, abs=1e-4)


def test_review_causes_by_event_and_session(tmp_path: Path) -> None:
    causes = _run(tmp_path)["review_causes"]

    assert causes["by_event"] == {"low_confidence": 1, "unlisted_actor": 1}
    assert causes["by_session"] == {"low_confidence": 1}
    assert causes["settled_by_other_reviews"] == 0


def test_a_receipt_settled_by_another_sessions_review_is_reviewed_but_not_in_the_rate(
    tmp_path: Path,
) -> None:
    # s2's receipt used the answer s3's review gave about a shared event: no task of its own
    write_run(
        tmp_path,
        sessions=[session("s1"), session("s2"), session("s3", reviewed=True, causes=("who",))],
        receipts=[
            receipt("s1", {"sku-1": 1, "sku-2": 2}),
            receipt("s2", {"sku-3": 1}, reviewed=True),
            receipt("s3", {"sku-4": 3}, reviewed=True),
        ],
        reviews=[
            {
                "task_id": "t1",
                "session_id": "s3",
                "backend": "console",
                "events": [{"event_id": "a", "cause": "who"}],
                "answers_wrong": 0,
            }
        ],
    )

    result = score_run(TRUTH, load_run(tmp_path))

    assert result["review_causes"]["settled_by_other_reviews"] == 1
    assert result["review_rate_per_1000"] == pytest.approx(1000 / 3, abs=0.01)
    # s1 is the only receipt issued without review
    assert result["counts"]["receipts_auto"] == 1


def test_a_malformed_artifact_names_file_and_line(tmp_path: Path) -> None:
    write_run(tmp_path, sessions=[session("s1")], receipts=[])
    (tmp_path / "run" / "receipts.jsonl").write_text('{"store_id": "x"}\n')

    with pytest.raises(ArtifactError, match=r"receipts.jsonl line 1: no 'session_id'"):
        load_run(tmp_path)


def test_a_missing_run_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no run folder"):
        load_run(tmp_path)


def test_events_lost_counts_stream_records_given_up_or_left_behind(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        ingest={
            "records": 2,
            "events": 2,
            "duplicates": 0,
            "quarantined": 0,
            "pump": {"given_up_records": 2, "behind": {"shard-0": 1}},
        },
    )

    assert result["events_lost"] == 3


def test_events_lost_uses_the_ingests_decided_count_when_given(tmp_path: Path) -> None:
    delivered = [heartbeat(0), shelf_changed(1, "lane-1", 10.0), heartbeat(2)]
    result = _run(
        tmp_path,
        delivered=delivered,
        ingest={"records": 3, "events": 3, "duplicates": 0, "quarantined": 0, "decided": 1},
    )

    assert result["events_lost"] == 2


def test_cloud_session_ids_are_matched_to_the_truth_by_the_scans_account(
    tmp_path: Path,
) -> None:
    truth = truth_doc({"s1": {"sku-1": 1}, "s2": {"sku-2": 1}})
    write_run(
        tmp_path,
        sessions=[session("ses-a"), session("ses-b")],
        receipts=[receipt("ses-a", {"sku-1": 1}), receipt("ses-b", {"sku-9": 1})],
        delivered=[session_entered(0, "ses-a", "acct-s1"), session_entered(1, "ses-b", "acct-s2")],
    )

    result = score_run(truth, load_run(tmp_path))

    assert result["receipt_accuracy"] == 0.5
    assert result["counts"]["receipts_unknown_session"] == 0


def test_sessions_with_an_unknown_pre_review_cart_count_in_the_rate_not_the_error() -> None:
    assessed = [Assessed("a", 0.6, None), Assessed("b", 0.9, False), Assessed("c", 0.2, True)]

    rows = operating_curve(assessed, (0.5,))

    assert rows[0]["review_rate_per_1000"] == round(1000 / 3, 2)
    assert (rows[0]["auto_receipts"], rows[0]["auto_unknown"]) == (2, 1)
    assert rows[0]["auto_receipt_error"] == 1.0
    assert reliability(assessed)["bins"][6]["sessions"] == 0  # "a" (0.6) is not in the diagram


def test_events_lost_compares_event_ids_when_the_ingest_lists_them(tmp_path: Path) -> None:
    delivered = [heartbeat(0), shelf_changed(1, "lane-1", 10.0), heartbeat(2)]
    decided = [str(delivered[0]["event_id"]), "an-event-that-was-never-delivered"]
    result = _run(
        tmp_path,
        delivered=delivered,
        ingest={
            "records": 3,
            "events": 3,
            "duplicates": 0,
            "quarantined": 0,
            "decided": 2,
            "decided_event_ids": decided,
        },
    )

    # Two decided ids, but only one of them was delivered: the other two delivered are lost.
    assert result["events_lost"] == 2


def test_wrong_receipts_are_told_apart_by_kind(tmp_path: Path) -> None:
    errors = _run(tmp_path)["receipt_errors"]

    # s2 has a unit nobody took; s4 got no receipt; s1 and the reviewed s3 are right
    assert errors["auto"] == {"wrong": 1, "missing_only": 0, "extra_only": 1, "both": 0}
    assert errors["reviewed"] == {"wrong": 0, "missing_only": 0, "extra_only": 0, "both": 0}
    assert errors["no_receipt"] == 1


def test_a_receipt_short_of_an_item_or_with_one_swapped_is_its_own_kind() -> None:
    true = {"s1": {"sku-1": 2}, "s2": {"sku-1": 1}, "s3": {"sku-1": 1}}
    receipts = {
        "s1": ReceiptRow("st", "s1", 1, {"sku-1": 1}, False, (), None),  # one unit short
        "s2": ReceiptRow("st", "s2", 1, {"sku-2": 1}, False, (), None),  # another product
        "s3": ReceiptRow("st", "s3", 1, {}, True, (), None),  # reviewed, still empty
    }
    errors = receipt_errors(receipts, true)
    assert errors["auto"] == {"wrong": 2, "missing_only": 1, "extra_only": 0, "both": 1}
    assert errors["reviewed"] == {"wrong": 1, "missing_only": 1, "extra_only": 0, "both": 0}
    assert errors["no_receipt"] == 0


def test_receipts_issued_without_review_are_counted_flagged_for_audit_or_not() -> None:
    true = {"s1": {"sku-1": 1}, "s2": {"sku-1": 1}, "s3": {"sku-1": 1}, "s4": {"sku-1": 1}}
    receipts = {
        "s1": ReceiptRow("st", "s1", 1, {}, False, ("audit",), None),  # flagged, wrong
        "s2": ReceiptRow("st", "s2", 1, {"sku-1": 1}, False, ("audit",), None),  # flagged, right
        "s3": ReceiptRow("st", "s3", 1, {"sku-1": 2}, False, (), None),  # not flagged, wrong
        "s4": ReceiptRow("st", "s4", 1, {}, True, ("audit",), None),  # reviewed: not counted
    }
    assert receipt_errors(receipts, true)["audit"] == {
        "auto_flagged": 2,
        "auto_flagged_wrong": 1,
        "auto_unflagged": 1,
        "auto_unflagged_wrong": 1,
    }
