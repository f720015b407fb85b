"""A run's headline figures from its artifacts and the recording's truth (for `walkout demo`).

Receipt accuracy: the share of the truth's sessions that left the store whose final receipt
has exactly the truth's (sku, qty) multiset; a session without a receipt counts as wrong.
Review rate: sessions whose receipt reviewers' answers settled, per 1,000 sessions the cloud
finalized (with a review task of their own, or through the answers another session's review
gave about the same shelf events; `review_tasks` says how many tasks there were).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunSummary:
    truth_sessions: int  # sessions of the truth that left the store
    cloud_sessions: int
    receipts: int
    correct: int
    reviewed: int
    review_tasks: int
    answers_wrong: int
    events: int
    duplicates: int
    quarantined: int
    wrong_sessions: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    timings: dict[str, float]

    @property
    def receipt_accuracy(self) -> float:
        return self.correct / self.truth_sessions if self.truth_sessions else 0.0

    @property
    def review_rate_per_1000(self) -> float:
        return 1000.0 * self.reviewed / self.receipts if self.receipts else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "truth_sessions": self.truth_sessions,
            "cloud_sessions": self.cloud_sessions,
            "receipts": self.receipts,
            "receipt_accuracy": round(self.receipt_accuracy, 6),
            "review_rate_per_1000": round(self.review_rate_per_1000, 1),
            "review_tasks": self.review_tasks,
            "reviewer_answers_wrong": self.answers_wrong,
            "events_delivered": self.events,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "wrong_sessions": self.wrong_sessions,
            "timings": self.timings,
        }


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def summarize(recording: Path, run_dir: Path) -> RunSummary:
    truth = json.loads((recording / "truth.json").read_text(encoding="utf-8"))
    left = [s for s in truth["sessions"] if s.get("exit_ts") is not None]
    receipts = {r["session_id"]: r for r in _lines(run_dir / "receipts.jsonl")}
    sessions = _lines(run_dir / "sessions.jsonl")
    reviews = _lines(run_dir / "reviews.jsonl")
    ingest = json.loads((run_dir / "ingest.json").read_text(encoding="utf-8"))
    timings = json.loads((run_dir / "timings.json").read_text(encoding="utf-8"))
    correct, wrong = 0, []
    for session in left:
        expected = {sku: qty for sku, qty in session["receipt"].items() if qty}
        receipt = receipts.get(session["session_id"])
        got: dict[str, int] | None = None
        if receipt is not None:
            got = {}
            for line in receipt["lines"]:
                got[line["sku"]] = got.get(line["sku"], 0) + line["qty"]
        if got == expected:
            correct += 1
        else:
            wrong.append({"session_id": session["session_id"], "truth": expected, "receipt": got})
    with_savings = sorted(
        receipts.values(), key=lambda r: (-r["savings_minor"], -len(r["lines"]), r["session_id"])
    )
    return RunSummary(
        truth_sessions=len(left),
        cloud_sessions=len(sessions),
        receipts=len(receipts),
        correct=correct,
        reviewed=sum(1 for r in receipts.values() if r["reviewed"]),
        review_tasks=len(reviews),
        answers_wrong=sum(int(r["answers_wrong"]) for r in reviews),
        events=int(ingest["events"]),
        duplicates=int(ingest["duplicates"]),
        quarantined=int(ingest["quarantined"]),
        wrong_sessions=wrong,
        samples=with_savings[:2],
        timings=timings,
    )


def money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency}"


def receipt_text(receipt: dict[str, Any]) -> list[str]:
    """A receipt as a shopper would read it (lines, savings, total)."""
    currency = receipt.get("currency", "")
    out = [f"receipt for session {receipt['session_id']} ({receipt['review_status']})"]
    for line in receipt["lines"]:
        name = line.get("name", line["sku"])
        out.append(
            f"  {line['qty']} x {name[:28]:<28} {money(line['unit_price_minor'], currency):>12}"
            f" {money(line['line_total_minor'], currency):>12}"
        )
    for saving in receipt.get("savings", []):
        out.append(
            f"  saving: {saving['name'][:40]:<40} -{money(saving['amount_minor'], currency)}"
        )
    out.append(
        f"  subtotal {money(receipt['subtotal_minor'], currency)},"
        f" savings {money(receipt['savings_minor'], currency)},"
        f" total {money(receipt['total_minor'], currency)}"
    )
    return out
