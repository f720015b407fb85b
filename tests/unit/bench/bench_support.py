"""Fabricated truths and run artifacts (the contract of localcloud.pipeline) for bench tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from walkout.events import event_to_dict, make_event

STORE = "store-1"
DEVICE = "edge-1"
START = 1795608000.0


def truth_doc(sessions: dict[str, dict[str, int]], *, open_sessions: int = 0) -> dict[str, Any]:
    """A walkout.truth/1 document with these completed visits (session_id -> receipt)."""
    rows = [
        {
            "session_id": sid,
            "account_ref": f"acct-{sid}",
            "members": [f"p-{sid}"],
            "scan_ts": START + i,
            "enter_ts": START + i + 1,
            "exit_ts": START + i + 60,
            "receipt": receipt,
        }
        for i, (sid, receipt) in enumerate(sessions.items())
    ]
    rows += [
        {
            "session_id": f"open-{n}",
            "account_ref": f"acct-open-{n}",
            "members": [f"p-open-{n}"],
            "scan_ts": START,
            "enter_ts": START + 1,
            "exit_ts": None,
            "receipt": {"sku-9": 1},
        }
        for n in range(open_sessions)
    ]
    return {
        "schema": "walkout.truth/1",
        "scenario": "demo",
        "seed": 7,
        "start_ts": START,
        "end_ts": START + 1800,
        "trajectory_dt_s": 0.1,
        "sessions": rows,
        "people": [],
        "events": [
            {
                "event_id": "e1",
                "kind": "pick",
                "ts": START + 10.0,
                "lane_id": "lane-1",
                "person_id": "p-s1",
                "session_id": "s1",
                "sku": "sku-1",
                "qty": 1,
            },
            {
                "event_id": "e2",
                "kind": "pick",
                "ts": START + 20.0,
                "lane_id": "lane-2",
                "person_id": "p-s1",
                "session_id": "s1",
                "sku": "sku-2",
                "qty": 1,
            },
        ],
    }


def heartbeat(seq: int) -> dict[str, Any]:
    ts = datetime.fromtimestamp(START + seq, UTC)
    return event_to_dict(
        make_event(
            "heartbeat",
            {"watermark_ts": ts, "outbox_depth": 0, "cameras_ok": True, "loadcells_ok": True},
            store_id=STORE,
            device_id=DEVICE,
            seq=seq,
            ts=ts,
        )
    )


def shelf_changed(seq: int, lane: str, at: float) -> dict[str, Any]:
    ts = datetime.fromtimestamp(START + at, UTC)
    return event_to_dict(
        make_event(
            "shelf.changed",
            {
                "shelf_id": "shelf-1",
                "lane_id": lane,
                "delta_g": -250.0,
                "t_start": ts - timedelta(seconds=1),
                "t_end": ts,
                "noise_g": 2.0,
                "candidates": [],
                "evidence": [],
            },
            store_id=STORE,
            device_id=DEVICE,
            seq=seq,
            ts=ts,
        )
    )


def operations(**over: Any) -> dict[str, Any]:
    ops: dict[str, Any] = {
        "kinesis": {
            "put_records_calls": 2,
            "records": 10,
            "payload_units_25kb": 10,
            "bytes": 5000,
        },
        "lambda": {
            "ingest": {"invocations": 4, "duration_ms": 2000.0, "memory_mb": 1024},
            "assess": {"invocations": 4, "duration_ms": 1000.0, "memory_mb": 512},
        },
        "dynamodb": {
            "read_units": 1000,
            "write_units": 2000,
            "read_requests": 500,
            "write_requests": 1000,
        },
        "stepfunctions": {"executions": 4, "transitions": 17},
        "s3": {"put": 100, "get": 10, "list": 0},
        "sns": {"publishes": 3},
        "sqs": {"requests": 0},
        "eventbridge": {"entries": 12},
        "review_tasks": 1,
    }
    ops.update(over)
    return ops


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_run(
    workdir: Path,
    *,
    sessions: list[dict[str, Any]],
    receipts: list[dict[str, Any]],
    reviews: list[dict[str, Any]] | None = None,
    delivered: list[dict[str, Any]] | None = None,
    ingest: dict[str, Any] | None = None,
    ops: dict[str, Any] | None = None,
) -> Path:
    run = workdir / "run"
    run.mkdir(parents=True, exist_ok=True)
    delivered = delivered if delivered is not None else [heartbeat(0), heartbeat(1)]
    write_jsonl(run / "delivered.jsonl", delivered)
    write_jsonl(run / "sessions.jsonl", sessions)
    write_jsonl(run / "receipts.jsonl", receipts)
    write_jsonl(run / "reviews.jsonl", reviews or [])
    ingest = ingest or {
        "records": len(delivered),
        "events": len(delivered),
        "duplicates": 0,
        "quarantined": 0,
        "quarantine_reasons": {},
    }
    (run / "ingest.json").write_text(json.dumps(ingest), encoding="utf-8")
    (run / "operations.json").write_text(json.dumps(ops or operations()), encoding="utf-8")
    (run / "timings.json").write_text(
        json.dumps({"edge_s": 1.0, "cloud_drain_s": 2.0, "total_s": 3.0}), encoding="utf-8"
    )
    return run


def session(
    sid: str,
    *,
    confidence: float | None = 0.99,
    reviewed: bool = False,
    causes: tuple[str, ...] = (),
    exit_wall: float | None = 100.0,
    pre_review: dict[str, int] | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "store_id": STORE,
        "session_id": sid,
        "status": "finalized",
        "confidence": confidence,
        "reviewed": reviewed,
        "review_causes": list(causes),
        "exit_ts": "2026-11-25T12:01:00Z",
        "exit_seen_wall": exit_wall,
    }
    if pre_review is not None:
        row["pre_review_lines"] = [{"sku": k, "qty": v} for k, v in pre_review.items()]
    return row


def receipt(
    sid: str, items: dict[str, int], *, reviewed: bool = False, issued_wall: float = 101.0
) -> dict[str, Any]:
    lines = [
        {
            "sku": k,
            "qty": v,
            "unit_price_minor": 100,
            "line_total_minor": 100 * v,
            "savings_minor": 0,
        }
        for k, v in items.items()
    ]
    total = sum(100 * v for v in items.values())
    return {
        "store_id": STORE,
        "session_id": sid,
        "version": 1,
        "lines": lines,
        "subtotal_minor": total,
        "savings_minor": 0,
        "total_minor": total,
        "reviewed": reviewed,
        "flags": [],
        "issued_wall": issued_wall,
    }


def session_entered(seq: int, session_id: str, account_ref: str) -> dict[str, Any]:
    ts = datetime.fromtimestamp(START + seq, UTC)
    return event_to_dict(
        make_event(
            "session.entered",
            {
                "session_id": session_id,
                "gate_id": "gate-in",
                "account_ref": account_ref,
                "track_ids": [f"trk-{seq}"],
            },
            store_id=STORE,
            device_id=DEVICE,
            seq=seq,
            ts=ts,
        )
    )
