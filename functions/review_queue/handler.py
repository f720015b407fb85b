"""The console adapter's queue: the workflow's review step (`lambda:invoke.waitForTaskToken`)
hands it the review task and the task token; it stores both for the HTTP API."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.observability import logger, metrics, set_stage, tracer
from walkout.review.console import ConsoleReview
from walkout.review.contract import ReviewTask
from walkout.review.settings import ReviewTasksSettings, review_ports
from walkout.settings import get_settings, init_environment

_console: ConsoleReview | None = None


def console() -> ConsoleReview:
    global _console  # noqa: PLW0603 - one per container
    if _console is None:
        settings = get_settings(ReviewTasksSettings)
        set_stage(settings.stage)
        _console = ConsoleReview(*review_ports(settings))
    return _console


@init_environment(ReviewTasksSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = ReviewTask.model_validate(event["task"])
    return {"queued": console().enqueue(task, str(event["task_token"]))}
