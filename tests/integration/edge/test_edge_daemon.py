"""`walkout-edge run` as a real subprocess against moto: crash, outage, bad outbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edge_kit import (
    ACCOUNT_SECRET,
    DAEMON_DEVICE,
    Recording,
    heartbeats,
    make_events,
    read_stream,
    recorded_only,
    start_daemon,
    write_config,
    write_recording,
)

from walkout_edge.uplink.loopback_proxy import LoopbackProxy


def _events_source(recording: Recording, speed: float, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "events",
        "path": str(recording.path),
        "evidence_dir": str(recording.evidence_dir),
        "speed": speed,
        **extra,
    }


def _wait(process: subprocess.Popen[bytes], timeout: float, log: Path) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"daemon still running; log:\n{log.read_text()[-3000:]}") from None


def _health_url(log: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("msg") == "walkout-edge started":
                return str(entry["health"])
        time.sleep(0.05)
    raise AssertionError(f"no start line in the log:\n{log.read_text()}")


def _healthz(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as error:  # 503 while degraded, with the same document
        return dict(json.load(error))


def _image_keys(recording: Recording) -> list[str]:
    return [k for e in recording.events for k in getattr(e.data, "evidence", [])]


def test_kill_9_mid_upload_then_restart_delivers_everything_duplicates_only_in_flight(
    aws: Any, tmp_path: Path, proxy: LoopbackProxy
) -> None:
    # Given a recording and a proxy that answers PutRecords only 0.5 s after moto stored
    # the records: a window where a crash leaves records delivered but not acknowledged
    recording = write_recording(tmp_path / "rec", make_events(900, image_every=20))
    config = write_config(
        tmp_path,
        endpoint_url=proxy.url,
        stream_name=aws.stream,
        evidence_bucket=aws.bucket,
        uplink={"max_record_bytes": 16 * 1024},
        source=_events_source(recording, speed=0),
    )
    proxy.response_delay_s = 0.5
    log = tmp_path / "daemon.log"

    # When the daemon is killed with SIGKILL while its fourth PutRecords is held
    first = start_daemon(config, log)
    assert proxy.wait_forwarded(4, timeout=30), log.read_text()
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    crashed_after, _ = read_stream(aws.kinesis, aws.stream)

    # and restarted until it has drained its outbox
    proxy.response_delay_s = 0.0
    second = start_daemon(config, log)
    assert _wait(second, 90, log) == 0, log.read_text()[-3000:]

    # Then every recorded event arrived, at least once
    delivered, raw = read_stream(aws.kinesis, aws.stream)
    produced = recording.ids
    ids = recorded_only(delivered)
    assert set(ids) == set(produced)
    # and the stream is the first run's prefix followed by the second run's suffix, where
    # the only duplicates are the events the first run had in flight when it died
    first_run = recorded_only(crashed_after)
    k = len(first_run)
    assert first_run == produced[:k]
    second_run = ids[k:]
    j = produced.index(second_run[0])
    assert second_run == produced[j:]
    duplicates = len(ids) - len(produced)
    print(f"\nkill -9: {k} events delivered before the crash, {duplicates} delivered twice")
    per_record = max(
        sum(1 for d in delivered if d.kinesis_sequence == r["SequenceNumber"]) for r in raw
    )
    assert duplicates == k - j
    assert 0 < duplicates <= per_record  # the held request, nothing else
    # and every evidence image is in the bucket
    stored = {o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]}
    assert stored == set(_image_keys(recording))


def test_two_minutes_offline_in_store_time_then_back_delivers_all_in_order_without_busy_loop(
    aws: Any, tmp_path: Path, proxy: LoopbackProxy
) -> None:
    # Given 4 minutes of store time replayed at 40x (6 s), and an offline backoff capped
    # at 1 s for the test (10 s on a store box)
    recording = write_recording(tmp_path / "rec", make_events(480, spacing_s=0.5, image_every=10))
    speed = 40.0
    config = write_config(
        tmp_path,
        endpoint_url=proxy.url,
        stream_name=aws.stream,
        evidence_bucket=aws.bucket,
        uplink={"offline": {"base_s": 0.2, "cap_s": 1.0}},
        source=_events_source(recording, speed=speed, tail_s=30),
    )
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    health = _health_url(log)
    assert proxy.wait_forwarded(1, timeout=30), log.read_text()
    replay_started = time.monotonic()

    # When the endpoint is down from store minute 1 to store minute 3
    time.sleep(max(0.0, replay_started + 60 / speed - time.monotonic()))
    proxy.set_down(True)
    connections_before = proxy.snapshot()["refused_while_down"]
    time.sleep(120 / speed / 2)
    during = _healthz(health)
    time.sleep(120 / speed / 2)
    attempts = proxy.snapshot()["refused_while_down"] - connections_before
    backlog = _healthz(health)["outbox"]["depth"]
    proxy.set_down(False)
    back_up = time.monotonic()
    while _healthz(health)["outbox"]["depth"] > 5 and time.monotonic() - back_up < 30:
        time.sleep(0.05)
    recovery_s = time.monotonic() - back_up
    print(
        f"\noutage: {120 / speed:.1f} s wall ({120:.0f} s store), {attempts} connection attempts "
        f"while down, backlog {backlog} events, drained {recovery_s:.2f} s after the link returned"
    )

    # Then while down the daemon said so, and did not hammer the endpoint
    assert during["online"] is False
    assert during["status"] == "degraded" and "offline" in during["problems"]
    assert 1 <= attempts <= 40, attempts
    assert backlog > 0
    # and after it everything arrived, once and in production order
    assert _wait(daemon, 60, log) == 0
    delivered, _ = read_stream(aws.kinesis, aws.stream)
    assert recorded_only(delivered) == recording.ids
    # with heartbeats of the daemon's own device, numbered and watermarked in order,
    # the last one vouching for the whole recording
    beats = heartbeats(delivered)
    assert len(beats) >= 5
    assert all(b["device_id"] == DAEMON_DEVICE for b in beats)
    seqs = [b["seq"] for b in beats]
    assert seqs == sorted(set(seqs))
    marks = [b["data"]["watermark_ts"] for b in beats]
    assert marks == sorted(marks)
    assert marks[-1] >= "2026-11-25T18:04:29.500Z"  # last event + tail_s
    assert max(b["data"]["outbox_depth"] for b in beats) > 0
    stored = {o["Key"] for o in aws.s3.list_objects_v2(Bucket=aws.bucket)["Contents"]}
    assert stored == set(_image_keys(recording))
    # and the logs are JSON lines that never carry a shopper's account token
    text = log.read_text()
    assert ACCOUNT_SECRET not in text
    assert all(json.loads(line)["level"] for line in text.splitlines())


def test_sigterm_keeps_what_could_not_be_sent_and_the_next_start_sends_it_once(
    aws: Any, tmp_path: Path, proxy: LoopbackProxy
) -> None:
    # Given a daemon replaying in real time while the endpoint is unreachable
    recording = write_recording(tmp_path / "rec", make_events(300, spacing_s=0.01, image_every=50))
    settings = {
        "endpoint_url": proxy.url,
        "stream_name": aws.stream,
        "evidence_bucket": aws.bucket,
        "uplink": {"shutdown_flush_s": 1.0, "offline": {"base_s": 0.2, "cap_s": 0.5}},
    }
    config = write_config(tmp_path, **settings, source=_events_source(recording, speed=1))
    proxy.set_down(True)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, log)
    _health_url(log)
    time.sleep(1.5)

    # When it gets SIGTERM halfway through the recording
    stopping = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    code = _wait(daemon, 30, log)
    stop_took = time.monotonic() - stopping

    # Then it exits 0 within its flush budget and says what it left in the outbox
    assert code == 0
    assert stop_took < 8
    stopped = [json.loads(x) for x in log.read_text().splitlines() if '"stopped"' in x][-1]
    assert 0 < stopped["outbox_depth"] < len(recording.events) + 10
    assert read_stream(aws.kinesis, aws.stream)[0] == []

    # and the next start (link back, rest of the recording as fast as possible) sends
    # everything exactly once, in order
    proxy.set_down(False)
    config = write_config(tmp_path, **settings, source=_events_source(recording, speed=0))
    assert _wait(start_daemon(config, log), 60, log) == 0
    delivered, _ = read_stream(aws.kinesis, aws.stream)
    assert recorded_only(delivered) == recording.ids
    seqs = [b["seq"] for b in heartbeats(delivered)]
    assert seqs == sorted(set(seqs))  # heartbeat numbering continued across the restart


def test_a_damaged_outbox_file_stops_the_daemon_with_a_clear_error(
    aws: Any, tmp_path: Path
) -> None:
    # Given an outbox file whose content is not a database any more
    recording = write_recording(tmp_path / "rec", make_events(5))
    config = write_config(
        tmp_path,
        endpoint_url=aws.url,
        stream_name=aws.stream,
        evidence_bucket=aws.bucket,
        source=_events_source(recording, speed=0),
    )
    outbox = tmp_path / "state" / "outbox.db"
    outbox.parent.mkdir()
    outbox.write_bytes(b"\x00garbage after a bad power cut\x00" * 300)
    log = tmp_path / "daemon.log"

    # When the daemon starts
    daemon = start_daemon(config, log)
    code = _wait(daemon, 30, log)

    # Then it exits non-zero with one line naming the file and the problem, and the file
    # is left as it was for inspection
    assert code == 1
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("walkout-edge run: outbox ")
    assert str(outbox) in last and "not an SQLite database" in last
    assert outbox.read_bytes().startswith(b"\x00garbage")
    assert read_stream(aws.kinesis, aws.stream)[0] == []
