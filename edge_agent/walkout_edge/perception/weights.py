"""Weight events: when a lane's load cell settles at a new level, how much changed, and when.

One `SettleDetector` per load cell, fed sample by sample (pure: no clock, no I/O). A change
is reported only between two *settled* levels, so everything in between (the hand pressing
the pack before lifting it, the plate ringing after a unit leaves, a shopper leaning on the
shelf) is part of the excursion, never an event of its own:

- settled: the level follows slow drift (creep, temperature) with a slow average; a sample
  run that leaves the level by more than the noise allows starts an excursion, back-dated
  to where the signal first left the level.
- moving: the detector waits until the last `settle_s` of samples are flat: small spread
  and neither slope nor curvature beyond what the noise explains (the top of a slow push is
  curved, a settled plate is not). The new level is that window's mean; the change ends
  where the signal first came within the noise band of the new level.
- a knock returns to the level it left: if the new level is within `min_change_g` of the
  old one, the excursion was a transient and nothing is reported. A knock slow enough to
  look flat for a moment is caught by holding the new level for `confirm_s` before
  reporting; if the signal leaves it again and settles back where it started, the whole
  excursion was one transient.

Times are the cell's own sample times (its hub's clock): the caller maps them to store time.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

# A 0.75 s flat window: long enough that the plate's ringing after a lift (decay 0.1-0.3 s)
# has died out and the top of a slow push (0.5-3 s) shows its curvature, short enough
# that a put-back and a pick on the same lane 1.5 s apart stay two events.
DEFAULT_SETTLE_S: Final = 0.75
# Half the lightest unit sold (chewing gum, ~16 g).
DEFAULT_MIN_CHANGE_G: Final = 8.0
_INV_SQRT2: Final = 1 / math.sqrt(2)
_NONE: Final[tuple[WeightChange, ...]] = ()


@dataclass(frozen=True)
class WeightParams:
    settle_s: float = DEFAULT_SETTLE_S
    # A change is reported once its new level has held this long (or the next change
    # begins); until then a slow excursion that comes back cancels it.
    confirm_s: float = 1.5
    # A unit lifted or put down moves the plate within ~0.2 s; a lean takes longer.
    slow_rise_s: float = 0.25
    # A change this small against the noise has no measurable rise time: if the signal
    # comes back to where it was before it is confirmed, it counts as a knock.
    faint_sigmas: float = 12.0
    min_change_g: float = DEFAULT_MIN_CHANGE_G
    # Leaving the level: the mean of two samples beyond this many sigmas (or one sample
    # beyond twice as many) - about one false start a day per cell at 20 Hz, and a false
    # start costs nothing (it re-settles at the same level).
    depart_sigmas: float = 4.5
    # Flat window: spread and slope/curvature tests, in sigmas of the window's thirds.
    flat_sigmas: float = 3.5
    initial_noise_g: float = 2.0
    min_noise_g: float = 0.3
    max_noise_g: float = 50.0
    # Drift tracking while settled: time constant of the level's slow average.
    drift_tau_s: float = 20.0


@dataclass(frozen=True)
class WeightChange:
    """A settled change of one cell's weight: negative when something was taken."""

    cell_id: str
    delta_g: float
    t_start: float
    t_end: float
    noise_g: float
    level_before_g: float
    level_after_g: float


@dataclass
class _Pending:
    change: WeightChange
    settled_at: float
    base_g: float  # the level before this change
    rise_s: float  # its 10-90 % transition time


class SettleDetector:
    """Settle detection and level changes for one load cell."""

    def __init__(
        self,
        cell_id: str,
        rate_hz: float,
        params: WeightParams | None = None,
        on_held: Callable[[WeightChange], None] | None = None,
    ) -> None:
        """`on_held` is told of each change as it settles, before it is confirmed."""
        if rate_hz <= 0:
            raise ValueError(f"load cell {cell_id}: rate_hz must be > 0")
        self.cell_id = cell_id
        self.params = params or WeightParams()
        self.rate_hz = rate_hz
        self._n_settle = max(6, round(self.params.settle_s * rate_hz))
        self._window: deque[tuple[float, float]] = deque(maxlen=self._n_settle)
        # Samples since the excursion began (bounded: a very long excursion keeps its tail).
        self._excursion: deque[tuple[float, float]] = deque(maxlen=max(200, 60 * round(rate_hz)))
        self._noise = self.params.initial_noise_g
        self._level: float | None = None
        self._moving = False
        self._t_start = 0.0
        self._prev: tuple[float, float] | None = None
        self._pending: _Pending | None = None
        self._alpha = 1.0 / max(1.0, self.params.drift_tau_s * rate_hz)
        self._since_noise = 0
        self._lead_in: list[tuple[float, float]] = []
        self._on_held = on_held
        self.last_ts: float | None = None

    @property
    def noise_g(self) -> float:
        return self._noise

    @property
    def level_g(self) -> float | None:
        return self._level

    @property
    def settled(self) -> bool:
        return self._level is not None and not self._moving

    @property
    def held(self) -> WeightChange | None:
        """The change settled but not yet confirmed (reported by `push` or `flush` later)."""
        return self._pending.change if self._pending is not None else None

    @property
    def moving(self) -> bool:
        """The signal has left its level and not settled yet (a hand on the shelf)."""
        return self._moving

    def earliest_open_t(self) -> float | None:
        """The earliest time a change not yet reported could still carry (None: nothing open)."""
        times = []
        if self._pending is not None:
            times.append(self._pending.change.t_end)
        if self._moving:
            times.append(self._t_start)
        return min(times) if times else None

    def push(self, ts: float, grams: float) -> Sequence[WeightChange]:
        """Take one sample; returns the changes this sample confirms (usually none).

        Called for every sample of every cell (tens of thousands a second in a big store),
        so the settled path, by far the most common, is kept short.
        """
        last = self.last_ts
        if (last is not None and ts <= last) or not math.isfinite(grams):
            return _NONE  # repeated, out of order or not a number: nothing new
        self.last_ts = ts
        sample = (ts, grams)
        self._window.append(sample)
        level = self._level
        if level is None:
            if len(self._window) == self._n_settle and self._flat():
                self._level = self._mean()
                self._learn_noise()
            self._prev = sample
            return _NONE
        if self._moving:
            self._excursion.append(sample)
            self._prev = sample
            if len(self._window) == self._n_settle and self._flat():
                return self._settle(ts)
            return _NONE
        # Settled: does the signal leave the level (one sample far out, or two beyond)?
        off = grams - level
        limit = self.params.depart_sigmas * self._noise
        prev = self._prev
        departs = abs(off) > 2 * limit or (
            prev is not None
            and abs(off) > limit / 2
            and abs((grams + prev[1]) / 2 - level) > limit * _INV_SQRT2
        )
        self._prev = sample
        if departs:
            self._start_excursion(ts)
            return _NONE
        self._level = level + self._alpha * off
        self._since_noise += 1
        if self._since_noise >= self._n_settle:
            self._since_noise = 0
            self._learn_noise()
        pending = self._pending
        if pending is not None and ts - pending.settled_at >= self.params.confirm_s:
            self._pending = None
            return (pending.change,)
        return _NONE

    def flush(self) -> list[WeightChange]:
        """At a stop or the end of input: a change still waiting for confirmation counts.

        Confirmation only guards against a knock (slow or faint) that is about to come
        back; with no more samples to come, a settled change is the best evidence there
        is, and emitting it is better than losing a sale. An excursion
        still moving has no new level yet and is not reported; while one is, the change
        before it counts only if its return could not cancel it (a fast, clear step), as
        `_settle` would decide.
        """
        pending = self._pending
        if pending is None or (self._moving and self._cancellable(pending)):
            return []
        self._pending = None
        return [pending.change]

    def _cancellable(self, pending: _Pending) -> bool:
        """Whether the signal settling back at the level before `pending` would undo it."""
        p = self.params
        faint = abs(pending.change.delta_g) < p.faint_sigmas * self._noise
        return pending.rise_s >= p.slow_rise_s or faint

    # --- internals -----------------------------------------------------------------------

    def _mean(self) -> float:
        return sum(g for _, g in self._window) / len(self._window)

    def _learn_noise(self) -> None:
        # Noise from first differences of a settled window: insensitive to the level and
        # to slow drift; var(diff) = 2 sigma^2.
        w = [g for _, g in self._window]
        diffs = [b - a for a, b in itertools.pairwise(w)]
        if not diffs:
            return
        sigma = math.sqrt(sum(d * d for d in diffs) / (2 * len(diffs)))
        p = self.params
        sigma = min(max(sigma, p.min_noise_g), p.max_noise_g)
        self._noise += 0.1 * (sigma - self._noise)

    def _start_excursion(self, ts: float) -> None:
        assert self._level is not None
        self._moving = True
        band = 2.0 * self._noise
        # Back-date to where the signal first left the noise band around the level.
        start = ts
        recent = list(self._window)
        for t, g in reversed(recent[:-1]):
            if abs(g - self._level) <= band:
                break
            start = t
        self._t_start = start
        self._since_noise = 0
        self._excursion.clear()
        self._excursion.extend(p for p in recent if p[0] >= start)
        # What came just before, for measuring how fast the signal rose.
        self._lead_in = [p for p in recent if p[0] < start][-4:]

    def _flat(self) -> bool:
        w = [g for _, g in self._window]
        n = len(w)
        mean = sum(w) / n
        var = sum((g - mean) ** 2 for g in w) / n
        sigma = self._noise
        if var > (1.8 * sigma) ** 2 + 0.25:
            return False
        k = n // 3
        m1 = sum(w[:k]) / k
        m2 = sum(w[k : n - k]) / (n - 2 * k)
        m3 = sum(w[n - k :]) / k
        tol = self.params.flat_sigmas * sigma / math.sqrt(k) + 0.5
        return abs(m3 - m1) <= tol and abs(m2 - (m1 + m3) / 2) <= tol

    def _rise_s(self, before: float, delta: float) -> float:
        """20-80 % transition time towards the new level, on a 3-sample running mean
        (for a small change the raw samples cross 20 % and 80 % on noise alone)."""
        samples = [*self._lead_in, *self._excursion]
        t20 = None
        for k in range(1, len(samples) - 1):
            g = (samples[k - 1][1] + samples[k][1] + samples[k + 1][1]) / 3
            frac = (g - before) / delta
            t = samples[k][0]
            if t20 is None and frac >= 0.2:
                t20 = t
            if t20 is not None and frac >= 0.8:
                return t - t20
        return 0.0

    def _settle(self, ts: float) -> list[WeightChange]:
        assert self._level is not None
        new_level = self._mean()
        before = self._level
        out: list[WeightChange] = []
        self._moving = False
        # Where the change ended: the first sample from which the signal stays within the
        # noise band of the new level.
        band = 2.5 * self._noise + 0.5
        t_end = self._window[0][0]
        for t, g in reversed(self._excursion):
            if abs(g - new_level) > band:
                break
            t_end = t
        t_end = max(t_end, self._t_start)
        pending = self._pending
        self._pending = None
        self._level = new_level
        if pending is not None:
            # The level had changed just before and was not yet confirmed. A slow push
            # (someone leaning on the shelf) can look flat at its top for a moment; if the
            # signal is now back where it was before that slow change, the whole thing was
            # one transient. A fast step (a unit put down) followed by a fast step back
            # (the same unit taken again) is two real changes.
            back = abs(new_level - pending.base_g) < self.params.min_change_g
            if back and self._cancellable(pending):
                return out
            out.append(pending.change)
        delta = new_level - before
        if abs(delta) >= max(self.params.min_change_g, 4 * self._noise / math.sqrt(self._n_settle)):
            change = WeightChange(
                cell_id=self.cell_id,
                delta_g=round(delta, 1),
                t_start=self._t_start,
                t_end=t_end,
                noise_g=round(self._noise, 2),
                level_before_g=round(before, 1),
                level_after_g=round(new_level, 1),
            )
            self._pending = _Pending(change, ts, before, self._rise_s(before, delta))
            if self._on_held is not None:
                self._on_held(change)
        return out
