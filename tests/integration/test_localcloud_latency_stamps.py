"""The local run's exit-to-receipt stamps: an exit is stamped when the pump read it, a
receipt when the bus delivered it, on a timer of its own (localcloud.pipeline)."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from localcloud.pipeline import _Delivered, _Every, _JsonLines


def record(event: dict[str, Any], seq: int) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(event).encode()).decode()
    return {"kinesis": {"sequenceNumber": str(seq), "data": data}}


def exited(event_id: str, session_id: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "track.exited",
        "data": {"track_id": "trk-1", "session_id": session_id, "gate_id": "exit-1"},
    }


def test_the_pump_reading_a_sessions_exit_is_when_the_cloud_had_it(tmp_path: Path) -> None:
    delivered = _Delivered(_JsonLines(tmp_path / "delivered.jsonl"))
    before = time.time()
    # When the pump reads a shelf change, an unbound person's exit and a session's exit
    delivered(
        [
            record({"event_id": "e1", "type": "shelf.changed", "data": {"lane_id": "L1"}}, 1),
            record(exited("e2", None), 2),
            record(exited("e3", "ses-1"), 3),
        ]
    )
    # Then only the session's exit is stamped, at the read
    assert set(delivered.exits) == {"ses-1"}
    assert before <= delivered.exits["ses-1"] <= time.time()
    # and the same record read again (a pump restarted from its checkpoint) keeps it
    stamped = delivered.exits["ses-1"]
    time.sleep(0.01)
    delivered([record(exited("e3", "ses-1"), 3)])
    assert delivered.exits["ses-1"] == stamped
    # while a later exit of another member of the session moves it on
    delivered([record(exited("e4", "ses-1"), 4)])
    assert delivered.exits["ses-1"] > stamped
    delivered.out.close()


def test_the_timer_runs_until_stopped_retries_and_hands_on_a_lasting_error() -> None:
    calls: list[float] = []
    done = threading.Event()

    def look() -> None:
        calls.append(time.monotonic())
        if len(calls) == 3:
            done.set()

    timer = _Every(0.01, look, "test-timer")
    timer.start()
    assert done.wait(timeout=5)
    timer.stop()
    seen = len(calls)
    time.sleep(0.05)
    assert len(calls) == seen  # stopped for good

    failures = iter([RuntimeError("once")])

    def flaky() -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        calls.append(time.monotonic())

    calls.clear()
    recovering = _Every(0.01, flaky, "test-flaky", attempts=3)
    recovering.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    recovering.stop()
    recovering.check()  # one failure in a row is tried again, not raised
    assert len(calls) >= 2

    def broken() -> None:
        raise RuntimeError("the bus is gone")

    failing = _Every(0.01, broken, "test-failing", attempts=3)
    failing.start()
    deadline = time.monotonic() + 5
    while failing.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    failing.stop()  # tearing down does not raise
    with pytest.raises(RuntimeError, match="the bus is gone"):
        failing.check()
