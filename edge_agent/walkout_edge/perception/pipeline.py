"""The perception pipeline: sensor readings in, walkout.event/1 events out into a sink.

    source ──frames──────▶ CameraPipeline (foreground, floor votes, tracker) ─┐
           ──load cells──▶ SettleDetector per cell ──▶ weight changes ────────┼─▶ events ─▶ sink
           ──gates───────▶ GateBinder (scans, turnstile pulses, exits) ───────┘

The same object runs a replay (`walkout-edge replay`) and a live store (`walkout-edge run`):
it only sees readings with timestamps. Its clock is the latest reading's time, so a replay
at any speed gives the same events as live.

A weight change becomes a `shelf.changed` once the cameras have moved past its end (so the
tracks during the change are known) and no track near it is in an undecided encounter with
someone of another session (a swap decided later relabels the paths; held 12 s at most);
its candidates are the tracks that were near the lane,
with reach evidence, and their sessions. Every event carries the time it is about (the
change's end, the first member's entry, an exit), in UTC, and a `seq` that increases by one
per event of this device. `watermark()` is the time before which nothing more will be
emitted; the daemon's heartbeats carry it.

When input stops before its end (the daemon told to stop), `flush()` emits what is held
(settled weight changes with the evidence seen so far, sessions still gathering their
group) without inventing exits; `finish()` is the same at the true end of a recording.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from walkout.definition import StoreDefinition
from walkout.events import Event, format_timestamp, make_event
from walkout.ids import new_ulid
from walkout.store import Rect
from walkout_edge.perception.appearance import Appearance
from walkout_edge.perception.gates import (
    Binding,
    GateBinder,
    GateEvent,
    MemberJoined,
    SessionOpened,
)
from walkout_edge.perception.reach import ReachCandidate, ReachParams, ReachScorer
from walkout_edge.perception.sources import CameraFrame, LoadCellReadings, Reading
from walkout_edge.perception.tracking import AmbiguityReport, IdentityCheck, Track
from walkout_edge.perception.vision import CameraPipeline, VisionParams
from walkout_edge.perception.weights import SettleDetector, WeightChange, WeightParams
from walkout_edge.sinks import EventSink, EvidenceImage, evidence_key

MAX_CANDIDATES = 5
# A weight change waits for the cameras to pass its end by this much, or this long at most
# when the cameras are behind (a dead camera must not hold shelf events forever).
CAMERA_LAG_S = 0.6
MAX_HOLD_S = 6.0
# A weight change one of whose nearby tracks is still in an encounter waits (seconds, at
# most, past when the cameras would have seen it all: its end + reach after_s + camera
# lag) for the encounter to be decided: a swap decided when the two separate
# relabels their paths from the encounter's start, and the change must name the tracks as
# the reports that follow will.
MAX_UNDECIDED_HOLD_S = 12.0
EXIT_PULSE_WAIT_S = 2.5
EXIT_VANISH_S = 1.5
LOST_EXIT_S = 2.0
# When the turnstiles have let out as many people as they let in for this long, every
# session's track still in the store is a ghost (a track left on a shadow or a moved item,
# which keeps it from fading into the background): it is made to leave, so that its session
# closes (an open session holds the receipts waiting for the answers of those in the store).
EMPTY_STORE_S = 5.0
# A person no track took (`SessionOpened.untracked`) is taken to have left, at the latest,
# once inside longer than this share of the visits the cameras followed today (the bound
# tracks that left: from birth to exit), when there are at least `UNTRACKED_STAY_VISITS`.
UNTRACKED_STAY_QUANTILE = 0.9
UNTRACKED_STAY_VISITS = 10
VISITS_KEPT = 500
# How fast a person walks on from the turnstile (from standing, so slower than a walk): a
# track confirmed d metres past the gate was at the turnstile about d / this seconds before.
ENTRY_WALK_M_S = 1.0
# The birth looks of a session's tracks that left are kept this long after its last exit,
# for telling whether a member leaving later left as one of them (longer than any visit;
# the tracker forgets an exited track after `forget_exited_s`).
LEFT_LOOKS_KEEP_S = 3 * 3600.0
# A candidate's looks from this long before a shelf change to this long after it are how
# it looked at the change (a reach lasts 1-2 s; the looks in the middle of one are few).
IDENTITY_MARGIN_S = 1.0

log = logging.getLogger("walkout_edge.perception.pipeline")


@dataclass(frozen=True)
class PipelineParams:
    vision: VisionParams = field(default_factory=VisionParams)
    weights: WeightParams = field(default_factory=WeightParams)
    reach: ReachParams = field(default_factory=ReachParams)
    evidence: bool = True
    session_hold_s: float = 2.0
    # A track confirmed at the entry is given to the gate this long later, its passing time
    # reckoned from where it stands then (see `_settle_entries`).
    entry_settle_s: float = 1.0


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class TrackLog:
    """Track positions per time step as CSV (`ts,track_id,x,y`), for offline evaluation.

    Rows are held for `lag_s` before being written, so that an identity swap decided when
    two people separate also corrects the positions written during their encounter.
    `checks`, if given, gets one CSV row per candidate of each shelf change: the identity
    check behind its `same_person_probability` (what `benchmarks.identity_fit` fits on);
    `bindings` one per track bound by a turnstile pulse (what `benchmarks.binding_fit`
    checks the gate's doubts with); `unseen` the positions of each shelf change's candidates
    no track followed, under their ids (what `walkout eval perception` judges them by).
    """

    CHECKS_HEADER = "event_id,track_id,t_start,t_end,similarity,doubts,same_person_probability\n"

    UNSEEN_HEADER = "ts,track_id,x,y\n"

    BINDINGS_HEADER = "track_id,session_id,born_t,passed_t,pulse_ts,t\n"

    def __init__(
        self,
        out: IO[str],
        lag_s: float = 120.0,
        checks: IO[str] | None = None,
        bindings: IO[str] | None = None,
        unseen: IO[str] | None = None,
    ) -> None:
        self._out = out
        self._checks = checks
        self._bindings = bindings
        self._unseen = unseen
        if checks is not None:
            checks.write(self.CHECKS_HEADER)
        if bindings is not None:
            bindings.write(self.BINDINGS_HEADER)
        if unseen is not None:
            unseen.write(self.UNSEEN_HEADER)
        self._lag_s = lag_s
        self._rows: list[tuple[float, str, float, float]] = []
        # Whether the rows held are in time order (steps come in order, except live
        # frames arriving late), so that a swap can find its first row by bisection.
        self._ordered = True
        self._out.write("ts,track_id,x,y\n")

    def add(self, t: float, positions: list[tuple[str, float, float]]) -> None:
        if self._rows and t < self._rows[-1][0]:
            self._ordered = False
        self._rows.extend((t, tid, x, y) for tid, x, y in positions)
        if self._rows and t - self._rows[0][0] > 2 * self._lag_s:
            cut = t - self._lag_s
            old = [r for r in self._rows if r[0] < cut]
            self._rows = [r for r in self._rows if r[0] >= cut]
            self._write(old)

    def swap(self, a: str, b: str, since: float) -> None:
        def other(tid: str) -> str:
            return b if tid == a else a if tid == b else tid

        rows = self._rows
        if not self._ordered:
            self._rows = [(t, other(tid) if t >= since else tid, x, y) for t, tid, x, y in rows]
            return
        # In time order: only the rows from `since` on change.
        start = bisect.bisect_left(rows, since, key=_row_time)
        rows[start:] = [(t, other(tid), x, y) for t, tid, x, y in rows[start:]]

    def check(
        self, event_id: str, track_id: str, t_start: float, t_end: float, check: IdentityCheck
    ) -> None:
        if self._checks is not None:
            self._checks.write(
                f"{event_id},{track_id},{t_start:.3f},{t_end:.3f},{check.similarity:.4f},"
                f"{check.doubts},{check.same_person_probability:.4f}\n"
            )

    def bound(self, b: Binding) -> None:
        if self._bindings is not None:
            self._bindings.write(
                f"{b.track_id},{b.session_id},{b.born_t:.3f},{b.passed_t:.3f},"
                f"{b.pulse_ts:.3f},{b.t:.3f}\n"
            )

    def unseen(self, track_id: str, path: Sequence[tuple[float, float, float]]) -> None:
        """Where a candidate nobody's track followed was seen (`ReachCandidate.unseen_path`)."""
        if self._unseen is not None:
            self._unseen.write("".join(f"{t:.3f},{track_id},{x:.3f},{y:.3f}\n" for t, x, y in path))

    def close(self) -> None:
        self._write(self._rows)
        self._rows = []
        self._out.close()
        for side in (self._checks, self._bindings, self._unseen):
            if side is not None:
                side.close()

    def _write(self, rows: list[tuple[float, str, float, float]]) -> None:
        self._out.write("".join(f"{t:.3f},{tid},{x:.3f},{y:.3f}\n" for t, tid, x, y in rows))


def _row_time(row: tuple[float, str, float, float]) -> float:
    return row[0]


@dataclass
class _PendingShelf:
    change: WeightChange
    lane_id: str
    # The camera step at which it was last found undecided: encounters change only with a
    # step, so the load cells' many readings in between need not look again.
    undecided_at: float | None = None
    # The hand zone's colours (`ReachScorer.hand_samples`), taken as soon as the cameras
    # have passed the change: the full frames they come from are kept for a few seconds
    # only, and a change may wait longer for an encounter to be decided.
    hands: list[np.ndarray] | None = None


class PerceptionPipeline:
    def __init__(
        self,
        definition: StoreDefinition,
        sink: EventSink,
        *,
        store_id: str,
        device_id: str,
        next_seq: Callable[[], int] | None = None,
        params: PipelineParams | None = None,
        track_log: TrackLog | None = None,
        run_tag: str | None = None,
    ) -> None:
        self.params = params or PipelineParams()
        self.definition = definition
        self.store = definition.store
        self.sink = sink
        self.store_id = store_id
        self.device_id = device_id
        counter = itertools.count()
        self._next_seq = next_seq or (lambda: next(counter))
        tag = run_tag or new_ulid()[-6:].lower()
        track_numbers = itertools.count(1)
        self.vision = CameraPipeline(
            self.store, lambda: f"trk-{tag}-{next(track_numbers)}", self.params.vision
        )
        unseen_numbers = itertools.count(1)
        self.reach = ReachScorer(
            self.store,
            self.vision,
            self.params.reach,
            unseen_id=lambda: f"unseen-{tag}-{next(unseen_numbers)}",
        )
        self.binder = GateBinder(
            lambda ts: f"ses-{new_ulid(ts).lower()}", hold_s=self.params.session_hold_s
        )
        self.vision.births_allowed = self._births_allowed
        # Entry tracks confirmed but not yet given to the gate (`entry_settle_s`).
        self._settling: dict[str, tuple[Track, float]] = {}
        self._cells: dict[str, SettleDetector] = {}
        self._lane_of_cell: dict[str, str] = {}
        self._shelf_of_lane: dict[str, str] = {}
        for shelf in self.store.shelves:
            for lane in shelf.lanes:
                cell = lane.load_cell
                self._lane_of_cell[cell.cell_id] = lane.lane_id
                self._shelf_of_lane[lane.lane_id] = shelf.shelf_id
                self._cells[cell.cell_id] = SettleDetector(
                    cell.cell_id, cell.rate_hz, self.params.weights, on_held=self._on_held
                )
        self._exit_gates: dict[str, Rect] = {
            g.gate_id: g.area for g in self.store.gates if g.kind == "exit"
        }
        self._turnstiles = [
            ((g.area.x0 + g.area.x1) / 2, (g.area.y0 + g.area.y1) / 2)
            for g in self.store.gates
            if g.kind == "entry"
        ]
        self._pending_shelf: list[_PendingShelf] = []
        self._pending_exits: list[GateEvent] = []
        self._exited: set[str] = set()
        # The people of sessions no track took (`SessionOpened.untracked`) still inside: when
        # each stand-in track id came in, longest inside first (its session: the binder's).
        self._untracked: dict[str, float] = {}
        # How long the bound tracks that left today were followed, the latest first out.
        self._visits: deque[float] = deque(maxlen=VISITS_KEPT)
        # People inside by the turnstiles' pulses (enter - exit), and since when none.
        self._people_in = 0
        self._empty_since: float | None = None
        # session -> (time of its latest exit, birth looks of its tracks that left)
        self._left_looks: dict[str, tuple[float, list[Appearance]]] = {}
        self.track_log = track_log
        # track -> the gate's largest doubt that it is of its session (a BindingDoubt)
        self._bound_doubt: dict[str, float] = {}
        self.now: float | None = None
        self.unknown_cells: set[str] = set()
        self.emitted: dict[str, int] = {}

    # --- input ---------------------------------------------------------------------------

    def feed(self, reading: Reading) -> None:
        if isinstance(reading, CameraFrame):
            self._advance(reading.ts)
            if self.vision.process_frame(reading.camera_id, reading.ts, reading.image):
                self._after_step()
        elif isinstance(reading, LoadCellReadings):
            ts = reading.ts
            self._advance(ts)
            cells = self._cells
            for cell_id, grams in reading.samples:
                detector = cells.get(cell_id)
                if detector is None:
                    self.unknown_cells.add(cell_id)
                    continue
                changes = detector.push(ts, grams)
                if changes:  # rarely: most samples confirm nothing
                    lane_id = self._lane_of_cell[cell_id]
                    for change in changes:
                        self._pending_shelf.append(_PendingShelf(change, lane_id))
            self._release_shelf(final=False)
        else:
            self._advance(reading.ts)
            self.binder.on_gate(reading)
            if reading.kind == "enter":
                self._people_in += 1
            elif reading.kind == "exit":
                self._people_in -= 1
                self._pending_exits.append(reading)

    def flush(self) -> dict[str, int]:
        """No more input for now (the daemon stopping): emit every decision still held.

        - the frames of the instant being fused are processed as they are;
        - every weight change that has settled is emitted, also one still waiting for its
          confirmation or for the cameras to pass its end: its candidates and evidence are
          what the cameras saw up to now (a reach seen only in part scores as such);
        - sessions held back to gather a group are announced with the members they have.

        Nobody is made to leave: tracks still in the store stay open (their sessions must
        not be closed by a restart), and an exit pulse still waiting for the cameras to
        find who left is not decided. A weight change still in motion has no new level yet
        and stays out. Returns how many events of each type this emitted; the pipeline may
        go on being fed afterwards.
        """
        before = dict(self.emitted)
        self.vision.close_step()
        self._after_step()
        for cell_id, detector in self._cells.items():
            for change in detector.flush():
                self._pending_shelf.append(_PendingShelf(change, self._lane_of_cell[cell_id]))
        self._release_shelf(final=True)
        if self.now is not None:
            self._settle_entries(self.now, final=True)
            for decision in self.binder.flush(self.now):
                self._emit_gate_decision(decision)
            # Flushing may bind waiting tracks to expiring pulses: their doubts go out too.
            self._gate_doubts()
        return {k: n - before.get(k, 0) for k, n in self.emitted.items() if n > before.get(k, 0)}

    def finish(self) -> dict[str, int]:
        """End of input (a recording played to its end): `flush`, then close the track log."""
        flushed = self.flush()
        if self.track_log is not None:
            self.track_log.close()
        return flushed

    def held_shelf_changes(self) -> list[tuple[str, WeightChange]]:
        """Weight changes settled but not emitted yet, as `(lane_id, change)`."""
        held = [(p.lane_id, p.change) for p in self._pending_shelf]
        for cell_id, detector in self._cells.items():
            change = detector.held
            if change is not None:
                held.append((self._lane_of_cell[cell_id], change))
        return sorted(held, key=lambda item: item[1].t_end)

    def changes_in_motion(self) -> int:
        """Lanes whose weight is moving right now (not settled, so nothing to emit yet)."""
        return sum(1 for detector in self._cells.values() if detector.moving)

    def watermark(self) -> float | None:
        """Store time before which this pipeline will emit nothing more."""
        if self.now is None:
            return None
        mark = self.now - 0.5
        for pending in self._pending_shelf:
            mark = min(mark, pending.change.t_end - 0.5)
        for detector in self._cells.values():
            held = detector.earliest_open_t()
            if held is not None:
                mark = min(mark, held - 0.5)
        held_session = self.binder.earliest_unannounced_t()
        if held_session is not None:
            mark = min(mark, held_session - 0.5)
        return mark

    # --- internals -----------------------------------------------------------------------

    def _on_held(self, change: WeightChange) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "weight change settled",
                extra={
                    "lane_id": self._lane_of_cell[change.cell_id],
                    "delta_g": change.delta_g,
                    "t_start": format_timestamp(utc(change.t_start)),
                    "t_end": format_timestamp(utc(change.t_end)),
                },
            )

    def _advance(self, ts: float) -> None:
        if self.now is None or ts > self.now:
            self.now = ts

    def _after_step(self) -> None:
        t = self.vision.last_step_t
        if t is None:
            return
        tracker = self.vision.tracker
        for track in tracker.take_births():
            if track.from_entry and self.binder.pulses_seen and self.params.entry_settle_s > 0:
                self._settling[track.track_id] = (track, t)
                continue
            # A track born inside the store is bound to nobody (`GateBinder.on_track_born`).
            self.binder.on_track_born(
                track.track_id, track.born_t, track.from_entry, t, self._at_turnstile_t(track, t)
            )
        self._settle_entries(t, final=False)
        self._gate_doubts()
        for report in tracker.take_ambiguities():
            if report.swapped and self.track_log is not None:
                first, second = report.track_ids
                self.track_log.swap(first, second, report.t_start)
            self._emit_ambiguity(report, t)
        self._exits(t)
        if self.track_log is not None:
            self.track_log.add(t, tracker.reported_positions(t))
        for decision in self.binder.poll(t):
            self._emit_gate_decision(decision)
        self._release_shelf(final=False)

    def _settle_entries(self, t: float, final: bool) -> None:
        """Give the gate the entry tracks confirmed `entry_settle_s` ago (all of them when
        `final`), the earliest first, each with its passing time reckoned from where it
        stands now.

        In a queue at the turnstile the tracker often confirms a track on the person ahead
        that slides onto the person right behind within a second, while a second track is
        born on the one ahead. Reckoned at confirmation, the first would take the pulse of
        the one ahead and follow the one behind for the rest of the visit (and the second
        the other way round): a swap of two sessions nobody reports. A second later each
        stands where the person it now follows is, and takes that person's pulse. On the
        stadium-rush 123 replay, the tracks bound to a session other than that of the
        person they followed 4-6 s after birth went from 296 to 196 of about 1,290.
        """
        settle = self.params.entry_settle_s
        due = [
            (track, confirmed)
            for track, confirmed in self._settling.values()
            if final or t - confirmed >= settle
        ]
        for track, _confirmed in sorted(due, key=lambda d: d[1]):
            self._bind_entry(track, t)

    def _bind_entry(self, track: Track, t: float) -> None:
        del self._settling[track.track_id]
        self.binder.on_track_born(
            track.track_id, track.born_t, True, t, self._at_turnstile_t(track, t)
        )

    def _births_allowed(self, now: float) -> int | None:
        """People let in that no track has claimed: a settling track will claim one."""
        unclaimed: int | None = self.binder.unclaimed_pulses(now)
        if unclaimed is None:
            return None
        return max(0, unclaimed - len(self._settling))

    def _gate_doubts(self) -> None:
        """Emit the gate's doubts about who is whose as `track.ambiguity` (a track bound
        by the pulse another took may be that one's session from its start: the cloud
        mixes their identities as for any swap), and log the bindings."""
        for binding in self.binder.take_bindings():
            if self.track_log is not None:
                self.track_log.bound(binding)
        for doubt in self.binder.take_doubts():
            for track_id in doubt.track_ids:
                known = self._bound_doubt.get(track_id, 0.0)
                self._bound_doubt[track_id] = max(known, doubt.swap_probability)
            self._emit_ambiguity(
                AmbiguityReport(
                    doubt.track_ids,
                    doubt.t_start,
                    doubt.t_end,
                    round(doubt.swap_probability, 3),
                    False,
                ),
                doubt.t_end,
            )

    def _at_turnstile_t(self, track: Track, t: float) -> float:
        """When a track confirmed at `t` passed the turnstile, which its pulse says.

        Not when it was first seen: in a queue the person behind is often seen apart from
        the one ahead only a step or two past the gate, and the first sighting may be the
        one ahead. Where it stands when confirmed, walked back to the turnstile, is closer
        to its own pulse than to a neighbour's far more often.
        """
        if not self._turnstiles:
            return float(track.born_t)
        x, y = track.xy
        d = min(math.hypot(x - gx, y - gy) for gx, gy in self._turnstiles)
        return t - d / ENTRY_WALK_M_S

    def _exits(self, t: float) -> None:
        tracker = self.vision.tracker
        keep: list[GateEvent] = []
        for pulse in self._pending_exits:
            area = self._exit_gates.get(pulse.gate_id)
            near = [tr for tr in tracker.exit_candidates(t) if tr.track_id not in self._exited]
            if area is not None and near:
                track = min(near, key=lambda tr: _distance_to_rect(tr.xy, area))
                self._exit(track, pulse.gate_id, pulse.ts)
            elif t - pulse.ts < EXIT_PULSE_WAIT_S:
                keep.append(pulse)
            elif area is not None:
                # Someone left whom the cameras did not follow to the gate: most likely the
                # person whose track was lost nearest to it. Exits stay one per pulse, so
                # lost tracks do not pile up (nor their sessions stay open for ever).
                lost = [
                    tr
                    for tr in tracker.active()
                    if tr.confirmed
                    and tr.track_id not in self._exited
                    and t - tr.last_seen_t > LOST_EXIT_S
                ]
                if lost:
                    track = min(lost, key=lambda tr: _distance_to_rect(tr.xy, area))
                    self._exit(track, pulse.gate_id, pulse.ts)
                elif self._untracked:
                    # Nobody the cameras follow could have made it: one of those no track
                    # ever took (the longest inside).
                    self._untracked_exit(next(iter(self._untracked)), pulse.gate_id, pulse.ts)
        self._pending_exits = keep
        self._untracked_overstay(t)
        # No pulse (a gate that does not send them, or one missed): a track that vanished
        # in the exit zone has left.
        wait = EXIT_VANISH_S + (EXIT_PULSE_WAIT_S if self.binder.exit_pulses_seen else 0.0)
        for track in tracker.exit_candidates(t):
            if track.track_id not in self._exited and t - track.last_seen_t > wait:
                self._exit(track, self._nearest_exit(track), track.last_seen_t)
        self._empty_store(t)

    def _empty_store(self, t: float) -> None:
        """Make every bound track leave once the turnstiles say nobody is inside
        (`EMPTY_STORE_S`)."""
        counted = self.binder.pulses_seen and self.binder.exit_pulses_seen
        if not counted or self._people_in > 0 or self._pending_exits:
            self._empty_since = None
            return
        if self._empty_since is None:
            self._empty_since = t
        if t - self._empty_since < EMPTY_STORE_S or not self._exit_gates:
            return
        session_of = self.binder.session_of
        for track in self.vision.tracker.active():
            if track.track_id in self._exited or track.track_id not in session_of:
                continue
            self._exit(track, self._nearest_exit(track), t)
        for member in list(self._untracked):
            self._untracked_exit(member, next(iter(self._exit_gates)), t)

    def _nearest_exit(self, track: Track) -> str:
        return min(self._exit_gates, key=lambda g: _distance_to_rect(track.xy, self._exit_gates[g]))

    def _exit(self, track: Track, gate_id: str, ts: float) -> None:
        if track.track_id in self._settling:  # in and out at once: bound as it leaves
            self._bind_entry(track, ts)
        self._exited.add(track.track_id)
        tracker = self.vision.tracker
        session_id = self.binder.session_of.get(track.track_id)
        same = tracker.same_person_probability(track, self._group_looks(track, session_id))
        doubt = self._bound_doubt.pop(track.track_id, 0.0)
        if same is not None:
            # Looking like the person it was born on says nothing of whether that person
            # was of its session, which the gate may have doubted.
            same *= 1.0 - doubt
        if session_id is not None:
            self._remember_left(session_id, track, ts)
            self._visits.append(ts - track.born_t)
        tracker.mark_exited(track.track_id)
        self._emit(
            "track.exited",
            {
                "track_id": track.track_id,
                "session_id": session_id,
                "gate_id": gate_id,
                "same_person_probability": None if same is None else round(same, 3),
            },
            ts,
        )

    def _untracked_overstay(self, t: float) -> None:
        """Those no track took leave once inside longer than most visits today
        (`UNTRACKED_STAY_QUANTILE`): the turnstiles cannot tell when they left (a pulse goes
        to the lost track nearest the gate first), and an open session keeps the receipts of
        the others in the store waiting for its questions."""
        if not self._untracked or len(self._visits) < UNTRACKED_STAY_VISITS or not self._exit_gates:
            return
        visits = sorted(self._visits)
        longest = visits[min(len(visits) - 1, int(UNTRACKED_STAY_QUANTILE * len(visits)))]
        for member, since in list(self._untracked.items()):
            if t - since > longest:
                self._untracked_exit(member, next(iter(self._exit_gates)), t)

    def _untracked_exit(self, member: str, gate_id: str, ts: float) -> None:
        """One of the people no track took has left (or so the turnstiles say). Nobody saw
        who: the edge has no reason to think it was this session's person (probability 0),
        so the cloud lists the session as present a while longer and holds its receipt for
        the answers of the others in the store."""
        del self._untracked[member]
        self._emit(
            "track.exited",
            {
                "track_id": member,
                "session_id": self.binder.session_of[member],
                "gate_id": gate_id,
                "same_person_probability": 0.0,
            },
            ts,
        )

    def _group_looks(self, track: Track, session_id: str | None) -> list[Appearance]:
        """The birth looks of the other tracks of `track`'s session, in the store or gone:
        leaving as one of them is leaving as the session."""
        if session_id is None:
            return []
        session_of = self.binder.session_of
        inside = [
            other.identity
            for other in self.vision.tracker.active()
            if other is not track and session_of.get(other.track_id) == session_id
        ]
        return inside + self._left_looks.get(session_id, (0.0, []))[1]

    def _remember_left(self, session_id: str, track: Track, ts: float) -> None:
        """Keep the birth look of a track that left for its session's members still inside
        (the tracker forgets it after `forget_exited_s`); forget sessions whose last exit
        is `LEFT_LOOKS_KEEP_S` old."""
        if track.identity.valid:
            _, left = self._left_looks.get(session_id, (ts, []))
            self._left_looks[session_id] = (ts, [*left, track.identity])
        horizon = ts - LEFT_LOOKS_KEEP_S
        for old in [s for s, (at, _) in self._left_looks.items() if at < horizon]:
            del self._left_looks[old]

    def _release_shelf(self, final: bool) -> None:
        if not self._pending_shelf:
            return
        seen_to = self.vision.last_step_t
        now = self.now or 0.0
        ready: list[_PendingShelf] = []
        keep: list[_PendingShelf] = []
        for pending in self._pending_shelf:
            end = pending.change.t_end + self.params.reach.after_s + CAMERA_LAG_S
            seen = (seen_to is not None and seen_to >= end) or now - end > MAX_HOLD_S
            waited = now - end > MAX_UNDECIDED_HOLD_S
            if seen and pending.hands is None:
                change = pending.change
                pending.hands = self.reach.hand_samples(
                    pending.lane_id, change.t_start, change.t_end
                )
            if final or waited or (seen and not self._undecided(pending)):
                ready.append(pending)
            else:
                keep.append(pending)
        self._pending_shelf = keep
        for pending in sorted(ready, key=lambda p: p.change.t_end):
            self._emit_shelf(pending)

    def _undecided(self, pending: _PendingShelf) -> bool:
        """Whether a track that may have made this change is in an encounter, begun by the
        change's end, with someone it could be confused with (not a member of its own
        session: whichever of the two reached, the same cart pays)."""
        step = self.vision.last_step_t
        if step is not None and pending.undecided_at == step:
            return True
        pending.undecided_at = None
        change = pending.change
        tracker = self.vision.tracker
        session_of = self.binder.session_of
        for track, _path, _dist in self.reach.near(pending.lane_id, change.t_start, change.t_end):
            own = session_of.get(track.track_id)
            for other in tracker.undecided_partners(track.track_id, change.t_end):
                if own is None or session_of.get(other) != own:
                    pending.undecided_at = step
                    return True
        return False

    def _emit_shelf(self, pending: _PendingShelf) -> None:
        change = pending.change
        lane_id = pending.lane_id
        cands = self.reach.candidates(lane_id, change.t_start, change.t_end, pending.hands)[
            :MAX_CANDIDATES
        ]
        if self.track_log is not None:
            for cand in cands:
                if cand.unseen_path:
                    self.track_log.unseen(cand.track_id, cand.unseen_path)
        ts = change.t_end
        event_id = new_ulid(ts)
        evidence: list[EvidenceImage] = []
        if self.params.evidence:
            moment = (change.t_start + change.t_end) / 2
            crop = self.reach.evidence_crop(lane_id, moment)
            if crop is not None:
                camera_id, jpeg = crop
                key = evidence_key(self.store_id, event_id, f"reach-{camera_id}")
                evidence.append(EvidenceImage(key, jpeg))
        data = {
            "shelf_id": self._shelf_of_lane[lane_id],
            "lane_id": lane_id,
            "delta_g": change.delta_g,
            "t_start": utc(change.t_start),
            "t_end": utc(change.t_end),
            "noise_g": change.noise_g,
            "candidates": [self._candidate(c, change, event_id) for c in cands],
            "evidence": [image.key for image in evidence],
        }
        self._emit("shelf.changed", data, ts, evidence, event_id)

    def _candidate(
        self, cand: ReachCandidate, change: WeightChange, event_id: str
    ) -> dict[str, Any]:
        """A candidate on the wire, with how likely its track was on one of its session's
        people during the change (as they looked then against their birth looks)."""
        session_id = self.binder.session_of.get(cand.track_id)
        out: dict[str, Any] = {
            "track_id": cand.track_id,
            "session_id": session_id,
            "reach_score": cand.reach_score,
            "distance_m": cand.distance_m,
        }
        track = self.vision.tracker.tracks.get(cand.track_id)
        if track is None or session_id is None:
            return out
        t0 = change.t_start - IDENTITY_MARGIN_S
        t1 = change.t_end + IDENTITY_MARGIN_S
        check = self.vision.tracker.identity_check(
            track, t0, t1, self._group_looks(track, session_id)
        )
        if check is not None:
            out["same_person_probability"] = round(check.same_person_probability, 3)
            if self.track_log is not None:
                self.track_log.check(event_id, cand.track_id, t0, t1, check)
        return out

    def _emit_ambiguity(self, report: AmbiguityReport, t: float) -> None:
        self._emit(
            "track.ambiguity",
            {
                "track_ids": list(report.track_ids),
                "t_start": utc(report.t_start),
                "t_end": utc(report.t_end),
                "swap_probability": report.swap_probability,
            },
            report.t_end,
        )

    def _emit_gate_decision(self, decision: SessionOpened | MemberJoined) -> None:
        event_id = new_ulid(utc(decision.t))
        if isinstance(decision, SessionOpened):
            for member in decision.untracked:
                self._untracked[member] = decision.t
            looks = self._looks(event_id, decision.track_ids, decision.t)
            self._emit(
                "session.entered",
                {
                    "session_id": decision.session_id,
                    "gate_id": decision.gate_id,
                    "account_ref": decision.account_ref,
                    "track_ids": list(decision.track_ids),
                    "evidence": [image.key for image in looks],
                },
                decision.t,
                looks,
                event_id,
            )
        else:
            looks = self._looks(event_id, (decision.track_id,), decision.t)
            self._emit(
                "session.joined",
                {
                    "session_id": decision.session_id,
                    "track_id": decision.track_id,
                    "evidence": [image.key for image in looks],
                },
                decision.t,
                looks,
                event_id,
            )

    def _looks(self, event_id: str, track_ids: Sequence[str], t: float) -> list[EvidenceImage]:
        """Each member's look where the cameras see them as they are bound (the frames of
        the last seconds are kept): what reviewers recognise a session's people by."""
        if not self.params.evidence:
            return []
        # Now, not the entry the event is about: a member bound later is seen only now.
        now = self.vision.last_step_t or t
        out = []
        for track_id in track_ids:
            track = self.vision.tracker.tracks.get(track_id)
            where = track.position_at(now) if track is not None else None
            crop = self.reach.person_crop(where, now) if where is not None else None
            if crop is not None:
                camera_id, jpeg = crop
                key = evidence_key(self.store_id, event_id, f"entry-{track_id}-{camera_id}")
                out.append(EvidenceImage(key, jpeg))
        return out

    def _emit(
        self,
        type_: str,
        data: dict[str, Any],
        ts: float,
        evidence: Sequence[EvidenceImage] = (),
        event_id: str | None = None,
    ) -> None:
        when = utc(ts)
        event: Event = make_event(
            type_,
            data,
            store_id=self.store_id,
            device_id=self.device_id,
            seq=self._next_seq(),
            ts=when,
            event_id=event_id or new_ulid(when),
        )
        self.sink.emit(event, evidence)
        self.emitted[type_] = self.emitted.get(type_, 0) + 1


def _distance_to_rect(xy: tuple[float, float], rect: Rect) -> float:
    x, y = xy
    dx = max(rect.x0 - x, 0.0, x - rect.x1)
    dy = max(rect.y0 - y, 0.0, y - rect.y1)
    return math.hypot(dx, dy)


def open_track_log(path: Path | None) -> TrackLog | None:
    """A track log at `path`, with its identity checks, the gate's bindings and the paths of
    candidates no track followed beside it (`checks_path`, `bindings_path`, `unseen_path`)."""
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return TrackLog(
        path.open("w", encoding="utf-8"),
        checks=checks_path(path).open("w", encoding="utf-8"),
        bindings=bindings_path(path).open("w", encoding="utf-8"),
        unseen=unseen_path(path).open("w", encoding="utf-8"),
    )


def checks_path(tracks: Path) -> Path:
    """Where the identity checks of the track log at `tracks` go (`x.tracks.csv` ->
    `x.tracks.identity.csv`)."""
    return tracks.with_name(tracks.stem + ".identity.csv")


def unseen_path(tracks: Path) -> Path:
    """Where the paths of candidates no track followed go (`x.tracks.unseen.csv`, in the
    track log's columns)."""
    return tracks.with_name(tracks.stem + ".unseen.csv")


def bindings_path(tracks: Path) -> Path:
    """Where the gate's bindings of the track log at `tracks` go (`x.tracks.bindings.csv`)."""
    return tracks.with_name(tracks.stem + ".bindings.csv")
