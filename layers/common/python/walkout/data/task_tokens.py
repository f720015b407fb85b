"""Step Functions task tokens: how a review hands its answer back to the waiting workflow.

A token is single-use and dies with its task (answered, timed out, retried). Step Functions
answers a dead token with `TaskTimedOut`, `InvalidToken` or `TaskDoesNotExist`; that is not
an error here but an outcome ("the workflow has moved on"), so the calls return False and
a redelivered message is harmless.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from walkout.data.dynamo import error_code

CLOSED_TOKEN_CODES: Final = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
# SendTaskFailure limits: error 256 characters, cause 32,768.
MAX_ERROR = 256
MAX_CAUSE = 32_768


def _closed(exc: Exception) -> bool:
    return error_code(exc) in CLOSED_TOKEN_CODES


class TaskCallbacks:
    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn

    def succeed(self, token: str, output: Mapping[str, Any]) -> bool:
        """Hand `output` to the waiting step; False if the token is no longer alive."""
        try:
            self.sfn.send_task_success(taskToken=token, output=json.dumps(output, sort_keys=True))
        except Exception as exc:
            if _closed(exc):
                return False
            raise
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        try:
            self.sfn.send_task_failure(
                taskToken=token, error=error[:MAX_ERROR], cause=cause[:MAX_CAUSE]
            )
        except Exception as exc:
            if _closed(exc):
                return False
            raise
        return True

    def heartbeat(self, token: str) -> bool:
        """Tell the waiting step the task is alive; False if it is not waiting any more."""
        try:
            self.sfn.send_task_heartbeat(taskToken=token)
        except Exception as exc:
            if _closed(exc):
                return False
            raise
        return True
