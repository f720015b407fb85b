"""SIGTERM right after a pick: what the perception pipeline held reaches the stream.

The daemon replays a tiny simulator recording in store time (`speed: 1`) into moto. As soon
as its log says a true pick has settled on its load cell (the change is then held for
confirmation and reach scoring, not yet emitted), the test sends SIGTERM. A replay source
does not resume where it was after a restart (nor does a live one), so every shelf change
detected up to the stop must be flushed into the outbox and shipped before the daemon exits.

What "detected up to the stop" means is computed independently: `walkout-edge replay` runs
the same pipeline, in another process, on a copy of the recording cut at the time of the
last reading the daemon read (from its "pipeline flushed" log line), and its end of input
emits what it holds. Both must report the same weight changes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from edge_kit import (
    DAEMON_DEVICE,
    STORE,
    heartbeats,
    log_entries,
    read_stream,
    record_scenario,
    replay_recording,
    start_daemon,
    tiny_scenario,
    truncate_recording,
    write_config,
)

# Two overhead cameras over a 10 m x 6 m store, 30 s at 5 fps: the first shopper enters at
# ~2 s and takes a pack at ~5 s, and stays until ~28 s; the daemon is stopped at ~6.5 s.
SCENARIO = tiny_scenario("edge-sigterm", duration_s=30)
SETTLED = "weight change settled"
FLUSHED = "pipeline flushed"


def weight_facts(event: dict[str, Any]) -> tuple[str, float, str, str]:
    """What the load cell says about a shelf event: lane, grams, start and end."""
    d = event["data"]
    return d["lane_id"], d["delta_g"], d["t_start"], d["t_end"]


def wait_for_pick(daemon: subprocess.Popen[bytes], log: Path, lanes: set[str]) -> dict[str, Any]:
    """The daemon's log entry of the first change settling on one of `lanes`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for entry in log_entries(log):
            if entry["msg"] == SETTLED and entry["lane_id"] in lanes:
                found: dict[str, Any] = entry
                return found
        if daemon.poll() is not None:
            break
        time.sleep(0.02)
    daemon.kill()
    daemon.wait()
    raise AssertionError(f"no pick settled while the daemon ran; log:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = record_scenario(tmp_path_factory.mktemp("edge-sigterm"), SCENARIO)
    return folder


def test_sigterm_right_after_a_pick_ships_every_shelf_change_detected_until_then(
    aws: Any, tmp_path: Path, recording: Path
) -> None:
    # Given a daemon replaying the recording in store time, logging its pipeline's detections
    truth = json.loads((recording / "truth.json").read_text())
    pick_lanes = {e["lane_id"] for e in truth["events"] if e["kind"] == "pick"}
    config = write_config(
        tmp_path,
        endpoint_url=aws.url,
        stream_name=aws.stream,
        evidence_bucket=aws.bucket,
        log_level="debug",
        source={"kind": "replay", "recording": str(recording), "speed": 1.0},
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)

    # When it gets SIGTERM as soon as a pick has settled on its load cell
    pick = wait_for_pick(daemon, log, pick_lanes)
    daemon.send_signal(signal.SIGTERM)
    try:
        code = daemon.wait(60)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
        raise AssertionError(f"daemon still running; log:\n{log.read_text()[-3000:]}") from None
    assert code == 0, log.read_text()[-3000:]
    entries = log_entries(log)
    (flushed,) = [e for e in entries if e["msg"] == FLUSHED]
    stopped_at = flushed["store_time_s"]
    assert flushed["reason"] == "stop"
    # (it stopped before the recording's end, with the shoppers still in the store)
    assert stopped_at < truth["end_ts"]
    assert all(person["exit_ts"] > stopped_at for person in truth["people"])

    # Then the pick that was held at the stop is in the stream
    delivered, _ = read_stream(aws.kinesis, aws.stream)
    events = [d.event for d in delivered]
    shelf = [e for e in events if e["type"] == "shelf.changed"]
    assert (pick["lane_id"], pick["delta_g"], pick["t_start"], pick["t_end"]) in {
        weight_facts(e) for e in shelf
    }
    # and so is every shelf change that a replay of the recording cut at the stop reports
    cut = truncate_recording(recording, tmp_path / "cut", stopped_at)
    replayed, _ = replay_recording(cut, tmp_path / "replayed", store_id=STORE, device_id="x")
    expected = [weight_facts(e) for e in replayed if e["type"] == "shelf.changed"]
    assert expected
    assert sorted(weight_facts(e) for e in shelf) == sorted(expected)
    assert flushed["flushed"].get("shelf.changed", 0) >= 1
    # and nobody still in the store was made to leave
    assert [e for e in events if e["type"] == "track.exited"] == []
    # and every event of the daemon arrived once, in the order it was numbered
    assert all(e["device_id"] == DAEMON_DEVICE for e in events)
    assert [e["seq"] for e in events] == list(range(len(events)))
    # with the evidence of the flushed shelf events in the bucket
    stored = {
        o["Key"]
        for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=aws.bucket)
        for o in page.get("Contents", [])
    }
    assert {k for e in shelf for k in e["data"]["evidence"]} <= stored
    # and heartbeats stayed honest: no event after a heartbeat is older than its watermark,
    # and the last one, after the flush, closes the stream
    beats = heartbeats(delivered)
    assert beats and events[-1]["type"] == "heartbeat"
    for position, event in enumerate(events):
        if event["type"] == "heartbeat":
            later = [e["ts"] for e in events[position + 1 :] if e["type"] != "heartbeat"]
            assert all(ts >= event["data"]["watermark_ts"] for ts in later)
    assert any(e["msg"] == "stopped" for e in entries)
