"""The hand-over of a ready session to the finalize workflow (Step Functions).

The execution name derives from the session key (`lifecycle.execution_name`): starting the
same session twice starts one execution. Step Functions answers a repeat of a running
Standard execution with the same name and input with that execution; once it has ended it
answers `ExecutionAlreadyExists`, which here also means "already handed over".
"""

from __future__ import annotations

import json
from typing import Any

from walkout.ingest.lifecycle import execution_name


class FinalizeWorkflow:
    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self.sfn = sfn
        self.state_machine_arn = state_machine_arn
        self.started = 0

    def execution_arn(self, store_id: str, session_id: str) -> str:
        name = execution_name(store_id, session_id)
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{name}"

    def start(self, store_id: str, session_id: str) -> str:
        """Start (or find) the session's execution; returns its ARN."""
        session_key = {"store_id": store_id, "session_id": session_id}
        try:
            response = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=execution_name(store_id, session_id),
                input=json.dumps(session_key, sort_keys=True),
            )
        except self.sfn.exceptions.ExecutionAlreadyExists:
            return self.execution_arn(store_id, session_id)
        self.started += 1
        return str(response["executionArn"])
