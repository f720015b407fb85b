"""Gate binding: which tracks belong to which scan, and who left.

A scan at an entry gate opens a session; everyone who comes through the turnstile under
it, up to the next scan, belongs to it (a family shops on one account). The next group
may scan while the last member of the previous one is still in the turnstile, so a pulse
belongs to the latest scan at least `scan_to_pass_s` before it. The turnstile's
`enter` pulses say how many people passed and when; tracks are born at the entry in the
same order, so a new track at the entry takes the unclaimed pulse nearest in time to when
it passed the turnstile, and the pulse's session, if that pulse is within `claim_gap_s` of
it. In a queue the cameras do not see everyone apart at once: a person seen only once they
leave the one ahead, or one person seen twice for a moment (a ghost), is confirmed late and
far from the gate, and the nearest unclaimed pulse may be the next person's. Such a track
waits: a pulse that fits it is still taken at once, and the next person's own track, if
it comes, takes their pulse. A pulse nobody claims within `pulse_window_s` goes to the
waiting track nearest in time (as a nearest-pulse rule would have done, only later), else
it is a missing member. A scan none of whose people any track took opens all the same,
`hold_s` after the last of its pulses expired, dated at its first pulse, with a stand-in id
per person (`untracked_member_id`): the shopper is inside, and only a session that exists
can be named by a reviewer. A track born inside the store is bound to nobody: in a crowd it
is nearly always a second track on somebody who has one already (their own went on with
someone else), not the person the gate missed. A gate that sends no pulses falls back to
"the latest scan before the track appeared".

Announcing a session waits `hold_s` after its first member, so a group walking through
together is one `session.entered` with all its tracks; a member bound later is a
`session.joined`.

In a rush (strangers through the turnstile every half second) a passing time reckoned
from where a track was confirmed can be off by more than the gap between two pulses, and
two tracks of different sessions may each have taken the other's. Each binding by a pulse
is weighed against the recent ones of other sessions: with the passing times off by
`passing_sigma_s` (about twice the spread of right bindings on the stadium-rush 123
replay), the chance of the exchanged pairing against the one made. Where it is at least
`doubt_min_p` the pair is a `BindingDoubt` (at most `doubt_max_p`: a pairing the times fit
better than the one made was still right about as often as not). People come through
the turnstile in the order they queue, so a pair whose tracks were born in the other order
than their pulses came is doubted at `crossed_birth_p` at least, however well the passing
times fit: on the stadium-rush bench runs of 28 November (`python -m
benchmarks.binding_fit`, judged 1.5 s after birth), 27 of 103 such pairs within 2 s were
both bound wrong on seed 23 and 28 of 105 on seed 223, against 60 of 1,926 and 96 of
2,241 pairs in order. Pure: times in, decisions out; the pipeline turns them into events.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateEvent:
    ts: float
    gate_id: str
    kind: str  # "scan", "enter" or "exit"
    account_ref: str | None = None


@dataclass(frozen=True)
class SessionOpened:
    t: float
    session_id: str
    gate_id: str
    account_ref: str
    track_ids: tuple[str, ...]
    # Those of `track_ids` that are no camera track: people the turnstile counted under the
    # scan whom no track took (`untracked_member_id`).
    untracked: tuple[str, ...] = ()


def untracked_member_id(session_id: str, k: int) -> str:
    """The id standing in for a track of the `k`-th person of a session no track took."""
    return f"{session_id}-untracked-{k + 1}"


@dataclass(frozen=True)
class MemberJoined:
    t: float
    session_id: str
    track_id: str


GateDecision = SessionOpened | MemberJoined


@dataclass(frozen=True)
class Binding:
    """A track bound to a session by a turnstile pulse: when the track is reckoned to have
    passed the turnstile, and when the pulse it took came."""

    track_id: str
    session_id: str
    born_t: float
    passed_t: float
    pulse_ts: float
    t: float  # when it was bound


@dataclass(frozen=True)
class BindingDoubt:
    """Two tracks of different sessions bound by pulses so close in time that each may be
    the other's: the chance that the pulses (and so the sessions) are the other way round,
    from the start of the earlier track."""

    track_ids: tuple[str, str]
    t_start: float
    t_end: float
    swap_probability: float


@dataclass
class _Session:
    session_id: str
    gate_id: str
    account_ref: str
    scan_ts: float
    members: list[str] = field(default_factory=list)
    first_bound_t: float | None = None
    announced: bool = False
    missing: int = 0
    missing_since: float = 0.0
    # The pulse of its first missing member: when an untracked session came in.
    missing_from: float | None = None


@dataclass
class _Pulse:
    ts: float
    session: _Session | None


@dataclass(frozen=True)
class _Waiting:
    """An entry track with no pulse near enough in time to when it passed (yet)."""

    track_id: str
    since: float
    born_t: float
    passed_t: float


class GateBinder:
    def __init__(
        self,
        new_session_id: Callable[[float], str],
        *,
        hold_s: float = 2.0,
        pulse_window_s: float = 4.0,
        scan_window_s: float = 60.0,
        scan_to_pass_s: float = 0.4,
        pulse_lead_s: float = 1.0,
        claim_gap_s: float = 0.6,
        passing_sigma_s: float = 0.2,
        doubt_min_p: float = 0.03,
        doubt_max_p: float = 0.5,
        crossed_birth_p: float = 0.25,
    ) -> None:
        self._new_session_id = new_session_id
        self.hold_s = hold_s
        self.pulse_window_s = pulse_window_s
        self.scan_window_s = scan_window_s
        self.scan_to_pass_s = scan_to_pass_s
        self.pulse_lead_s = pulse_lead_s
        self.claim_gap_s = claim_gap_s
        self.passing_sigma_s = passing_sigma_s
        self.doubt_min_p = doubt_min_p
        self.doubt_max_p = doubt_max_p
        self.crossed_birth_p = crossed_birth_p
        self._sessions: list[_Session] = []
        self._pulses: deque[_Pulse] = deque()
        self.pulses_seen = False
        self.exit_pulses_seen = False
        self.session_of: dict[str, str] = {}
        self._out: list[GateDecision] = []
        self._waiting: list[_Waiting] = []
        self._recent: deque[Binding] = deque()  # bindings by pulse of the last seconds
        self.bindings: list[Binding] = []  # made since the last `take_bindings`
        self.doubts: list[BindingDoubt] = []  # found since the last `take_doubts`

    # --- inputs --------------------------------------------------------------------------

    def on_gate(self, event: GateEvent) -> None:
        if event.kind == "scan":
            self._sessions.append(
                _Session(
                    self._new_session_id(event.ts), event.gate_id, event.account_ref or "", event.ts
                )
            )
        elif event.kind == "enter":
            self.pulses_seen = True
            pulse = _Pulse(event.ts, self._session_for_pulse(event.ts, event.gate_id))
            self._prune_waiting(event.ts)
            fits = [w for w in self._waiting if self._fits(w.born_t, w.passed_t, event.ts)]
            if fits:
                # A track seen at the entry before its pulse (clocks differ a little), or a
                # late one that waited for a pulse to fit it.
                waiting = min(fits, key=lambda w: abs(w.passed_t - event.ts))
                self._waiting.remove(waiting)
                self._bind_by_pulse(
                    waiting.track_id, waiting.born_t, waiting.passed_t, pulse, event.ts
                )
            else:
                self._pulses.append(pulse)
        elif event.kind == "exit":
            self.exit_pulses_seen = True

    def _session_for_pulse(self, ts: float, gate_id: str | None) -> _Session | None:
        # The next group may scan while the last member of the previous one is still
        # walking through: a pulse belongs to the latest scan at least `scan_to_pass_s`
        # before it (nobody passes that soon after their own scan).
        scans = [s for s in self._sessions if gate_id is None or s.gate_id == gate_id]
        for cutoff in (ts - self.scan_to_pass_s, ts):
            earlier = [s for s in scans if s.scan_ts <= cutoff]
            if earlier:
                session = max(earlier, key=lambda s: s.scan_ts)
                if ts - session.scan_ts <= self.scan_window_s:
                    return session
                return None
        return None

    def on_track_born(
        self,
        track_id: str,
        born_t: float,
        at_entry: bool,
        now: float,
        passed_t: float | None = None,
    ) -> None:
        """A new confirmed track; `born_t` is when it was first seen, `passed_t` when it is
        reckoned to have passed the turnstile (default `born_t`): the pulse nearest to it
        is the track's, among those not later than `pulse_lead_s` after `born_t`.

        A track born inside the store (`at_entry` false) is bound to nobody. Giving it the
        session of a person the gate let in and no track took was tried: in stadium-rush
        bench runs of seeds 23 and 223 such bindings were right 2 and 4 times, wrong 26 and
        25 (nearly always a second track on somebody whose session had a track already),
        and the cloud charged each wrong one with nobody doubting it."""
        if track_id in self.session_of or not at_entry:
            return
        if self.pulses_seen:
            self._expire(now)
            passed = born_t if passed_t is None else passed_t
            pulse = self._claim_pulse(born_t, passed)
            if pulse is None:
                self._waiting.append(_Waiting(track_id, now, born_t, passed))
                return
            self._bind_by_pulse(track_id, born_t, passed, pulse, now)
            return
        self._bind(track_id, self._session_for_pulse(born_t, None), now)

    def _claim_pulse(self, born_t: float, passed_t: float) -> _Pulse | None:
        # The pulse nearest in time to when the track passed the turnstile, not simply the
        # oldest: when the cameras see a person late (merged with the one ahead of them
        # at the gate), the person behind may be confirmed first and must not take the
        # earlier pulse, and with it possibly the earlier group's session.
        usable = [p for p in self._pulses if self._fits(born_t, passed_t, p.ts)]
        if not usable:
            return None
        pulse = min(usable, key=lambda p: abs(p.ts - passed_t))
        self._pulses.remove(pulse)
        return pulse

    def _bind_by_pulse(
        self, track_id: str, born_t: float, passed_t: float, pulse: _Pulse, now: float
    ) -> None:
        """Bind a track to the session of the pulse it took, weighing the binding against
        the recent ones (`_weigh`)."""
        if pulse.session is not None:
            binding = Binding(track_id, pulse.session.session_id, born_t, passed_t, pulse.ts, now)
            self._weigh(binding)
            self.bindings.append(binding)
        self._bind(track_id, pulse.session, now)

    def _bind(self, track_id: str, session: _Session | None, now: float) -> None:
        if session is None:
            return
        session.members.append(track_id)
        self.session_of[track_id] = session.session_id
        if session.first_bound_t is None:
            session.first_bound_t = now
        if session.announced:
            self._out.append(MemberJoined(now, session.session_id, track_id))

    def _weigh(self, new: Binding) -> None:
        """Doubt a binding by a pulse against each recent one of another session: the two
        tracks' passing times are reckoned with an error of `passing_sigma_s`, so their
        pulses may be each other's (the likelihood of the exchanged pairing over both)."""
        # Pulses more than ten sigmas apart are never each other's (the chance underflows).
        reach = 10 * self.passing_sigma_s
        while self._recent and self._recent[0].pulse_ts < new.pulse_ts - 2 * reach:
            self._recent.popleft()
        var2 = 2 * self.passing_sigma_s**2
        for old in self._recent:
            if old.session_id == new.session_id or abs(old.pulse_ts - new.pulse_ts) > reach:
                continue
            kept = (new.passed_t - new.pulse_ts) ** 2 + (old.passed_t - old.pulse_ts) ** 2
            swapped = (new.passed_t - old.pulse_ts) ** 2 + (old.passed_t - new.pulse_ts) ** 2
            chance = 1.0 / (1.0 + math.exp(min(50.0, (swapped - kept) / var2)))
            if (old.born_t - new.born_t) * (old.pulse_ts - new.pulse_ts) < 0:
                # The one seen first took the later pulse: people come through the
                # turnstile in the order they queue, so the pulses may be crossed.
                chance = max(chance, self.crossed_birth_p)
            if chance >= self.doubt_min_p:
                start = min(old.born_t, new.born_t)
                doubt = min(chance, self.doubt_max_p)
                self.doubts.append(
                    BindingDoubt((old.track_id, new.track_id), start, max(start, new.t), doubt)
                )
        self._recent.append(new)

    # --- outputs -------------------------------------------------------------------------

    def take_bindings(self) -> list[Binding]:
        out, self.bindings = self.bindings, []
        return out

    def take_doubts(self) -> list[BindingDoubt]:
        out, self.doubts = self.doubts, []
        return out

    def unclaimed_pulses(self, now: float) -> int | None:
        """People the turnstiles let in that no track has claimed (None: no pulses)."""
        if not self.pulses_seen:
            return None
        self._expire(now)
        # A waiting track that may still take one of these pulses (at the latest when it
        # expires) is most likely the person it was for, seen late; so that pulse is not
        # one more person to expect. If the track is a ghost, the person behind it gets no
        # track of their own at the gate, as with a ghost that took the pulse at once.
        claimants = sum(
            1 for w in self._waiting if any(self._may_claim_late(w, p.ts) for p in self._pulses)
        )
        return max(0, len(self._pulses) - claimants)

    def earliest_unannounced_t(self) -> float | None:
        """Time of the earliest decision still held back: a session not yet announced, or
        one nobody has taken yet that may still open untracked, as of its first pulse."""
        held = [
            s.first_bound_t
            for s in self._sessions
            if not s.announced and s.first_bound_t is not None
        ]
        held += [
            p.ts
            for p in self._pulses
            if p.session is not None and not p.session.announced and not p.session.members
        ]
        held += [
            s.missing_from
            for s in self._sessions
            if not s.announced and not s.members and s.missing_from is not None
        ]
        return min(held) if held else None

    def poll(self, now: float) -> list[GateDecision]:
        """Decisions due by `now`: sessions to announce, members who joined later."""
        return self._decide(now, hold_s=self.hold_s)

    def flush(self, now: float) -> list[GateDecision]:
        """At a stop or the end of input: announce every session held back, as it is now.

        Time does not move on: pulses nobody claimed stay unclaimed (they become missing
        members only once their window is over), so the binder may go on being fed.
        """
        return self._decide(now, hold_s=0.0)

    def _decide(self, now: float, hold_s: float) -> list[GateDecision]:
        self._expire(now)
        out, self._out = self._out, []
        for session in self._sessions:
            if (
                not session.announced
                and session.first_bound_t is not None
                and now - session.first_bound_t >= hold_s
            ):
                session.announced = True
                out.append(
                    SessionOpened(
                        session.first_bound_t,
                        session.session_id,
                        session.gate_id,
                        session.account_ref,
                        tuple(session.members),
                    )
                )
            elif self._untracked_due(session, now):
                out.append(self._open_untracked(session))
        # Old sessions are forgotten (bounded memory); their bindings stay in session_of.
        horizon = now - 4 * self.scan_window_s
        self._sessions = [
            s for s in self._sessions if s.scan_ts >= horizon or (not s.announced and s.members)
        ]
        return sorted(out, key=lambda d: d.t)

    def _untracked_due(self, session: _Session, now: float) -> bool:
        """A scan whose people the turnstile counted and no track took, `hold_s` after the
        last of its pulses expired (a group's later pulses are still counted), once none of
        them may still be taken."""
        return (
            not session.announced
            and not session.members
            and session.missing > 0
            and now - session.missing_since >= self.hold_s
            and not any(p.session is session for p in self._pulses)
        )

    def _open_untracked(self, session: _Session) -> SessionOpened:
        """The visit opens all the same, with an id for each person missing (as of their
        first pulse): the shopper is in the store, and a reviewer may name them."""
        members = [untracked_member_id(session.session_id, k) for k in range(session.missing)]
        session.members = members
        session.missing = 0
        session.announced = True
        for member in members:
            self.session_of[member] = session.session_id
        assert session.missing_from is not None  # set with its first missing member
        return SessionOpened(
            session.missing_from,
            session.session_id,
            session.gate_id,
            session.account_ref,
            tuple(members),
            untracked=tuple(members),
        )

    def _fits(self, born_t: float, passed_t: float, pulse_ts: float) -> bool:
        """Whether a track takes this pulse as soon as both are known: only pulses up to
        `pulse_lead_s` after it was first seen are its own, and only within `claim_gap_s`
        of when it passed the turnstile."""
        return self._own(born_t, pulse_ts) and abs(pulse_ts - passed_t) <= self.claim_gap_s

    def _may_claim_late(self, waiting: _Waiting, pulse_ts: float) -> bool:
        """Whether a waiting track may take this pulse when it expires unclaimed: one of its
        own (`pulse_lead_s`), however far from when it passed, if confirmed within
        `pulse_window_s` of it."""
        return (
            self._own(waiting.born_t, pulse_ts)
            and abs(waiting.since - pulse_ts) <= self.pulse_window_s
        )

    def _own(self, born_t: float, pulse_ts: float) -> bool:
        """Only pulses up to `pulse_lead_s` after a track was first seen can be its own."""
        return pulse_ts <= born_t + self.pulse_lead_s

    def _prune_waiting(self, now: float) -> None:
        # A waiting track may still take a pulse that came up to `pulse_window_s` before it
        # was confirmed, at that pulse's expiry: so it is kept twice that long.
        self._waiting = [w for w in self._waiting if now - w.since <= 2 * self.pulse_window_s]

    def _expire(self, now: float) -> None:
        while self._pulses and now - self._pulses[0].ts > self.pulse_window_s:
            pulse = self._pulses.popleft()
            near = [w for w in self._waiting if self._may_claim_late(w, pulse.ts)]
            if near:
                # Nobody fitted the pulse in its window: the nearest waiting track takes it.
                # It may be the person, seen late; left unbound, the session might have
                # nobody at all.
                waiting = min(near, key=lambda w: abs(w.passed_t - pulse.ts))
                self._waiting.remove(waiting)
                self._bind_by_pulse(waiting.track_id, waiting.born_t, waiting.passed_t, pulse, now)
            elif pulse.session is not None:
                pulse.session.missing += 1
                pulse.session.missing_since = now
                if pulse.session.missing_from is None:
                    pulse.session.missing_from = pulse.ts
        self._prune_waiting(now)
