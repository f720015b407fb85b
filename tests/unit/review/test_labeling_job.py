"""The streaming labeling job the custom resource manages: its name, and the SageMaker calls,
validated by botocore's Stubber against the real SageMaker and S3 service models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from walkout.data.labeling import LabelingJobs
from walkout.review.groundtruth import LABEL_ATTRIBUTE
from walkout.review.labeling_job import (
    JOB_NAME_PATTERN,
    MAX_JOB_NAME,
    LabelingJobSpec,
    create_request,
    job_name,
)
from walkout.review.service import LabelingJobResource, TemplateMismatchError
from walkout.review.template import template_key, template_sha256

ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = "walkout-production"


def properties(**overrides: Any) -> dict[str, Any]:
    """The custom resource's properties as CloudFormation sends them (all strings)."""
    props = {
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:provider",
        "NamePrefix": "walkout-production",
        "JobVersion": "12",
        "WorkteamArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/reviewers",
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/walkout-production-groundtruth",
        "InputTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:walkout-production-review-input",
        "OutputTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:walkout-production-review-output",
        "Bucket": "walkout-production-reviewbucket-1a2b3c4d5e6f",
        "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0c5a1f57-1111-2222-3333-444455556666",
        "PreLambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-review-gt-pre",
        "ConsolidationLambdaArn": (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{PREFIX}-review-gt-consolidate"
        ),
        "TemplateSha256": template_sha256(),
        "WorkersPerTask": "3",
        "TaskTimeLimitS": "600",
        "TaskAvailabilityS": "2400",
        "MaxConcurrentTasks": "100",
    }
    props.update(overrides)
    return props


def spec(**overrides: Any) -> LabelingJobSpec:
    return LabelingJobSpec.model_validate(properties(**overrides))


@pytest.fixture(scope="module")
def real_clients() -> tuple[Any, Any]:
    """Clients with the real service models (loading them is the slow part)."""
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return session.client("sagemaker"), session.client("s3")


@pytest.fixture
def clients(real_clients: tuple[Any, Any]) -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    sagemaker, s3 = real_clients
    with Stubber(sagemaker) as sm_stub, Stubber(s3) as s3_stub:
        yield sagemaker, sm_stub, s3, s3_stub
        sm_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()


def test_job_names_are_versioned_valid_and_at_most_63_characters() -> None:
    long_prefix = spec(NamePrefix="walkout-" + "x" * 16, JobVersion="9999")

    name = job_name(long_prefix, "a-cloudformation-request-id")

    assert len(name) <= MAX_JOB_NAME and JOB_NAME_PATTERN.fullmatch(name)
    assert name.startswith("walkout-xxxxxxxxxxxxxxxx-review-v9999-")


def test_a_retried_request_reuses_its_name_and_anything_else_gets_a_new_one() -> None:
    first = job_name(spec(), "request-1")

    assert job_name(spec(), "request-1") == first
    assert job_name(spec(), "request-2") != first
    assert job_name(spec(WorkersPerTask="5"), "request-1") != first
    assert job_name(spec(JobVersion="13"), "request-1") != first


def test_create_labeling_job_request_passes_the_real_service_model(
    clients: tuple[Any, Stubber, Any, Stubber],
) -> None:
    sagemaker, stub, s3, _ = clients
    request = create_request(spec(), "walkout-production-review-v12-0123456789")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{request['LabelingJobName']}"
    stub.add_response("create_labeling_job", {"LabelingJobArn": arn}, expected_params=request)

    assert LabelingJobs(sagemaker, s3).create(request) == arn
    assert request["LabelAttributeName"] == LABEL_ATTRIBUTE
    assert request["InputConfig"]["DataSource"] == {
        "SnsDataSource": {"SnsTopicArn": properties()["InputTopicArn"]}
    }
    human = request["HumanTaskConfig"]
    assert human["UiConfig"]["UiTemplateS3Uri"].endswith(template_key(template_sha256()))
    assert (human["NumberOfHumanWorkersPerDataObject"], human["TaskTimeLimitInSeconds"]) == (3, 600)


def test_a_job_created_by_an_earlier_attempt_is_taken_as_created(
    clients: tuple[Any, Stubber, Any, Stubber],
) -> None:
    sagemaker, stub, s3, _ = clients
    request = create_request(spec(), "walkout-production-review-v12-0123456789")
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{PREFIX}-review-v12-0123456789"
    stub.add_client_error("create_labeling_job", "ResourceInUse", "already exists")
    stub.add_response(
        "describe_labeling_job",
        _described(arn),
        expected_params={"LabelingJobName": request["LabelingJobName"]},
    )

    assert LabelingJobs(sagemaker, s3).create(request) == arn


def test_the_custom_resource_uploads_the_template_and_creates_the_job(
    clients: tuple[Any, Stubber, Any, Stubber],
) -> None:
    sagemaker, sm_stub, s3, s3_stub = clients
    event = {"RequestType": "Create", "RequestId": "req-1", "ResourceProperties": properties()}
    name = job_name(spec(), "req-1")
    s3_stub.add_response(
        "put_object",
        {},
        expected_params={
            "Bucket": properties()["Bucket"],
            "Key": template_key(template_sha256()),
            "Body": ANY,
            "ContentType": "text/html",
        },
    )
    sm_stub.add_response(
        "create_labeling_job",
        {"LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}"},
        expected_params=create_request(spec(), name),
    )

    response = LabelingJobResource(LabelingJobs(sagemaker, s3)).on_event(event)

    assert response["PhysicalResourceId"] == name
    assert response["Data"]["LabelingJobName"] == name


def test_an_update_that_changes_nothing_keeps_the_job(
    clients: tuple[Any, Stubber, Any, Stubber],
) -> None:
    sagemaker, _, s3, _ = clients
    event = {
        "RequestType": "Update",
        "RequestId": "req-2",
        "PhysicalResourceId": "walkout-production-review-v12-aaaaaaaaaa",
        "ResourceProperties": properties(),
        "OldResourceProperties": properties(ServiceToken="arn:aws:lambda:x:1:function:old"),
    }

    response = LabelingJobResource(LabelingJobs(sagemaker, s3)).on_event(event)

    assert response["PhysicalResourceId"] == "walkout-production-review-v12-aaaaaaaaaa"


def test_an_update_that_changes_the_job_creates_a_new_one(
    clients: tuple[Any, Stubber, Any, Stubber],
) -> None:
    sagemaker, sm_stub, s3, s3_stub = clients
    event = {
        "RequestType": "Update",
        "RequestId": "req-3",
        "PhysicalResourceId": "walkout-production-review-v12-aaaaaaaaaa",
        "ResourceProperties": properties(JobVersion="13"),
        "OldResourceProperties": properties(),
    }
    name = job_name(spec(JobVersion="13"), "req-3")
    s3_stub.add_response("put_object", {})
    sm_stub.add_response(
        "create_labeling_job",
        {"LabelingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:labeling-job/{name}"},
    )

    response = LabelingJobResource(LabelingJobs(sagemaker, s3)).on_event(event)

    # CloudFormation then deletes the old physical id, which stops the old job
    assert response["PhysicalResourceId"] == name != event["PhysicalResourceId"]
    assert "-review-v13-" in name


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (None, None),
        ("ValidationException", "The job is already stopped"),
        ("ResourceNotFound", "x"),
    ],
)
def test_delete_stops_the_job_and_a_stopped_or_missing_job_is_fine(
    clients: tuple[Any, Stubber, Any, Stubber], error: str | None, message: str | None
) -> None:
    sagemaker, stub, s3, _ = clients
    name = "walkout-production-review-v12-aaaaaaaaaa"
    if error is None:
        stub.add_response("stop_labeling_job", {}, expected_params={"LabelingJobName": name})
    else:
        stub.add_client_error("stop_labeling_job", error, message or "")
    event = {"RequestType": "Delete", "RequestId": "r", "PhysicalResourceId": name}

    response = LabelingJobResource(LabelingJobs(sagemaker, s3)).on_event(event)

    assert response == {"PhysicalResourceId": name}


def test_a_failed_create_deletes_nothing(clients: tuple[Any, Stubber, Any, Stubber]) -> None:
    # A create that failed leaves CloudFormation's placeholder id, not a job name
    sagemaker, _, s3, _ = clients
    event = {"RequestType": "Delete", "RequestId": "r", "PhysicalResourceId": "resource/abc:xyz"}

    assert LabelingJobResource(LabelingJobs(sagemaker, s3)).on_event(event)["PhysicalResourceId"]


def test_a_template_other_than_the_stacks_is_refused(
    clients: tuple[Any, Stubber, Any, Stubber],
) -> None:
    sagemaker, _, s3, _ = clients
    event = {
        "RequestType": "Create",
        "RequestId": "r",
        "ResourceProperties": properties(TemplateSha256="0" * 64),
    }

    with pytest.raises(TemplateMismatchError):
        LabelingJobResource(LabelingJobs(sagemaker, s3)).on_event(event)


def _described(arn: str) -> dict[str, Any]:
    request = create_request(spec(), arn.rsplit("/", 1)[1])
    return {
        "LabelingJobStatus": "InProgress",
        "LabelCounters": {},
        "CreationTime": datetime(2026, 11, 25, tzinfo=UTC),
        "LastModifiedTime": datetime(2026, 11, 25, tzinfo=UTC),
        "JobReferenceCode": "ref",
        "LabelingJobName": request["LabelingJobName"],
        "LabelingJobArn": arn,
        "LabelAttributeName": LABEL_ATTRIBUTE,
        "InputConfig": request["InputConfig"],
        "OutputConfig": request["OutputConfig"],
        "RoleArn": request["RoleArn"],
        "HumanTaskConfig": request["HumanTaskConfig"],
    }
