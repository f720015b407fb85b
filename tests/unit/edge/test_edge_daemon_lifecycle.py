"""The daemon's life in-process: registered sources, stop, drain, and failures as exit codes.

The daemon makes its own boto3 clients (`aws_clients`); they talk to a moto server in a
thread of this process (`moto_http`), or to a closed port when the link is to be down.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from edge_events import STORE, T0
from moto_http import CLOSED_URL, MotoAws

from walkout.events import make_event
from walkout_edge import sources_registry
from walkout_edge.cli import main
from walkout_edge.config import ReplaySourceConfig, parse_config
from walkout_edge.daemon import Daemon, DaemonError
from walkout_edge.sources_registry import SourceContext, register_source
from walkout_edge.uplink.outbox import Outbox

DEVICE = "edge-1"


def emit_exit(context: SourceContext, n: int) -> datetime:
    """Emit the `n`th event of a source: track `t<n>` leaving, `n` seconds after T0; its time."""
    ts = T0 + timedelta(seconds=n)
    data = {"track_id": f"t{n}", "session_id": None, "gate_id": "exit"}
    event = make_event(
        "track.exited", data, store_id=STORE, device_id=DEVICE, seq=context.next_seq(), ts=ts
    )
    context.sink.emit(event)
    return ts


class PipelineStub:
    """A source like perception's: numbers its events from the context, runs until stopped."""

    def __init__(self, config: ReplaySourceConfig, context: SourceContext, count: int) -> None:
        self.context = context
        self.count = count
        self.forever = bool(config.options.get("forever"))

    def run(self, stop: threading.Event) -> None:
        for n in range(self.count):
            self.context.watermark.advance(emit_exit(self.context, n))
        self.context.sensors.report_camera("cam-1", 15.0)
        while self.forever and not stop.is_set():
            stop.wait(0.01)


@pytest.fixture(autouse=True)
def _registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources_registry, "_factories", {})


@pytest.fixture(autouse=True)
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    (tmp_path / "rec").mkdir(exist_ok=True)
    return {
        "store_id": STORE,
        "device_id": DEVICE,
        "region": "eu-west-1",
        "stream_name": "events",
        "evidence_bucket": "evidence",
        "outbox_path": str(tmp_path / "state" / "outbox.db"),
        "heartbeat_s": 0.05,
        "health": {"port": 0},
        "uplink": {"linger_s": 0, "shutdown_flush_s": 0.3},
        "source": {"kind": "replay", "recording": str(tmp_path / "rec"), **extra},
    }


def _start_offline(data: dict[str, Any]) -> tuple[Daemon, threading.Thread, list[int]]:
    """A daemon running in a thread with its link down (real clients pointed at a closed
    port), given half a second to start; the daemon, its thread and where its exit status
    lands."""
    data["endpoint_url"] = CLOSED_URL
    daemon = Daemon(parse_config(data))
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(daemon.run(install_signals=False)))
    runner.start()
    time.sleep(0.5)
    return daemon, runner, result


def _on_moto(data: dict[str, Any], aws: MotoAws) -> tuple[dict[str, Any], str, str]:
    stream, bucket = aws.stream(), aws.bucket()
    data.update(endpoint_url=aws.url, stream_name=stream, evidence_bucket=bucket)
    return data, stream, bucket


def test_a_registered_source_runs_and_a_finite_one_ends_in_a_full_drain(
    tmp_path: Path, aws: MotoAws
) -> None:
    register_source("replay", lambda config, context: PipelineStub(config, context, 50))
    data, stream, bucket = _on_moto(_config(tmp_path), aws)
    # Events linger for company as long as allowed: only the drain sends them at once
    data["uplink"]["linger_s"] = 5

    code = Daemon(parse_config(data)).run(install_signals=False)

    # The outbox was drained to Kinesis: a consumer reads every event, numbered in order
    assert code == 0
    outbox = Outbox(tmp_path / "state" / "outbox.db", store_id=STORE)
    assert outbox.depth == 0
    last = outbox.last_seq(DEVICE)
    outbox.close()
    delivered = [json.loads(body) for _, body in aws.user_records(stream)]
    assert [e["seq"] for e in delivered] == list(range(len(delivered)))
    assert last == len(delivered) - 1
    exits = [e for e in delivered if e["type"] == "track.exited"]
    assert [e["data"]["track_id"] for e in exits] == [f"t{n}" for n in range(50)]
    assert delivered[-1]["type"] == "heartbeat"
    # and the source had no evidence to upload
    assert aws.object_keys(bucket) == []


def test_stop_while_offline_keeps_undelivered_events_on_disk_and_exits_cleanly(
    tmp_path: Path, aws: MotoAws
) -> None:
    # Given a running daemon whose link is down (real clients pointed at a closed port)
    register_source("replay", lambda config, context: PipelineStub(config, context, 30))
    data = _config(tmp_path, options={"forever": True})
    daemon, runner, result = _start_offline(data)

    # When it is told to stop (what SIGTERM does)
    daemon.request_stop()
    runner.join(60)  # a liveness bound, not a timing claim: the stop budget is 35 s

    # Then it exits 0, and every event is still in the outbox
    assert not runner.is_alive()
    assert result == [0]
    outbox = Outbox(tmp_path / "state" / "outbox.db", store_id=STORE)
    queued = [json.loads(q.body) for q in outbox.iter_events()]
    outbox.close()
    exits = [e["data"]["track_id"] for e in queued if e["type"] == "track.exited"]
    assert exits == [f"t{n}" for n in range(30)]


def test_a_source_that_crashes_is_a_failure_with_its_message(tmp_path: Path, aws: MotoAws) -> None:
    class Broken:
        def run(self, stop: threading.Event) -> None:
            raise RuntimeError("camera driver exploded")

    register_source("replay", lambda config, context: Broken())
    data, _, _ = _on_moto(_config(tmp_path), aws)
    daemon = Daemon(parse_config(data))

    with pytest.raises(DaemonError, match="RuntimeError: camera driver exploded") as error:
        daemon.run(install_signals=False)
    assert error.value.exit_code == 1


def _write(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_cli_without_a_factory_for_the_kind_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--config", _write(tmp_path, _config(tmp_path))])

    assert code == 2
    err = [x for x in capsys.readouterr().err.strip().splitlines() if not x.startswith("{")]
    assert err == [
        "walkout-edge run: source.kind: no source is registered for kind 'replay' in this "
        "installation (registered: events)"
    ]
    assert not (tmp_path / "state").exists()


def test_cli_bad_config_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _config(tmp_path)
    data["heartbeat_s"] = "often"

    assert main(["run", "--config", _write(tmp_path, data)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"walkout-edge run: {tmp_path / 'edge.yaml'}: heartbeat_s: Input should be a valid number,"
        " unable to parse string as a number"
    )


def test_cli_unwritable_outbox_is_one_line_and_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_source("replay", lambda config, context: PipelineStub(config, context, 1))
    data = _config(tmp_path)
    if os.geteuid() == 0:
        (tmp_path / "file").write_text("")
        data["outbox_path"] = str(tmp_path / "file" / "outbox.db")
    else:
        (tmp_path / "ro").mkdir(mode=0o500)
        data["outbox_path"] = str(tmp_path / "ro" / "outbox.db")

    assert main(["run", "--config", _write(tmp_path, data)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    err = [line for line in lines if not line.startswith("{")]
    assert len(err) == 1 and err[0].startswith("walkout-edge run: outbox ")
    assert "not writable" in err[0] or "cannot create directory" in err[0]
    assert logged[-1]["level"] == "error" and logged[-1]["exit_status"] == 1


class HoldingSource:
    """Like the perception runner: holds one event until it is stopped, then flushes it."""

    def __init__(self, context: SourceContext) -> None:
        self.context = context

    def run(self, stop: threading.Event) -> None:
        emit_exit(self.context, 0)
        # Event 1 is held: the watermark may pass event 0, not event 1.
        self.context.watermark.advance(T0 + timedelta(seconds=0.5))
        self.context.sensors.report_camera("cam-1", 15.0)
        while not stop.wait(0.01):
            pass
        time.sleep(0.3)  # a flush takes a moment; the daemon must wait for it
        emit_exit(self.context, 1)


def test_stop_waits_for_the_sources_flush_before_the_last_heartbeat(
    tmp_path: Path, aws: MotoAws
) -> None:
    # Given a running daemon whose source holds an event until it is stopped, and whose
    # link is down (a real client pointed at a closed port: nothing leaves the outbox)
    register_source("replay", lambda config, context: HoldingSource(context))
    data = _config(tmp_path)
    daemon, runner, result = _start_offline(data)

    # When it is told to stop (what SIGTERM does)
    daemon.request_stop()
    runner.join(20)

    # Then the flushed event is in the outbox, before the last heartbeat, whose watermark
    # does not pass it
    assert result == [0]
    outbox = Outbox(tmp_path / "state" / "outbox.db", store_id=STORE)
    queued = [json.loads(q.body) for q in outbox.iter_events()]
    outbox.close()
    assert [e["seq"] for e in queued] == list(range(len(queued)))
    flushed = [k for k, e in enumerate(queued) if e["type"] == "track.exited"]
    assert len(flushed) == 2
    last = queued[-1]
    assert last["type"] == "heartbeat" and flushed[-1] < len(queued) - 1
    assert last["data"]["watermark_ts"] <= queued[flushed[-1]]["ts"]
