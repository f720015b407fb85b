"""Attribution study: the figures of issue 6, printed.

    .venv/bin/python -m benchmarks.attribution_study         # calibration + review tables
    .venv/bin/python -m benchmarks.attribution_study --fit   # refit the free parameters first
    .venv/bin/python -m benchmarks.attribution_study --moto  # + writes and time per event

Events are derived from simulated ground truth with the noise model described in
`benchmarks/attribution/derive.py` (the edge agent's replay output is not used yet). The
free parameters are fitted on training seeds only; every figure is on other (test) seeds.
A recording folder can replace the simulated test cases: `--recording /tmp/sim-busy`.
No figure here is an assertion: this prints what it measures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.attribution.cases import DEFAULT_CACHE, Case, recorded, simulated
from benchmarks.attribution.derive import Derived, derive
from benchmarks.attribution.fit import fit
from benchmarks.attribution.metrics import brier, ece, reliability, review_rows
from benchmarks.attribution.replay import replay
from walkout.attribution import DEFAULT_PARAMS, AttributionParams, events_to_review

TRAIN = {
    "busy": [*range(101, 105), *range(115, 119)],
    "crowded": [*range(201, 205), *range(215, 219)],
}
TEST = {"busy": [11, *range(105, 115)], "crowded": [31, *range(205, 215)]}
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def _derive(case: Case) -> Derived:
    # The edge-noise seed differs from the scenario seed, and from case to case.
    return derive(
        case.definition,
        case.truth,
        seed=case.seed * 7919 + 1,
        loadcell_noise_g=case.loadcell_noise_g,
    )


def _cases(plan: dict[str, list[int]], cache: Path) -> list[Case]:
    return [simulated(scenario, seed, cache) for scenario, seeds in plan.items() for seed in seeds]


def evaluate(cases: Sequence[Case], params: AttributionParams) -> dict[str, Any]:
    probabilities: list[float] = []
    right: list[bool] = []
    by_scenario: dict[str, dict[str, list[Any]]] = {}
    kinds: Counter[str] = Counter()
    shares: list[int] = []
    for case in cases:
        derived = _derive(case)
        run = replay(case.definition, derived.events, params, truth=derived.truth)
        s = by_scenario.setdefault(
            case.scenario, {"p": [], "y": [], "conf": [], "ok": [], "reviews": [], "uncharged": []}
        )
        for record in run.attributions:
            ok = run.right[record.event_id]
            probabilities.append(record.probability)
            right.append(ok)
            s["p"].append(record.probability)
            s["y"].append(ok)
            kinds[f"{derived.truth[record.event_id].kind}:{'right' if ok else 'wrong'}"] += 1
            shares.append(len(record.sessions))
            if not record.decision.changes_a_cart:
                s["uncharged"].append(record.probability)
        for session_id, true_receipt in derived.receipts.items():
            state = run.sessions.get(session_id)
            items = state.items if state else {}
            factors = state.factors if state else {}
            s["conf"].append(state.confidence if state else 1.0)
            s["ok"].append(items == true_receipt)
            s["reviews"].append([len(events_to_review(factors, t)) for t in THRESHOLDS])
    return {
        "p": probabilities,
        "y": right,
        "by_scenario": by_scenario,
        "kinds": kinds,
        "shares": shares,
    }


def print_calibration(result: dict[str, Any]) -> dict[str, Any]:
    p, y = result["p"], result["y"]
    print(f"\n(1) Calibration of the per-event probability on test seeds: {len(p)} shelf events")
    print(
        f"    ECE {ece(p, y):.4f}   Brier {brier(p, y):.4f}"
        f"   accuracy {sum(y) / len(y):.3f}   mean p {sum(p) / len(p):.3f}"
    )
    for name, s in result["by_scenario"].items():
        accuracy = sum(s["y"]) / len(s["y"])
        print(
            f"    {name:8s} ECE {ece(s['p'], s['y']):.4f}"
            f"  ({len(s['p'])} events, accuracy {accuracy:.3f})"
        )
    print("    reliability table (10 equal-width bins):")
    print("      p range      events   mean p   share right")
    table = []
    for b in reliability(p, y):
        if b.count:
            print(
                f"      {b.low:.1f} - {b.high:.1f}   {b.count:6d}"
                f"   {b.confidence:6.3f}   {b.accuracy:6.3f}"
            )
        table.append(
            {
                "low": b.low,
                "high": b.high,
                "count": b.count,
                "confidence": b.confidence,
                "accuracy": b.accuracy,
            }
        )
    print(f"    outcomes: {dict(sorted(result['kinds'].items()))}")
    shares = result["shares"]
    per_event = sum(shares) / len(shares)
    print(f"    carts written per shelf event (chosen + close runners-up): {per_event:.2f}")
    return {"ece": ece(p, y), "brier": brier(p, y), "events": len(p), "reliability": table}


def print_review(result: dict[str, Any]) -> dict[str, Any]:
    print(
        "\n(3) Review rate vs accuracy (a session goes to review when P(receipt right) < threshold)"
    )
    print(
        "    (uncharged events: a pick or return the model charged to nobody, e.g. the tracker"
        " missed the actor; below the threshold they go to review on their own)"
    )
    out: dict[str, Any] = {}
    for name, s in result["by_scenario"].items():
        n = len(s["conf"])
        right_all = sum(s["ok"]) / n
        print(
            f"    {name}: {n} sessions over the test seeds;"
            f" receipts right without any review: {right_all:.3f}"
        )
        print(
            "      threshold  review/1000  auto_receipt_accuracy  events per reviewed session"
            "  uncharged events to review /1000 sessions"
        )
        rows = review_rows(s["conf"], s["ok"], s["reviews"], THRESHOLDS)
        out[name] = []
        for r in rows:
            uncharged = 1000 * sum(1 for p in s["uncharged"] if p < r.threshold) / n
            print(
                f"      {r.threshold:9.2f}  {r.review_rate_per_1000:11.0f}"
                f"  {r.auto_receipt_accuracy:21.3f}"
                f"  {r.events_reviewed_per_reviewed_session:27.1f}  {uncharged:12.0f}"
            )
            out[name].append({**r.__dict__, "uncharged_events_to_review_per_1000": uncharged})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attribution_study", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fit", action="store_true", help="refit the free parameters on the training seeds"
    )
    parser.add_argument(
        "--moto", action="store_true", help="also run the ingest handler against moto"
    )
    parser.add_argument(
        "--recording", type=Path, action="append", help="test on a recording folder instead"
    )
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where simulated truth is cached"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="one test seed per scenario")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params = DEFAULT_PARAMS
    figures: dict[str, Any] = {
        "noise_model": "benchmarks/attribution/derive.py (truth-derived events)"
    }
    if args.fit:
        train = _cases(TRAIN, args.cache)
        derived = [_derive(c) for c in train]
        params, fitted = fit(train, derived, DEFAULT_PARAMS)
        print(f"Fitted on {', '.join(c.name for c in train)}:")
        for k, v in fitted.items():
            print(f"    {k} = {v:.4g}")
        figures["fitted"] = fitted
    else:
        print(f"Parameters: walkout.attribution.params defaults ({params.fingerprint()})")

    if args.recording:
        test = [recorded(folder) for folder in args.recording]
    else:
        plan = {k: v[:1] for k, v in TEST.items()} if args.quick else TEST
        test = _cases(plan, args.cache)
    print(f"Test cases: {', '.join(c.name for c in test)}")
    result = evaluate(test, params)
    figures["calibration"] = print_calibration(result)
    figures["review"] = print_review(result)

    if args.moto:
        from benchmarks.attribution.moto_run import run_ingest  # noqa: PLC0415 - moto only here

        busy = next(c for c in test if c.scenario == "busy")
        figures["ingest"] = run_ingest(busy, _derive(busy), review_threshold=0.95)

    print(f"\n(done in {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=_json_default), encoding="utf-8")
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
