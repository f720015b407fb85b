"""Custom resource (CDK Provider framework `onEvent`): the streaming labeling job and its
worker template. CloudFormation has no labeling-job resource."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from walkout.data.dynamo import client
from walkout.data.labeling import LabelingJobs
from walkout.observability import logger, set_stage
from walkout.review.service import LabelingJobResource
from walkout.review.settings import StageSettings
from walkout.settings import get_settings, init_environment


@init_environment(StageSettings)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    set_stage(get_settings(StageSettings).stage)
    resource = LabelingJobResource(LabelingJobs(client("sagemaker"), client("s3")))
    return resource.on_event(event)
