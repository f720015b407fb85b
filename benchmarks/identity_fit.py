"""Fit (and check) the edge's identity check at shelf changes against a recording's truth.

    python -m benchmarks.identity_fit --train REC EVENTS [--train ...] [--test REC EVENTS ...]

`walkout-edge replay --recording REC --out EVENTS` writes, beside the events and the track
positions (`EVENTS.tracks.csv`), one row per candidate of each shelf change with the
identity check the edge made (`EVENTS.tracks.identity.csv`: the similarity of the track's
looks during the change to its session's birth looks, and how many doubts the tracker had
reported about the track by then). Here each row is judged against the truth: the person
the track followed during the change is the true person nearest, on average, to the
track's logged positions in the change's interval (within 0.5 m, as `walkout eval
perception` judges a track), and the person it was born on is the one nearest to its
first second (as `gates.bound_at_birth` judges it). The check is right when the two are of
one session: it compares looks with the birth looks, so whether the gate bound the track
to the right session is not its question (the fit would learn a crowd's binding errors as
doubt about every track, however it looks). Rows where either person is not found are
left out.

The fit is `logit p = a + b * (sim - 0.5) + c * log(1 + doubts)` by maximum likelihood on
the training rows; it prints the coefficients (`TrackerParams.at_change_*`), and for every
recording the log loss, AUC and a reliability table of the fitted model and of the exit's
(`same_person_*`, the look alone), which the edge used before.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from walkout.events import ShelfChanged
from walkout_cli.eval import (
    TruthPositions,
    birth_people,
    load_events,
    load_tracks,
    load_truth,
)
from walkout_edge.perception.pipeline import IDENTITY_MARGIN_S, checks_path
from walkout_edge.perception.replay_cli import default_tracks_path
from walkout_edge.perception.tracking import TrackerParams


@dataclass(frozen=True)
class Row:
    similarity: float
    doubts: int
    right: bool  # on the person it was born on, or one of their session


def judged_rows(recording: Path, events_path: Path) -> tuple[list[Row], int]:
    """The identity checks of one replay, judged; and how many could not be judged."""
    truth = load_truth(recording)
    events = load_events(events_path)
    tracks_path = default_tracks_path(events_path)
    bound = {
        (e.event_id, c.track_id): c.session_id
        for e in events
        if isinstance(e, ShelfChanged)
        for c in e.data.candidates
    }
    person_session = {p["person_id"]: p["session_id"] for p in truth["people"]}
    track_rows = load_tracks(tracks_path)
    where = TruthPositions.of(truth)
    born_on = birth_people(truth, track_rows)
    positions: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for ts, tid, x, y in sorted(track_rows):
        positions[tid].append((ts, x, y))
    out: list[Row] = []
    unjudged = 0
    with checks_path(tracks_path).open(encoding="utf-8", newline="") as f:
        for rec in csv.DictReader(f):
            t0 = float(rec["t_start"]) + IDENTITY_MARGIN_S
            t1 = float(rec["t_end"]) - IDENTITY_MARGIN_S
            rows = [r for r in positions.get(rec["track_id"], []) if t0 <= r[0] <= t1]
            person = where.nearest(rows)
            birth = born_on.get(rec["track_id"])
            if (
                person is None
                or birth is None
                or bound.get((rec["event_id"], rec["track_id"])) is None
            ):
                unjudged += 1
                continue
            out.append(
                Row(
                    float(rec["similarity"]),
                    int(rec["doubts"]),
                    person_session[person] == person_session[birth],
                )
            )
    return out, unjudged


def features(rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[1.0, r.similarity - 0.5, math.log1p(r.doubts)] for r in rows])
    y = np.array([1.0 if r.right else 0.0 for r in rows])
    return x, y


def fit(rows: list[Row]) -> np.ndarray:
    x, y = features(rows)

    def loss(w: np.ndarray) -> float:
        z = x @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    def grad(w: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        return np.asarray(x.T @ (p - y))

    start = np.array([0.0, 10.0, 0.0])
    result = minimize(loss, start, jac=grad, method="BFGS")
    return np.asarray(result.x)


def predict(rows: list[Row], w: np.ndarray) -> np.ndarray:
    x, _ = features(rows)
    return np.asarray(1.0 / (1.0 + np.exp(-(x @ w))))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def report(name: str, rows: list[Row], models: dict[str, np.ndarray]) -> None:
    _, y = features(rows)
    print(
        f"\n{name}: {len(rows)} checks, {int(y.sum())} on their session's person "
        f"({y.mean():.3f}), doubts > 0 in {sum(1 for r in rows if r.doubts)}"
    )
    for label, w in models.items():
        p = predict(rows, w)
        a = auc(p, y)
        print(
            f"  {label:>8}: log loss {log_loss(p, y):.4f}, AUC "
            f"{'-' if a is None else f'{a:.3f}'}, mean p {p.mean():.3f}"
        )
        bins = np.clip((p * 10).astype(int), 0, 9)
        cells = []
        for k in range(10):
            sel = bins == k
            if sel.any():
                cells.append(
                    f"{k / 10:.1f}: {int(sel.sum())} p {p[sel].mean():.2f} "
                    f"right {y[sel].mean():.2f}"
                )
        print("            " + " | ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--train", nargs=2, action="append", metavar=("REC", "EVENTS"), type=Path, required=True
    )
    parser.add_argument(
        "--test", nargs=2, action="append", metavar=("REC", "EVENTS"), type=Path, default=[]
    )
    args = parser.parse_args(argv)
    judged: dict[str, tuple[str, list[Row]]] = {}
    for role, pairs in (("train", args.train), ("test", args.test)):
        for rec, events in pairs:
            rows, unjudged = judged_rows(rec, events)
            judged[f"{role} {rec.name}"] = (role, rows)
            print(f"{role} {rec.name}: {len(rows)} judged, {unjudged} not")
    train = [r for role, rows in judged.values() if role == "train" for r in rows]
    w = fit(train)
    print(f"\nfitted: at_change_a = {w[0]:.3f}, at_change_b = {w[1]:.3f}, at_change_c = {w[2]:.3f}")
    p = TrackerParams()
    models = {
        "fitted": w,
        "exit's": np.array([p.same_person_a, p.same_person_b, 0.0]),
        "current": np.array([p.at_change_a, p.at_change_b, p.at_change_c]),
    }
    for name, (_, rows) in judged.items():
        report(name, rows, models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
