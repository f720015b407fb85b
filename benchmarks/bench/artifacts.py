"""The files a run of the local pipeline leaves in `WORKDIR/run` (and `WORKDIR/edge`).

The contract (written by `localcloud.pipeline.run_pipeline`): JSON Lines `delivered.jsonl`,
`sessions.jsonl`, `receipts.jsonl`, `reviews.jsonl` and JSON `ingest.json`,
`operations.json`, `timings.json`. A missing or malformed file is an `ArtifactError`
naming the file and line; optional files (`reviews.jsonl` when nothing was reviewed, the
edge's track log and outbox) may be absent.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ArtifactError(ValueError):
    """A run artifact is missing or unreadable; the message names the file (and line)."""


@dataclass(frozen=True)
class SessionRow:
    store_id: str
    session_id: str
    status: str
    confidence: float | None
    reviewed: bool
    review_causes: tuple[str, ...]
    exit_seen_wall: float | None
    # The cart the finalize workflow assessed, before any review ({sku: qty}); None when the
    # run did not record it (see docs/cost-model.md, "What the scorer needs").
    pre_review: dict[str, int] | None


@dataclass(frozen=True)
class ReceiptRow:
    store_id: str
    session_id: str
    version: int
    items: dict[str, int]
    reviewed: bool
    flags: tuple[str, ...]
    issued_wall: float | None


@dataclass(frozen=True)
class ReviewRow:
    task_id: str
    session_id: str
    causes: tuple[str, ...]
    created_wall: float | None
    answered_wall: float | None
    answers_wrong: int


@dataclass(frozen=True)
class RunArtifacts:
    run_dir: Path
    delivered: list[dict[str, Any]]
    sessions: list[SessionRow]
    receipts: list[ReceiptRow]
    reviews: list[ReviewRow]
    ingest: dict[str, Any]
    operations: dict[str, Any]
    timings: dict[str, Any]
    # Edge side (optional): rows still queued in the outbox at the end, the track log.
    outbox_pending: int | None = None
    tracks_csv: Path | None = None
    region: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_jsonl(path: Path, *, required: bool = True) -> list[dict[str, Any]]:
    if not path.is_file():
        if required:
            raise ArtifactError(f"{path}: missing (the local pipeline writes it)")
        return []
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ArtifactError(f"{path.name} line {number}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ArtifactError(f"{path.name} line {number}: not a JSON object")
            rows.append(row)
    return rows


def read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing (the local pipeline writes it)") from None
    except ValueError as exc:
        raise ArtifactError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ArtifactError(f"{path}: not a JSON object")
    return doc


def _need(row: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in row:
        raise ArtifactError(f"{where}: no {key!r}")
    return row[key]


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArtifactError(f"{where}: expected a number, got {value!r}")
    return float(value)


def items_of(lines: Any, where: str) -> dict[str, int]:
    """{sku: qty} of receipt lines (a list of {sku, qty, ...}) or of a {sku: qty} object."""
    out: dict[str, int] = {}
    if isinstance(lines, Mapping):
        pairs = list(lines.items())
    elif isinstance(lines, list):
        pairs = []
        for line in lines:
            if not isinstance(line, Mapping) or "sku" not in line or "qty" not in line:
                raise ArtifactError(f"{where}: a line needs 'sku' and 'qty'")
            pairs.append((line["sku"], line["qty"]))
    else:
        raise ArtifactError(f"{where}: lines must be a list or an object")
    for sku, qty in pairs:
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise ArtifactError(f"{where}: qty of {sku} is not an integer")
        out[str(sku)] = out.get(str(sku), 0) + qty
    return {sku: qty for sku, qty in out.items() if qty > 0}


def _session(row: dict[str, Any], number: int) -> SessionRow:
    where = f"sessions.jsonl line {number}"
    pre = row.get("pre_review_lines")
    return SessionRow(
        store_id=str(_need(row, "store_id", where)),
        session_id=str(_need(row, "session_id", where)),
        status=str(row.get("status", "")),
        confidence=_number(row.get("confidence"), f"{where} confidence"),
        reviewed=bool(row.get("reviewed", False)),
        review_causes=tuple(str(c) for c in row.get("review_causes") or ()),
        exit_seen_wall=_number(row.get("exit_seen_wall"), f"{where} exit_seen_wall"),
        pre_review=None if pre is None else items_of(pre, f"{where} pre_review_lines"),
    )


def _receipt(row: dict[str, Any], number: int) -> ReceiptRow:
    where = f"receipts.jsonl line {number}"
    return ReceiptRow(
        store_id=str(_need(row, "store_id", where)),
        session_id=str(_need(row, "session_id", where)),
        version=int(row.get("version", 1)),
        items=items_of(_need(row, "lines", where), where),
        reviewed=bool(row.get("reviewed", False)),
        flags=tuple(str(f) for f in row.get("flags") or ()),
        issued_wall=_number(row.get("issued_wall"), f"{where} issued_wall"),
    )


def _review(row: dict[str, Any], number: int) -> ReviewRow:
    where = f"reviews.jsonl line {number}"
    events = row.get("events") or []
    if not isinstance(events, list):
        raise ArtifactError(f"{where}: events must be a list")
    return ReviewRow(
        task_id=str(_need(row, "task_id", where)),
        session_id=str(_need(row, "session_id", where)),
        causes=tuple(str(e.get("cause", "unknown")) for e in events if isinstance(e, Mapping)),
        created_wall=_number(row.get("created_wall"), f"{where} created_wall"),
        answered_wall=_number(row.get("answered_wall"), f"{where} answered_wall"),
        answers_wrong=int(row.get("answers_wrong") or 0),
    )


def outbox_pending(edge_dir: Path) -> tuple[int | None, str | None]:
    """Events still queued in the edge outbox at the end, and the edge's region.

    The outbox deletes a row once Kinesis accepted it, so what is left was never delivered.
    """
    config_path = edge_dir / "config.yaml"
    if not config_path.is_file():
        return None, None
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return None, None
    if not isinstance(config, dict):
        return None, None
    region = config.get("region") if isinstance(config.get("region"), str) else None
    outbox = config.get("outbox_path")
    if not isinstance(outbox, str):
        return None, region
    path = Path(outbox)
    if not path.is_absolute():
        path = edge_dir / path
    if not path.is_file():
        return None, region
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            (pending,) = db.execute("SELECT COUNT(*) FROM events").fetchone()
    except sqlite3.Error:
        return None, region
    return int(pending), region


def find_tracks(workdir: Path) -> Path | None:
    """The edge's track log (`ts,track_id,x,y`), when the run kept one."""
    for candidate in (
        workdir / "run" / "tracks.csv",
        workdir / "edge" / "tracks.csv",
        *sorted((workdir / "edge").glob("*.tracks.csv")),
    ):
        if candidate.is_file():
            return candidate
    return None


def load_run(workdir: Path) -> RunArtifacts:
    """Read `workdir/run/*` (and what the edge left in `workdir/edge`)."""
    run = workdir / "run"
    if not run.is_dir():
        raise ArtifactError(f"{run}: no run folder (run the local pipeline first)")
    pending, region = outbox_pending(workdir / "edge")
    return RunArtifacts(
        run_dir=run,
        delivered=read_jsonl(run / "delivered.jsonl"),
        sessions=[_session(r, i) for i, r in enumerate(read_jsonl(run / "sessions.jsonl"), 1)],
        receipts=[_receipt(r, i) for i, r in enumerate(read_jsonl(run / "receipts.jsonl"), 1)],
        reviews=[
            _review(r, i)
            for i, r in enumerate(read_jsonl(run / "reviews.jsonl", required=False), 1)
        ],
        ingest=read_json(run / "ingest.json"),
        operations=read_json(run / "operations.json"),
        timings=read_json(run / "timings.json") if (run / "timings.json").is_file() else {},
        outbox_pending=pending,
        tracks_csv=find_tracks(workdir),
        region=region,
    )
