"""Ground Truth's custom-workflow contracts, with requests shaped as in the AWS docs: the
pre-annotation Lambda, the consolidation Lambda (majority, agreement) and the output line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from review_builders import answers, sample_task

from walkout.review.groundtruth import (
    ANSWERS_FIELD,
    LABEL_ATTRIBUTE,
    ConsolidationRequest,
    DatasetObject,
    GroundTruthError,
    PreAnnotationRequest,
    consolidate,
    data_object,
    pre_annotation,
    review_result,
    task_of,
    worker_answers,
)

JOB = "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/walkout-dev-review-v1-0a1b2c3d4e"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAdc7...token"
LINE = data_object(sample_task(), TOKEN)


def worker(i: int, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "workerId": f"private.eu-west-1.WORKER{i}",
        "annotationData": {"content": json.dumps(content)},
    }


def form(*items: tuple[str, str, str, int]) -> dict[str, str]:
    return {ANSWERS_FIELD: json.dumps(answers(*items))}


def test_the_data_object_carries_the_task_and_its_token() -> None:
    task, token = task_of(LINE)

    assert set(LINE) == {"source", "walkout-task-token"}
    assert (task, token) == (sample_task(), TOKEN)


def test_a_data_object_over_100_kb_is_refused() -> None:
    with pytest.raises(GroundTruthError, match="exceeds 100 KB"):
        data_object(sample_task(), "t" * 120_000)


def test_pre_annotation_answers_with_the_documented_shape() -> None:
    # Given the request Ground Truth sends (docs: version, labelingJobArn, dataObject)
    request = {"version": "2018-10-16", "labelingJobArn": JOB, "dataObject": LINE}

    response = pre_annotation(PreAnnotationRequest.model_validate(request))

    assert set(response) == {"taskInput", "isHumanAnnotationRequired"}
    assert response["isHumanAnnotationRequired"] == "true"
    assert response["taskInput"]["task_id"] == sample_task().task_id
    assert "s-1" not in json.dumps(response["taskInput"])
    assert TOKEN not in json.dumps(response["taskInput"])


def test_pre_annotation_refuses_a_data_object_without_the_task() -> None:
    request = {
        "version": "2018-10-16",
        "labelingJobArn": JOB,
        "dataObject": {"source-ref": "s3://b/k"},
    }

    with pytest.raises(GroundTruthError, match="source"):
        pre_annotation(PreAnnotationRequest.model_validate(request))


def consolidation_request() -> ConsolidationRequest:
    return ConsolidationRequest.model_validate(
        {
            "version": "2018-10-16",
            "labelingJobArn": JOB,
            "labelCategories": None,
            "labelAttributeName": LABEL_ATTRIBUTE,
            "roleArn": "arn:aws:iam::123456789012:role/walkout-dev-groundtruth",
            "payload": {"s3Uri": "s3://review-bucket/output/job/consolidation-request/0.json"},
            "outputConfig": "s3://review-bucket/output/",
        }
    )


def test_consolidation_takes_the_majority_and_records_agreement() -> None:
    # Given the payload file's shape (docs: datasetObjectId, dataObject, annotations)
    objects = [
        DatasetObject.model_validate(
            {
                "datasetObjectId": "17",
                "dataObject": LINE,
                "annotations": [
                    worker(1, form(("E1", "B", "tea", 1), ("E2", "A", "candy", 1))),
                    worker(2, form(("E1", "B", "tea", 1), ("E2", "none", "none", 0))),
                    worker(3, form(("E1", "A", "chips", 1), ("E2", "A", "candy", 1))),
                ],
            }
        )
    ]

    [result] = consolidate(consolidation_request().label_attribute_name, objects)

    assert result["datasetObjectId"] == "17"
    content = result["consolidatedAnnotation"]["content"][LABEL_ATTRIBUTE]
    first, second = content["answers"]
    assert (first["shopper"], first["sku"], first["qty"]) == ("B", "tea", 1)
    assert first["agreement"] == pytest.approx(2 / 3)
    assert (second["shopper"], second["sku"], second["agreement"]) == (
        "A",
        "candy",
        pytest.approx(2 / 3),
    )
    assert content["workers"] == 3
    assert content["agreement"] == pytest.approx(2 / 3)


def test_a_tie_leaves_the_event_unresolved() -> None:
    objects = [
        DatasetObject.model_validate(
            {
                "datasetObjectId": "0",
                "dataObject": LINE,
                "annotations": [
                    worker(1, form(("E1", "B", "tea", 1), ("E2", "A", "candy", 1))),
                    worker(2, form(("E1", "A", "chips", 1), ("E2", "A", "candy", 1))),
                ],
            }
        )
    ]

    [result] = consolidate(LABEL_ATTRIBUTE, objects)

    first, second = result["consolidatedAnnotation"]["content"][LABEL_ATTRIBUTE]["answers"]
    assert (first["resolved"], first["agreement"]) == (False, 0.5)
    assert second["resolved"] is True


def test_worker_answers_are_read_from_plain_form_fields_too() -> None:
    # Given a form whose script did not run: crowd-form wrote the radio groups itself
    content = json.dumps(
        {
            "E1-shopper": {"A": {"on": False}, "B": {"on": True}},
            "E1-sku": "tea",
            "E1-qty": "2",
            "E2-shopper": "none",
            "E2-sku": "none",
            "E2-qty": 0,
        }
    )

    found = worker_answers(content, sample_task())

    assert found["E1"].choice == ("B", "tea", 2, ())
    assert found["E2"].choice == (None, None, 0, ())


def test_a_worker_may_name_somebody_present_by_number() -> None:
    content = json.dumps(
        {ANSWERS_FIELD: json.dumps(answers(("E1", "2", "tea", 1), ("E2", "1", "candy", 1)))}
    )

    found = worker_answers(content, sample_task())

    assert found["E1"].choice == ("2", "tea", 1, ())
    assert found["E2"].choice == ("1", "candy", 1, ())
    # Person 2 was not in the store at E2's moment: that answer does not vote
    late = json.dumps(
        {ANSWERS_FIELD: json.dumps(answers(("E1", "A", "tea", 1), ("E2", "2", "candy", 1)))}
    )
    assert set(worker_answers(late, sample_task())) == {"E1"}


def test_answers_that_are_not_candidates_do_not_vote() -> None:
    content = json.dumps(
        {ANSWERS_FIELD: json.dumps(answers(("E1", "Z", "tea", 1), ("E2", "A", "soap", 1)))}
    )

    assert worker_answers(content, sample_task()) == {}
    assert worker_answers("not json", sample_task()) == {}


def output_line(label: Any) -> dict[str, Any]:
    return {
        **LINE,
        LABEL_ATTRIBUTE: label,
        f"{LABEL_ATTRIBUTE}-metadata": {"type": "groundtruth/custom", "human-annotated": "yes"},
    }


def test_the_output_line_gives_back_the_task_the_token_and_the_answer() -> None:
    objects = [
        DatasetObject.model_validate(
            {
                "datasetObjectId": "0",
                "dataObject": LINE,
                "annotations": [worker(1, form(("E1", "B", "tea", 1), ("E2", "A", "candy", 1)))],
            }
        )
    ]
    [result] = consolidate(LABEL_ATTRIBUTE, objects)
    label = result["consolidatedAnnotation"]["content"][LABEL_ATTRIBUTE]

    task, token, answer = review_result(output_line(label), datetime(2026, 11, 25, tzinfo=UTC))

    assert (task, token) == (sample_task(), TOKEN)
    assert answer is not None
    assert answer.reviewers == 1 and answer.source == "groundtruth"
    assert [a.choice for a in answer.answers] == [("B", "tea", 1, ()), ("A", "candy", 1, ())]


@pytest.mark.parametrize(
    "label",
    [
        None,
        {"task_id": "rt-other", "answers": [], "workers": 1, "agreement": 1},
        {"task_id": sample_task().task_id, "answers": [], "workers": 0, "agreement": 0},
    ],
)
def test_an_output_line_without_a_usable_answer_is_unresolved(label: Any) -> None:
    _, token, answer = review_result(output_line(label), datetime(2026, 11, 25, tzinfo=UTC))

    assert (token, answer) == (TOKEN, None)


def test_workers_may_name_a_second_taker_and_votes_count_the_whole_answer() -> None:
    # Given three workers: two say B and person 1 each took a tea (naming them in either
    # order, one through the form's fields), one says B took it alone
    def both(first: str, second: str) -> dict[str, Any]:
        item = {"event_id": "E1", "shopper": first, "sku": "tea", "qty": 1}
        return {**item, "also": [{"shopper": second, "qty": 1}]}

    nothing = {"event_id": "E2", "shopper": "none", "sku": "none", "qty": 0}
    fields = {
        "E1-shopper": "1",
        "E1-sku": "tea",
        "E1-qty": "1",
        "E1-also-shopper": "B",
        "E1-also-qty": "1",
        "E2-shopper": "none",
        "E2-sku": "none",
        "E2-qty": "0",
    }
    objects = [
        DatasetObject.model_validate(
            {
                "datasetObjectId": "5",
                "dataObject": LINE,
                "annotations": [
                    worker(1, {ANSWERS_FIELD: json.dumps([both("B", "1"), nothing])}),
                    worker(2, fields),
                    worker(3, form(("E1", "B", "tea", 1), ("E2", "none", "none", 0))),
                ],
            }
        )
    ]

    [result] = consolidate(LABEL_ATTRIBUTE, objects)

    first, _ = result["consolidatedAnnotation"]["content"][LABEL_ATTRIBUTE]["answers"]
    assert (first["shopper"], first["qty"], first["also"]) == ("B", 1, [{"shopper": "1", "qty": 1}])
    assert first["agreement"] == pytest.approx(2 / 3)


def test_a_second_taker_who_does_not_fit_the_question_does_not_vote() -> None:
    def with_also(shopper: str, qty: Any) -> str:
        item = {"event_id": "E1", "shopper": "A", "sku": "tea", "qty": 1}
        return json.dumps([{**item, "also": [{"shopper": shopper, "qty": qty}]}])

    task = sample_task()
    # C is no candidate; A is named twice; 1 + 3 units exceed the question's 3; "x" is no
    # number, -1 and 99 no quantity; while "nobody else" (an empty row) is an ordinary answer
    for content in (
        with_also("C", 1),
        with_also("A", 1),
        with_also("B", 3),
        with_also("B", "x"),
        with_also("B", -1),
        with_also("B", 99),
    ):
        assert worker_answers(json.dumps({ANSWERS_FIELD: content}), task) == {}
    found = worker_answers(json.dumps({ANSWERS_FIELD: with_also("none", 0)}), task)
    assert found["E1"].choice == ("A", "tea", 1, ())
