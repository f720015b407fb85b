"""A session's life in the cloud (pure): open -> closing -> ready.

- `open`: entered (`session.entered`), members may join (`session.joined`).
- `closing`: every track of the session has exited (`track.exited`); events observed before
  the exit may still be on their way from other devices.
- `ready`: every device of the store has sent a heartbeat whose watermark is at least the
  last exit plus the grace period, so nothing observed before then can still arrive
  (DESIGN.md section 3). The session is handed to the finalize workflow.

"Every device of the store" is every device that has ever sent this store a heartbeat (the
watermark items); a store whose devices have never sent one cannot make a session ready.
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


def is_ready(exit_at: datetime, watermarks: Mapping[str, datetime], grace_s: float) -> bool:
    """Every known device has seen past the exit plus the grace period."""
    if not watermarks:
        return False
    return min(watermarks.values()) >= exit_at + timedelta(seconds=grace_s)


def execution_name(store_id: str, session_id: str) -> str:
    """The finalize workflow's execution name for a session: deterministic, so a retried
    hand-over starts nothing twice. Step Functions allows 1-80 of [A-Za-z0-9_-]."""

    def clean(text: str) -> str:
        return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)

    digest = hashlib.sha256(f"{store_id}#{session_id}".encode()).hexdigest()[:16]
    return f"{clean(store_id)[:30]}--{clean(session_id)[:30]}-{digest}"
