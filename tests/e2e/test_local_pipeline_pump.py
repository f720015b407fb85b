"""The local runtime's Kinesis event source mapping (`localcloud.pump`) against moto in server
mode: partial batch failures, bisection, bounded retries with the on-failure message, and a
restart from the checkpoint file. The function is a stand-in that records what it was given
(the ingest handler itself is covered by the pipeline test)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.pump import Checkpoints, KinesisPump
from localcloud.runtime import REGION, LocalCloud
from walkout.config import DeploymentConfig, IngestTuning

TUNING = IngestTuning(batch_size=4, batching_window_s=0, retry_attempts=2)


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    local = LocalCloud(DeploymentConfig(stage="pumptest"))
    local.start()
    try:
        yield local
    finally:
        local.close()


class Function:
    """Records each batch's payloads; `fail(payload)` says whether a record fails."""

    def __init__(self, fail: Callable[[str, int], bool] = lambda payload, attempt: False):
        self.fail = fail
        self.batches: list[list[str]] = []
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        import base64  # noqa: PLC0415

        records = event["Records"]
        payloads = [base64.b64decode(r["kinesis"]["data"]).decode() for r in records]
        with self.lock:
            self.batches.append(payloads)
        failures = []
        for record, payload in zip(records, payloads, strict=True):
            with self.lock:
                attempt = self.attempts.get(payload, 0) + 1
                self.attempts[payload] = attempt
            if self.fail(payload, attempt):
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
        return {"batchItemFailures": failures}

    def handled(self) -> list[str]:
        """Payloads in the order they were last handled without failing."""
        seen: list[str] = []
        for batch in self.batches:
            for payload in batch:
                if payload in seen:
                    seen.remove(payload)
                seen.append(payload)
        return seen


def put(cloud: LocalCloud, payloads: list[str]) -> None:
    assert cloud.deployment is not None
    kinesis = cloud.client("kinesis")
    for payload in payloads:
        kinesis.put_record(
            StreamName=cloud.deployment.stream_name, Data=payload.encode(), PartitionKey="store-p"
        )


def pump(cloud: LocalCloud, function: Function, checkpoint: Path) -> KinesisPump:
    assert cloud.deployment is not None
    return KinesisPump(
        kinesis=cloud.client("kinesis"),
        sqs=cloud.client("sqs"),
        stream_name=cloud.deployment.stream_name,
        region=REGION,
        tuning=TUNING,
        invoke=function,
        failure_queue_url=cloud.deployment.ingest_failure_queue,
        checkpoints=Checkpoints(checkpoint),
    )


def wait_idle(running: KinesisPump, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if running.idle():
            return
        time.sleep(0.05)
    raise AssertionError("the pump did not catch up")


def failure_messages(cloud: LocalCloud) -> list[dict[str, Any]]:
    assert cloud.deployment is not None
    sqs = cloud.client("sqs")
    out = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=cloud.deployment.ingest_failure_queue, MaxNumberOfMessages=10
        ).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(
                QueueUrl=cloud.deployment.ingest_failure_queue, ReceiptHandle=m["ReceiptHandle"]
            )


def test_partial_failures_retry_from_the_first_failed_record_and_poison_is_given_up_on(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given a stream where "r3" fails once and "poison" always fails
    payloads = ["r1", "r2", "r3", "r4", "poison", "r6", "r7"]
    put(cloud, payloads)
    function = Function(lambda p, attempt: p == "poison" or (p == "r3" and attempt == 1))

    # When the pump drains it
    running = pump(cloud, function, tmp_path / "checkpoint.json")
    running.start()
    try:
        wait_idle(running)
    finally:
        running.stop()

    # Then every record but the poison was handled, in stream order
    assert [p for p in function.handled() if p != "poison"] == [
        p for p in payloads if p != "poison"
    ]
    # and the poison was tried at least 1 + retry_attempts times, isolated by bisection, and
    # then its position alone was given up on
    assert function.attempts["poison"] >= 1 + TUNING.retry_attempts
    [message] = failure_messages(cloud)
    info = message["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    # and a batch after a failure never re-delivered records before the first failed one
    retried = [b for b in function.batches if b and b[0] == "r3"]
    assert retried, "r3's batch was not retried from r3"


def test_a_restarted_pump_resumes_after_its_checkpoint(cloud: LocalCloud, tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    first = Function()
    running = pump(cloud, first, checkpoint)
    running.start()
    try:
        wait_idle(running)  # whatever the stream already holds
    finally:
        running.stop()
    before = set(first.handled())

    # Given a stopped pump, and records written while it was down
    fresh = [f"late-{i}" for i in range(6)]
    put(cloud, fresh)

    # When a new pump starts from the checkpoint file
    second = Function()
    restarted = pump(cloud, second, checkpoint)
    restarted.start()
    try:
        wait_idle(restarted)
    finally:
        restarted.stop()

    # Then it handles exactly the new records, in order, and none handled before
    assert second.handled() == fresh
    assert not before & set(second.handled())


def test_a_cancelled_transaction_changes_nothing_and_a_committed_one_everything(
    cloud: LocalCloud,
) -> None:
    # Given an item in one of the stack's tables on the runtime's moto (localcloud.moto_speed
    # replaces moto's whole-table copy with a copy of the items a transaction names)
    ddb = cloud.client("dynamodb")
    table = cloud.config.table_name("ingest")

    def item(sk: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = ddb.get_item(
            TableName=table, Key={"pk": {"S": "tx"}, "sk": {"S": sk}}
        ).get("Item")
        return found

    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": "tx"}, "sk": {"S": "a"}, "v": {"N": "1"}, "raw": {"B": b"\x00\xff"}},
    )
    writes: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "tx"}, "sk": {"S": "a"}},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"N": "2"}},
            }
        },
        {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"S": "b"}}}},
    ]
    failing_check = {
        "ConditionCheck": {
            "TableName": table,
            "Key": {"pk": {"S": "tx"}, "sk": {"S": "missing"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }

    # When a transaction whose last condition fails is sent
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[*writes, failing_check])

    # Then nothing of it happened
    before = item("a")
    assert before is not None
    assert before["v"] == {"N": "1"}
    assert before["raw"] == {"B": b"\x00\xff"}
    assert item("b") is None

    # When the same writes are sent without the failing condition, all of them happen
    ddb.transact_write_items(TransactItems=writes)
    after = item("a")
    assert after is not None
    assert after["v"] == {"N": "2"}
    assert item("b") is not None
    listed = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "tx"}},
    )["Items"]
    assert [i["sk"]["S"] for i in listed] == ["a", "b"]
