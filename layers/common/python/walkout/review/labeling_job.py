"""The streaming labeling job, as the custom resource creates it (CloudFormation has no
labeling-job resource): its properties, its versioned name and the `CreateLabelingJob`
request. Pure; `walkout.data.labeling` makes the calls.

Job names are unique forever and at most 63 characters. A name is
`<prefix>-review-v<job_version>-<hash>`, the hash over everything the job is made of and the
CloudFormation request that creates it: a retried request reuses its name (creation is
then idempotent), any change or a re-creation of the stack gets a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_pascal

from walkout.review.groundtruth import LABEL_ATTRIBUTE
from walkout.review.template import template_key

MAX_JOB_NAME: Final = 63
JOB_NAME_PATTERN: Final = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
TASK_TITLE: Final = "Walkout: who took what?"
TASK_DESCRIPTION: Final = (
    "Look at a few moments of a shop visit and say which marked shopper moved which item,"
    " and how many."
)
TASK_KEYWORDS: Final = ("retail", "image", "verification")


class LabelingJobSpec(BaseModel):
    """The custom resource's properties (CloudFormation passes every value as a string)."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_pascal, populate_by_name=True
    )

    name_prefix: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    job_version: int = Field(ge=1, le=9999)
    workteam_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sagemaker:")
    role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::")
    input_topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:")
    output_topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:")
    bucket: str = Field(min_length=3, max_length=63)
    kms_key_arn: str = Field(pattern=r"^arn:aws[a-z-]*:kms:")
    pre_lambda_arn: str = Field(pattern=r"^arn:aws[a-z-]*:lambda:")
    consolidation_lambda_arn: str = Field(pattern=r"^arn:aws[a-z-]*:lambda:")
    template_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    workers_per_task: int = Field(ge=1, le=9)
    task_time_limit_s: int = Field(ge=30, le=28_800)
    task_availability_s: int = Field(ge=60, le=864_000)
    max_concurrent_tasks: int = Field(ge=1, le=5000)

    @property
    def template_uri(self) -> str:
        return f"s3://{self.bucket}/{template_key(self.template_sha256)}"

    @property
    def output_uri(self) -> str:
        return f"s3://{self.bucket}/output/"

    def fingerprint(self) -> str:
        return hashlib.sha256(
            json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()


def job_name(spec: LabelingJobSpec, request_id: str) -> str:
    digest = hashlib.sha256(f"{spec.fingerprint()}#{request_id}".encode()).hexdigest()[:10]
    name = f"{spec.name_prefix}-review-v{spec.job_version}-{digest}"
    if len(name) > MAX_JOB_NAME or not JOB_NAME_PATTERN.fullmatch(name):
        raise ValueError(f"labeling job name {name!r} is not a valid name of <= 63 characters")
    return name


def create_request(spec: LabelingJobSpec, name: str) -> dict[str, Any]:
    """`CreateLabelingJob` parameters for the streaming job (boto3 spelling)."""
    return {
        "LabelingJobName": name,
        "LabelAttributeName": LABEL_ATTRIBUTE,
        # No `DataAttributes`: those classify content for the public workforce, which never
        # sees Walkout's evidence (it shows shoppers); the job's work team is private.
        "InputConfig": {"DataSource": {"SnsDataSource": {"SnsTopicArn": spec.input_topic_arn}}},
        "OutputConfig": {
            "S3OutputPath": spec.output_uri,
            "KmsKeyId": spec.kms_key_arn,
            "SnsTopicArn": spec.output_topic_arn,
        },
        "RoleArn": spec.role_arn,
        "HumanTaskConfig": {
            "WorkteamArn": spec.workteam_arn,
            "UiConfig": {"UiTemplateS3Uri": spec.template_uri},
            "PreHumanTaskLambdaArn": spec.pre_lambda_arn,
            "TaskKeywords": list(TASK_KEYWORDS),
            "TaskTitle": TASK_TITLE,
            "TaskDescription": TASK_DESCRIPTION,
            "NumberOfHumanWorkersPerDataObject": spec.workers_per_task,
            "TaskTimeLimitInSeconds": spec.task_time_limit_s,
            "TaskAvailabilityLifetimeInSeconds": spec.task_availability_s,
            "MaxConcurrentTaskCount": spec.max_concurrent_tasks,
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": spec.consolidation_lambda_arn
            },
        },
        "Tags": [{"Key": "project", "Value": "walkout"}],
    }
