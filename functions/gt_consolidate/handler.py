"""Ground Truth annotation-consolidation Lambda: workers' answers in, the majority out."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.data.dynamo import client
from walkout.data.labeling import AnnotationPayloads
from walkout.observability import logger, metrics, set_stage, tracer
from walkout.review.groundtruth import ConsolidationRequest
from walkout.review.service import consolidate_payload
from walkout.review.settings import StageSettings
from walkout.settings import get_settings, init_environment


@init_environment(StageSettings)
@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    set_stage(get_settings(StageSettings).stage)
    request = ConsolidationRequest.model_validate(event)
    return consolidate_payload(request, AnnotationPayloads(client("s3")))
