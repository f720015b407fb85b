"""The Ground Truth adapter's Lambda steps: the pure contracts of `groundtruth` wired to
Step Functions callbacks, the review answer record and S3.

- `take_in` (pre-annotation): the worker-facing task input; tells the workflow the task
  reached the labeling job (a heartbeat).
- `consolidate` (annotation consolidation): majority over the workers' answers.
- `deliver` (output topic subscriber): record the answer, send the token back. Idempotent:
  SNS may deliver a line twice; the first recorded answer is the one sent, and a token
  already used is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from walkout import observability as obs
from walkout.data.dynamo import Clock, utc_clock
from walkout.data.labeling import AnnotationPayloads, LabelingJobs
from walkout.data.review_tasks import ReviewTasksTable
from walkout.data.task_tokens import TaskCallbacks
from walkout.review.contract import REVIEW_UNRESOLVED
from walkout.review.groundtruth import (
    ConsolidationRequest,
    DatasetObject,
    Decision,
    PreAnnotationRequest,
    consolidate,
    pre_annotation,
    review_result,
    task_of,
)
from walkout.review.labeling_job import (
    JOB_NAME_PATTERN,
    LabelingJobSpec,
    create_request,
    job_name,
)
from walkout.review.template import template_sha256, template_text


def take_in(request: PreAnnotationRequest, callbacks: TaskCallbacks) -> dict[str, Any]:
    response = pre_annotation(request)
    _, token = task_of(request.data_object)
    if not callbacks.heartbeat(token):
        # The workflow gave up already (it charged only confident items); workers may still
        # look, and their answer will arrive too late to matter.
        obs.logger.warning("review task reached Ground Truth after its workflow moved on")
    return response


def consolidate_payload(
    request: ConsolidationRequest, payloads: AnnotationPayloads
) -> list[dict[str, Any]]:
    objects = [DatasetObject.model_validate(o) for o in payloads.read(request.payload.s3_uri)]
    return consolidate(request.label_attribute_name, objects)


@dataclass
class GroundTruthResults:
    tasks: ReviewTasksTable
    callbacks: TaskCallbacks
    clock: Clock = utc_clock

    def deliver(self, line: Mapping[str, Any]) -> Decision:
        task, token, answer = review_result(line, self.clock())
        if answer is None:
            sent = self.callbacks.fail(
                token,
                REVIEW_UNRESOLVED,
                f"Ground Truth returned no usable answer for task {task.task_id}",
            )
            obs.logger.warning("review unresolved", extra={"task_id": task.task_id})
            return "unresolved" if sent else "expired"
        recorded = self.tasks.record_answer(
            answer, answered_by="groundtruth", deadline=task.deadline
        )
        delivered = self.callbacks.succeed(token, recorded.answer.model_dump(mode="json"))
        decision: Decision = "delivered" if delivered else "expired"
        obs.logger.info(
            "review answer delivered"
            if delivered
            else "review answer arrived after its token closed",
            extra={"task_id": task.task_id, "store_id": task.store_id},
        )
        return decision


class TemplateMismatchError(RuntimeError):
    """The template shipped with the function differs from the one the stack hashed."""


@dataclass
class LabelingJobResource:
    """The custom resource's `onEvent` (CDK's Provider framework sends the response).

    Create: upload the worker template (content-addressed key) and create the job under a
    fresh versioned name, the physical id. Update: unchanged properties keep the job; any
    change creates a new job under a new name, and CloudFormation then deletes the old
    physical id, which stops the old job. Delete: stop the job (gone or stopped is fine).
    """

    jobs: LabelingJobs

    def on_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        kind = event["RequestType"]
        physical = str(event.get("PhysicalResourceId", ""))
        if kind == "Delete":
            if JOB_NAME_PATTERN.fullmatch(physical):
                stopped = self.jobs.stop(physical)
                obs.logger.info(
                    "labeling job stopped", extra={"job": physical, "was_running": stopped}
                )
            return {"PhysicalResourceId": physical}
        spec = LabelingJobSpec.model_validate(event["ResourceProperties"])
        if kind == "Update" and _same_spec(event.get("OldResourceProperties"), spec):
            return {"PhysicalResourceId": physical, "Data": {"LabelingJobName": physical}}
        text = template_text()
        if template_sha256(text) != spec.template_sha256:
            raise TemplateMismatchError(
                "the worker template in the common layer is not the one the stack was built with"
            )
        self.jobs.put_template(spec.template_uri, text)
        name = job_name(spec, str(event["RequestId"]))
        arn = self.jobs.create(create_request(spec, name))
        obs.logger.info("labeling job created", extra={"job": name})
        return {
            "PhysicalResourceId": name,
            "Data": {"LabelingJobName": name, "LabelingJobArn": arn},
        }


def _same_spec(old: Any, spec: LabelingJobSpec) -> bool:
    try:
        return LabelingJobSpec.model_validate(old).fingerprint() == spec.fingerprint()
    except ValueError:
        return False
