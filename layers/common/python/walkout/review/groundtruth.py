"""Ground Truth adapter, pure part: the data object, the custom workflow's Lambda contracts
and majority consolidation (docs/review.md; FACTS.md has the documented shapes).

The flow of one task:
1. The workflow publishes one SNS message to the input topic: an input-manifest line
   `{"source": <the ReviewTask as JSON>, "walkout-task-token": <token>}`.
2. Pre-annotation gets `{"version", "labelingJobArn", "dataObject": <that line>}` and returns
   `{"taskInput": <ReviewerTask>, "isHumanAnnotationRequired": "true"}`; the worker template
   renders `task.input`.
3. Each worker's form arrives as `annotationData.content`, a JSON string whose field
   `walkout-answers` holds the answers (the template fills it on submit).
4. Consolidation reads the payload file GT wrote to S3 (a list of `{"datasetObjectId",
   "dataObject", "annotations": [{"workerId", "annotationData": {"content"}}]}`) and
   returns `[{"datasetObjectId", "consolidatedAnnotation": {"content": {<label attribute>:
   {...}}}}]`: per event the majority answer and the share of workers who gave it.
5. GT publishes the output-manifest line (the input keys plus `<label attribute>` and
   `<label attribute>-metadata`) to the output topic, whose subscriber sends the token back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from walkout.config import ReviewBackend
from walkout.review.contract import (
    EventAnswer,
    OtherTaker,
    ReviewAnswer,
    ReviewTask,
    answer_problem,
)

LABEL_ATTRIBUTE: Final = "walkout-review"
SOURCE_KEY: Final = "source"
TOKEN_KEY: Final = "walkout-task-token"  # noqa: S105 - a manifest key, not a secret
ANSWERS_FIELD: Final = "walkout-answers"
# A data object (one manifest line) may be at most 100 KB.
MAX_DATA_OBJECT_BYTES: Final = 100_000
NONE_CHOICE: Final = "none"


class GroundTruthError(ValueError):
    """A message or request that does not have the documented shape."""


class _Request(BaseModel):
    # GT may add keys over time: ignore the ones we do not read.
    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class PreAnnotationRequest(_Request):
    version: str
    labeling_job_arn: str
    data_object: dict[str, Any]


class PayloadLocation(_Request):
    s3_uri: str = Field(pattern=r"^s3://")


class ConsolidationRequest(_Request):
    version: str
    labeling_job_arn: str
    label_categories: list[str] | None = None
    label_attribute_name: str
    role_arn: str
    payload: PayloadLocation


class AnnotationData(_Request):
    content: str


class WorkerAnnotation(_Request):
    worker_id: str
    annotation_data: AnnotationData


class DatasetObject(_Request):
    dataset_object_id: str
    data_object: dict[str, Any]
    annotations: list[WorkerAnnotation] = []


def data_object(task: ReviewTask, token: str) -> dict[str, str]:
    """The input-manifest line for a task (what the workflow's SNS message carries; the
    workflow builds it from the task Assess fitted to `MAX_TASK_BYTES`)."""
    line = {SOURCE_KEY: task_json(task), TOKEN_KEY: token}
    size = len(json.dumps(line).encode())
    if size > MAX_DATA_OBJECT_BYTES:
        raise GroundTruthError(f"task {task.task_id}: data object of {size} bytes exceeds 100 KB")
    return line


def task_json(task: ReviewTask) -> str:
    return task.model_dump_json(by_alias=True)


def task_of(line: Mapping[str, Any]) -> tuple[ReviewTask, str]:
    """The task and its token from a manifest line (input or output)."""
    source, token = line.get(SOURCE_KEY), line.get(TOKEN_KEY)
    if not isinstance(source, str) or not isinstance(token, str) or not token:
        raise GroundTruthError(f"data object: needs string keys {SOURCE_KEY!r} and {TOKEN_KEY!r}")
    try:
        return ReviewTask.model_validate_json(source), token
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GroundTruthError(f"data object source.{where}: {first['msg']}") from None


def pre_annotation(request: PreAnnotationRequest) -> dict[str, Any]:
    """The worker-facing task input for one data object."""
    task, _ = task_of(request.data_object)
    return {
        "taskInput": task.reviewer_view().model_dump(mode="json"),
        "isHumanAnnotationRequired": "true",
    }


# --- workers' answers -----------------------------------------------------------------------


def worker_answers(content: str, task: ReviewTask) -> dict[str, EventAnswer]:
    """One worker's answers by event id; a field that is missing or not a candidate is left
    out (that worker does not vote on that event) rather than failing the whole object."""
    try:
        form = json.loads(content)
    except json.JSONDecodeError:
        return {}
    if not isinstance(form, dict):
        return {}
    raw = form.get(ANSWERS_FIELD)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raw = None
    items = raw if isinstance(raw, list) else _from_fields(form, task)
    out: dict[str, EventAnswer] = {}
    for item in items:
        answer = _event_answer(item, task)
        if answer is not None and answer.event_id not in out:
            out[answer.event_id] = answer
    return out


def _from_fields(form: Mapping[str, Any], task: ReviewTask) -> list[dict[str, Any]]:
    """Answers from the plain form fields `<event>-shopper`, `-sku`, `-qty`, `-also-shopper`
    and `-also-qty` (when the template's script did not run). crowd-form writes a radio
    group either as its value or as `{value: {"on": true}}`; both are read."""
    items = []
    for q in task.questions:
        items.append(
            {
                "event_id": q.event_id,
                "shopper": _field_value(form.get(f"{q.event_id}-shopper")),
                "sku": _field_value(form.get(f"{q.event_id}-sku")),
                "qty": _field_value(form.get(f"{q.event_id}-qty")),
                "also": [
                    {
                        "shopper": _field_value(form.get(f"{q.event_id}-also-shopper")),
                        "qty": _field_value(form.get(f"{q.event_id}-also-qty")) or 0,
                    }
                ],
            }
        )
    return items


def _field_value(value: Any) -> Any:
    if isinstance(value, dict):
        chosen = [k for k, v in value.items() if v is True or (isinstance(v, dict) and v.get("on"))]
        return chosen[0] if len(chosen) == 1 else None
    return value


def _event_answer(item: Any, task: ReviewTask) -> EventAnswer | None:
    if not isinstance(item, dict):
        return None
    question = task.question(str(item.get("event_id", "")))
    if question is None:
        return None
    shopper = item.get("shopper")
    sku = item.get("sku")
    try:
        qty = int(item.get("qty"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    shopper = None if shopper in (None, "", NONE_CHOICE) else shopper
    sku = None if sku in (None, "", NONE_CHOICE) else sku
    also = _also(item.get("also"))
    if also is None:
        return None
    try:
        answer = EventAnswer(
            event_id=question.event_id, shopper=shopper, sku=sku, qty=qty, also=also
        )
    except ValidationError:
        return None  # not a label or a quantity, a shopper named twice, others alone
    # An answer the task would refuse is no vote (the rest of the worker's answers count).
    return None if answer_problem(task, question, answer) is not None else answer


def _also(raw: Any) -> list[OtherTaker] | None:
    """The others a worker says moved the item too (None: not readable, so no vote)."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        return None
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            return None
        shopper = entry.get("shopper")
        try:
            qty = int(entry.get("qty"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if shopper in (None, "", NONE_CHOICE) or qty == 0:
            continue  # a row the worker left empty
        try:
            out.append(OtherTaker(shopper=str(shopper), qty=qty))
        except ValidationError:
            return None  # not a label, or a quantity below one or beyond any question's
    return out


def majority(task: ReviewTask, workers: Sequence[Mapping[str, EventAnswer]]) -> list[EventAnswer]:
    """Per event, the answer most workers gave, with the share that gave it (agreement).
    No votes, or a tie at the top: unresolved (the workflow then charges nothing for it)."""
    out = []
    for q in task.questions:
        votes = Counter(w[q.event_id].choice for w in workers if q.event_id in w)
        total = sum(votes.values())
        ranked = votes.most_common()
        if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
            agreement = ranked[0][1] / total if ranked else 0.0
            out.append(
                EventAnswer(
                    event_id=q.event_id,
                    shopper=None,
                    sku=None,
                    qty=0,
                    resolved=False,
                    agreement=agreement,
                )
            )
            continue
        (shopper, sku, qty, also), count = ranked[0]
        out.append(
            EventAnswer(
                event_id=q.event_id,
                shopper=shopper,
                sku=sku,
                qty=qty,
                also=[OtherTaker(shopper=label, qty=n) for label, n in also],
                agreement=count / total,
            )
        )
    return out


def consolidate(label_attribute: str, objects: Sequence[DatasetObject]) -> list[dict[str, Any]]:
    """The consolidation Lambda's response for a payload of dataset objects."""
    response = []
    for obj in objects:
        task, _ = task_of(obj.data_object)
        workers = [worker_answers(a.annotation_data.content, task) for a in obj.annotations]
        answers = majority(task, workers)
        response.append(
            {
                "datasetObjectId": obj.dataset_object_id,
                "consolidatedAnnotation": {
                    "content": {
                        label_attribute: {
                            "task_id": task.task_id,
                            "answers": [a.model_dump(mode="json") for a in answers],
                            "workers": len(obj.annotations),
                            "agreement": _mean(a.agreement for a in answers),
                        }
                    }
                },
            }
        )
    return response


def _mean(values: Any) -> float:
    items = list(values)
    return round(sum(items) / len(items), 6) if items else 0.0


# --- the output topic ------------------------------------------------------------------------


class ConsolidatedReview(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    task_id: str
    answers: list[EventAnswer]
    workers: int = Field(ge=0)
    agreement: float = Field(ge=0, le=1)


def review_result(
    line: Mapping[str, Any], answered_at: datetime, label_attribute: str = LABEL_ATTRIBUTE
) -> tuple[ReviewTask, str, ReviewAnswer | None]:
    """The task, its token and the answer from an output-manifest line. The answer is None
    when GT labelled nothing (no worker in time, a failed object): the review is unresolved."""
    task, token = task_of(line)
    label = line.get(label_attribute)
    if not isinstance(label, dict):
        return task, token, None
    try:
        consolidated = ConsolidatedReview.model_validate(label)
    except ValidationError:
        return task, token, None
    if consolidated.task_id != task.task_id or consolidated.workers < 1:
        return task, token, None
    if not any(a.resolved for a in consolidated.answers):
        return task, token, None
    answer = ReviewAnswer(
        task_id=task.task_id,
        answers=consolidated.answers,
        reviewers=consolidated.workers,
        agreement=consolidated.agreement,
        source=ReviewBackend.GROUNDTRUTH,
        answered_at=answered_at,
    )
    return task, token, answer


def message_line(message: str) -> dict[str, Any]:
    """An SNS message body as a manifest line."""
    try:
        line = json.loads(message)
    except json.JSONDecodeError as exc:
        raise GroundTruthError(f"output message: not JSON ({exc.msg})") from None
    if not isinstance(line, dict):
        raise GroundTruthError("output message: not a JSON object")
    return line


# What became of a review result: handed to the workflow, too late (the token is dead:
# delivered before, or the workflow timed out), or unresolved (told the workflow so).
Decision = Literal["delivered", "expired", "unresolved"]
