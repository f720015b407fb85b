"""Uplink figures: `python -m walkout_edge.uplink.bench [--events N] [--json OUT]`.

Prints, measured in one run against a Kinesis endpoint (by default a local moto server in
its own process, started here; moto is a development dependency, not a store-box one):
- events/s through outbox + KPL producer, and of a bare `put_records` loop without outbox
  over the same events, with their ratio; this process is pinned to one core and the
  moto server to another when the machine has two;
- bytes on the wire per event with and without aggregation (through a counting loopback
  proxy, request line + headers + body as sent);
- recovery after an outage: the endpoint down for `--outage-store-s` of store time (played
  at `--speed`), events arriving all along; connection attempts while down, time to the
  first accepted put and to an empty outbox once it is back.
Figures, not assertions: the machine state is printed with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from aws_kinesis_agg.aggregator import RecordAggregator
from botocore.config import Config

from walkout.events import Event, event_to_json, make_event
from walkout.ids import new_ulid
from walkout_edge.sinks import evidence_key
from walkout_edge.uplink.backoff import DEFAULT_SCHEDULES, Backoff, Failure, Schedule
from walkout_edge.uplink.health import UplinkStatus
from walkout_edge.uplink.loop import DeliveryLoop
from walkout_edge.uplink.loopback_proxy import LoopbackProxy
from walkout_edge.uplink.outbox import Outbox
from walkout_edge.uplink.producer import MAX_REQUEST_RECORDS, KinesisProducer
from walkout_edge.uplink.sink import OutboxSink, Sequencer

STORE = "store-bench"
DEVICE = "edge-bench"
REGION = "us-east-1"
# One call per event is slow against moto (~10 ms a call); bytes per event need few.
ONE_PER_CALL_SAMPLE = 200


def sample_events(count: int, start_seq: int = 0) -> list[Event]:
    """A store's event mix: mostly shelf changes with two candidates, entries and exits."""
    t0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    events = []
    for n in range(start_seq, start_seq + count):
        ts = t0 + timedelta(milliseconds=200 * n)
        common: dict[str, Any] = {"store_id": STORE, "device_id": DEVICE, "seq": n, "ts": ts}
        if n % 10 == 0:
            data: dict[str, Any] = {
                "session_id": f"sess-{n}",
                "gate_id": "gate-in",
                "account_ref": f"tok-{n:08d}",
                "track_ids": [f"trk-{n}"],
            }
            events.append(make_event("session.entered", data, **common))
        elif n % 10 == 9:
            data = {"track_id": f"trk-{n - 9}", "session_id": f"sess-{n - 9}", "gate_id": "exit"}
            events.append(make_event("track.exited", data, **common))
        else:
            event_id = new_ulid(ts)
            data = {
                "shelf_id": f"shelf-{n % 40}",
                "lane_id": f"lane-{n % 6}",
                "delta_g": -412.5,
                "t_start": ts - timedelta(seconds=1.2),
                "t_end": ts,
                "noise_g": 2.1,
                "candidates": [
                    {
                        "track_id": f"trk-{n - n % 10}",
                        "session_id": f"sess-{n - n % 10}",
                        "reach_score": 0.91,
                        "distance_m": 0.28,
                    },
                    {
                        "track_id": f"trk-{n - n % 10 + 1}",
                        "session_id": None,
                        "reach_score": 0.12,
                        "distance_m": 1.4,
                    },
                ],
                "evidence": [evidence_key(STORE, event_id, "reach")],
            }
            events.append(make_event("shelf.changed", data, event_id=event_id, **common))
    return events


# --- environment ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int) -> Callable[[], None]:
    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


@contextmanager
def moto_server(cpu: int | None) -> Iterator[str]:
    try:
        import moto.server  # noqa: F401, PLC0415 - only to fail early with a clear message
    except ImportError:
        sys.exit("bench: needs moto[server] (a development dependency) or --endpoint-url")
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - moto's own entry point
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_pin(cpu) if cpu is not None else None,  # noqa: PLW1509 - no threads yet
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def given_endpoint(url: str) -> Iterator[str]:
    yield url


def _client(url: str) -> Any:
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=2)
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name=REGION,
        config=config,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - a local emulator's dummy key
    )


def _new_stream(client: Any) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    client.create_stream(StreamName=name, ShardCount=1)
    client.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    return name


def _cpu_seconds() -> float:
    usage = os.times()
    return usage.user + usage.system


# --- runs ----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    events: int
    wall_s: float
    cpu_s: float
    requests: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.wall_s if self.wall_s else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "events_per_s": round(self.rate, 1),
            "agent_cpu_us_per_event": round(1e6 * self.cpu_s / self.events, 1),
            "requests": self.requests,
        }


def _median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.wall_s)[len(runs) // 2]


def bare_put_records(url: str, bodies: list[bytes], *, aggregate: bool = False) -> Run:
    """No outbox: the events straight to PutRecords, 500 per call (or aggregated, one per call)."""
    client = _client(url)
    stream = _new_stream(client)
    started, cpu = time.perf_counter(), _cpu_seconds()
    requests = 0
    if aggregate:
        aggregator = RecordAggregator()
        records = []
        for body in bodies:
            full = aggregator.add_user_record(STORE, body)
            if full is not None:
                records.append(full.get_contents()[2])
        last = aggregator.clear_and_get()
        if last is not None:
            records.append(last.get_contents()[2])
        for data in records:
            client.put_records(StreamName=stream, Records=[{"Data": data, "PartitionKey": STORE}])
            requests += 1
    else:
        for i in range(0, len(bodies), MAX_REQUEST_RECORDS):
            chunk = bodies[i : i + MAX_REQUEST_RECORDS]
            client.put_records(
                StreamName=stream, Records=[{"Data": b, "PartitionKey": STORE} for b in chunk]
            )
            requests += 1
    name = "bare put_records, KPL-aggregated" if aggregate else "bare put_records, 500/call"
    return Run(name, len(bodies), time.perf_counter() - started, _cpu_seconds() - cpu, requests)


def _pipeline(
    url: str, directory: Path, **producer: Any
) -> tuple[Outbox, OutboxSink, DeliveryLoop, UplinkStatus]:
    outbox = Outbox(directory / f"{uuid.uuid4().hex}.db", store_id=STORE)
    sink = OutboxSink(outbox, store_id=STORE, sequencer=Sequencer("edge-other", None))
    status = UplinkStatus()
    client = _client(url)
    loop = DeliveryLoop(
        KinesisProducer(
            outbox, client=client, stream_name=_new_stream(client), status=status, **producer
        ),
        outbox,
    )
    return outbox, sink, loop, status


def through_outbox(url: str, events: list[Event], directory: Path, batch: int) -> Run:
    """Emit (one commit per `batch` events) while the producer ships; until drained."""
    outbox, sink, loop, status = _pipeline(url, directory, linger_s=0.05)
    started, cpu = time.perf_counter(), _cpu_seconds()
    loop.start()
    for i in range(0, len(events), batch):
        sink.emit_many([(e, ()) for e in events[i : i + batch]])
    loop.finish(None)
    loop.join()
    run = Run(
        f"outbox + producer, emit {'one by one' if batch == 1 else f'in batches of {batch}'}",
        len(events),
        time.perf_counter() - started,
        _cpu_seconds() - cpu,
        status.kinesis.requests,
    )
    outbox.close()
    return run


def drain_backlog(url: str, events: list[Event], directory: Path) -> Run:
    """A backlog (after an outage) already on disk, shipped by the producer alone."""
    outbox, sink, loop, status = _pipeline(url, directory, linger_s=0)
    sink.emit_many([(e, ()) for e in events])
    started, cpu = time.perf_counter(), _cpu_seconds()
    loop.start()
    loop.finish(None)
    loop.join()
    run = Run(
        "outbox + producer, draining a backlog",
        len(events),
        time.perf_counter() - started,
        _cpu_seconds() - cpu,
        status.kinesis.requests,
    )
    outbox.close()
    return run


def wire_bytes(url: str, events: list[Event], directory: Path) -> dict[str, dict[str, float]]:
    """Bytes per event on the wire and Kinesis records per 1,000 events, for the same events
    sent three ways, counted by a loopback proxy."""
    bodies = [event_to_json(e) for e in events]
    results: dict[str, dict[str, float]] = {}

    def one_per_call(proxy_url: str) -> int:
        client = _client(proxy_url)
        stream = _new_stream(client)
        for body in bodies[:ONE_PER_CALL_SAMPLE]:
            client.put_records(StreamName=stream, Records=[{"Data": body, "PartitionKey": STORE}])
        return ONE_PER_CALL_SAMPLE

    def batched(proxy_url: str) -> int:
        bare_put_records(proxy_url, bodies)
        return len(bodies)

    def aggregated(proxy_url: str) -> int:
        drain_backlog(proxy_url, events, directory)
        return len(bodies)

    for name, send in (
        ("unaggregated, one event per PutRecords call", one_per_call),
        ("unaggregated, 500 events per PutRecords call", batched),
        ("KPL-aggregated by the producer (backlog: full records)", aggregated),
    ):
        proxy = LoopbackProxy(url).start()
        try:
            count = send(proxy.url)
        finally:
            proxy.stop()
        counters = proxy.snapshot()
        sent = counters["request_bytes"].get("Kinesis_20131202.PutRecords", 0)
        results[name] = {
            "bytes_per_event": round(sent / count, 1),
            "kinesis_records_per_1000_events": round(1000 * counters["records_seen"] / count, 2),
        }
    mean = sum(len(b) for b in bodies) / len(bodies)
    results["event JSON alone (mean)"] = {
        "bytes_per_event": round(mean, 1),
        "kinesis_records_per_1000_events": 0.0,
    }
    return results


def outage(
    url: str, directory: Path, outage_store_s: float, speed: float, offline: Schedule
) -> dict[str, Any]:
    """Events at 5/s of store time; the endpoint down for `outage_store_s` of it; the
    production backoff, with `offline` as its offline schedule."""
    proxy = LoopbackProxy(url).start()
    backoff = Backoff({**DEFAULT_SCHEDULES, Failure.OFFLINE: offline})
    outbox, sink, loop, status = _pipeline(proxy.url, directory, backoff=backoff, linger_s=0.05)
    rate_store = 5.0
    before, during_count = 50, int(outage_store_s * rate_store)
    events = sample_events(before + during_count + 50)
    loop.start()
    interval = 1 / rate_store / speed

    def emit(chunk: list[Event]) -> None:
        for event in chunk:
            sink.emit(event)
            time.sleep(interval)

    emit(events[:before])
    proxy.set_down(True)
    went_down = time.perf_counter()
    emit(events[before : before + during_count])
    remaining = outage_store_s / speed - (time.perf_counter() - went_down)
    if remaining > 0:
        time.sleep(remaining)
    attempts = proxy.snapshot()["refused_while_down"]
    backlog = outbox.depth
    proxy.set_down(False)
    back = time.perf_counter()
    delivered_before = status.kinesis.delivered
    first_put = None
    emitter = threading.Thread(target=emit, args=(events[before + during_count :],))
    emitter.start()
    # `delivered` counts after the outbox forgets the events: wait on it, not on the depth.
    while status.kinesis.delivered < len(events):
        if first_put is None and status.kinesis.delivered > delivered_before:
            first_put = time.perf_counter() - back
        time.sleep(0.005)
    if first_put is None:
        first_put = time.perf_counter() - back
    drained = time.perf_counter() - back
    emitter.join()
    loop.finish(None)
    loop.join()
    proxy.stop()
    outbox.close()
    return {
        "outage_store_s": outage_store_s,
        "offline_backoff_s": [offline.base_s, offline.cap_s],
        "outage_wall_s": round(outage_store_s / speed, 2),
        "connection_attempts_while_down": attempts,
        "backlog_events": backlog,
        "first_accepted_put_after_s": round(first_put, 2),
        "outbox_empty_after_s": round(drained, 2),
    }


def machine_state() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "pinned_to_cpu": sorted(os.sched_getaffinity(0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m walkout_edge.uplink.bench")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--endpoint-url", help="an existing Kinesis endpoint (default: moto)")
    parser.add_argument("--outage-store-s", type=float, default=120.0)
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--outage-trials", type=int, default=3)
    default_offline = DEFAULT_SCHEDULES[Failure.OFFLINE]
    parser.add_argument("--offline-cap-s", type=float, default=default_offline.cap_s)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (median)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    # The outage run logs its (expected) connection failures; the figures say it all.
    logging.getLogger("walkout_edge").setLevel(logging.ERROR)

    two_cores = (os.cpu_count() or 1) >= 2
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        endpoint = (
            given_endpoint(args.endpoint_url)
            if args.endpoint_url
            else moto_server(1 if two_cores else None)
        )
        with endpoint as url:
            if two_cores:
                os.sched_setaffinity(0, {0})
            state_before = machine_state()
            events = sample_events(args.events)
            bodies = [event_to_json(e) for e in events]
            one_by_one_events = events[: min(len(events), 1000)]
            methods: list[Callable[[], Run]] = [
                lambda: bare_put_records(url, bodies),
                lambda: bare_put_records(url, bodies, aggregate=True),
                lambda: through_outbox(url, one_by_one_events, directory, 1),
                lambda: through_outbox(url, events, directory, 100),
                lambda: drain_backlog(url, events, directory),
            ]
            # Interleaved rounds, median of each: a shared machine's load comes and goes.
            rounds = [[method() for method in methods] for _ in range(args.rounds)]
            runs = [_median([r[i] for r in rounds]) for i in range(len(methods))]
            wire = wire_bytes(url, events[: min(len(events), 2000)], directory)
            recovery = [
                outage(
                    url,
                    directory,
                    args.outage_store_s,
                    args.speed,
                    Schedule(default_offline.base_s, args.offline_cap_s),
                )
                for _ in range(args.outage_trials)
            ]
            state_after = machine_state()

    bare = runs[0]
    figures = {
        "machine": {"before": state_before, "after": state_after},
        "throughput": {r.name: r.as_dict() for r in runs},
        "ratios_to_bare_put_records": {
            r.name: round(r.rate / bare.rate, 3) for r in runs if r is not bare
        },
        "wire_bytes_per_event": wire,
        "outage_recovery": recovery,
    }
    _print(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def _print(figures: dict[str, Any]) -> None:
    state = figures["machine"]["before"]
    print(
        f"machine: {state['cpus']} cpus ({state['cpu_model']}), python {state['python']}, "
        f"this process on cpu {state['pinned_to_cpu']}, load {state['loadavg']} before, "
        f"{figures['machine']['after']['loadavg']} after"
    )
    print(
        f"\n{'throughput (moto server, real HTTP; median of rounds)':<58}{'events':>8}"
        f"{'ev/s':>10}{'cpu us/ev':>11}{'calls':>7}{'ratio':>7}"
    )
    ratios = figures["ratios_to_bare_put_records"]
    for name, run in figures["throughput"].items():
        ratio = f"{ratios[name]:.2f}" if name in ratios else "1.00"
        print(
            f"{name:<58}{run['events']:>8}{run['events_per_s']:>10.0f}"
            f"{run['agent_cpu_us_per_event']:>11.0f}{run['requests']:>7}{ratio:>7}"
        )
    print(
        f"\n{'on the wire (PutRecords requests: line + headers + body)':<62}"
        f"{'bytes/event':>12}{'records/1000 ev':>17}"
    )
    for name, value in figures["wire_bytes_per_event"].items():
        print(
            f"  {name:<60}{value['bytes_per_event']:>12.1f}"
            f"{value['kinesis_records_per_1000_events']:>17.2f}"
        )
    trials = figures["outage_recovery"]
    first = trials[0]
    print(
        f"\noutage: endpoint down {first['outage_store_s']:.0f} s of store time "
        f"({first['outage_wall_s']} s wall) with events at 5/s of store time; offline backoff "
        f"{first['offline_backoff_s'][0]} s doubling to {first['offline_backoff_s'][1]} s, "
        "full jitter"
    )
    for n, out in enumerate(trials, start=1):
        print(
            f"  trial {n}: {out['connection_attempts_while_down']} connection attempts while "
            f"down, backlog {out['backlog_events']} events; back up: first put accepted after "
            f"{out['first_accepted_put_after_s']} s, outbox empty after "
            f"{out['outbox_empty_after_s']} s"
        )


if __name__ == "__main__":
    sys.exit(main())
