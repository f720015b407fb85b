"""Check the gate's doubts about its bindings against a recording's truth.

    python -m benchmarks.binding_fit --replay REC EVENTS [--replay ...] [--sigma S ...]

`walkout-edge replay --recording REC --out EVENTS` logs every track the gate bound by a
turnstile pulse (`EVENTS.tracks.bindings.csv`: when the track is reckoned to have passed
the turnstile, and the pulse it took). Each binding is judged as `walkout eval
perception`'s `gates.bound_after_entry` judges it: right when the person the track followed
from 1.5 s after its birth, about when the gate bound it, is of the session it was bound
to (sessions matched by the scan's account_ref). Printed for each recording:

- how far the passing time was from the pulse taken, for right and wrong bindings (the
  spread of the right ones is what `GateBinder.passing_sigma_s` stands for);
- for each sigma: every pair of bindings of two sessions whose pulses are within ten sigmas,
  with the chance the gate gives that they are the other way round, against whether the
  first track's person was of the second's session (a reliability table), and how many of
  the wrong bindings have such a pair reported (at the gate's 0.03);
- the pairs within 2 s (the gate's reach at sigma 0.2 s) whose tracks were born in the other
  order than their pulses came, against those in order: how many had both bindings wrong
  (what `GateBinder.crossed_birth_p` stands for).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from walkout_cli.eval import (
    SETTLED_AFTER_S,
    birth_people,
    edge_sessions,
    load_events,
    load_tracks,
    load_truth,
)
from walkout_edge.perception.pipeline import bindings_path
from walkout_edge.perception.replay_cli import default_tracks_path

REPORT_MIN_P = 0.03
CROSSED_REACH_S = 2.0


@dataclass(frozen=True)
class Judged:
    track_id: str
    session: str  # the truth's session id of the edge session it was bound to
    person_session: str | None  # the truth's session of the person it followed when bound
    born_t: float
    passed_t: float
    pulse_ts: float

    @property
    def right(self) -> bool | None:
        return None if self.person_session is None else self.person_session == self.session


def judged(recording: Path, events_path: Path) -> list[Judged]:
    truth = load_truth(recording)
    events = load_events(events_path)
    tracks_path = default_tracks_path(events_path)
    edge_session = edge_sessions(truth, events)
    person_session = {p["person_id"]: p["session_id"] for p in truth["people"]}
    born_on = birth_people(truth, load_tracks(tracks_path), after_s=SETTLED_AFTER_S)
    out = []
    with bindings_path(tracks_path).open(encoding="utf-8", newline="") as f:
        for rec in csv.DictReader(f):
            session = edge_session.get(rec["session_id"])
            if session is None:
                continue
            person = born_on.get(rec["track_id"])
            out.append(
                Judged(
                    rec["track_id"],
                    session,
                    None if person is None else person_session[person],
                    float(rec["born_t"]),
                    float(rec["passed_t"]),
                    float(rec["pulse_ts"]),
                )
            )
    return out


def swap_chance(a: Judged, b: Judged, sigma: float) -> float:
    kept = (a.passed_t - a.pulse_ts) ** 2 + (b.passed_t - b.pulse_ts) ** 2
    swapped = (a.passed_t - b.pulse_ts) ** 2 + (b.passed_t - a.pulse_ts) ** 2
    return 1.0 / (1.0 + math.exp(min(50.0, (swapped - kept) / (2 * sigma**2))))


def report(name: str, rows: list[Judged], sigmas: list[float]) -> None:
    right = [r for r in rows if r.right is True]
    wrong = [r for r in rows if r.right is False]
    print(
        f"\n{name}: {len(rows)} bindings by pulse, {len(right)} right, {len(wrong)} wrong, "
        f"{len(rows) - len(right) - len(wrong)} not judged"
    )
    for label, group in (("right", right), ("wrong", wrong)):
        gaps = [r.passed_t - r.pulse_ts for r in group]
        if len(gaps) >= 2:
            mad = statistics.median(abs(g - statistics.median(gaps)) for g in gaps)
            print(
                f"  passed - pulse, {label}: median {statistics.median(gaps):+.3f} s, "
                f"1.4826 x MAD {1.4826 * mad:.3f} s, sd {statistics.stdev(gaps):.3f} s"
            )
    ordered = sorted(rows, key=lambda r: r.pulse_ts)
    for sigma in sigmas:
        bins: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        covered: set[str] = set()
        reported = 0
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if b.pulse_ts - a.pulse_ts > 10 * sigma:
                    break
                if a.session == b.session:
                    continue
                chance = swap_chance(a, b, sigma)
                if a.person_session is None or b.person_session is None:
                    continue
                other = a.person_session == b.session or b.person_session == a.session
                k = min(9, int(chance * 10))
                bins[k][0] += other
                bins[k][1] += 1
                if chance >= REPORT_MIN_P:
                    reported += 1
                    for r in (a, b):
                        if r.right is False:
                            covered.add(r.track_id)
        cells = " | ".join(
            f"{k / 10:.1f}: {n} pairs, {hit / n:.2f} the other way"
            for k, (hit, n) in sorted(bins.items())
        )
        print(
            f"  sigma {sigma:.2f} s: {reported} pairs reported (>= {REPORT_MIN_P}); "
            f"{len(covered)} of {len(wrong)} wrong bindings in one"
        )
        print(f"    {cells}")
    report_crossed(ordered)


def report_crossed(ordered: list[Judged]) -> None:
    """Pairs of two sessions' bindings within `CROSSED_REACH_S`, both judged: those whose
    tracks were born in the other order than their pulses, and those in order, with how
    many of each had both bindings wrong."""
    tally = {True: [0, 0], False: [0, 0]}  # crossed -> [both wrong, pairs]
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.pulse_ts - a.pulse_ts > CROSSED_REACH_S:
                break
            if a.session == b.session or a.right is None or b.right is None:
                continue
            counts = tally[(a.born_t - b.born_t) * (a.pulse_ts - b.pulse_ts) < 0]
            counts[0] += a.right is False and b.right is False
            counts[1] += 1
    for crossed, (both, pairs) in tally.items():
        label = "born in the other order than their pulses" if crossed else "born in order"
        share = f" ({both / pairs:.2f})" if pairs else ""
        print(f"  pairs within {CROSSED_REACH_S:g} s {label}: {pairs}, both wrong {both}{share}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--replay", nargs=2, action="append", metavar=("REC", "EVENTS"), type=Path, required=True
    )
    parser.add_argument("--sigma", type=float, action="append")
    args = parser.parse_args(argv)
    sigmas = args.sigma or [0.15, 0.3, 0.5]
    for rec, events in args.replay:
        report(rec.name, judged(rec, events), sigmas)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
