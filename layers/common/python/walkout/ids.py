"""ULIDs: 128-bit, time-ordered identifiers written as 26 Crockford base32 characters.

Layout (https://github.com/ulid/spec): a 48-bit Unix time in milliseconds, then 80 random
bits. Ids sort by creation time as plain strings, which is what lets DynamoDB sort keys and
S3 listings keep events in order without a second attribute.

Within one process, ids made in the same millisecond are strictly increasing: the random
part of the previous id is incremented instead of drawn again (the spec's monotonic mode),
so an edge agent emitting a burst of events still produces ordered ids.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ULID_LENGTH = 26
_DECODE = {ch: i for i, ch in enumerate(ALPHABET)}
_TIME_BITS = 48
_RANDOM_BITS = 80
_MAX_TIME_MS = (1 << _TIME_BITS) - 1
_MAX_RANDOM = (1 << _RANDOM_BITS) - 1
# 26 characters carry 130 bits; a valid 128-bit id therefore starts with 0-7.
_FIRST_CHARS = frozenset("01234567")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _MonotonicState:
    """The last (millisecond, randomness) pair handed out by one stream of ids."""

    __slots__ = ("last_ms", "last_random")

    def __init__(self) -> None:
        self.last_ms = -1
        self.last_random = 0


_lock = threading.Lock()
# Ids from the wall clock and ids for caller-given times are kept apart: a simulator that
# stamps ids with simulated (past or future) times must not disturb the ordering of ids
# taken from the clock, nor drag them to its time.
_clock_state = _MonotonicState()
_given_state = _MonotonicState()


def _encode(value: int) -> str:
    chars = []
    for _ in range(ULID_LENGTH):
        chars.append(ALPHABET[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def _to_ms(now: datetime | float) -> int:
    if isinstance(now, datetime):
        if now.utcoffset() is None:
            raise ValueError("new_ulid: `now` must be a timezone-aware datetime")
        # Integer arithmetic on the timedelta: a float timestamp can land 1 ms early.
        delta = now - _EPOCH
        ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    else:
        ms = int(now * 1000) if now >= 0 else -1
    if not 0 <= ms <= _MAX_TIME_MS:
        raise ValueError(f"new_ulid: time {now!r} is outside the ULID range")
    return ms


def _next(state: _MonotonicState, ms: int) -> int:
    if ms == state.last_ms:
        randomness = state.last_random + 1
        if randomness > _MAX_RANDOM:
            # The spec says to fail rather than wrap: wrapping would break the ordering.
            raise OverflowError("new_ulid: randomness exhausted within one millisecond")
    else:
        randomness = int.from_bytes(os.urandom(_RANDOM_BITS // 8), "big")
    state.last_ms = ms
    state.last_random = randomness
    return (ms << _RANDOM_BITS) | randomness


def new_ulid(now: datetime | float | None = None) -> str:
    """A new ULID for `now` (an aware datetime or Unix seconds), or for the wall clock.

    Ids from the wall clock never go backwards within the process: if the clock is stepped
    back (NTP), the last millisecond is reused and the randomness incremented.
    """
    with _lock:
        if now is None:
            ms = time.time_ns() // 1_000_000
            ms = max(ms, _clock_state.last_ms)
            value = _next(_clock_state, ms)
        else:
            value = _next(_given_state, _to_ms(now))
    return _encode(value)


def is_ulid(value: object) -> bool:
    """True for a canonical ULID: 26 upper-case Crockford base32 characters, first 0-7."""
    return (
        isinstance(value, str)
        and len(value) == ULID_LENGTH
        and value[0] in _FIRST_CHARS
        and all(ch in _DECODE for ch in value)
    )


def ulid_timestamp_ms(ulid: str) -> int:
    """The Unix time in milliseconds encoded in a ULID."""
    if not is_ulid(ulid):
        raise ValueError(f"not a ULID: {ulid!r}")
    ms = 0
    for ch in ulid[:10]:
        ms = (ms << 5) | _DECODE[ch]
    # The first 10 characters carry 50 bits: the top 2 are the zero padding of the first one.
    return ms
