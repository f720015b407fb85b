"""localcloud.pipeline: how a run tells its workflows are all done."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from localcloud.pipeline import running_workflows

WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}


def test_every_running_workflow_is_counted_in_one_look() -> None:
    # Executions that stay RUNNING until stopped (a test that ran before may have told
    # moto to interpret state machines, whose stops then land a moment later)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": False}}):
        sfn = boto3.client("stepfunctions", region_name="eu-west-1")
        arn = sfn.create_state_machine(
            name="finalize",
            definition=json.dumps(WAIT),
            roleArn="arn:aws:iam::123456789012:role/finalize",
        )["stateMachineArn"]
        # Given more running executions than the API's default page (100)
        runs = [
            sfn.start_execution(stateMachineArn=arn, name=f"run-{k}")["executionArn"]
            for k in range(150)
        ]
        assert running_workflows(sfn, arn) == 150
        # When some finish
        for run in runs[:40]:
            sfn.stop_execution(executionArn=run)
        # Then they are no longer counted, and none running is none
        assert running_workflows(sfn, arn) == 110
        for run in runs[40:]:
            sfn.stop_execution(executionArn=run)
        assert running_workflows(sfn, arn) == 0
