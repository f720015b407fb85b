"""ULID generation: format, embedded time, monotonic order, thread safety."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from walkout import ids
from walkout.ids import ALPHABET, is_ulid, new_ulid, ulid_timestamp_ms


@pytest.fixture(autouse=True)
def _fresh_generator_state(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests here move the generator's clock; other tests must not inherit a 2030 clock.
    monkeypatch.setattr(ids, "_clock_state", ids._MonotonicState())
    monkeypatch.setattr(ids, "_given_state", ids._MonotonicState())


def _randomness(ulid: str) -> int:
    value = 0
    for ch in ulid:
        value = (value << 5) | ALPHABET.index(ch)
    return value & ((1 << 80) - 1)


def test_a_new_ulid_is_26_crockford_characters_carrying_the_current_time() -> None:
    # Given the clock before and after
    before = time.time_ns() // 1_000_000
    # When an id is made from the clock
    ulid = new_ulid()
    after = time.time_ns() // 1_000_000
    # Then it is a canonical ULID whose time lies between the two readings
    assert len(ulid) == 26
    assert set(ulid) <= set(ALPHABET)
    assert is_ulid(ulid)
    assert before <= ulid_timestamp_ms(ulid) <= after


def test_a_given_time_is_encoded_to_the_millisecond() -> None:
    # Given an aware time with sub-millisecond digits, in a non-UTC zone
    when = datetime(2026, 11, 25, 19, 3, 12, 345_999, tzinfo=timezone(timedelta(hours=1)))
    # When an id is made for it
    ulid = new_ulid(when)
    # Then the id's time is that instant, truncated to the millisecond
    expected = int(datetime(2026, 11, 25, 18, 3, 12, 345_000, tzinfo=UTC).timestamp() * 1000)
    assert ulid_timestamp_ms(ulid) == expected


def test_unix_seconds_are_accepted_as_the_time() -> None:
    assert ulid_timestamp_ms(new_ulid(1_700_000_000.25)) == 1_700_000_000_250


def test_the_time_decodes_as_the_published_reference_implementation_does() -> None:
    # The reference implementation's README decodes this id to 1469918176385.
    assert ulid_timestamp_ms("01ARYZ6S41TSV4RRFFQ69G5FAV") == 1_469_918_176_385


def test_the_extremes_of_the_48_bit_time_encode() -> None:
    assert new_ulid(0).startswith("0000000000")
    assert new_ulid(((1 << 48) - 1) / 1000).startswith("7ZZZZZZZZZ")


@pytest.mark.parametrize(
    "bad_time",
    [
        datetime(2026, 1, 1),  # naive: which zone?
        -1.0,
        float(1 << 48),
    ],
)
def test_a_time_outside_the_ulid_range_or_without_zone_is_rejected(bad_time: object) -> None:
    with pytest.raises(ValueError, match="new_ulid"):
        new_ulid(bad_time)  # type: ignore[arg-type]


def test_ids_made_in_a_burst_are_strictly_increasing_and_unique() -> None:
    # When many ids are made as fast as possible (many share a millisecond)
    made = [new_ulid() for _ in range(5000)]
    # Then they come out sorted, with no repeats
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_within_one_millisecond_increment_the_randomness() -> None:
    # Given one fixed millisecond
    when = datetime(2030, 1, 1, tzinfo=UTC)
    # When three ids are made for it
    first, second, third = (new_ulid(when) for _ in range(3))
    # Then each is the previous plus one in its random part
    assert _randomness(second) == _randomness(first) + 1
    assert _randomness(third) == _randomness(second) + 1
    assert first < second < third


def test_exhausted_randomness_within_a_millisecond_fails_instead_of_wrapping() -> None:
    # Given an id whose random part is already the largest possible
    when = datetime(2031, 1, 1, tzinfo=UTC)
    new_ulid(when)
    ids._given_state.last_random = (1 << 80) - 1
    # When another id is asked for in the same millisecond
    # Then it fails: wrapping to 0 would sort before the previous id
    with pytest.raises(OverflowError):
        new_ulid(when)


def test_a_clock_stepped_back_does_not_make_ids_go_backwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an id made at clock time T
    t = 1_900_000_000_000
    monkeypatch.setattr(time, "time_ns", lambda: t * 1_000_000)
    first = new_ulid()
    # When the clock is stepped back a second (an NTP correction) and another id is made
    monkeypatch.setattr(time, "time_ns", lambda: (t - 1000) * 1_000_000)
    second = new_ulid()
    # Then the new id still sorts after the first and keeps T
    assert second > first
    assert ulid_timestamp_ms(second) == t


def test_ids_for_given_times_do_not_disturb_clock_ids() -> None:
    # Given an id from the clock
    first = new_ulid()
    # When a simulator makes ids for a far future and a far past time in between
    new_ulid(datetime(2099, 1, 1, tzinfo=UTC))
    new_ulid(datetime(2001, 1, 1, tzinfo=UTC))
    second = new_ulid()
    # Then the next clock id follows the first and carries the current time, not 2099
    assert second > first
    assert abs(ulid_timestamp_ms(second) - time.time_ns() // 1_000_000) < 60_000


def test_ids_from_many_threads_are_unique_and_ordered_per_thread() -> None:
    # Given four threads making ids at once
    per_thread: list[list[str]] = [[] for _ in range(4)]

    def work(out: list[str]) -> None:
        out.extend(new_ulid() for _ in range(3000))

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no id repeats and each thread saw its own ids increase
    everything = [u for out in per_thread for u in out]
    assert len(set(everything)) == len(everything)
    for out in per_thread:
        assert out == sorted(out)


@pytest.mark.parametrize(
    "text",
    [
        "01arz3ndektsv4rrffq69g5fav",  # lower case is not canonical
        "01ARZ3NDEKTSV4RRFFQ69G5FA",  # 25 characters
        "01ARZ3NDEKTSV4RRFFQ69G5FAVX",  # 27 characters
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",  # U is not in the alphabet
        "01ARZ3NDEKTSV4RRFFQ69G5FAI",  # nor I, L, O
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",  # more than 128 bits
        "",
        None,
        12345,
    ],
)
def test_non_ulids_are_recognised(text: object) -> None:
    assert not is_ulid(text)
    if isinstance(text, str):
        with pytest.raises(ValueError, match="not a ULID"):
            ulid_timestamp_ms(text)
