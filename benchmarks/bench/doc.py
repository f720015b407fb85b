"""Write `docs/benchmarks.md` from `walkout bench` JSON results (one per scenario).

python -m benchmarks.bench.doc --out docs/benchmarks.md busy.json stadium-rush.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.bench.report import SECTION8_KEYS, fmt, lookup
from walkout_cli.eval import SETTLED_AFTER_S

# Issue 9: stadium-rush (over 1,000 sessions) end to end in under 15 minutes on this machine.
WALL_TARGET_S = {"stadium-rush": 900.0}

TARGETS: dict[str, str] = {
    "events_lost": "= 0",
    "receipt_accuracy": ">= 0.995",
    "review_rate_per_1000": "<= 20",
    "auto_receipt_accuracy": ">= 0.995",
}


def _machine(machine: Mapping[str, Any]) -> str:
    return (
        f"{fmt(machine.get('cores'))} cores, {fmt(machine.get('ram_gb'))} GB RAM, "
        f"load {machine.get('load_start')} at the start and {machine.get('load_end')} at the end"
    )


def scenario_section(result: Mapping[str, Any]) -> list[str]:
    scenario = result.get("scenario") or {}
    counts = scenario.get("counts") or {}
    timings = scenario.get("timings_s") or {}
    lines = [
        f"## {scenario.get('name')} (seed {scenario.get('seed')})",
        "",
        f"Run ended {(result.get('machine') or {}).get('run_ended') or result.get('date')} "
        f"on {_machine(result.get('machine') or {})}; "
        f"review backend {scenario.get('review_backend')}, threshold "
        f"{scenario.get('review_threshold')}; {fmt(counts.get('sessions_true'))} visits in the "
        f"truth, {fmt(counts.get('sessions_opened'))} opened by the cloud, "
        f"{fmt(counts.get('receipts'))} receipts; wall time "
        f"{fmt(timings.get('total_s'))} s (edge {fmt(timings.get('edge_s'))} s, cloud drain "
        f"{fmt(timings.get('cloud_drain_s'))} s).",
        "",
    ]
    if not scenario.get("finished", True):
        lines += [
            "**This run timed out before the cloud settled**: the figures below describe an "
            "unfinished run (events not yet handled count as lost, sessions without a "
            "receipt as wrong).",
            "",
        ]
    lines += [
        "| figure | value | target (issue 9) |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{key}` | {fmt(lookup(result, key))} | {TARGETS.get(key, '')} |"
        for key in SECTION8_KEYS
    ]
    wall_target = WALL_TARGET_S.get(str(scenario.get("name")))
    if wall_target is not None:
        lines.append(
            "| wall time of the run, local cloud start to settled (s) | "
            f"{fmt(timings.get('total_s'))} | < {wall_target:g} |"
        )
        if timings.get("last_receipt_s") is not None:
            lines.append(
                "| wall time, local cloud start to the last receipt (s) | "
                f"{fmt(timings.get('last_receipt_s'))} | < {wall_target:g} |"
            )
    perception = result.get("perception") or {}
    gates = perception.get("gates") or {}
    if gates.get("people"):
        lines += [
            "",
            f"Edge perception: {fmt(gates.get('people_bound_to_their_session'))} of "
            f"{fmt(gates.get('people'))} people bound to their own session (a track's person"
            " by the IDF1 assignment);"
            + birth_line(gates.get("bound_at_birth"), gates.get("bound_after_entry"))
            + f" session top-1 of shelf changes {fmt(perception.get('session_top1_accuracy'))}; "
            f"{fmt((perception.get('ambiguity') or {}).get('events'))} track ambiguities "
            "reported.",
        ]
    review = result.get("review_causes") or {}
    causes = review.get("by_event") or {}
    if causes:
        lines += [
            "",
            "Review causes (events): " + ", ".join(f"{k} {v}" for k, v in causes.items()) + ".",
        ]
    if review.get("settled_by_other_reviews"):
        lines += [
            "",
            f"{fmt(review.get('tasks'))} review tasks; "
            f"{fmt(review['settled_by_other_reviews'])} more receipts were settled in part by"
            " answers given in other sessions' reviews (the same shelf events), without a task"
            " of their own: they count as reviewed receipts, not in the review rate.",
        ]
    errors = result.get("receipt_errors")
    if errors:
        lines += ["", receipt_errors_line(errors)]
    curve = (result.get("operating_curve") or {}).get("thresholds") or []
    if curve:
        lines += [
            "",
            "Operating curve (from this run; docs/cost-model.md says how):",
            "",
            "| threshold | reviewed / 1,000 | auto receipts | of which cart before review unknown "
            "| auto-receipt error |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['threshold']:g} | {fmt(row['review_rate_per_1000'])} | "
            f"{fmt(row.get('auto_receipts'))} | {fmt(row.get('auto_unknown'))} | "
            f"{fmt(row['auto_receipt_error'])} |"
            for row in curve
        ]
    cost = result.get("cost_breakdown") or {}
    lines += [
        "",
        f"Cost: {fmt(cost.get('cost_usd_per_1000_visits'))} USD per 1,000 visits, of which AWS "
        f"{fmt(cost.get('aws_usd_per_1000_visits'))} (prices {cost.get('prices_region')}, "
        f"{cost.get('prices_date')}; docs/cost-model.md).",
        "",
    ]
    return lines


def birth_line(births: Mapping[str, Any] | None, settled: Mapping[str, Any] | None = None) -> str:
    """The gates' bindings judged at each track's birth and once past the entry (`walkout
    eval perception`), or nothing for a run without them."""
    if not births:
        return ""
    line = (
        f" of {fmt(births['tracks'])} tracks the gates bound, {fmt(births['right'])} went to"
        f" the session of the person they followed when born and {fmt(births['wrong'])} to"
        f" another ({fmt(births['unjudged'])} with nobody near)"
    )
    if settled:
        line += (
            f"; judged by the person they followed {SETTLED_AFTER_S:g} s after birth,"
            f" {fmt(settled['right'])}"
            f" right and {fmt(settled['wrong'])} wrong"
        )
    return line + ";"


def receipt_errors_line(errors: Mapping[str, Any]) -> str:
    """One sentence: the wrong receipts by kind (see `scoring.receipt_errors`)."""

    def part(kind: Mapping[str, Any], what: str) -> str:
        return (
            f"{fmt(kind['wrong'])} {what} (only items missing {fmt(kind['missing_only'])}, "
            f"only items added {fmt(kind['extra_only'])}, both {fmt(kind['both'])})"
        )

    audit = errors.get("audit")
    flagged = (
        f" Of the receipts issued without review, {fmt(audit['auto_flagged'])} were flagged"
        f" for audit (a track most likely left as somebody from outside its session;"
        f" {fmt(audit['auto_flagged_wrong'])} of them wrong), {fmt(audit['auto_unflagged'])}"
        f" were not ({fmt(audit['auto_unflagged_wrong'])} wrong)."
        if audit
        else ""
    )
    return (
        "Receipt errors: "
        + part(errors["auto"], "wrong without review")
        + "; "
        + part(errors["reviewed"], "wrong after review")
        + f"; {fmt(errors['no_receipt'])} visits without a receipt."
        + flagged
    )


def benchmarks_markdown(results: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`walkout bench` on each scenario, then",
        "`python -m benchmarks.bench.doc`); the definitions are DESIGN.md section 8 and",
        "docs/cost-model.md. Every figure is from one run of the whole local pipeline on the",
        "machine named under its scenario; wall times depend on that machine's load.",
        "",
    ]
    for result in results:
        lines += scenario_section(result)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench.doc")
    parser.add_argument("--out", required=True, help="Markdown file to write")
    parser.add_argument("results", nargs="+", help="walkout bench --json files")
    args = parser.parse_args(argv)
    results = []
    for name in args.results:
        try:
            results.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"benchmarks.bench.doc: {name}: {exc}", file=sys.stderr)
            return 2
    Path(args.out).write_text(benchmarks_markdown(results), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
