"""The one time convention of a recording.

Every timestamp in every file is UNIX epoch seconds with millisecond precision. Cameras and
gates stamp with the edge box's clock, which is true time. Each load-cell hub stamps with
its own clock, off by a fixed skew (`recording.json` lists it; the edge agent is not told).
`truth.json` is in true time. A recording starts at `START_TS` (in `recording.json` as
`start_ts`); internally the simulator counts seconds from that start.
"""

from __future__ import annotations

from datetime import UTC, datetime

# A fixed start keeps recordings byte-identical for a seed: 2026-11-25T12:00:00Z.
START_TS = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC).timestamp()


def epoch(t: float) -> float:
    """Seconds since the recording start -> epoch seconds rounded to the millisecond."""
    return round(START_TS + t, 3)
