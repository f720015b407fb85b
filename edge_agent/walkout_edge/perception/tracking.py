"""Multi-person tracking on the floor: one track per shopper from the entry gate to the exit.

A store is a closed world: people appear only at the entry gate and disappear only at the
exit. The tracker uses that instead of guessing:

- births only in the entry zone (a detection there that no track explains, seen on
  several consecutive steps);
- a track that loses its detections (two people merged into one blob, a dropped frame)
  coasts on its motion model, then waits where it was last seen; it is never dropped inside
  the store. A detection that appears away from the entry and persists is given back to a
  lost track that could have walked there (and looks like it), not made a new person;
- a track ends only at the exit (the exit gate's pulse, or vanishing in the exit zone).

Each step: predict every track (constant velocity, damped while unseen), assign detections
by the Hungarian method (scipy) on a cost of distance over the track's uncertainty plus
appearance (colour of the shoulders from above), update with a Kalman filter.

People brushing past each other: while two tracks are too close to be told apart (one
blob for two, or an assignment whose alternative is nearly as cheap), the pair is in an
*encounter*. When they separate, the tracker compares the look each track was born with
(learnt before its first encounter, then kept) with both looks after it, and motion
continuity; it keeps or swaps the identities, whichever is likelier, and reports the
encounter as `track.ambiguity` with the probability that the identities are (still)
swapped. Comparing with the birth look, not the look of whoever the track follows lately,
lets a wrong decision be undone the next time the two meet.

A track that takes a detection again after a while unseen (a blob splitting, in a crowd)
may have taken a neighbour's: that too is reported as `track.ambiguity`, against the other
track nearest the detection, with the chance given by the gap and the look.

The detections no track took are kept for `looks_kept_s` (`Tracker.unexplained`): in a
crowd a person whose track slid onto a neighbour is seen for seconds before anything
takes them, and a shelf change they make must not go to the nearest track alone.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from scipy.optimize import linear_sum_assignment

from walkout.store import Rect
from walkout_edge.perception.appearance import Appearance, similarity

BIG = 1e6
_T = TypeVar("_T")
IDENTITY_LOOKS = 15  # looks averaged into a track's identity look, at most
_EYE2 = np.eye(2)
_EYE4 = np.eye(4)


@dataclass(frozen=True)
class TrackerParams:
    gate_m: float = 0.55  # farthest a matched detection may be from the prediction
    lost_gate_m: float = 1.2
    accel_sigma: float = 2.0  # m/s^2, process noise of the constant-velocity model
    coast_s: float = 0.35  # unseen this long, a track's velocity decays
    coast_damping: float = 0.6  # per step
    meas_sigma_m: float = 0.07
    appearance_weight: float = 1.5  # cost of a completely different colour, in metres
    birth_hits: int = 3  # consecutive steps a new person must be seen at the entry
    orphan_hits: int = 5  # steps an unexplained detection must persist to revive a track
    coast_report_s: float = 1.5  # report a predicted position this long without detection
    lost_after_s: float = 0.8
    walk_speed_m_s: float = 1.6  # fastest plausible walk, for re-linking a lost track
    encounter_m: float = 0.75  # two tracks this close may be confused
    encounter_timeout_s: float = 5.0
    separate_m: float = 0.9
    ambiguity_min_p: float = 0.03
    exit_zone_margin_m: float = 0.6
    entry_zone_margin_m: float = 0.7
    # A track taking a detection again after this long unseen may have taken someone else's
    # (in a crowd, whoever was nearest when it lost sight of its own). The chance is
    # logistic in the gap (capped) and the look: logit p = a + b * gap + c * (sim - 0.5),
    # with sim the similarity of the detection's look to the track's birth look (0.5 when
    # either is missing). Set from crowded seed 31's re-acquisitions against its truth
    # (22 % of 329 took someone else; 11 % after < 0.5 s with a like look, 52 % after
    # 0.5-1.5 s with an unlike one). Reported against the nearest other track, when >= min.
    reacquire_gap_s: float = 0.25
    reacquire_a: float = -1.9
    reacquire_b: float = 1.35
    reacquire_c: float = -2.3
    reacquire_gap_cap_s: float = 2.0
    reacquire_partner_m: float = 1.2
    reacquire_min_p: float = 0.1
    # Is the person a track follows at the exit the one it was born on? Logistic in the
    # similarity of the birth look to the mean of the last looks: logit p = a + b * (sim -
    # 0.5). Fitted on the exits of three edge replays (busy 202, crowded 131, stadium-rush
    # 123: 1,516 exits, each judged by the true person nearest the track's first and last
    # eight positions). On stadium-rush 123 each band's mean p is within 0.12 of the share
    # right in it (0.61 against 0.49 in 0.5-0.7); busy's and crowded's bands hold few exits
    # (docs/edge-perception.md).
    same_person_a: float = -3.47
    same_person_b: float = 13.4
    # Is the person a track follows at a shelf change the one it was born on, or one of
    # their session? The same look comparison (its looks during the change against the
    # birth looks), plus how often the tracker had doubts about the track by then
    # (encounters and re-acquisitions it reported): logit p = a + b * (sim - 0.5) + c *
    # log(1 + doubts). Fitted by `python -m benchmarks.identity_fit` on the replays of
    # stadium-rush 123, crowded 131 and busy 202 (5,147 candidates judged against the
    # truth; docs/edge-perception.md). A track bound to the wrong session at the gate was
    # on the person it was born on: no look can tell that, and the fit does not try.
    at_change_a: float = -1.617
    at_change_b: float = 12.898
    at_change_c: float = -0.748
    # Timed looks kept per track: a shelf change is emitted up to about 13 s after its end
    # (held while an encounter near it is open), and its check looks from 1 s before its
    # start; a reach of several seconds still fits.
    looks_kept_s: float = 30.0
    # An exited track is forgotten once its last point is this old: shelf events look back
    # seconds, not minutes, and a store open all day must not keep every visitor's path.
    forget_exited_s: float = 120.0


@dataclass
class TrackPoint:
    t: float
    x: float
    y: float
    seen: bool


@dataclass
class Track:
    track_id: str
    born_t: float
    x: np.ndarray  # [x, y, vx, vy]
    p: np.ndarray
    appearance: Appearance
    last_seen_t: float
    hits: int = 1
    confirmed: bool = False
    exited: bool = False
    from_entry: bool = True
    history: deque[TrackPoint] = field(default_factory=lambda: deque(maxlen=600))
    recent_looks: deque[Appearance] = field(default_factory=lambda: deque(maxlen=5))
    # The look of the person this track was born on, for telling who is who after an
    # encounter: learnt from the looks seen before the track's first encounter, then kept.
    # `appearance` follows whoever the track follows now, so a wrong decision would carry
    # over into every later one; this does not.
    identity: Appearance = field(default_factory=Appearance)
    identity_looks: int = 0
    met: bool = False  # has been in an encounter
    # Its looks of the last `looks_kept_s`, with their times: how it looked at a change.
    timed_looks: deque[tuple[float, Appearance]] = field(default_factory=deque)
    # When each doubt about who it follows began (encounters and re-acquisitions reported).
    doubts: list[float] = field(default_factory=list)
    # No point of `history` is earlier than `history_from_t` nor later than `history_to_t`
    # (kept by `record`), so a look-up of a time window can skip a track at once.
    history_from_t: float = math.inf
    history_to_t: float = -math.inf

    @property
    def xy(self) -> tuple[float, float]:
        return float(self.x[0]), float(self.x[1])

    def record(self, point: TrackPoint) -> None:
        """Append a point to `history` (and widen its time bounds)."""
        self.history.append(point)
        self.history_from_t = min(self.history_from_t, point.t)
        self.history_to_t = max(self.history_to_t, point.t)

    @property
    def identity_look(self) -> Appearance:
        return self.identity if self.identity.valid else self.appearance

    def lost(self, t: float, after_s: float) -> bool:
        return t - self.last_seen_t > after_s

    def position_at(self, t: float) -> tuple[float, float] | None:
        """Where the track was at time t (nearest history point within 0.3 s)."""
        best: TrackPoint | None = None
        for pt in reversed(self.history):
            if best is None or abs(pt.t - t) < abs(best.t - t):
                best = pt
            if pt.t < t - 0.3:
                break
        if best is None or abs(best.t - t) > 0.3:
            return None
        return best.x, best.y


@dataclass(frozen=True)
class IdentityCheck:
    """Is a track on one of its session's people at a moment (`Tracker.identity_check`)."""

    similarity: float  # of its looks then to the nearest birth look of its session
    doubts: int  # ambiguities reported about it by then
    same_person_probability: float


@dataclass
class Encounter:
    """Two tracks too close to be told apart. Their looks to compare afterwards are their
    `identity_look`s, which do not change while a track is in an encounter."""

    a: str
    b: str
    t_start: float
    t_end: float
    merged_steps: int = 0


@dataclass(frozen=True)
class AmbiguityReport:
    track_ids: tuple[str, str]
    t_start: float
    t_end: float
    swap_probability: float
    swapped: bool


@dataclass
class Orphan:
    """A detection no track explains, followed over a few steps (a would-be track)."""

    x: float
    y: float
    hits: int
    first_t: float
    last_t: float
    looks: list[Appearance] = field(default_factory=list)
    x0: float = 0.0
    y0: float = 0.0

    def __post_init__(self) -> None:
        self.x0, self.y0 = self.x, self.y


@dataclass(frozen=True)
class DetectionIn:
    x: float
    y: float
    score: float
    look: Appearance


@dataclass(frozen=True)
class Unexplained:
    """A detection no track took at step `t`: somebody the tracker has lost or not started
    yet (now and then a ghost of somebody tracked)."""

    t: float
    x: float
    y: float
    look: Appearance


class Tracker:
    """Closed-world multi-person tracker (see the module docstring)."""

    def __init__(
        self,
        entry_zones: list[Rect],
        exit_zones: list[Rect],
        new_track_id: Callable[[], str],
        params: TrackerParams | None = None,
    ) -> None:
        self.params = params or TrackerParams()
        self.entry_zones = entry_zones
        self.exit_zones = exit_zones
        self._new_id = new_track_id
        # Every track of the last `forget_exited_s` (and all not exited), in birth order.
        self.tracks: dict[str, Track] = {}
        # The tracks not marked exited, in birth order.
        self._live: dict[str, Track] = {}
        self._forget_at: float | None = None
        self._candidates: list[Orphan] = []  # would-be births at the entry
        self._orphans: list[Orphan] = []
        self._encounters: dict[tuple[str, str], Encounter] = {}
        self._t: float | None = None
        self._births_allowed: int | None = None
        self._encounter_ids: set[str] = set()
        self.births: list[Track] = []  # confirmed since the last call of `take_births`
        self.ambiguities: list[AmbiguityReport] = []
        # The detections no track took, of the last `looks_kept_s`, oldest first.
        self.unexplained: deque[Unexplained] = deque()
        self._meas_r = np.eye(2) * self.params.meas_sigma_m**2
        self._motion_dt: float | None = None
        self._motion_f: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # --- queries -------------------------------------------------------------------------

    def active(self) -> list[Track]:
        return [t for t in self._live.values() if not t.exited]

    def reported_positions(self, t: float) -> list[tuple[str, float, float]]:
        """Positions worth reporting now: seen recently, or coasting for a short while."""
        out = []
        for tr in self.active():
            if tr.confirmed and t - tr.last_seen_t <= self.params.coast_report_s:
                out.append((tr.track_id, *tr.xy))
        return out

    def undecided_partners(self, track_id: str, since: float) -> list[str]:
        """The tracks `track_id` is in an open encounter with that began at or before
        `since`: who it follows from then on is not decided until they separate (and a swap
        decided then rewrites its path from the encounter's start)."""
        out = []
        for (a, b), enc in self._encounters.items():
            if enc.t_start <= since and track_id in (a, b):
                out.append(b if a == track_id else a)
        return out

    def take_births(self) -> list[Track]:
        births, self.births = self.births, []
        return births

    def take_ambiguities(self) -> list[AmbiguityReport]:
        out, self.ambiguities = self.ambiguities, []
        return out

    def in_zone(self, x: float, y: float, zones: list[Rect], margin: float) -> bool:
        return any(z.contains(x, y, margin) for z in zones)

    # --- one step ------------------------------------------------------------------------

    def step(
        self, t: float, detections: list[DetectionIn], births_allowed: int | None = None
    ) -> None:
        """One time step. `births_allowed`: people the entry gate let in and no track has
        claimed yet (None when the gate does not count them)."""
        dt = 0.1 if self._t is None else max(1e-3, t - self._t)
        self._t = t
        self._forget(t)
        tracks = [tr for tr in self.active() if tr.confirmed]
        for tr in tracks:
            self._predict(tr, dt, t)
        self._births_allowed = births_allowed
        self._encounter_ids = {tid for key in self._encounters for tid in key}
        matches, free_tracks, free_dets, ambiguous = self._assign(t, tracks, detections)
        self._reacquisitions(t, tracks, detections, matches)
        for ti, di in matches:
            self._update(tracks[ti], detections[di], t)
        for ti in free_tracks:
            tr = tracks[ti]
            tr.record(TrackPoint(t, *tr.xy, seen=False))
        self._update_encounters(t, tracks, matches, free_tracks, ambiguous)
        leftovers = [detections[i] for i in free_dets]
        self._keep_unexplained(t, leftovers)
        self._births(t, leftovers)

    # --- internals -----------------------------------------------------------------------

    def _keep_unexplained(self, t: float, leftovers: list[DetectionIn]) -> None:
        kept = self.unexplained
        kept.extend(Unexplained(t, d.x, d.y, d.look) for d in leftovers)
        horizon = t - self.params.looks_kept_s
        while kept and kept[0].t < horizon:
            kept.popleft()

    def _forget(self, t: float) -> None:
        """Drop exited tracks whose last point is older than `forget_exited_s` (looked at
        every tenth of that period, so a step rarely pays for it)."""
        keep_s = self.params.forget_exited_s
        if self._forget_at is not None and t < self._forget_at:
            return
        self._forget_at = t + keep_s / 10
        old = [
            tid
            for tid, tr in self.tracks.items()
            if tid not in self._live and tr.history_to_t < t - keep_s
        ]
        for tid in old:
            del self.tracks[tid]

    def _motion(self, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(F, F transposed, process noise Q) of the constant-velocity model over dt; the
        same for every track of a step, so built once per step."""
        if self._motion_dt != dt or self._motion_f is None:
            f = np.eye(4)
            f[0, 2] = f[1, 3] = dt
            q = self.params.accel_sigma**2
            g = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
            self._motion_f = (f, f.T, g @ g.T * q)
            self._motion_dt = dt
        return self._motion_f

    def _predict(self, tr: Track, dt: float, t: float) -> None:
        unseen = t - tr.last_seen_t
        if unseen > self.params.coast_s:
            # Shoppers stop: an unseen track slows down instead of walking on through
            # shelves and into other people.
            tr.x[2:] *= self.params.coast_damping
        f, ft, gq = self._motion(dt)
        tr.x = f @ tr.x
        tr.p = f @ tr.p @ ft + gq
        if unseen > 2.0:
            # Long unseen: a wider position uncertainty, but bounded.
            tr.p[:2, :2] = np.minimum(tr.p[:2, :2], _EYE2)

    def _update(self, tr: Track, det: DetectionIn, t: float) -> None:
        # Kalman update with H = [I 0] (the position is measured): H P H^T, P H^T, H x
        # and K H are sub-blocks of P, x and K, taken directly (the same numbers).
        p = tr.p
        s = p[:2, :2] + self._meas_r
        k = p[:, :2].copy() @ np.linalg.inv(s)
        tr.x = tr.x + k @ (np.array([det.x, det.y]) - tr.x[:2])
        i_kh = _EYE4.copy()
        i_kh[:, :2] -= k
        tr.p = i_kh @ p
        speed = math.hypot(tr.x[2], tr.x[3])
        if speed > 2.5:
            tr.x[2:] *= 2.5 / speed
        tr.last_seen_t = t
        tr.hits += 1
        tr.record(TrackPoint(t, det.x, det.y, seen=True))
        if det.look.valid:
            tr.recent_looks.append(det.look)
            tr.timed_looks.append((t, det.look))
            horizon = t - self.params.looks_kept_s
            while tr.timed_looks and tr.timed_looks[0][0] < horizon:
                tr.timed_looks.popleft()
            if not self._in_encounter(tr.track_id):
                tr.appearance = tr.appearance.blend(det.look, 0.1)
                learning = not tr.met or not tr.identity.valid
                if learning and tr.identity_looks < IDENTITY_LOOKS:
                    tr.identity_looks += 1
                    tr.identity = tr.identity.blend(det.look, 1.0 / tr.identity_looks)

    def _in_encounter(self, track_id: str) -> bool:
        return track_id in self._encounter_ids

    def _gate(self, tr: Track, t: float) -> float:
        p = self.params
        unseen = t - tr.last_seen_t
        if unseen <= 0.25:
            return p.gate_m
        return min(p.lost_gate_m, p.gate_m + unseen * 0.5)

    def _costs(self, t: float, tracks: list[Track], dets: list[DetectionIn]) -> np.ndarray:
        """Track x detection cost: distance plus appearance, BIG where not allowed."""
        p = self.params
        pos_t = np.array([tr.x[:2] for tr in tracks])
        pos_d = np.array([[d.x, d.y] for d in dets])
        dist = np.hypot(
            pos_t[:, None, 0] - pos_d[None, :, 0], pos_t[:, None, 1] - pos_d[None, :, 1]
        )
        look = np.zeros_like(dist)
        ti = [k for k, tr in enumerate(tracks) if tr.appearance.hist is not None]
        di = [k for k, d in enumerate(dets) if d.look.hist is not None]
        if ti and di:
            root_t = np.sqrt(np.array([tracks[k].appearance.hist for k in ti]))
            root_d = np.sqrt(np.array([dets[k].look.hist for k in di]))
            look[np.ix_(ti, di)] = 1.0 - root_t @ root_d.T
        cost: np.ndarray = dist + p.appearance_weight * look
        gates = np.array([self._gate(tr, t) for tr in tracks])
        cost[dist > gates[:, None]] = BIG
        if self._births_allowed:
            # Someone just came in: a newcomer, not a lost track waking up at the entry.
            lost = np.array([tr.lost(t, p.lost_after_s) for tr in tracks])
            entry = np.array(
                [self.in_zone(d.x, d.y, self.entry_zones, p.entry_zone_margin_m) for d in dets]
            )
            cost[np.ix_(lost, entry)] = BIG
        return cost

    def _assign(
        self, t: float, tracks: list[Track], dets: list[DetectionIn]
    ) -> tuple[list[tuple[int, int]], list[int], list[int], set[tuple[int, int]]]:
        n, m = len(tracks), len(dets)
        if n == 0 or m == 0:
            return [], list(range(n)), list(range(m)), set()
        cost = self._costs(t, tracks, dets)
        rows, cols = linear_sum_assignment(cost)
        matches = [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if cost[i, j] < BIG]
        matched_t = {i for i, _ in matches}
        matched_d = {j for _, j in matches}
        # Pairs whose swapped assignment is nearly as cheap: not told apart this step.
        ambiguous: set[tuple[int, int]] = set()
        if len(matches) > 1:
            ii = np.array([i for i, _ in matches])
            jj = np.array([j for _, j in matches])
            keep = cost[ii, jj]
            swap = cost[ii[:, None], jj[None, :]] + cost[ii[None, :], jj[:, None]]
            close = (swap < BIG) & (swap - (keep[:, None] + keep[None, :]) < 0.12)
            for a, b in zip(*np.nonzero(np.triu(close, 1)), strict=True):
                i1, i2 = int(ii[a]), int(ii[b])
                ambiguous.add((min(i1, i2), max(i1, i2)))
        return (
            matches,
            [i for i in range(n) if i not in matched_t],
            [j for j in range(m) if j not in matched_d],
            ambiguous,
        )

    def _reacquisitions(
        self,
        t: float,
        tracks: list[Track],
        dets: list[DetectionIn],
        matches: list[tuple[int, int]],
    ) -> None:
        """Report each track that takes a detection after a while unseen, against the other
        track nearest that detection, with the chance it took someone else (a track in an
        open encounter is left to the encounter's decision)."""
        p = self.params
        for ti, di in matches:
            tr = tracks[ti]
            gap = t - tr.last_seen_t
            if gap < p.reacquire_gap_s or self._in_encounter(tr.track_id):
                continue
            det = dets[di]
            sim = similarity(tr.identity_look, det.look)  # 0.5 when either look is missing
            logit = (
                p.reacquire_a
                + p.reacquire_b * min(gap, p.reacquire_gap_cap_s)
                + p.reacquire_c * (sim - 0.5)
            )
            chance = 1.0 / (1.0 + math.exp(-logit))
            if chance < p.reacquire_min_p:
                continue
            partner: Track | None = None
            best = p.reacquire_partner_m
            for other in tracks:
                if other is tr:
                    continue
                d = math.hypot(other.x[0] - det.x, other.x[1] - det.y)
                if d < best:
                    partner, best = other, d
            if partner is None:
                continue
            tr.doubts.append(tr.last_seen_t)
            partner.doubts.append(tr.last_seen_t)
            self.ambiguities.append(
                AmbiguityReport(
                    _pair(tr.track_id, partner.track_id), tr.last_seen_t, t, round(chance, 3), False
                )
            )

    def _update_encounters(
        self,
        t: float,
        tracks: list[Track],
        matches: list[tuple[int, int]],
        free_tracks: list[int],
        ambiguous: set[tuple[int, int]],
    ) -> None:
        p = self.params
        unseen = set(free_tracks)
        n = len(tracks)
        if n < 2:
            return
        pos = np.array([tr.x[:2] for tr in tracks])
        dist = np.hypot(pos[:, None, 0] - pos[None, :, 0], pos[:, None, 1] - pos[None, :, 1])
        pairs = {
            (int(i), int(j))
            for i, j in zip(*np.nonzero(np.triu(dist < p.encounter_m, 1)), strict=True)
        }
        index = {tr.track_id: k for k, tr in enumerate(tracks)}
        for a_id, b_id in self._encounters:
            if a_id in index and b_id in index:
                i, j = sorted((index[a_id], index[b_id]))
                pairs.add((i, j))
        for i, j in sorted(pairs):
            a, b = tracks[i], tracks[j]
            key = _pair(a.track_id, b.track_id)
            d = float(dist[i, j])
            enc = self._encounters.get(key)
            confused = (i, j) in ambiguous or (d < p.encounter_m and (i in unseen or j in unseen))
            if enc is None:
                if d < p.encounter_m and confused:
                    a.met = b.met = True
                    self._encounters[key] = Encounter(key[0], key[1], t, t, 1)
                continue
            enc.t_end = t
            if confused:
                enc.merged_steps += 1
            apart = d > p.separate_m and i not in unseen and j not in unseen
            # A track lost for long says nothing more about this encounter: close it with
            # what is known rather than keep it open forever.
            stale = a.lost(t, p.encounter_timeout_s) or b.lost(t, p.encounter_timeout_s)
            if apart or stale:
                self._close_encounter(key, enc, decide=apart)
        for key in [
            k for k in self._encounters if k[0] not in self.tracks or k[1] not in self.tracks
        ]:
            del self._encounters[key]

    def _close_encounter(self, key: tuple[str, str], enc: Encounter, decide: bool = True) -> None:
        """End an encounter; `decide`: both were seen apart again, so their looks can tell."""
        del self._encounters[key]
        a, b = self.tracks[key[0]], self.tracks[key[1]]
        look_a, look_b = a.identity_look, b.identity_look
        after_a = Appearance.mean(list(a.recent_looks)[-3:])
        after_b = Appearance.mean(list(b.recent_looks)[-3:])
        looks = (look_a, look_b, after_a, after_b)
        if not decide or not all(look.valid for look in looks):
            like_keep = like_swap = 1.0
        else:
            like_keep = _likelihood(similarity(look_a, after_a)) * _likelihood(
                similarity(look_b, after_b)
            )
            like_swap = _likelihood(similarity(look_a, after_b)) * _likelihood(
                similarity(look_b, after_a)
            )
        # Motion prior: the longer two people were one blob, the less their paths say.
        prior_swap = min(0.45, 0.04 * enc.merged_steps)
        p_swap = prior_swap * like_swap / (prior_swap * like_swap + (1 - prior_swap) * like_keep)
        swapped = p_swap > 0.5
        if swapped:
            _swap_identity(a, b, enc.t_start)
            p_swap = 1.0 - p_swap
        # A swap is always reported: the track log relabels on the report, and the cloud
        # learns that these two were confused.
        if swapped or p_swap >= self.params.ambiguity_min_p or enc.merged_steps >= 3:
            a.doubts.append(enc.t_start)
            b.doubts.append(enc.t_start)
            self.ambiguities.append(
                AmbiguityReport(key, enc.t_start, enc.t_end, round(p_swap, 3), swapped)
            )

    def _births(self, t: float, leftovers: list[DetectionIn]) -> None:
        p = self.params
        at_entry = [
            d for d in leftovers if self.in_zone(d.x, d.y, self.entry_zones, p.entry_zone_margin_m)
        ]
        elsewhere = [d for d in leftovers if d not in at_entry]
        self._candidates = self._grow(self._candidates, at_entry, t)
        budget = self._births_allowed
        for cand in sorted(
            (c for c in self._candidates if c.hits >= p.birth_hits), key=lambda c: c.first_t
        ):
            if budget is not None and budget <= 0:
                if t - cand.first_t > 3.0:
                    self._candidates.remove(cand)  # seen at the gate, but nobody came in
                continue
            self._candidates.remove(cand)
            self._spawn(cand, t, from_entry=True)
            if budget is not None:
                budget -= 1
        self._orphans = self._grow(self._orphans, elsewhere, t)
        for orphan in [o for o in self._orphans if o.hits >= p.orphan_hits]:
            self._orphans.remove(orphan)
            lost = self._best_lost(orphan, t)
            if lost is not None:
                lost.x = np.array([orphan.x, orphan.y, 0.0, 0.0])
                lost.p = np.diag([0.05, 0.05, 0.5, 0.5])
                lost.last_seen_t = t
                lost.record(TrackPoint(t, orphan.x, orphan.y, seen=True))
            elif t - orphan.first_t >= 6.0 and orphan.hits >= 10 * p.orphan_hits:
                self._spawn(orphan, t, from_entry=False)
            else:
                self._orphans.append(orphan)

    def _grow(self, pool: list[Orphan], dets: list[DetectionIn], t: float) -> list[Orphan]:
        kept: list[Orphan] = []
        used: set[int] = set()
        for o in pool:
            best, best_d = None, 0.4
            for k, d in enumerate(dets):
                if k in used:
                    continue
                dist = math.hypot(d.x - o.x, d.y - o.y)
                if dist < best_d:
                    best, best_d = k, dist
            if best is not None:
                used.add(best)
                d = dets[best]
                o.x, o.y, o.hits, o.last_t = d.x, d.y, o.hits + 1, t
                if d.look.valid:
                    o.looks.append(d.look)
                kept.append(o)
            elif t - o.last_t <= 0.35:
                kept.append(o)
        for k, d in enumerate(dets):
            if k not in used:
                kept.append(Orphan(d.x, d.y, 1, t, t, [d.look] if d.look.valid else []))
        return kept

    def _spawn(self, seed: Orphan, t: float, from_entry: bool) -> None:
        span = seed.last_t - seed.first_t
        vx = (seed.x - seed.x0) / span if span > 0.05 else 0.0
        vy = (seed.y - seed.y0) / span if span > 0.05 else 0.0
        track = Track(
            track_id=self._new_id(),
            born_t=seed.first_t,
            x=np.array([seed.x, seed.y, vx, vy]),
            p=np.diag([0.02, 0.02, 0.5, 0.5]),
            appearance=Appearance.mean(seed.looks),
            identity=Appearance.mean(seed.looks),
            identity_looks=min(len(seed.looks), IDENTITY_LOOKS),
            last_seen_t=t,
            hits=seed.hits,
            confirmed=True,
            from_entry=from_entry,
        )
        track.record(TrackPoint(t, seed.x, seed.y, seen=True))
        self.tracks[track.track_id] = track
        self._live[track.track_id] = track
        self.births.append(track)

    def _best_lost(self, orphan: Orphan, t: float) -> Track | None:
        p = self.params
        best: Track | None = None
        best_score = -1.0
        look = Appearance.mean(orphan.looks)
        for tr in self.active():
            if not tr.confirmed or not tr.lost(orphan.first_t, p.lost_after_s):
                continue
            elapsed = max(0.0, orphan.first_t - tr.last_seen_t)
            reach = p.walk_speed_m_s * elapsed + 1.0
            d = math.hypot(orphan.x - tr.x[0], orphan.y - tr.x[1])
            if d > reach:
                continue
            sim = similarity(tr.appearance, look) if look.valid and tr.appearance.valid else 0.5
            score = sim - 0.15 * d
            if score > best_score:
                best, best_score = tr, score
        return best

    def same_person_probability(
        self, track: Track, group: Sequence[Appearance] = ()
    ) -> float | None:
        """How likely `track` still follows the person it was born on, or one whose birth
        look is in `group` (the others who came in under its session: a swap inside a
        group changes no receipt), from its last looks; None when it has no birth look, or
        no look of late, to compare."""
        sim = _birth_similarity(track, list(track.recent_looks), group)
        if sim is None:
            return None
        p = self.params
        z = p.same_person_a + p.same_person_b * (sim - 0.5)
        return 1.0 / (1.0 + math.exp(-z))

    def identity_check(
        self, track: Track, t0: float, t1: float, group: Sequence[Appearance] = ()
    ) -> IdentityCheck | None:
        """Whether `track` followed, between t0 and t1, the person it was born on or one
        whose birth look is in `group` (its session's other members): its looks then (of
        late, when it has none then) against those birth looks, the doubts reported about
        it by t1, and the chance they give; None when there is no look to compare."""
        during = [look for ts, look in track.timed_looks if t0 <= ts <= t1]
        sim = _birth_similarity(track, during or list(track.recent_looks), group)
        if sim is None:
            return None
        doubts = sum(1 for ts in track.doubts if ts <= t1)
        p = self.params
        z = p.at_change_a + p.at_change_b * (sim - 0.5) + p.at_change_c * math.log1p(doubts)
        return IdentityCheck(sim, doubts, 1.0 / (1.0 + math.exp(-z)))

    def mark_exited(self, track_id: str) -> None:
        tr = self.tracks.get(track_id)
        if tr is not None:
            tr.exited = True
            self._live.pop(track_id, None)
            for key in [k for k in self._encounters if track_id in k]:
                del self._encounters[key]

    def exit_candidates(self, t: float) -> list[Track]:
        """Tracks in or next to an exit zone, nearest first."""
        p = self.params
        out = []
        for tr in self.active():
            if tr.confirmed and self.in_zone(*tr.xy, self.exit_zones, p.exit_zone_margin_m):
                out.append(tr)
        return out


def _pair(a: str, b: str) -> tuple[str, str]:
    """Two track ids in the order encounters and reports name them."""
    return (a, b) if a < b else (b, a)


def _birth_similarity(
    track: Track, looks: list[Appearance], group: Sequence[Appearance]
) -> float | None:
    """How like the mean of `looks` is to the track's birth look or the nearest of `group`;
    None without a birth look or a look."""
    mean = Appearance.mean(looks)
    if not track.identity.valid or not mean.valid:
        return None
    return float(max(similarity(look, mean) for look in (track.identity, *group) if look.valid))


def _exchange_tails(
    a: deque[_T], b: deque[_T], since: float, time_of: Callable[[_T], float]
) -> None:
    """Exchange the items of two time-ordered deques from `since` on, in place (each keeps
    its own `maxlen`)."""
    tail_a = [item for item in a if time_of(item) >= since]
    tail_b = [item for item in b if time_of(item) >= since]
    for items, new_tail in ((a, tail_b), (b, tail_a)):
        keep = [item for item in items if time_of(item) < since]
        items.clear()
        items.extend(keep + new_tail)


def _likelihood(sim: float) -> float:
    """How likely two looks of one person are this similar (vs two different people)."""
    return math.exp(6.0 * (sim - 1.0)) + 1e-3


def _swap_identity(a: Track, b: Track, since: float) -> None:
    """Exchange everything two tracks learnt since `since` (their states and recent path).

    The looks stay: `identity` and `appearance` belong to the label, which from now on
    follows its own person again."""
    a.x, b.x = b.x, a.x
    a.p, b.p = b.p, a.p
    a.last_seen_t, b.last_seen_t = b.last_seen_t, a.last_seen_t
    a.recent_looks, b.recent_looks = b.recent_looks, a.recent_looks
    _exchange_tails(a.timed_looks, b.timed_looks, since, lambda item: item[0])
    _exchange_tails(a.history, b.history, since, lambda pt: pt.t)
    # Each history now mixes both: both take the union of the bounds.
    a.history_from_t = b.history_from_t = min(a.history_from_t, b.history_from_t)
    a.history_to_t = b.history_to_t = max(a.history_to_t, b.history_to_t)
