"""The local runtime's task callbacks: a heartbeat moto refuses as `InvalidToken` while the
`.waitForTaskToken` Lambda is still returning is tried again; other outcomes are as in AWS.
(botocore's Stubber checks the calls against the Step Functions service model.)"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from localcloud import reviewer
from localcloud.reviewer import LocalTaskCallbacks

TOKEN = "token-1"


@pytest.fixture
def sfn() -> Iterator[tuple[LocalTaskCallbacks, Stubber]]:
    client = boto3.client(
        "stepfunctions",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield LocalTaskCallbacks(client), stubber
        stubber.assert_no_pending_responses()


def refuse(stubber: Stubber, code: str) -> None:
    stubber.add_client_error(
        "send_task_heartbeat", service_error_code=code, expected_params={"taskToken": TOKEN}
    )


def test_a_heartbeat_refused_for_a_moment_as_an_invalid_token_gets_through(
    sfn: tuple[LocalTaskCallbacks, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    callbacks, stubber = sfn
    monkeypatch.setattr(reviewer, "HEARTBEAT_RETRY_EVERY_S", 0.0)
    refuse(stubber, "InvalidToken")
    refuse(stubber, "InvalidToken")
    stubber.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})

    assert callbacks.heartbeat(TOKEN) is True


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist"])
def test_a_workflow_that_moved_on_is_told_at_once(
    sfn: tuple[LocalTaskCallbacks, Stubber], code: str
) -> None:
    callbacks, stubber = sfn
    refuse(stubber, code)

    assert callbacks.heartbeat(TOKEN) is False
    # and it is not reported as a live workflow's token refused
    assert callbacks.refused == []


def test_an_invalid_token_for_longer_than_the_retry_window_is_a_closed_task(
    sfn: tuple[LocalTaskCallbacks, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    callbacks, stubber = sfn
    monkeypatch.setattr(reviewer, "HEARTBEAT_RETRY_S", 0.0)
    refuse(stubber, "InvalidToken")

    assert callbacks.heartbeat(TOKEN) is False
    # and the run is told: a live workflow's task may have been closed unanswered
    assert len(callbacks.refused) == 1 and "InvalidToken" in callbacks.refused[0]
