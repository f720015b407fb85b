"""`walkout eval perception`: score the edge's events and tracks against a recording's truth.

    walkout eval perception --recording DIR --events EVENTS.jsonl [--tracks TRACKS.csv]
                            [--json OUT.json]

- `weight_events.precision/recall/f1`: a `shelf.changed` matches a true pick or return on
  the same lane whose time lies in the event's [t_start, t_end] widened by `--time-tol-s`
  (1 s: load-cell hubs stamp with their own, skewed clocks); one-to-one per lane, by the
  Hungarian method on the time gap.
- `tracking.idf1/mota/id_switches` (motmetrics): track positions (the `.tracks.csv` that
  `walkout-edge replay` writes next to the events) against the true trajectories on the
  floor, at each camera tick, with a 0.5 m gate.
- `actor_top1_accuracy`: the share of all true picks and returns whose matched
  `shelf.changed` has the true person as its top candidate. A track stands for the person
  it is assigned to by the IDF1 assignment: the one-to-one track <-> person pairing that
  maximises the ticks in which the track is within the gate of the person. A candidate no
  track followed (the edge logs where it was seen beside the tracks, `.tracks.unseen.csv`)
  stands for the person nearest to it on average there, within the gate. A missed event
  counts as wrong.
- `gates.bound_at_birth`: each track the gates bound to a session, judged by the person it
  followed when it was born: the true person nearest to its first reported positions (its
  first second, at most 8 rows, by mean distance, within the 0.5 m gate). Right when that
  person belongs to the session (`right`), else `wrong`; `unjudged` when nobody was within
  the gate. A binding is made when a track is born at the entry, so this is the gate's own
  error, apart from the swaps the IDF1 assignment behind `people_bound_to_their_session`
  mixes in.
- `gates.bound_after_entry`: the same, judged by the person the track followed from
  `SETTLED_AFTER_S` after its birth (for one second): the gate binds an entry track a
  second after it was confirmed, by where it stands then, and in a queue a track born on
  one person is often on the one behind by then. That person is the one whose receipt the
  track's session will pay for.
- also: `session_top1_accuracy` (top candidate's session is the true session, via the scan's
  account_ref), margins of right and wrong top candidates, ambiguity events.

Only this command reads truth.json; the edge never does.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from walkout.events import EventError, ShelfChanged, parse_event
from walkout_cli.errors import CliError

GATE_M = 0.5
# A binding is judged on the track's first second of positions, at most this many of them.
BIRTH_WINDOW_S = 1.0
BIRTH_ROWS = 8
# `gates.bound_after_entry` judges a binding on the track's positions from this long after
# its birth (`PipelineParams.entry_settle_s` after its confirmation, a few frames later).
SETTLED_AFTER_S = 1.5


@dataclass(frozen=True)
class Detected:
    lane_id: str
    t_start: float
    t_end: float
    candidates: list[tuple[str, str | None, float]]  # (track_id, session_id, reach_score)


def _ts(value: datetime) -> float:
    return value.timestamp()


# --- loading -------------------------------------------------------------------------------


def load_truth(recording: Path) -> dict[str, Any]:
    path = recording / "truth.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"--recording {recording}: truth.json is missing") from None
    except ValueError as exc:
        raise CliError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != "walkout.truth/1":
        raise CliError(f"{path}: not a walkout.truth/1 document")
    for key in ("events", "people", "sessions"):
        if not isinstance(doc.get(key), list):
            raise CliError(f"{path}: {key} must be a list")
    return doc


def load_events(path: Path) -> list[Any]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise CliError(f"--events {path}: cannot read ({exc.strerror or exc})") from None
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(parse_event(line))
        except EventError as exc:
            raise CliError(f"--events {path.name} line {number}: {exc}") from None
    return events


def load_tracks(path: Path) -> list[tuple[float, str, float, float]]:
    rows = []
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"ts", "track_id", "x", "y"} <= set(
                reader.fieldnames
            ):
                raise CliError(f"--tracks {path.name}: needs the header ts,track_id,x,y")
            for number, row in enumerate(reader, start=2):
                try:
                    rows.append(
                        (float(row["ts"]), row["track_id"], float(row["x"]), float(row["y"]))
                    )
                except (TypeError, ValueError):
                    raise CliError(f"--tracks {path.name} line {number}: not numbers") from None
    except FileNotFoundError:
        raise CliError(
            f"--tracks {path}: not found (walkout-edge replay writes it next to the events)"
        ) from None
    return rows


# --- weight events -------------------------------------------------------------------------


def match_weight_events(
    truth_events: list[dict[str, Any]], detected: list[Detected], tol_s: float
) -> dict[int, int]:
    """True event index -> detected index, one-to-one per lane."""
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415

    by_lane_t: dict[str, list[int]] = defaultdict(list)
    by_lane_d: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(truth_events):
        by_lane_t[e["lane_id"]].append(i)
    for j, d in enumerate(detected):
        by_lane_d[d.lane_id].append(j)
    pairs: dict[int, int] = {}
    for lane, ti in by_lane_t.items():
        dj = by_lane_d.get(lane, [])
        if not dj:
            continue
        cost = np.full((len(ti), len(dj)), 1e6)
        for a, i in enumerate(ti):
            t = float(truth_events[i]["ts"])
            for b, j in enumerate(dj):
                d = detected[j]
                gap = max(d.t_start - t, 0.0, t - d.t_end)
                if gap <= tol_s:
                    cost[a, b] = gap
        rows, cols = linear_sum_assignment(cost)
        for a, b in zip(rows, cols, strict=True):
            if cost[a, b] < 1e6:
                pairs[ti[a]] = dj[b]
    return pairs


def prf(matched: int, detected: int, true: int) -> dict[str, float | int]:
    precision = matched / detected if detected else (1.0 if true == 0 else 0.0)
    recall = matched / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "true": true,
        "detected": detected,
        "matched": matched,
    }


# --- tracking ------------------------------------------------------------------------------


def truth_frames(truth: dict[str, Any]) -> dict[int, list[tuple[str, float, float]]]:
    start = float(truth.get("start_ts", 0.0))
    dt = float(truth.get("trajectory_dt_s", 0.1))
    frames: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    for person in truth["people"]:
        traj = person["trajectory"]
        k0 = round((float(traj["t0_ts"]) - start) / dt)
        for k, (x, y) in enumerate(traj["xy"]):
            frames[k0 + k].append((person["person_id"], float(x), float(y)))
    return frames


def score_tracking(
    truth: dict[str, Any], rows: list[tuple[float, str, float, float]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """motmetrics scores and the IDF1 track -> person assignment."""
    import motmetrics as mm  # noqa: PLC0415 - a dev dependency, needed only here
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415

    start = float(truth.get("start_ts", 0.0))
    dt = float(truth.get("trajectory_dt_s", 0.1))
    gt = truth_frames(truth)
    hyp: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
    for ts, tid, x, y in rows:
        hyp[round((ts - start) / dt)].append((tid, x, y))
    person_no: dict[str, int] = {}
    track_no: dict[str, int] = {}
    overlap: dict[tuple[str, str], int] = defaultdict(int)
    acc = mm.MOTAccumulator(auto_id=True)
    for k in sorted(set(gt) | set(hyp)):
        g, h = gt.get(k, []), hyp.get(k, [])
        gxy = np.array([[x, y] for _, x, y in g]).reshape(-1, 2)
        hxy = np.array([[x, y] for _, x, y in h]).reshape(-1, 2)
        d2 = mm.distances.norm2squared_matrix(gxy, hxy, max_d2=GATE_M**2)
        acc.update(
            [person_no.setdefault(p, len(person_no) + 1) for p, _, _ in g],
            [track_no.setdefault(t, len(track_no) + 1) for t, _, _ in h],
            d2,
        )
        for a, (pid, _, _) in enumerate(g):
            for b, (tid, _, _) in enumerate(h):
                if not math.isnan(d2[a, b]):
                    overlap[(tid, pid)] += 1
    metrics = mm.metrics.create().compute(
        acc,
        metrics=[
            "idf1",
            "idp",
            "idr",
            "mota",
            "motp",
            "num_switches",
            "num_misses",
            "num_false_positives",
            "num_objects",
        ],
        name="perception",
    )
    row = metrics.iloc[0]
    scores = {
        "idf1": round(float(row["idf1"]), 4),
        "idp": round(float(row["idp"]), 4),
        "idr": round(float(row["idr"]), 4),
        "mota": round(float(row["mota"]), 4),
        "motp_m": round(math.sqrt(float(row["motp"])), 4)
        if not math.isnan(float(row["motp"]))
        else None,
        "id_switches": int(row["num_switches"]),
        "misses": int(row["num_misses"]),
        "false_positives": int(row["num_false_positives"]),
        "objects": int(row["num_objects"]),
        "tracks": len(track_no),
        "people": len(person_no),
    }
    tracks = sorted(track_no)
    people = sorted(person_no)
    mapping: dict[str, str] = {}
    if tracks and people:
        gain = np.zeros((len(tracks), len(people)))
        for (tid, pid), n in overlap.items():
            gain[tracks.index(tid), people.index(pid)] = n
        rr, cc = linear_sum_assignment(-gain)
        for r, c in zip(rr, cc, strict=True):
            if gain[r, c] > 0:
                mapping[tracks[r]] = people[c]
    return scores, mapping


# --- putting it together -------------------------------------------------------------------


def evaluate(
    truth: dict[str, Any],
    events: list[Any],
    track_rows: list[tuple[float, str, float, float]] | None,
    tol_s: float = 1.0,
    unseen_rows: list[tuple[float, str, float, float]] | None = None,
) -> dict[str, Any]:
    true_events = [e for e in truth["events"] if e.get("kind") in ("pick", "return")]
    detected = [
        Detected(
            e.data.lane_id,
            _ts(e.data.t_start),
            _ts(e.data.t_end),
            [(c.track_id, c.session_id, c.reach_score) for c in e.data.candidates],
        )
        for e in events
        if isinstance(e, ShelfChanged)
    ]
    pairs = match_weight_events(true_events, detected, tol_s)
    result: dict[str, Any] = {"weight_events": prf(len(pairs), len(detected), len(true_events))}

    mapping: dict[str, str] = {}
    if track_rows is not None:
        result["tracking"], mapping = score_tracking(truth, track_rows)
    else:
        result["tracking"] = None
    if unseen_rows:
        mapping.update(unseen_people(truth, unseen_rows))

    edge_session = edge_sessions(truth, events)
    entered = sum(1 for e in events if e.type == "session.entered")

    actor_ok = session_ok = 0
    right_margins: list[float] = []
    wrong_margins: list[float] = []
    confident_wrong = 0
    for i, e in enumerate(true_events):
        j = pairs.get(i)
        if j is None or not detected[j].candidates:
            continue
        cands = detected[j].candidates
        top_track, top_session, top_score = cands[0]
        margin = top_score - (cands[1][2] if len(cands) > 1 else 0.0)
        person_right = mapping.get(top_track) == e["person_id"]
        actor_ok += person_right
        session_ok += top_session is not None and edge_session.get(top_session) == e["session_id"]
        (right_margins if person_right else wrong_margins).append(margin)
        if not person_right and margin >= 0.3:
            confident_wrong += 1
    n = len(true_events)
    result["actor_top1_accuracy"] = round(actor_ok / n, 4) if n else None
    result["session_top1_accuracy"] = round(session_ok / n, 4) if n else None
    result["candidates"] = {
        "right_top_median_margin": _median(right_margins),
        "wrong_top_median_margin": _median(wrong_margins),
        "wrong_top": len(wrong_margins),
        "wrong_top_with_margin_ge_0_3": confident_wrong,
    }
    people_sessions = {p["person_id"]: p["session_id"] for p in truth["people"]}
    bound = {}
    for e in events:
        if e.type == "session.entered":
            for tid in e.data.track_ids:
                bound[tid] = e.data.session_id
        elif e.type == "session.joined":
            bound[e.data.track_id] = e.data.session_id
    binding_ok = sum(
        1
        for tid, pid in mapping.items()
        if tid in bound and edge_session.get(bound[tid]) == people_sessions.get(pid)
    )
    result["gates"] = {
        "sessions_true": len(truth["sessions"]),
        "sessions_entered": entered,
        "people": len(truth["people"]),
        "people_bound_to_their_session": binding_ok,
        "bound_at_birth": None
        if track_rows is None
        else bound_at_birth(truth, bound, edge_session, track_rows),
        "bound_after_entry": None
        if track_rows is None
        else bound_at_birth(truth, bound, edge_session, track_rows, SETTLED_AFTER_S),
        "tracks_exited": sum(1 for e in events if e.type == "track.exited"),
    }
    result["ambiguity"] = {
        "events": sum(1 for e in events if e.type == "track.ambiguity"),
        "true_merges": len(truth.get("merges", [])),
    }
    result["events_by_type"] = dict(sorted(_count_types(events).items()))
    return result


def bound_at_birth(
    truth: dict[str, Any],
    bound: dict[str, str],
    edge_session: dict[str, str],
    track_rows: list[tuple[float, str, float, float]],
    after_s: float = 0.0,
) -> dict[str, int]:
    """Bound tracks judged by the person each followed when born, or from `after_s` after
    its birth (module docstring)."""
    born_on = birth_people(truth, track_rows, bound, after_s)
    person_session = {p["person_id"]: p["session_id"] for p in truth["people"]}
    out = {"tracks": len(bound), "right": 0, "wrong": 0, "unjudged": 0}
    for tid, session_id in bound.items():
        person = born_on.get(tid)
        if person is None:
            out["unjudged"] += 1
        elif edge_session.get(session_id) == person_session[person]:
            out["right"] += 1
        else:
            out["wrong"] += 1
    return out


def edge_sessions(truth: dict[str, Any], events: list[Any]) -> dict[str, str]:
    """Each session the edge opened, as the truth's session of the same scan (account_ref)."""
    account_session = {s["account_ref"]: s["session_id"] for s in truth["sessions"]}
    return {
        e.data.session_id: account_session[e.data.account_ref]
        for e in events
        if e.type == "session.entered" and e.data.account_ref in account_session
    }


def birth_people(
    truth: dict[str, Any],
    track_rows: list[tuple[float, str, float, float]],
    tracks: Collection[str] | None = None,
    after_s: float = 0.0,
) -> dict[str, str | None]:
    """The person each track (of `tracks`, default all) followed when it was born: the
    nearest on average to its first second of positions (at most `BIRTH_ROWS`); or to the
    second from `after_s` after its first position."""
    born: dict[str, float] = {}
    first: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for ts, tid, x, y in sorted(track_rows):
        if tracks is not None and tid not in tracks:
            continue
        if ts < born.setdefault(tid, ts) + after_s:
            continue
        rows = first[tid]
        if not rows or (len(rows) < BIRTH_ROWS and ts <= rows[0][0] + BIRTH_WINDOW_S):
            rows.append((ts, x, y))
    where = TruthPositions.of(truth)
    return {tid: where.nearest(rows) for tid, rows in first.items()}


def unseen_tracks_path(tracks: Path) -> Path:
    """Where the edge logs the candidates no track followed, beside its track log at
    `tracks` (`x.tracks.csv` -> `x.tracks.unseen.csv`)."""
    return tracks.with_name(tracks.stem + ".unseen.csv")


def load_unseen(tracks: Path) -> list[tuple[float, str, float, float]] | None:
    """The rows of the candidates no track followed logged beside the track log at `tracks`
    (None when there are none: a log from before they were logged)."""
    path = unseen_tracks_path(tracks)
    return load_tracks(path) if path.is_file() else None


def unseen_people(
    truth: dict[str, Any], unseen_rows: list[tuple[float, str, float, float]]
) -> dict[str, str]:
    """The person each candidate no track followed stands for: the one nearest to it on
    average where it was seen (`_nearest_person`); those nobody was near are left out."""
    paths: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for ts, tid, x, y in sorted(unseen_rows):
        paths[tid].append((ts, x, y))
    where = TruthPositions.of(truth)
    people = {tid: where.nearest(rows) for tid, rows in paths.items()}
    return {tid: person for tid, person in people.items() if person is not None}


@dataclass(frozen=True)
class TruthPositions:
    """The truth's positions by camera tick, for judging a track's rows."""

    frames: dict[int, list[tuple[str, float, float]]]
    start: float
    dt: float

    @classmethod
    def of(cls, truth: dict[str, Any]) -> TruthPositions:
        return cls(
            truth_frames(truth),
            float(truth.get("start_ts", 0.0)),
            float(truth.get("trajectory_dt_s", 0.1)),
        )

    def nearest(self, rows: list[tuple[float, float, float]]) -> str | None:
        """The person nearest on average to `rows` (`(ts, x, y)`), see `_nearest_person`."""
        seen = [self.frames.get(round((ts - self.start) / self.dt), []) for ts, _, _ in rows]
        return _nearest_person(rows, seen)


def _nearest_person(
    rows: list[tuple[float, float, float]], seen: list[list[tuple[str, float, float]]]
) -> str | None:
    """The person nearest, on average, to a track's `rows`, among those in the store at
    every one of them (`seen`: the true positions at each row's tick), within the gate."""
    if not rows:
        return None
    where = [{pid: (x, y) for pid, x, y in tick} for tick in seen]
    best: tuple[float, str] | None = None
    for pid in sorted(set(where[0]).intersection(*where[1:])):
        d = sum(math.dist(at[pid], (r[1], r[2])) for at, r in zip(where, rows, strict=True))
        d /= len(rows)
        if d <= GATE_M and (best is None or d < best[0]):
            best = (d, pid)
    return None if best is None else best[1]


def _count_types(events: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for e in events:
        counts[e.type] += 1
    return counts


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


def print_table(name: str, result: dict[str, Any]) -> None:
    w = result["weight_events"]
    rows: list[tuple[str, str]] = [
        ("weight_events.precision", f"{w['precision']:.4f}"),
        ("weight_events.recall", f"{w['recall']:.4f}"),
        (
            "weight_events.f1",
            f"{w['f1']:.4f}  ({w['matched']} matched, {w['true']} true, {w['detected']} detected)",
        ),
    ]
    t = result["tracking"]
    if t is not None:
        rows += [
            ("tracking.idf1", f"{t['idf1']:.4f}"),
            ("tracking.mota", f"{t['mota']:.4f}"),
            (
                "tracking.id_switches",
                f"{t['id_switches']}  ({t['tracks']} tracks, {t['people']} people)",
            ),
        ]
    else:
        rows.append(("tracking", "no track file"))
    a = result["actor_top1_accuracy"]
    s = result["session_top1_accuracy"]
    c = result["candidates"]
    rows += [
        ("actor_top1_accuracy", "n/a" if a is None else f"{a:.4f}"),
        ("session_top1_accuracy", "n/a" if s is None else f"{s:.4f}"),
        (
            "wrong top candidates",
            f"{c['wrong_top']} (margin >= 0.3: {c['wrong_top_with_margin_ge_0_3']})",
        ),
        (
            "track.ambiguity events",
            f"{result['ambiguity']['events']} (true merges {result['ambiguity']['true_merges']})",
        ),
        (
            "people bound to their session",
            f"{result['gates']['people_bound_to_their_session']} of {result['gates']['people']}",
        ),
    ]
    for key, label in (
        ("bound_at_birth", "bound tracks, judged at birth"),
        ("bound_after_entry", f"bound tracks, judged {SETTLED_AFTER_S:g} s after birth"),
    ):
        judged = result["gates"].get(key)
        if judged is not None:
            rows.append(
                (
                    label,
                    f"{judged['right']} right, {judged['wrong']} wrong, "
                    f"{judged['unjudged']} unjudged (of {judged['tracks']})",
                )
            )
    width = max(len(k) for k, _ in rows)
    print(f"perception on {name}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


def _run(args: argparse.Namespace) -> int:
    recording = Path(args.recording)
    if not recording.is_dir():
        raise CliError(f"--recording {recording}: no such folder")
    truth = load_truth(recording)
    events_path = Path(args.events)
    events = load_events(events_path)
    tracks_path = (
        Path(args.tracks)
        if args.tracks
        else events_path.with_name(events_path.stem + ".tracks.csv")
    )
    rows = load_tracks(tracks_path) if (args.tracks or tracks_path.is_file()) else None
    unseen_rows = load_unseen(tracks_path) if rows is not None else None
    result = evaluate(truth, events, rows, args.time_tol_s, unseen_rows)
    result["recording"] = str(recording)
    result["scenario"] = truth.get("scenario")
    result["seed"] = truth.get("seed")
    print_table(f"{truth.get('scenario')} (seed {truth.get('seed')})", result)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("eval", help="score edge output against a recording's truth")
    actions = parser.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    perception = actions.add_parser(
        "perception", help="weight events, tracking and actor accuracy of `walkout-edge replay`"
    )
    perception.add_argument(
        "--recording", required=True, help="the recording folder (with truth.json)"
    )
    perception.add_argument("--events", required=True, help="events JSONL from walkout-edge replay")
    perception.add_argument("--tracks", help="track positions CSV (default: EVENTS.tracks.csv)")
    perception.add_argument("--json", help="write the figures as JSON here")
    perception.add_argument(
        "--time-tol-s", type=float, default=1.0, help="weight-event time tolerance (default 1 s)"
    )
    perception.set_defaults(func=_run)
