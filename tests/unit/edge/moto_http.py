"""Real boto3 clients against an in-process moto server, and failures injected on the wire.

`MotoAws` is the test's view of a `ThreadedMotoServer` (real HTTP on loopback): it makes
streams and buckets, reads back what a stream holds (deaggregated with `aws_kinesis_agg`,
as a consumer does) and hands out clients configured as the daemon configures its own
(botocore's retries off: the uplink retries with its own backoff).

`PutRecordsScript` answers a real client's `PutRecords` calls one scripted answer at a time
at the HTTP level, through botocore's `before-send` event; the client, its serializer,
its response parser and its error classes are the real ones:

- `"ok"`: the request goes to moto unchanged;
- `"throttle:KEY"`: the records of partition key KEY are refused with
  `ProvisionedThroughputExceededException` and the others forwarded to moto, and the
  answer carries both at their positions, as Kinesis answers a partial failure;
- `"error:CODE"`: the call is refused as a whole with a 400 `CODE` body;
- `"down"`: the request is sent to a closed port on loopback (connection refused);
- an exception: raised where the HTTP layer would raise (a bug outside botocore's errors).
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config as BotoConfig

# Shared with the edge integration tests; their support module lives beside them.
_EDGE_KIT = str(Path(__file__).resolve().parents[2] / "integration" / "edge")
if _EDGE_KIT not in sys.path:
    sys.path.append(_EDGE_KIT)
from edge_kit import shard_pages  # noqa: E402

REGION = "eu-west-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
# Nothing listens on the discard port of loopback: a connection is refused at once.
CLOSED_URL = "http://127.0.0.1:9"
THROTTLED = "ProvisionedThroughputExceededException"


@dataclass
class MotoAws:
    url: str

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        """A client as the daemon makes one: no retries inside botocore."""
        config = BotoConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=5,
            s3={"addressing_style": "path"},
        )
        return boto3.client(
            service, endpoint_url=endpoint_url or self.url, region_name=REGION, config=config
        )

    def stream(self) -> str:
        name = f"events-{uuid.uuid4().hex[:10]}"
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        return name

    def bucket(self) -> str:
        name = f"evidence-{uuid.uuid4().hex[:10]}"
        self.client("s3").create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        return name

    def user_records(self, stream: str) -> list[tuple[str, bytes]]:
        """Every user record the stream holds, `(partition key, data)`, in order."""
        out: list[tuple[str, bytes]] = []
        for records in shard_pages(self.client("kinesis"), stream):
            for user in iter_deaggregate_records(records, data_format="Boto3"):
                record = user["kinesis"]
                out.append((record["partitionKey"], base64.b64decode(record["data"])))
        return out

    def object_keys(self, bucket: str) -> list[str]:
        listed = self.client("s3").list_objects_v2(Bucket=bucket)
        return [o["Key"] for o in listed.get("Contents", [])]


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _json_response(url: str, status: int, doc: dict[str, Any]) -> AWSResponse:
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "x-amzn-RequestId": uuid.uuid4().hex,
    }
    return AWSResponse(url, status, headers, _Body(json.dumps(doc).encode()))


class PutRecordsScript:
    """Scripted answers to a real client's PutRecords calls (see the module docstring)."""

    def __init__(self, client: Any, aws: MotoAws, *answers: Any) -> None:
        self.answers = list(answers)
        # Each request's records as they went on the wire: partition key and data.
        self.requests: list[list[tuple[str, bytes]]] = []
        self._upstream = aws.client("kinesis")
        client.meta.events.register_first("before-send.kinesis.PutRecords", self._before_send)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        body = request.body
        doc = json.loads(body.decode() if isinstance(body, bytes) else str(body))
        records = [(r["PartitionKey"], base64.b64decode(r["Data"])) for r in doc["Records"]]
        self.requests.append(records)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if answer == "ok":
            return None
        if answer == "down":
            request.url = CLOSED_URL + "/"
            return None
        kind, _colon, arg = str(answer).partition(":")
        if kind == "error":
            return _json_response(request.url, 400, {"__type": arg, "message": "refused"})
        if kind == "throttle":
            return self._partial(request.url, doc["StreamName"], records, refused_key=arg)
        raise AssertionError(f"unknown scripted answer {answer!r}")

    def _partial(
        self, url: str, stream: str, records: list[tuple[str, bytes]], refused_key: str
    ) -> AWSResponse:
        passed = [(k, d) for k, d in records if k != refused_key]
        stored: list[dict[str, Any]] = []
        if passed:
            stored = self._upstream.put_records(
                StreamName=stream, Records=[{"PartitionKey": k, "Data": d} for k, d in passed]
            )["Records"]
        answers = iter(stored)
        results = [
            {"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded for shard (injected)"}
            if key == refused_key
            else next(answers)
            for key, _ in records
        ]
        failed = sum("ErrorCode" in r for r in results)
        return _json_response(url, 200, {"FailedRecordCount": failed, "Records": results})
