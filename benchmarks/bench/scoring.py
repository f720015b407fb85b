"""Every DESIGN.md section 8 figure of one run, from the truth and the run artifacts.

Definitions (docs/cost-model.md, "Scoring", says the same in prose):

- Sessions scored: the truth's completed visits (`exit_ts` set). A visit the cloud never
  issued a receipt for counts as a wrong receipt (and its items as missed); a receipt for a
  session the truth does not know is compared with an empty receipt.
- `review_rate_per_1000`: sessions the cloud opened that went to any human review (the
  session says `reviewed`, or a review task names it) per 1,000 sessions the cloud opened.
- `auto_receipt_accuracy`: final receipts with `reviewed` false whose {sku: qty} equals the
  truth, over all such receipts (None when every receipt was reviewed).
- `receipt_accuracy`: the same over all scored sessions, after review.
- `item_f1`: per (session, sku), tp = min(pred, true), fp = pred - tp, fn = true - tp,
  summed over all scored sessions, F1 = 2 tp / (2 tp + fp + fn) (the AutoCheckout score).
- `p95_exit_to_receipt_s`: 95th percentile (linear interpolation) over receipts of
  `issued_wall - exit_seen_wall`, wall seconds on this machine: from when the pump read the
  session's last `track.exited` to when the bus delivered its receipt.
- `events_lost`: events the edge produced that never reached a cart decision (processed
  or quarantined) in the cloud: still queued in the edge outbox at the end, in Kinesis
  records the event source mapping gave up on or never handled, or delivered but neither
  processed nor quarantined by the ingest (`events_lost()` says how each is counted).
  Picks and returns of the truth the edge never detected are a perception figure
  (`perception.truth_events_undetected`), not counted here.

The operating curve and the reliability diagram need each session's cart before review
(`pre_review_lines` in sessions.jsonl). A session finalized without review has the final
receipt as that cart; a reviewed session without `pre_review_lines` counts in the review
rate at each threshold but not in the auto-receipt error nor the reliability diagram
(`pre_review_unknown`, and `auto_unknown` per threshold).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from benchmarks.bench.artifacts import ReceiptRow, RunArtifacts, SessionRow

THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
RELIABILITY_BINS = 10


def truth_receipts(truth: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """session_id -> {sku: qty > 0} of every completed visit in the truth."""
    out: dict[str, dict[str, int]] = {}
    for s in truth["sessions"]:
        if s.get("exit_ts") is None:
            continue
        receipt = s.get("receipt") or {}
        out[str(s["session_id"])] = {str(k): int(v) for k, v in receipt.items() if int(v) > 0}
    return out


def truth_session_ids(
    truth: Mapping[str, Any], delivered: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Cloud session id -> truth session id.

    The edge opens a session with its own id when a scan passes the gate; the scan's
    `account_ref` is the simulator's, so `session.entered` ties the two together.
    """
    by_account = {str(s["account_ref"]): str(s["session_id"]) for s in truth["sessions"]}
    mapping: dict[str, str] = {}
    for event in delivered:
        if event.get("type") != "session.entered":
            continue
        data = event.get("data")
        if not isinstance(data, Mapping):
            continue
        true_id = by_account.get(str(data.get("account_ref")))
        if true_id is not None and data.get("session_id") is not None:
            mapping[str(data["session_id"])] = true_id
    return mapping


def in_truth_ids(truth: Mapping[str, Any], run: RunArtifacts) -> RunArtifacts:
    """The run with every session id the truth can name replaced by the truth's id."""
    mapping = truth_session_ids(truth, run.delivered)

    def rename(session_id: str) -> str:
        return mapping.get(session_id, session_id)

    return replace(
        run,
        sessions=[replace(s, session_id=rename(s.session_id)) for s in run.sessions],
        receipts=[replace(r, session_id=rename(r.session_id)) for r in run.receipts],
        reviews=[replace(t, session_id=rename(t.session_id)) for t in run.reviews],
    )


# --- receipts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemCounts:
    tp: int
    fp: int
    fn: int

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 1.0 if denominator == 0 else 2 * self.tp / denominator


def item_counts(
    predicted: Mapping[str, Mapping[str, int]], true: Mapping[str, Mapping[str, int]]
) -> ItemCounts:
    tp = fp = fn = 0
    for session in set(predicted) | set(true):
        pred_items = predicted.get(session, {})
        true_items = true.get(session, {})
        for sku in set(pred_items) | set(true_items):
            p, t = pred_items.get(sku, 0), true_items.get(sku, 0)
            hit = min(p, t)
            tp += hit
            fp += p - hit
            fn += t - hit
    return ItemCounts(tp, fp, fn)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between order statistics."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- events lost -----------------------------------------------------------------------------


def events_lost(run: RunArtifacts) -> dict[str, Any]:
    """How many of the edge's events never reached a cart decision, and where they stopped.

    Three places an event can stop:
    - in the edge outbox: rows still queued at the end were never accepted by Kinesis;
    - in the stream: Kinesis records the event source mapping gave up on (sent to the
      on-failure destination) or had not handled when the run ended (`ingest.json`
      `pump.given_up_records` and `pump.behind`). These are Kinesis records, each holding at
      least one event, so they count as one event each: a lower bound;
    - in the ingest: the delivered distinct event ids not among `ingest.json`'s
      `decided_event_ids` (the events the ingest processed or quarantined); with only a
      `decided` count, the delivered distinct events beyond it; with neither, every distinct
      event counted in `events - duplicates` is taken as decided.
    """
    distinct = {str(e.get("event_id")) for e in run.delivered if e.get("event_id") is not None}
    decided_ids = run.ingest.get("decided_event_ids")
    if isinstance(decided_ids, list):
        decided = len(distinct & {str(i) for i in decided_ids})
    elif isinstance(run.ingest.get("decided"), int):
        decided = int(run.ingest["decided"])
    else:
        decided = int(run.ingest.get("events", 0)) - int(run.ingest.get("duplicates", 0))
    pump: Mapping[str, Any] = run.ingest.get("pump") or {}
    given_up = int(pump.get("given_up_records") or 0)
    behind_map: Mapping[str, Any] = pump.get("behind") or {}
    behind = sum(v for v in behind_map.values() if isinstance(v, int))
    undecided = max(0, len(distinct) - decided)
    pending = run.outbox_pending or 0
    gaps = 0
    by_device: dict[str, set[int]] = {}
    for e in run.delivered:
        seq = e.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            by_device.setdefault(str(e.get("device_id")), set()).add(seq)
    for seqs in by_device.values():
        gaps += max(seqs) - min(seqs) + 1 - len(seqs)
    return {
        "events_lost": pending + given_up + behind + undecided,
        "outbox_pending_at_end": run.outbox_pending,
        "stream_records_given_up": given_up,
        "stream_records_not_handled": behind,
        "delivered_not_decided": undecided,
        "delivered_records": len(run.delivered),
        "delivered_distinct": len(distinct),
        "decided": decided,
        "quarantined": int(run.ingest.get("quarantined", 0)),
        # seq may skip numbers by design (a number taken and never used); informational only.
        "seq_gaps": gaps,
    }


# --- operating curve and reliability --------------------------------------------------------


@dataclass(frozen=True)
class Assessed:
    session_id: str
    confidence: float
    # The cart before review equals the truth; None when the run did not record that cart.
    right: bool | None


def assessed_sessions(
    sessions: Iterable[SessionRow],
    receipts: Mapping[str, ReceiptRow],
    truth: Mapping[str, Mapping[str, int]],
) -> tuple[list[Assessed], dict[str, int]]:
    """Sessions with a confidence (whether their pre-review cart is right, if known) and
    the counts of what was left out or unknown."""
    out: list[Assessed] = []
    skipped = Counter({"no_confidence": 0, "pre_review_unknown": 0})
    sources = Counter({"pre_review_lines": 0, "final_receipt_unreviewed": 0})
    for s in sessions:
        if s.confidence is None:
            skipped["no_confidence"] += 1
            continue
        cart: Mapping[str, int] | None = s.pre_review
        if cart is not None:
            sources["pre_review_lines"] += 1
        else:
            receipt = receipts.get(s.session_id)
            if receipt is not None and not receipt.reviewed and not s.reviewed:
                cart = receipt.items
                sources["final_receipt_unreviewed"] += 1
        if cart is None:
            skipped["pre_review_unknown"] += 1
        right = None if cart is None else dict(cart) == truth.get(s.session_id, {})
        out.append(Assessed(s.session_id, s.confidence, right))
    return out, {**skipped, **{f"source_{k}": v for k, v in sources.items()}}


def operating_curve(
    assessed: Sequence[Assessed], thresholds: Sequence[float] = THRESHOLDS
) -> list[dict[str, Any]]:
    """At each threshold t: sessions with confidence < t go to review, the others are
    finalized as assessed; the review rate (over every session with a confidence) and the
    error of those auto receipts whose pre-review cart is known (`auto_unknown`: the others)."""
    rows = []
    n = len(assessed)
    for t in thresholds:
        auto = [a for a in assessed if a.confidence >= t]
        known = [a for a in auto if a.right is not None]
        wrong = sum(1 for a in known if not a.right)
        rows.append(
            {
                "threshold": t,
                "sessions": n,
                "reviewed": n - len(auto),
                "review_rate_per_1000": round(1000 * (n - len(auto)) / n, 2) if n else None,
                "auto_receipts": len(auto),
                "auto_unknown": len(auto) - len(known),
                "auto_receipt_error": round(wrong / len(known), 4) if known else None,
            }
        )
    return rows


def reliability(assessed: Sequence[Assessed], bins: int = RELIABILITY_BINS) -> dict[str, Any]:
    """Equal-width confidence bins: mean confidence vs the share of pre-review carts right."""
    assessed = [a for a in assessed if a.right is not None]
    table = []
    ece = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [
            a
            for a in assessed
            if low <= a.confidence < high or (b == bins - 1 and a.confidence >= 1.0)
        ]
        if not members:
            table.append(
                {"low": low, "high": high, "sessions": 0, "confidence": None, "right": None}
            )
            continue
        confidence = sum(a.confidence for a in members) / len(members)
        right = sum(1 for a in members if a.right) / len(members)
        ece += len(members) / len(assessed) * abs(right - confidence)
        table.append(
            {
                "low": low,
                "high": high,
                "sessions": len(members),
                "confidence": round(confidence, 4),
                "right": round(right, 4),
            }
        )
    return {"bins": table, "ece": round(ece, 4) if assessed else None}


# --- review causes ----------------------------------------------------------------------------


def sent_to_review(run: RunArtifacts) -> set[str]:
    """The sessions that went to human review: the session says `reviewed`, or a review task
    names it."""
    return {s.session_id for s in run.sessions if s.reviewed} | {t.session_id for t in run.reviews}


def review_causes(run: RunArtifacts) -> dict[str, Any]:
    by_event: Counter[str] = Counter()
    for task in run.reviews:
        by_event.update(task.causes)
    by_session: Counter[str] = Counter()
    for s in run.sessions:
        by_session.update(set(s.review_causes))
    asked = sent_to_review(run)
    return {
        "by_event": dict(by_event.most_common()),
        "by_session": dict(by_session.most_common()),
        "tasks": len(run.reviews),
        "answers_wrong": sum(t.answers_wrong for t in run.reviews),
        # Receipts a person settled part of through another session's review (the same
        # shelf event), with no task of their own: not in the review rate, nor among the
        # receipts issued without review.
        "settled_by_other_reviews": len(
            {r.session_id for r in run.receipts if r.reviewed and r.session_id not in asked}
        ),
    }


# --- receipt errors -----------------------------------------------------------------------------


def _error_kind(predicted: Mapping[str, int], true: Mapping[str, int]) -> str | None:
    """How a receipt differs from the truth: None (equal), "missing" (only units the
    shopper took are missing), "extra" (only units nobody in the session took are added)
    or "both"."""
    counts = item_counts({"": predicted}, {"": true})
    if counts.fn and counts.fp:
        return "both"
    return "missing" if counts.fn else "extra" if counts.fp else None


def receipt_errors(
    receipts: Mapping[str, ReceiptRow], true: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """The wrong final receipts by kind, apart for those issued without review and after
    one; the visits of the truth that got no receipt; and, of the receipts issued without
    review, how many were flagged for audit and how many of the flagged and of the others
    were wrong."""
    kinds = {"auto": Counter[str](), "reviewed": Counter[str]()}
    audit = Counter[str]()
    for sid, r in receipts.items():
        kind = _error_kind(r.items, true.get(sid, {}))
        if kind:
            kinds["reviewed" if r.reviewed else "auto"][kind] += 1
        if not r.reviewed:
            flagged = "flagged" if "audit" in r.flags else "unflagged"
            audit[f"auto_{flagged}"] += 1
            audit[f"auto_{flagged}_wrong"] += kind is not None
    out: dict[str, Any] = {
        name: {
            "wrong": sum(found.values()),
            "missing_only": found["missing"],
            "extra_only": found["extra"],
            "both": found["both"],
        }
        for name, found in kinds.items()
    }
    out["no_receipt"] = len(set(true) - set(receipts))
    out["audit"] = {
        key: audit[key]
        for key in ("auto_flagged", "auto_flagged_wrong", "auto_unflagged", "auto_unflagged_wrong")
    }
    return out


# --- putting it together ----------------------------------------------------------------------


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def score_run(truth: Mapping[str, Any], run: RunArtifacts) -> dict[str, Any]:
    """The receipt, review, latency and loss figures of section 8 (perception and cost are
    added by `perception` and `cost`), with the operating curve, reliability and causes."""
    run = in_truth_ids(truth, run)
    true = truth_receipts(truth)
    receipts: dict[str, ReceiptRow] = {}
    for r in run.receipts:
        # The contract holds the latest receipt of a session; keep the highest version anyway.
        if r.session_id not in receipts or r.version > receipts[r.session_id].version:
            receipts[r.session_id] = r
    predicted = {sid: r.items for sid, r in receipts.items()}
    scored = set(true) | set(predicted)
    right = sum(1 for sid in scored if sid in predicted and predicted[sid] == true.get(sid, {}))
    auto = [r for r in receipts.values() if not r.reviewed]
    auto_right = sum(1 for r in auto if r.items == true.get(r.session_id, {}))

    reviewed_ids = sent_to_review(run)
    opened = {s.session_id for s in run.sessions}
    exit_seen = {s.session_id: s.exit_seen_wall for s in run.sessions}
    latencies = [
        r.issued_wall - seen
        for r in receipts.values()
        if r.issued_wall is not None and (seen := exit_seen.get(r.session_id)) is not None
    ]
    p95 = percentile(latencies, 95)
    counts = item_counts(predicted, true)
    lost = events_lost(run)
    assessed, assessed_counts = assessed_sessions(run.sessions, receipts, true)
    errors = receipt_errors(receipts, true)
    return {
        "review_rate_per_1000": round(1000 * len(reviewed_ids & opened) / len(opened), 2)
        if opened
        else None,
        "auto_receipt_accuracy": _ratio(auto_right, len(auto)),
        "receipt_accuracy": _ratio(right, len(scored)),
        "item_f1": round(counts.f1, 4),
        "p95_exit_to_receipt_s": None if p95 is None else round(p95, 3),
        "events_lost": lost["events_lost"],
        "operating_curve": {
            "thresholds": operating_curve(assessed),
            "reliability": reliability(assessed),
            "sessions_used": len(assessed),
            **assessed_counts,
        },
        "review_causes": review_causes(run),
        "receipt_errors": errors,
        "latencies_s": [round(v, 3) for v in sorted(latencies)],
        "counts": {
            "sessions_true": len(true),
            "sessions_open_in_truth": sum(1 for s in truth["sessions"] if s.get("exit_ts") is None),
            "sessions_opened": len(opened),
            "sessions_missing": len(set(true) - opened),
            "receipts": len(receipts),
            "receipts_missing": errors["no_receipt"],
            "receipts_unknown_session": len(set(predicted) - set(true)),
            "receipts_right": right,
            "receipts_auto": len(auto),
            "receipts_auto_right": auto_right,
            "reviewed_sessions": len(reviewed_ids & opened),
            "items": {"tp": counts.tp, "fp": counts.fp, "fn": counts.fn},
            "events": lost,
        },
    }
