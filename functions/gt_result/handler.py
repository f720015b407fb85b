"""Ground Truth's output topic subscriber: one output-manifest line per SNS record, its
answer handed back to the waiting workflow. Safe to deliver twice."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.observability import logger, metrics, set_stage, tracer
from walkout.review.groundtruth import message_line
from walkout.review.service import GroundTruthResults
from walkout.review.settings import ReviewTasksSettings, review_ports
from walkout.settings import get_settings, init_environment

_results: GroundTruthResults | None = None


def results() -> GroundTruthResults:
    global _results  # noqa: PLW0603 - one per container
    if _results is None:
        settings = get_settings(ReviewTasksSettings)
        set_stage(settings.stage)
        _results = GroundTruthResults(*review_ports(settings))
    return _results


@init_environment(ReviewTasksSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    decisions = [
        results().deliver(message_line(record.sns.message)) for record in SNSEvent(event).records
    ]
    return {"decisions": decisions}
