"""A moto server in its own process (real HTTP on loopback), a fresh stream and bucket per test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from edge_kit import AWS_ENV, REGION

from walkout_edge.uplink.loopback_proxy import LoopbackProxy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = _free_port()
    env = dict(os.environ, **AWS_ENV)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.1)
    yield url
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)


@dataclass
class Aws:
    url: str
    kinesis: Any
    s3: Any
    stream: str
    bucket: str


@pytest.fixture
def aws(moto_url: str) -> Aws:
    kinesis = boto3.client("kinesis", endpoint_url=moto_url, region_name=REGION)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
    suffix = uuid.uuid4().hex[:10]
    stream, bucket = f"events-{suffix}", f"evidence-{suffix}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    s3.create_bucket(Bucket=bucket)
    return Aws(moto_url, kinesis, s3, stream, bucket)


@pytest.fixture
def proxy(moto_url: str) -> Iterator[LoopbackProxy]:
    running = LoopbackProxy(moto_url).start()
    yield running
    running.stop()
