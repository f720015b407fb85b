"""Attribution study: the figures of issue 6, printed.

    .venv/bin/python -m benchmarks.attribution_study         # calibration + review tables
    .venv/bin/python -m benchmarks.attribution_study --fit   # refit the free parameters first
    .venv/bin/python -m benchmarks.attribution_study --moto  # + writes and time per event

Events are derived from simulated ground truth with the noise model described in
`benchmarks/attribution/derive.py`, or are the edge agent's real replay output:

    .venv/bin/python -m benchmarks.attribution_study --edge busy --edge crowded \
        --edge-dir /tmp/pc --edge-dir /tmp/pc/final         # NAME/truth.json + NAME.jsonl
    ... --fit --edge-train busy-101 --edge-train crowded-131  # fit on other recordings

(`benchmarks/attribution/edge.py` matches each edge `shelf.changed` to the true change it
stands for). The free parameters are fitted on training seeds or recordings only; every
figure is on others. A recording folder can replace the simulated test cases with
truth-derived events: `--recording /tmp/sim-busy`. No figure here is an assertion: this
prints what it measures.
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
from benchmarks.attribution.edge import EdgeCase, edge_case
from benchmarks.attribution.fit import PARTS, fit
from benchmarks.attribution.metrics import brier, ece, reliability, review_rows
from benchmarks.attribution.replay import replay
from walkout.attribution import DEFAULT_PARAMS, AttributionParams, events_to_review
from walkout.attribution.record import Attribution
from walkout.attribution.who import actor_distribution
from walkout.config import DeploymentConfig
from walkout.events import ShelfChanged
from walkout.finalize.questions import candidate_sessions
from walkout.review.contract import MAX_SHOPPERS

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


def evaluate(
    cases: Sequence[Case],
    params: AttributionParams,
    derived_events: Sequence[Derived] | None = None,
) -> dict[str, Any]:
    """Replay each case's events (derived from its truth, or given) and score them."""
    probabilities: list[float] = []
    right: list[bool] = []
    by_scenario: dict[str, dict[str, list[Any]]] = {}
    kinds: Counter[str] = Counter()
    shares: list[int] = []
    by_case: dict[str, list[tuple[float, bool]]] = {}
    shown: dict[str, list[bool]] = {}
    given = list(derived_events) if derived_events is not None else None
    for k, case in enumerate(cases):
        derived = given[k] if given is not None else _derive(case)
        run = replay(case.definition, derived.events, params, truth=derived.truth)
        s = by_scenario.setdefault(
            case.scenario,
            {
                "p": [],
                "y": [],
                "conf": [],
                "ok": [],
                "reviews": [],
                "uncharged": [],
                "unopened": [],
                "actor_edge": [],
                "actor_model": [],
            },
        )
        for edge_top, model_top in _actor_top1(derived, params):
            s["actor_edge"].append(edge_top)
            s["actor_model"].append(model_top)
        per_case = by_case.setdefault(case.name, [])
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
            true_session = derived.truth[record.event_id].session_id
            if not ok and true_session in run.sessions:
                shown.setdefault(case.name, []).append(true_session in _shown(record))
        for session_id, true_receipt in derived.receipts.items():
            state = run.sessions.get(session_id)
            if state is None:
                # A true session the edge never opened: nothing is finalised or reviewed
                # for it (a loss the cloud cannot see); counted apart.
                s["unopened"].append(true_receipt)
                continue
            ok = state.items == true_receipt
            s["conf"].append(state.confidence)
            s["ok"].append(ok)
            s["reviews"].append([len(events_to_review(state.factors, t)) for t in THRESHOLDS])
            per_case.append((state.confidence, ok))
    return {
        "p": probabilities,
        "y": right,
        "by_scenario": by_scenario,
        "by_case": by_case,
        "kinds": kinds,
        "shares": shares,
        "shown": shown,
    }


def _shown(record: Attribution) -> list[str]:
    """Whom a review question about the event shows, asked for the decision's session (or
    the likeliest session when the decision charges nobody)."""
    likeliest = max(record.sessions, key=lambda s: s.probability, default=None)
    asked = record.decision.session_id or (likeliest.session_id if likeliest else None)
    if asked is None:
        return list(record.linked[:MAX_SHOPPERS])
    return candidate_sessions(record, asked)


def print_shown(result: dict[str, Any]) -> dict[str, Any]:
    print(
        "\n(0b) Whom a question shows: shelf events whose cart change was wrong (true session"
        " opened), with the true shopper among those a review question would show"
    )
    out: dict[str, Any] = {}
    for name, shown in result["shown"].items():
        print(f"    {name:20s} {sum(shown):5d} of {len(shown):5d}")
        out[name] = {"wrong_events": len(shown), "true_shopper_shown": sum(shown)}
    return out


def _actor_top1(derived: Derived, params: AttributionParams) -> list[tuple[bool, bool]]:
    """Per shelf event whose true actor is a listed candidate: whether the edge's highest
    reach score, and the who model's most likely candidate, name that actor."""
    out = []
    for event in derived.events:
        if not isinstance(event, ShelfChanged):
            continue
        actor = derived.truth[event.event_id].actor_track
        cands = event.data.candidates
        if actor is None or not cands:
            continue
        edge_top = max(cands, key=lambda c: c.reach_score).track_id
        shares, _ = actor_distribution(cands, params)
        model_top = max(shares, key=lambda c: c.probability).track_id
        out.append((edge_top == actor, model_top == actor))
    return out


def print_actor_top1(result: dict[str, Any]) -> dict[str, Any]:
    print("\n(0) Actor top-1 (shelf events whose true actor the edge listed)")
    out: dict[str, Any] = {}
    for name, s in result["by_scenario"].items():
        n = len(s["actor_edge"])
        if not n:
            continue
        edge, model = sum(s["actor_edge"]) / n, sum(s["actor_model"]) / n
        print(
            f"    {name:8s} {n:5d} events   highest reach score {edge:.3f}   who model {model:.3f}"
        )
        out[name] = {"events": n, "reach_score_top1": edge, "who_model_top1": model}
    return out


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
    parser.add_argument(
        "--edge",
        action="append",
        metavar="NAME",
        help="test on the edge agent's replay output NAME.jsonl of recording NAME (repeat)",
    )
    parser.add_argument(
        "--edge-train",
        action="append",
        metavar="NAME",
        help="with --edge --fit: fit on these edge recordings (never on the --edge ones)",
    )
    parser.add_argument(
        "--edge-dir",
        type=Path,
        action="append",
        metavar="DIR",
        help="where recordings (DIR/NAME/truth.json) and edge events (DIR/NAME.jsonl) are",
    )
    parser.add_argument(
        "--fit-parts",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=list(PARTS),
        help=f"with --fit: which groups to fit, comma-separated (default: {','.join(PARTS)})",
    )
    args = parser.parse_args(argv)
    if args.edge and not args.edge_dir:
        parser.error("--edge needs at least one --edge-dir")
    if args.edge and args.fit and not args.edge_train:
        parser.error("--edge --fit needs --edge-train recordings (fitting on the test data)")
    overlap = set(args.edge or ()) & set(args.edge_train or ())
    if overlap:
        parser.error(f"--edge-train and --edge share {', '.join(sorted(overlap))}")

    started = time.perf_counter()
    params = DEFAULT_PARAMS
    figures: dict[str, Any] = {
        "noise_model": "benchmarks/attribution/derive.py (truth-derived events)"
    }
    if args.fit and not args.edge:
        train = _cases(TRAIN, args.cache)
        derived = [_derive(c) for c in train]
        params, fitted = fit(train, derived, DEFAULT_PARAMS, parts=args.fit_parts)
        print(f"Fitted on {', '.join(c.name for c in train)}:")
        for k, v in fitted.items():
            print(f"    {k} = {v:.4g}")
        figures["fitted"] = fitted
    elif not args.edge:
        print(f"Parameters: walkout.attribution.params defaults ({params.fingerprint()})")

    if args.edge:
        return _edge_study(args, figures, started)
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


def _find(name: str, dirs: Sequence[Path]) -> tuple[Path, Path]:
    folder = next((d / name for d in dirs if (d / name / "truth.json").is_file()), None)
    events = next((d / f"{name}.jsonl" for d in dirs if (d / f"{name}.jsonl").is_file()), None)
    if folder is None or events is None:
        missing = "recording (NAME/truth.json)" if folder is None else "events (NAME.jsonl)"
        raise SystemExit(f"--edge {name}: no {missing} in {', '.join(map(str, dirs))}")
    return folder, events


def _edge_cases(names: Sequence[str], dirs: Sequence[Path]) -> list[EdgeCase]:
    out = []
    for name in names:
        folder, events = _find(name, dirs)
        out.append(edge_case(folder, events))
    return out


def _edge_study(args: argparse.Namespace, figures: dict[str, Any], started: float) -> int:
    figures["noise_model"] = "none: the edge agent's replay output (walkout-edge replay)"
    params = DEFAULT_PARAMS
    if args.fit:
        train = _edge_cases(args.edge_train, args.edge_dir)
        params, fitted = fit(
            [t.case for t in train],
            [t.derived for t in train],
            DEFAULT_PARAMS,
            binding=True,
            parts=args.fit_parts,
        )
        print(f"Fitted on edge output of {', '.join(args.edge_train)}:")
        for k, v in fitted.items():
            print(f"    {k} = {v:.4g}")
        figures["fitted"] = fitted
        figures["fitted_on"] = list(args.edge_train)
    else:
        print(
            f"Parameters: walkout.attribution.params defaults ({params.fingerprint()});"
            " fitted on truth-derived events, none of these recordings"
        )
    test = _edge_cases(args.edge, args.edge_dir)
    print("Edge replay output, matched to the truth (per recording):")
    for name, t in zip(args.edge, test, strict=True):
        print(f"    {name} (seed {t.case.seed}): {t.counts}")
    figures["edge_counts"] = {n: t.counts for n, t in zip(args.edge, test, strict=True)}
    result = evaluate([t.case for t in test], params, [t.derived for t in test])
    figures["actor_top1"] = print_actor_top1(result)
    figures["shown"] = print_shown(result)
    figures["calibration"] = print_calibration(result)
    for name, s in result["by_scenario"].items():
        figures.setdefault("reliability_by_scenario", {})[name] = _print_reliability(
            name, s["p"], s["y"]
        )
    figures["review"] = print_review(result)
    figures["done_when"] = _print_done_when(result)
    print(f"\n(done in {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=_json_default), encoding="utf-8")
    return 0


def _print_reliability(name: str, p: list[float], y: list[bool]) -> dict[str, Any]:
    print(f"\n    {name}: ECE {ece(p, y):.4f} over {len(p)} shelf events; reliability (10 bins):")
    print("      p range      events   mean p   share right")
    rows = []
    for b in reliability(p, y):
        if b.count:
            print(
                f"      {b.low:.1f} - {b.high:.1f}   {b.count:6d}"
                f"   {b.confidence:6.3f}   {b.accuracy:6.3f}"
            )
        rows.append(b.__dict__)
    return {"ece": ece(p, y), "events": len(p), "reliability": rows}


def _print_done_when(result: dict[str, Any]) -> dict[str, Any]:
    threshold = DeploymentConfig().review_threshold
    out: dict[str, Any] = {"threshold": threshold}
    print(f"\nDone-when check (sessions with confidence >= {threshold}, the configured threshold):")
    for name, s in result["by_scenario"].items():
        confident = [ok for c, ok in zip(s["conf"], s["ok"], strict=True) if c >= threshold]
        right = sum(confident)
        print(
            f"    {name}: {right} of {len(confident)} confident carts equal the truth"
            f" ({len(s['conf'])} sessions; all receipts right without review:"
            f" {sum(s['ok'])} of {len(s['ok'])})"
        )
        unopened = s["unopened"]
        if unopened:
            print(
                f"      + {len(unopened)} true session(s) the edge never opened"
                f" ({sum(1 for r in unopened if r)} with items: their items go unbilled)"
            )
        out[name] = {
            "confident": len(confident),
            "confident_right": right,
            "sessions": len(s["conf"]),
            "receipts_right": sum(s["ok"]),
            "never_opened": len(unopened),
        }
    print("    per recording:")
    for name, rows in result["by_case"].items():
        confident = [ok for c, ok in rows if c >= threshold]
        print(
            f"      {name:14s} {sum(confident)} of {len(confident)} confident carts right;"
            f" {len(rows)} sessions, reviewed {len(rows) - len(confident)}"
        )
        out.setdefault("by_recording", {})[name] = {
            "confident": len(confident),
            "confident_right": sum(confident),
            "sessions": len(rows),
        }
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
