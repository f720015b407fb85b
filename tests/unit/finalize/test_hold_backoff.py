"""When a held receipt looks again: `ReceiptIssuer._next_look_s` (no tables needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from walkout.finalize.messages import Hold
from walkout.finalize.service import HOLD_BACKOFF_MAX, ReceiptIssuer

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def issuer(now: datetime, hold_s: int = 900, poll_s: int = 30) -> ReceiptIssuer:
    none: Any = None  # the tables: not touched when choosing the next look
    return ReceiptIssuer(none, none, none, clock=lambda: now, hold_s=hold_s, poll_s=poll_s)


@pytest.mark.parametrize(
    ("rounds", "wait_s"),
    [(0, 30), (1, 60), (2, 120), (3, 240), (4, 30 * HOLD_BACKOFF_MAX), (40, 240)],
)
def test_each_look_waits_twice_as_long_up_to_the_most(rounds: int, wait_s: int) -> None:
    assert issuer(T0)._next_look_s(Hold(since=T0, rounds=rounds)) == wait_s


def test_no_look_is_set_past_the_end_of_the_hold() -> None:
    # 850 s into a 900 s hold, the next look is at its end, not 240 s later
    late = issuer(T0 + timedelta(seconds=850))
    assert late._next_look_s(Hold(since=T0, rounds=5)) == 50
    # and past it (a slow look), one second
    over = issuer(T0 + timedelta(seconds=901))
    assert over._next_look_s(Hold(since=T0, rounds=5)) == 1
