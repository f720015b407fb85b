"""The local runtime's HTTP endpoint: connections stay open across calls, and Lambda invoked
by many state machine executions at once cannot starve the endpoint's worker pool."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import pytest

from localcloud import runtime
from localcloud.runtime import HOST, LocalCloud
from walkout.config import DeploymentConfig

# A pool far smaller than the executions started at once below.
SMALL_POOL = 2


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    pool = runtime.POOL_THREADS
    runtime.POOL_THREADS = SMALL_POOL
    local = LocalCloud(DeploymentConfig(stage="servertest"))
    try:
        local.start()
        yield local
    finally:
        local.close()
        runtime.POOL_THREADS = pool


def test_a_connection_stays_open_across_calls(cloud: LocalCloud) -> None:
    # Given one HTTP/1.1 connection to the endpoint
    connection = http.client.HTTPConnection(HOST, cloud.port, timeout=10)
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261126/eu-west-1/dynamodb/"
        "aws4_request, SignedHeaders=host, Signature=0",
    }
    sockets: set[tuple[str, int]] = set()
    try:
        for _ in range(3):
            # When calls are made on it one after another
            connection.request("POST", "/", body=b"{}", headers=headers)
            response = connection.getresponse()
            body = json.loads(response.read())
            # Then each is answered, and the server does not close the connection after it
            assert response.status == 200 and body["TableNames"]
            assert not response.will_close
            assert connection.sock is not None
            sockets.add(connection.sock.getsockname())
    finally:
        connection.close()
    assert len(sockets) == 1


def test_many_executions_at_once_all_finish(cloud: LocalCloud) -> None:
    # Given more finalize executions started at once than the endpoint has workers; each
    # step's function calls DynamoDB while its invocation is still in progress
    assert cloud.deployment is not None
    sfn = cloud.client("stepfunctions")
    attention_before = cloud.dispatcher.count("finalize-attention")
    arns = [
        sfn.start_execution(
            stateMachineArn=cloud.deployment.state_machine_arn,
            name=f"many-{n}",
            input=json.dumps({"store_id": "store-x", "session_id": f"nobody-{n}"}),
        )["executionArn"]
        for n in range(4 * SMALL_POOL)
    ]
    # When they run (their sessions are unknown: each is flagged for a person's attention)
    deadline = time.monotonic() + 60
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [sfn.describe_execution(executionArn=a)["status"] for a in arns]
        if "RUNNING" not in statuses:
            break
        time.sleep(0.5)
    # Then every one of them went the whole way, well within the functions' read timeouts:
    # assessed, flagged by its own MarkForAttention step, and ended in the Fail state with
    # the assessment's error
    assert statuses == ["FAILED"] * len(arns), statuses
    assert cloud.dispatcher.count("finalize-attention") - attention_before == len(arns)
    errors = {sfn.describe_execution(executionArn=a).get("error") for a in arns}
    assert errors == {"SessionNotFoundError"}


def test_a_restart_serves_the_same_account_on_the_same_ports(cloud: LocalCloud) -> None:
    # Given a client with a connection to the endpoint open, and the tables it lists
    ddb = cloud.client("dynamodb")
    tables = ddb.list_tables()["TableNames"]
    ports = (cloud.port, cloud.invoke_port)
    # When the runtime is stopped and started again
    cloud.stop()
    cloud.start()
    # Then it listens where it did, and the same client (reconnecting) sees the same account
    assert (cloud.port, cloud.invoke_port) == ports
    assert ddb.list_tables()["TableNames"] == tables
