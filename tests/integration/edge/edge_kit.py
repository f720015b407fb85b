"""Shared pieces of the uplink integration tests: recordings, configs, a stream consumer."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from aws_kinesis_agg.deaggregator import iter_deaggregate_records

from walkout.events import Event, event_to_json, make_event
from walkout.ids import new_ulid
from walkout_edge.sinks import evidence_key

STORE = "store-042"
RECORDED_DEVICE = "edge-rec"
DAEMON_DEVICE = "edge-1"
REGION = "us-east-1"
ACCOUNT_SECRET = "acct-SECRET-7731"
T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def make_events(
    count: int, *, spacing_s: float = 0.1, crowd: int = 0, image_every: int = 1
) -> list[Event]:
    """A plausible event mix of one recorded device: entries, shelf changes, exits.

    `crowd` adds that many more candidates to each shelf change (about 100 bytes each);
    only every `image_every`-th event has an evidence image (S3 in moto is slow).
    """
    events: list[Event] = []
    for i in range(count):
        ts = T0 + timedelta(seconds=i * spacing_s)
        common = {"store_id": STORE, "device_id": RECORDED_DEVICE, "seq": i, "ts": ts}
        if i % 10 == 0:
            data: dict[str, Any] = {
                "session_id": f"sess-{i}",
                "gate_id": "gate-in",
                "account_ref": ACCOUNT_SECRET,
                "track_ids": [f"trk-{i}"],
            }
            events.append(make_event("session.entered", data, **common))
        elif i % 10 == 9:
            data = {"track_id": f"trk-{i - 9}", "session_id": f"sess-{i - 9}", "gate_id": "exit"}
            events.append(make_event("track.exited", data, **common))
        else:
            event_id = new_ulid(ts)
            data = {
                "shelf_id": f"shelf-{i % 7}",
                "lane_id": f"lane-{i % 5}",
                "delta_g": -355.5 if i % 3 else 120.25,
                "t_start": ts - timedelta(seconds=1.5),
                "t_end": ts,
                "noise_g": 2.5,
                "candidates": [
                    {
                        "track_id": f"trk-{i - i % 10}",
                        "session_id": f"sess-{i - i % 10}",
                        "reach_score": 0.92,
                        "distance_m": 0.31,
                    },
                    {
                        "track_id": f"trk-{i - i % 10 + 1}",
                        "session_id": None,
                        "reach_score": 0.18,
                        "distance_m": 0.95,
                    },
                    *(
                        {
                            "track_id": f"crowd-{n}",
                            "session_id": f"sess-crowd-{n}",
                            "reach_score": 0.01,
                            "distance_m": 2.5,
                        }
                        for n in range(crowd)
                    ),
                ],
                "evidence": [evidence_key(STORE, event_id, "reach")]
                if i % image_every == 5 % image_every
                else [],
            }
            events.append(make_event("shelf.changed", data, event_id=event_id, **common))
    return events


def fake_jpeg(key: str) -> bytes:
    return b"\xff\xd8\xff\xe0" + key.encode() * 20 + b"\xff\xd9"


@dataclass
class Recording:
    events: list[Event]
    path: Path
    evidence_dir: Path

    @property
    def ids(self) -> list[str]:
        return [e.event_id for e in self.events]


def write_recording(directory: Path, events: list[Event]) -> Recording:
    evidence_dir = directory / "evidence"
    evidence_dir.mkdir(parents=True, exist_ok=True)
    path = directory / "events.jsonl"
    with path.open("wb") as out:
        for event in events:
            out.write(event_to_json(event) + b"\n")
            for key in getattr(event.data, "evidence", []):
                image = evidence_dir / key
                image.parent.mkdir(parents=True, exist_ok=True)
                image.write_bytes(fake_jpeg(key))
    return Recording(events, path, evidence_dir)


def write_config(directory: Path, **settings: Any) -> Path:
    config: dict[str, Any] = {
        "store_id": STORE,
        "device_id": DAEMON_DEVICE,
        "region": REGION,
        "stream_name": "events",
        "evidence_bucket": "evidence",
        "outbox_path": str(directory / "state" / "outbox.db"),
        "heartbeat_s": 0.5,
        "health": {"port": 0},
    }
    config.update(settings)
    path = directory / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def edge_command(config: Path) -> list[str]:
    script = Path(sys.executable).with_name("walkout-edge")
    command = str(script) if script.exists() else shutil.which("walkout-edge")
    assert command, "walkout-edge is not installed in this environment"
    return [command, "run", "--config", str(config)]


def daemon_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENV)
    return env


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        edge_command(config),
        env=daemon_env(),
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


@dataclass
class Delivered:
    """One user record as a consumer sees it."""

    kinesis_sequence: str
    partition_key: str
    event: dict[str, Any]


def read_stream(kinesis: Any, stream: str) -> tuple[list[Delivered], list[dict[str, Any]]]:
    """Every user record of the stream's shards in order, and the raw Kinesis records."""
    delivered: list[Delivered] = []
    raw: list[dict[str, Any]] = []
    for records in shard_pages(kinesis, stream):
        raw.extend(records)
        for user in iter_deaggregate_records(records, data_format="Boto3"):
            record = user["kinesis"]
            delivered.append(
                Delivered(
                    record["sequenceNumber"],
                    record["partitionKey"],
                    json.loads(base64.b64decode(record["data"])),
                )
            )
    return delivered, raw


def shard_pages(kinesis: Any, stream: str) -> Iterator[list[dict[str, Any]]]:
    """The raw (possibly aggregated) Kinesis records of every shard of the stream, page by
    page from the start of each shard, until a shard has nothing more."""
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            yield page["Records"]
            iterator = page["NextShardIterator"]
            if not page["Records"]:
                break


def recorded_only(delivered: list[Delivered]) -> list[str]:
    """Event ids of the recording's device, in stream order (heartbeats left out)."""
    return [d.event["event_id"] for d in delivered if d.event["device_id"] == RECORDED_DEVICE]


def heartbeats(delivered: list[Delivered]) -> list[dict[str, Any]]:
    return [d.event for d in delivered if d.event["type"] == "heartbeat"]


# --- simulator recordings replayed through the perception pipeline --------------------------


def edge_cli_command(*args: str) -> list[str]:
    """`walkout-edge ARGS…` as a command line (any subcommand)."""
    script = Path(sys.executable).with_name("walkout-edge")
    command = str(script) if script.exists() else shutil.which("walkout-edge")
    assert command, "walkout-edge is not installed in this environment"
    return [command, *args]


def tiny_scenario(name: str, duration_s: int) -> dict[str, Any]:
    """A simulator scenario small enough to record in seconds: two overhead cameras (seen
    from 5 m) over a 10 m x 6 m store with 24 lanes, 5 fps, a shopper every 6 s taking ~2
    items; with seed 4 the first shopper enters at ~2 s and takes a pack at ~5 s."""
    return {
        "name": name,
        "seed": 4,
        "duration_s": duration_s,
        "store": {
            "width_m": 10,
            "depth_m": 6,
            "aisles": 2,
            "shelves_per_aisle": 2,
            "lanes_per_shelf": 6,
        },
        "cameras": {"resolution": [320, 240], "fps": 5, "height_m": 5.0},
        "shoppers": {"arrivals_per_hour": 600, "items_per_visit_mean": 2},
    }


def record_scenario(directory: Path, scenario: dict[str, Any]) -> Path:
    """Record `scenario` (a simulator scenario document) with `walkout sim record`; the folder."""
    from walkout_cli.main import main  # noqa: PLC0415  (the platform CLI, only for recordings)

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    out = directory / "rec"
    code = main(["sim", "record", "--scenario", str(path), "--out", str(out), "--workers", "1"])
    assert code == 0, f"walkout sim record exited {code}"
    return out


def replay_recording(
    recording: Path, out_dir: Path, *, store_id: str, device_id: str
) -> tuple[list[dict[str, Any]], Path]:
    """`walkout-edge replay` of a recording into a JSONL file: its events and evidence dir."""
    out = out_dir / "events.jsonl"
    evidence = out_dir / "evidence"
    command = edge_cli_command(
        "replay",
        "--recording",
        str(recording),
        "--out",
        str(out),
        "--evidence-dir",
        str(evidence),
        "--store-id",
        store_id,
        "--device-id",
        device_id,
        "--quiet",
    )
    done = subprocess.run(
        command, check=False, env=daemon_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    return events, evidence


def truncate_recording(recording: Path, out: Path, until_ts: float) -> Path:
    """A copy of `recording` holding only the readings stamped `until_ts` or earlier.

    Load cells, gates and each camera's frame list are cut; videos are linked, not copied
    (a replay reads only as many frames as the frame list names); `end_ts` is `until_ts`.
    """
    out.mkdir(parents=True)
    meta = json.loads((recording / "recording.json").read_text())
    meta["end_ts"] = until_ts
    (out / "recording.json").write_text(json.dumps(meta))
    shutil.copy(recording / str(meta.get("store", "store.json")), out / "store.json")
    cells = recording / str(meta.get("loadcells", {}).get("file", "loadcells.csv"))
    lines = cells.read_text().splitlines()
    kept = [lines[0], *(x for x in lines[1:] if x and float(x.split(",")[0]) <= until_ts)]
    (out / cells.name).write_text("\n".join(kept) + "\n")
    gates = recording / str(meta.get("gates", "gates.jsonl"))
    kept = [x for x in gates.read_text().splitlines() if x and json.loads(x)["ts"] <= until_ts]
    (out / gates.name).write_text("".join(f"{x}\n" for x in kept))
    for camera in meta["cameras"]:
        video, frames = Path(camera["video"]), Path(camera["frames"])
        (out / video).parent.mkdir(parents=True, exist_ok=True)
        (out / video).symlink_to((recording / video).resolve())
        lines = (recording / frames).read_text().splitlines()
        ts_at = lines[0].split(",").index("ts")
        kept = [lines[0], *(x for x in lines[1:] if x and float(x.split(",")[ts_at]) <= until_ts)]
        (out / frames).write_text("\n".join(kept) + "\n")
    return out


def log_entries(log: Path) -> list[dict[str, Any]]:
    """The daemon's JSON log lines so far (the one-line error messages left out)."""
    entries = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line still being written
    return entries
