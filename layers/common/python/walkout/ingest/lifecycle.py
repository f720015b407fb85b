"""A session's life in the cloud (pure): open -> closing -> ready.

- `open`: entered (`session.entered`), members may join (`session.joined`).
- `closing`: every track of the session has exited (`track.exited`); events observed before
  the exit may still be on their way from other devices.
- `ready`: every device of the store has sent a heartbeat whose watermark is at least the
  last exit plus the grace period, so nothing observed before then can still arrive
  (DESIGN.md section 3). The session is handed to the finalize workflow.

"Every device of the store" is every device that has ever sent this store a heartbeat (the
watermark items); a store whose devices have never sent one cannot make a session ready. A
device whose watermark trails the store's most advanced one by more than
`device_stale_after_s` (deployment setting) has gone silent and no longer holds readiness
back; anything it still sends about those sessions arrives late and charges nobody.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSING = "closing"
    READY = "ready"


def status_after_exits(tracks: Sequence[str], exits: Mapping[str, datetime]) -> SessionStatus:
    """`closing` once every track has an exit, else `open`."""
    return (
        SessionStatus.CLOSING if tracks and all(t in exits for t in tracks) else SessionStatus.OPEN
    )


def last_exit(tracks: Sequence[str], exits: Mapping[str, datetime]) -> datetime | None:
    times = [exits[t] for t in tracks if t in exits]
    return max(times) if len(times) == len(tracks) and times else None


def people_present(
    tracks: Sequence[str],
    exits: Mapping[str, datetime],
    entered_at: datetime,
    t_start: datetime,
    t_end: datetime,
) -> int:
    """How many of a session's people were in the store at some time in [t_start, t_end]:
    none if it entered after the change ended, else its tracks that had not left before
    the change began (who a shelf change's unlisted actor may have been)."""
    if entered_at > t_end:
        return 0
    return sum(1 for t in tracks if t not in exits or exits[t] >= t_start)


def stale_devices(watermarks: Mapping[str, datetime], stale_after_s: float) -> set[str]:
    """Devices gone silent: their watermark trails the store's most advanced one by more
    than `stale_after_s`. Store time, not the wall clock: a store whose devices all stop
    (closed for the night) has no stale device, and nothing is handed over early."""
    if not watermarks:
        return set()
    newest = max(watermarks.values())
    limit = timedelta(seconds=stale_after_s)
    return {device for device, mark in watermarks.items() if newest - mark > limit}


def is_ready(
    exit_at: datetime,
    watermarks: Mapping[str, datetime],
    grace_s: float,
    stale_after_s: float | None = None,
) -> bool:
    """Every known device that has not gone silent (`stale_devices`, when `stale_after_s`
    is given) has seen past the exit plus the grace period."""
    stale = stale_devices(watermarks, stale_after_s) if stale_after_s is not None else set()
    live = [mark for device, mark in watermarks.items() if device not in stale]
    if not live:
        return False
    return min(live) >= exit_at + timedelta(seconds=grace_s)


def execution_name(store_id: str, session_id: str) -> str:
    """The finalize workflow's execution name for a session: deterministic, so a retried
    hand-over starts nothing twice. Step Functions allows 1-80 of [A-Za-z0-9_-]."""

    def clean(text: str) -> str:
        return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)

    digest = hashlib.sha256(f"{store_id}#{session_id}".encode()).hexdigest()[:16]
    return f"{clean(store_id)[:30]}--{clean(session_id)[:30]}-{digest}"
