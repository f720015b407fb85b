"""Ground Truth pre-annotation Lambda: a data object in, the worker task input out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.data.dynamo import client
from walkout.data.task_tokens import TaskCallbacks
from walkout.observability import logger, metrics, set_stage, tracer
from walkout.review.groundtruth import PreAnnotationRequest
from walkout.review.service import take_in
from walkout.review.settings import StageSettings
from walkout.settings import get_settings, init_environment


@init_environment(StageSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    set_stage(get_settings(StageSettings).stage)
    request = PreAnnotationRequest.model_validate(event)
    return take_in(request, TaskCallbacks(client("stepfunctions")))
