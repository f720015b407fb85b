"""`walkout-edge run` with a simulator recording as its source (`kind: replay`), against moto.

The daemon runs the perception pipeline on a short recording as fast as it can, ships the
events through its outbox to Kinesis and their evidence to S3, and exits once drained; a
consumer then reads every shard of the stream and deaggregates it with `aws_kinesis_agg`.

What the consumer must see is known independently: `walkout-edge replay` runs the same
pipeline on the same recording into a JSONL file. The pipeline is deterministic apart from
its identifiers (event and session ULIDs, a random tag in track ids), so two runs agree
once identifiers are renamed in order of first appearance; the first test checks that
premise, the second relies on it.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from edge_kit import (
    DAEMON_DEVICE,
    STORE,
    heartbeats,
    read_stream,
    record_scenario,
    replay_recording,
    start_daemon,
    tiny_scenario,
    write_config,
)

# Two overhead cameras (a 10 m x 6 m store seen from 5 m), 45 s of store time at 5 fps and
# a shopper every 6 s: a handful of sessions and shelf changes, recorded in a few seconds.
SCENARIO = tiny_scenario("edge-replay-daemon", duration_s=45)
TAIL_S = 5.0
# Event ULIDs (also inside evidence keys), session ids, track ids and unseen candidates' ids:
# new in every run.
RUN_IDENTIFIERS = re.compile(
    r"[0-9A-HJKMNP-TV-Z]{26}|ses-[0-9a-z]{26}|(?:trk|unseen)-[0-9a-z]{6}-\d+"
)


def canonical(events: list[dict[str, Any]]) -> list[str]:
    """Each event without seq, its identifiers renamed in order of first appearance."""
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"<id{len(names)}>")

    out = []
    for event in events:
        content = {k: event[k] for k in ("store_id", "device_id", "ts", "type", "data")}
        out.append(RUN_IDENTIFIERS.sub(rename, json.dumps(content, sort_keys=True)))
    return out


def evidence_keys(event: dict[str, Any]) -> list[str]:
    return list(event["data"].get("evidence", []))


def account_refs(recording: Path) -> set[str]:
    gates = (json.loads(line) for line in (recording / "gates.jsonl").read_text().splitlines())
    return {g["account_ref"] for g in gates if g.get("account_ref")}


def utc_text(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wait_for_exit(daemon: subprocess.Popen[bytes], timeout: float, log: Path) -> int:
    """The daemon's exit status; a daemon still running after `timeout` is killed, and fails."""
    try:
        return daemon.wait(timeout)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
        raise AssertionError(f"daemon still running; log:\n{log.read_text()[-3000:]}") from None


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder: Path = record_scenario(tmp_path_factory.mktemp("edge-replay"), SCENARIO)
    return folder


@pytest.fixture(scope="module")
def expected(
    recording: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[dict[str, Any]], Path]:
    out = tmp_path_factory.mktemp("expected")
    replayed: tuple[list[dict[str, Any]], Path] = replay_recording(
        recording, out, store_id=STORE, device_id=DAEMON_DEVICE
    )
    return replayed


def test_the_pipeline_replays_a_recording_identically_apart_from_identifiers(
    recording: Path, expected: tuple[list[dict[str, Any]], Path], tmp_path: Path
) -> None:
    # Given a recording with two cameras, sessions and shelf changes with evidence
    meta = json.loads((recording / "recording.json").read_text())
    assert len(meta["cameras"]) == 2
    first, first_evidence = expected
    types = {e["type"] for e in first}
    assert {"session.entered", "shelf.changed", "track.exited"} <= types
    assert any(evidence_keys(e) for e in first)

    # When the pipeline replays it once more
    second, second_evidence = replay_recording(
        recording, tmp_path, store_id=STORE, device_id=DAEMON_DEVICE
    )

    # Then the events are the same but for their identifiers, in the same order
    assert canonical(second) == canonical(first)
    assert [e["event_id"] for e in second] != [e["event_id"] for e in first]
    # and so are the evidence images, byte for byte
    for a, b in zip(first, second, strict=True):
        for key_a, key_b in zip(evidence_keys(a), evidence_keys(b), strict=True):
            assert (first_evidence / key_a).read_bytes() == (second_evidence / key_b).read_bytes()


def test_the_daemon_replaying_a_recording_delivers_every_event_to_a_consumer(
    aws: Any, tmp_path: Path, recording: Path, expected: tuple[list[dict[str, Any]], Path]
) -> None:
    # Given a stream of two shards, and a daemon whose source is the recording at full speed
    stream = f"{aws.stream}-2"
    aws.kinesis.create_stream(StreamName=stream, ShardCount=2)
    aws.kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    config = write_config(
        tmp_path,
        endpoint_url=aws.url,
        stream_name=stream,
        evidence_bucket=aws.bucket,
        source={
            "kind": "replay",
            "recording": str(recording),
            "speed": 0,
            "options": {"tail_s": TAIL_S},
        },
    )
    log = tmp_path / "daemon.log"

    # When it runs as a real process until the recording is done and its outbox drained
    code = wait_for_exit(start_daemon(config, log), 180, log)
    assert code == 0, log.read_text()[-3000:]
    # and a consumer reads every shard
    delivered, _ = read_stream(aws.kinesis, stream)

    # Then every record is the store's, and every event of the daemon arrived exactly once
    # and in the order it was numbered (heartbeats and pipeline events share one counter)
    assert {d.partition_key for d in delivered} == {STORE}
    events = [d.event for d in delivered]
    assert all(e["store_id"] == STORE and e["device_id"] == DAEMON_DEVICE for e in events)
    assert [e["seq"] for e in events] == list(range(len(events)))
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids)
    # and the pipeline's events are what an independent replay of the recording produced
    produced = [e for e in events if e["type"] != "heartbeat"]
    replayed, replayed_evidence = expected
    assert canonical(produced) == canonical(replayed)

    # and every evidence image an event references is in the bucket under the store's
    # prefix, the very image the replay wrote, and nothing else is
    stored = {
        o["Key"]
        for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=aws.bucket)
        for o in page.get("Contents", [])
    }
    referenced = {k for e in produced for k in evidence_keys(e)}
    assert referenced and stored == referenced
    for ours, theirs in zip(produced, replayed, strict=True):
        for key, replay_key in zip(evidence_keys(ours), evidence_keys(theirs), strict=True):
            assert key.startswith(f"stores/{STORE}/evidence/{ours['event_id']}/")
            body = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
            assert body == (replayed_evidence / replay_key).read_bytes()

    # and heartbeats vouch for what precedes them: no event after a heartbeat is older than
    # its watermark, and the last watermark reaches past the end of the recording
    beats = heartbeats(delivered)
    assert beats
    marks = [b["data"]["watermark_ts"] for b in beats]
    assert marks == sorted(marks)
    for position, event in enumerate(events):
        if event["type"] == "heartbeat":
            later = [e["ts"] for e in events[position + 1 :] if e["type"] != "heartbeat"]
            assert all(ts >= event["data"]["watermark_ts"] for ts in later)
    end_ts = json.loads((recording / "recording.json").read_text())["end_ts"]
    assert marks[-1] >= utc_text(end_ts)
    assert events[-1]["type"] == "heartbeat"

    # and the daemon's JSON log never carries a shopper's account token
    text = log.read_text()
    assert "outbox drained, exiting" in text
    assert not any(ref in text for ref in account_refs(recording))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tial_s": 5}, "source.options.tial_s: unknown option (known: tail_s, track_log)"),
        ({"tail_s": "soon"}, "source.options.tail_s: must be a number of seconds, not 'soon'"),
        ({"tail_s": -5}, "source.options.tail_s: must be from 0 to 86400 s"),
        ({"track_log": 7}, "source.options.track_log: must be a file path, not 7"),
        (
            {"track_log": "tracks.csv"},
            "source.options.track_log: 'tracks.csv' must be an absolute path",
        ),
    ],
)
def test_a_bad_replay_option_stops_the_daemon_with_one_line_and_status_2(
    tmp_path: Path, recording: Path, options: dict[str, Any], message: str
) -> None:
    # Given a replay source with a misspelt or wrong option (nothing listens on the endpoint)
    config = write_config(
        tmp_path,
        endpoint_url="http://127.0.0.1:9",
        source={"kind": "replay", "recording": str(recording), "speed": 0, "options": options},
    )
    log = tmp_path / "daemon.log"

    # When the daemon starts
    code = wait_for_exit(start_daemon(config, log), 60, log)

    # Then it refuses the config with one line naming the option, before it starts
    assert code == 2
    assert log.read_text().strip().splitlines()[-1] == f"walkout-edge run: {message}"
    assert "walkout-edge started" not in log.read_text()


def renamed_tracks(rows: list[tuple[float, str, float, float]]) -> list[tuple[Any, ...]]:
    """Track rows with track ids renamed in order of first appearance (they carry a run tag)."""
    names: dict[str, str] = {}
    return [(ts, names.setdefault(tid, f"t{len(names)}"), x, y) for ts, tid, x, y in rows]


def test_a_daemon_replay_with_a_track_log_writes_the_tracks_the_evaluation_reads(
    aws: Any, tmp_path: Path, recording: Path, expected: tuple[list[dict[str, Any]], Path]
) -> None:
    from walkout_cli.eval import load_tracks, load_truth, score_tracking  # noqa: PLC0415

    # Given a daemon replaying the recording with a track log (a file not there yet)
    track_log = tmp_path / "out" / "tracks.csv"
    config = write_config(
        tmp_path,
        endpoint_url=aws.url,
        stream_name=aws.stream,
        evidence_bucket=aws.bucket,
        source={
            "kind": "replay",
            "recording": str(recording),
            "speed": 0,
            "options": {"tail_s": TAIL_S, "track_log": str(track_log)},
        },
    )
    log = tmp_path / "daemon.log"

    # When it runs until the recording is done
    code = wait_for_exit(start_daemon(config, log), 180, log)
    assert code == 0, log.read_text()[-3000:]

    # Then the evaluation reads its track log, which holds the very positions that
    # `walkout-edge replay` writes for the same recording (next to its events)
    rows = load_tracks(track_log)
    _, replayed_evidence = expected
    replayed = load_tracks(replayed_evidence.with_name("events.tracks.csv"))
    assert rows and renamed_tracks(rows) == renamed_tracks(replayed)
    # and they are scored against the recording's truth like the replay's
    scores, mapping = score_tracking(load_truth(recording), rows)
    assert scores["tracks"] > 0 and mapping
    assert scores == score_tracking(load_truth(recording), replayed)[0]


def test_a_replay_reports_the_frame_rate_of_each_camera_it_hands_out(recording: Path) -> None:
    # Given the recording read as the daemon's replay source reads it
    from walkout_edge.perception.sources import CameraFrame, RecordingSource  # noqa: PLC0415

    source = RecordingSource(recording, speed=0)
    before = {s.sensor_id: s.fps for s in source.health()}

    # When every reading has been handed out
    frames = sum(isinstance(r, CameraFrame) for r in source.readings(threading.Event()))
    source.close()

    # Then each camera had a frame rate to report on /healthz once its frames flowed
    after = source.health()
    assert frames > 0 and set(before) == {s.sensor_id for s in after}
    assert all(fps == 0.0 for fps in before.values())
    assert all(s.ok and s.fps is not None and s.fps > 0 for s in after)
