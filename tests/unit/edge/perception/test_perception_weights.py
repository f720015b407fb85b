"""Settle detection on synthetic load-cell signals: steps, knocks, drift, ringing."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from walkout_edge.perception.weights import SettleDetector, WeightChange

RATE = 20.0


def run(signal: np.ndarray, t0: float = 1000.0) -> list[WeightChange]:
    det = SettleDetector("lc-1", RATE)
    out: list[WeightChange] = []
    for k, g in enumerate(signal):
        out.extend(det.push(t0 + k / RATE, float(g)))
    out.extend(det.flush())
    return out


def times(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def step(t: np.ndarray, at: float, delta: float, ramp: float = 0.2) -> np.ndarray:
    return delta * np.clip((t - at) / ramp, 0, 1)


def test_a_step_in_a_noisy_signal_is_one_change_with_its_size_and_time() -> None:
    # Given a plate at 2 kg with 2 g of noise, and a 355 g can lifted at t = 5 s
    rng = np.random.default_rng(1)
    t = times(12)
    signal = 2000 + step(t, 5.0, -355.0) + rng.normal(0, 2.0, t.size)
    # When the detector reads it
    changes = run(signal)
    # Then there is exactly one change, of the can's weight, bracketing the lift
    assert len(changes) == 1
    change = changes[0]
    assert abs(change.delta_g + 355.0) < 3.0
    assert 1000 + 4.6 <= change.t_start <= 1000 + 5.05
    assert 1000 + 5.1 <= change.t_end <= 1000 + 5.6
    assert 1.0 < change.noise_g < 3.5


def test_a_knock_that_returns_to_the_same_level_is_not_an_event() -> None:
    # Given a shopper leaning on the shelf: a 2.5 s push of 30 g that comes back, ringing
    rng = np.random.default_rng(2)
    t = times(15)
    s = np.clip((t - 5.0) / 2.5, 0, 1)
    push = np.where((t > 5.0) & (t < 7.5), 30.0 * np.sin(np.pi * s) ** 2, 0.0)
    after = t - 7.5
    ring = np.where(
        after > 0, 4.5 * np.exp(-np.maximum(after, 0) / 0.2) * np.sin(2 * np.pi * 5 * after), 0
    )
    signal = 1500 + push + ring + rng.normal(0, 1.5, t.size)
    # When the detector reads it, then nothing is reported
    assert run(signal) == []


def test_a_faint_slow_knock_that_looks_flat_at_its_top_is_not_an_event() -> None:
    # Given a 20 g lean of 2 s on a plate with 2.5 g of noise: its top is flat within the
    # noise for most of a second, long enough to pass for a settled level
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        t = times(12)
        s = np.clip((t - 4.0) / 2.0, 0, 1)
        push = np.where((t > 4.0) & (t < 6.0), 20.0 * np.sin(np.pi * s) ** 2, 0.0)
        # Then nothing is reported
        assert run(1800 + push + rng.normal(0, 2.5, t.size)) == []


def test_a_big_short_knock_is_not_an_event_either() -> None:
    rng = np.random.default_rng(3)
    t = times(10)
    s = np.clip((t - 4.0) / 0.6, 0, 1)
    push = np.where((t > 4.0) & (t < 4.6), 900.0 * np.sin(np.pi * s) ** 2, 0.0)
    assert run(1500 + push + rng.normal(0, 1.5, t.size)) == []


def test_slow_drift_alone_never_makes_an_event() -> None:
    # Given ten minutes of creep at 60 g per hour (twice the crowded scenario's) and noise
    rng = np.random.default_rng(4)
    t = times(600)
    signal = 3000 + 60.0 * t / 3600 + rng.normal(0, 2.5, t.size)
    # Then no change is reported
    assert run(signal) == []


def test_drift_does_not_leak_into_the_size_of_a_later_change() -> None:
    rng = np.random.default_rng(5)
    t = times(300)
    signal = 3000 + 30.0 * t / 3600 + step(t, 250.0, -48.0) + rng.normal(0, 2.0, t.size)
    changes = run(signal)
    assert len(changes) == 1
    assert abs(changes[0].delta_g + 48.0) < 3.0


def test_ringing_after_a_lift_is_part_of_the_change() -> None:
    # Given a heavy pack lifted and the plate oscillating after it (as real plates do)
    rng = np.random.default_rng(6)
    t = times(12)
    after = t - 5.1
    ring = np.where(
        after > 0, 350 * np.exp(-np.maximum(after, 0) / 0.25) * np.sin(2 * np.pi * 4 * after), 0
    )
    signal = 4000 + step(t, 5.0, -1050.0) + ring + rng.normal(0, 2.0, t.size)
    changes = run(signal)
    assert len(changes) == 1
    assert abs(changes[0].delta_g + 1050.0) < 4.0


def test_a_put_back_and_a_pick_on_the_same_lane_seconds_apart_are_two_events() -> None:
    rng = np.random.default_rng(7)
    t = times(15)
    signal = 2650 + step(t, 5.0, 270.0) + step(t, 6.9, -271.0) + rng.normal(0, 2.5, t.size)
    changes = run(signal)
    assert [round(c.delta_g / 10) for c in changes] == [27, -27]


def test_a_press_before_the_lift_does_not_split_the_change() -> None:
    rng = np.random.default_rng(8)
    t = times(10)
    s = (t - 4.55) / 0.35
    press = np.where((s > 0) & (s < 1), 25 * np.sin(np.pi * np.clip(s, 0, 1)), 0)
    signal = 900 + press + step(t, 5.0, -45.0) + rng.normal(0, 1.5, t.size)
    changes = run(signal)
    assert len(changes) == 1
    assert abs(changes[0].delta_g + 45.0) < 3.0


def test_samples_out_of_order_or_not_numbers_are_ignored() -> None:
    det = SettleDetector("lc-1", RATE)
    assert det.push(10.0, 100.0) == ()
    assert det.push(9.0, 5000.0) == ()
    assert det.push(10.05, math.nan) == ()
    assert det.push(10.1, math.inf) == ()
    assert det.last_ts == 10.0


@settings(max_examples=25, deadline=None)
@given(
    delta=st.floats(min_value=16.0, max_value=3000.0),
    sign=st.sampled_from([-1.0, 1.0]),
    noise=st.floats(min_value=0.5, max_value=2.5),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_any_unit_from_chewing_gum_to_detergent_is_seen_once_at_its_weight(
    delta: float, sign: float, noise: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    t = times(10)
    signal = 2500 + step(t, 4.0, sign * delta) + rng.normal(0, noise, t.size)
    changes = run(signal)
    assert len(changes) == 1
    assert abs(changes[0].delta_g - sign * delta) < max(3.0, 3 * noise)
