"""The review console's routes: the next task, a claimed task, its answers, against moto
with a real waiting task token (moto executes the state machine that waits for it)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from api_support import (
    EVIDENCE_BUCKET,
    Tokens,
    assert_problem,
    call,
    create_store_for,
    execution_result,
    queue_review,
    review_task,
    waiting_token,
)
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from walkout.api.auth import REVIEWER_GROUP

RETAILER = "retailer-a"
OTHER = "retailer-b"
ANSWER = {"answers": [{"event_id": "E1", "shopper": "B", "sku": "cola", "qty": 1}]}


def reviewer(tokens: Tokens, subject: str, retailer: str = RETAILER) -> dict[str, str]:
    claims: dict[str, str] = tokens.claims(
        tokens.issuer.issue(retailer_id=retailer, groups=[REVIEWER_GROUP], subject=subject)
    )
    return claims


def unsigned(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "questions": [
            {
                **q,
                "evidence": [urlparse(u).path for u in q["evidence"]],
                "shoppers": [
                    {**s, "looks": [urlparse(u).path for u in s["looks"]]} for s in q["shoppers"]
                ],
            }
            for q in task["questions"]
        ],
        "people": [{**p, "looks": [urlparse(u).path for u in p["looks"]]} for p in task["people"]],
    }


def queued(app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any) -> tuple[str, str]:
    """A store of the retailer with one review task waiting; returns (store, execution)."""
    store_id = create_store_for(app, tokens, RETAILER)
    token, execution = waiting_token()
    queue_review(ddb, review_task(store_id, RETAILER), token)
    return store_id, execution


def test_the_next_task_is_claimed_and_shown_without_sessions_or_tokens(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id, _ = queued(app, tokens, ddb)
    alice = reviewer(tokens, "alice")

    taken = call(app, "POST", "/review-tasks/next", alice)
    again = call(app, "GET", "/review-tasks/rt-1", alice)
    nothing_left = call(app, "POST", "/review-tasks/next", reviewer(tokens, "bob"))

    assert taken.status == 200, taken.body
    question = taken.body["questions"][0]
    assert [s["label"] for s in question["shoppers"]] == ["A", "B"]
    assert [p["sku"] for p in question["products"]] == ["cola", "chips"]
    # Two images of the task's store, presigned for a short while; the foreign one left out.
    assert len(question["evidence"]) == 2
    url = urlparse(question["evidence"][0])
    assert url.scheme == "https"
    assert EVIDENCE_BUCKET in url.netloc + url.path
    assert f"stores/{store_id}/evidence/E1/0.jpg" in url.path
    assert parse_qs(url.query)["X-Amz-Expires"] == ["300"]
    # B's look at the gate, presigned the same way; A has none; the foreign one left out
    a, b = question["shoppers"]
    assert a["looks"] == []
    (look,) = (urlparse(u) for u in b["looks"])
    assert f"stores/{store_id}/evidence/E0/entry-t2.jpg" in look.path
    assert parse_qs(look.query)["X-Amz-Expires"] == ["300"]
    # Somebody else in the store then: a number and their look, presigned; no session
    assert question["present"] == ["1"]
    (person,) = taken.body["people"]
    assert person["label"] == "1"
    (look,) = (urlparse(u) for u in person["looks"])
    assert f"stores/{store_id}/evidence/E7/entry-t9.jpg" in look.path
    text = json.dumps(taken.body)
    assert "s-secret" not in text
    assert "token" not in text.lower()
    assert again.status == 200
    # The same task, its images signed afresh (a signature names the second it was made).
    assert unsigned(again.body) == unsigned(taken.body)
    assert nothing_left.status == 204


def test_a_store_filter_takes_only_that_stores_tasks(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id, _ = queued(app, tokens, ddb)
    other_store = create_store_for(app, tokens, RETAILER)
    foreign_store = create_store_for(app, tokens, OTHER)
    alice = reviewer(tokens, "alice")

    elsewhere = call(app, "POST", "/review-tasks/next", alice, {"store_id": other_store})
    foreign = call(app, "POST", "/review-tasks/next", alice, {"store_id": foreign_store})
    here = call(app, "POST", "/review-tasks/next", alice, {"store_id": store_id})

    assert elsewhere.status == 204
    assert_problem(foreign, 404, f"store {foreign_store} not found")
    assert here.status == 200
    assert here.body["task_id"] == "rt-1"


@pytest.mark.parametrize("shopper", ["B", "1"], ids=["a candidate", "somebody present"])
def test_an_answer_reaches_the_waiting_workflow(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any, shopper: str
) -> None:
    _, execution = queued(app, tokens, ddb)
    alice = reviewer(tokens, "alice")
    call(app, "POST", "/review-tasks/next", alice)
    given = {**ANSWER["answers"][0], "shopper": shopper}

    answered = call(app, "POST", "/review-tasks/rt-1/answers", alice, {"answers": [given]})
    status, output = execution_result(execution)

    assert answered.status == 200, answered.body
    assert answered.body == {"task_id": "rt-1", "status": "delivered"}
    assert status == "SUCCEEDED"
    assert output["task_id"] == "rt-1"
    assert output["answers"][0] == {**given, "resolved": True, "agreement": 1.0}


def test_an_answer_may_name_somebody_else_who_took_the_same_item(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    _, execution = queued(app, tokens, ddb)
    alice = reviewer(tokens, "alice")
    call(app, "POST", "/review-tasks/next", alice)
    path = "/review-tasks/rt-1/answers"
    given = {**ANSWER["answers"][0], "also": [{"shopper": "1", "qty": 1}]}

    twice = call(app, "POST", path, alice, {"answers": [{**given, "shopper": "1"}]})
    stranger = call(
        app, "POST", path, alice, {"answers": [{**given, "also": [{"shopper": "C", "qty": 1}]}]}
    )
    answered = call(app, "POST", path, alice, {"answers": [given]})
    status, output = execution_result(execution)

    assert_problem(twice, 422, "body.answers[0]", "named more than once")
    assert_problem(stranger, 422, "body.answers[E1].also[0].shopper: C is neither")
    assert answered.status == 200, answered.body
    assert status == "SUCCEEDED"
    assert output["answers"][0] == {**given, "resolved": True, "agreement": 1.0}


def test_bad_answers_are_422s_naming_the_field_and_a_changed_answer_is_409(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    queued(app, tokens, ddb)
    alice = reviewer(tokens, "alice")
    call(app, "POST", "/review-tasks/next", alice)
    path = "/review-tasks/rt-1/answers"

    not_a_candidate = call(
        app, "POST", path, alice, {"answers": [{**ANSWER["answers"][0], "shopper": "C"}]}
    )
    nobody_there = call(
        app, "POST", path, alice, {"answers": [{**ANSWER["answers"][0], "shopper": "2"}]}
    )
    unknown_event = call(
        app, "POST", path, alice, {"answers": [{**ANSWER["answers"][0], "event_id": "E9"}]}
    )
    too_many = call(app, "POST", path, alice, {"answers": [{**ANSWER["answers"][0], "qty": 99}]})
    empty = call(app, "POST", path, alice, {"answers": []})
    first = call(app, "POST", path, alice, ANSWER)
    same = call(app, "POST", path, alice, ANSWER)
    changed = call(
        app, "POST", path, alice, {"answers": [{**ANSWER["answers"][0], "shopper": "A"}]}
    )

    assert_problem(not_a_candidate, 422, "body.answers[E1].shopper")
    assert_problem(nobody_there, 422, "body.answers[E1].shopper: 2 is neither")
    assert_problem(unknown_event, 422, "body.answers", "E9")
    assert_problem(too_many, 422, "body.answers.0.qty")
    assert_problem(empty, 422, "body.answers")
    assert first.status == 200
    # The workflow took the first answer; repeating it is harmless (recorded once).
    assert same.status == 200
    assert same.body["task_id"] == "rt-1"
    assert_problem(changed, 409, "answered differently")


def test_a_task_whose_workflow_stopped_waiting_is_skipped(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    store_id = create_store_for(app, tokens, RETAILER)
    queue_review(ddb, review_task(store_id, RETAILER), "a-token-nobody-waits-for")

    reply = call(app, "POST", "/review-tasks/next", reviewer(tokens, "alice"))

    assert reply.status == 204


def test_a_task_is_readable_only_by_the_reviewer_who_claimed_it(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    queued(app, tokens, ddb)

    unclaimed = call(app, "GET", "/review-tasks/rt-1", reviewer(tokens, "alice"))
    call(app, "POST", "/review-tasks/next", reviewer(tokens, "alice"))
    someone_else = call(app, "GET", "/review-tasks/rt-1", reviewer(tokens, "bob"))
    shopper = call(app, "POST", "/review-tasks/next", tokens.shopper(RETAILER, "s-1"))

    assert_problem(unclaimed, 404, "review task rt-1 not found")
    assert_problem(someone_else, 404, "review task rt-1 not found")
    assert_problem(shopper, 403, "reviewer or admin")


def test_only_the_reviewer_who_claimed_a_task_may_answer_it(
    app: APIGatewayHttpResolver, tokens: Tokens, ddb: Any
) -> None:
    # Given a task alice took
    _, execution = queued(app, tokens, ddb)
    alice, bob = reviewer(tokens, "alice"), reviewer(tokens, "bob")
    unclaimed = call(app, "POST", "/review-tasks/rt-1/answers", alice, ANSWER)
    call(app, "POST", "/review-tasks/next", alice)

    # When bob, a reviewer of the same retailer, answers it
    by_bob = call(app, "POST", "/review-tasks/rt-1/answers", bob, ANSWER)
    by_alice = call(app, "POST", "/review-tasks/rt-1/answers", alice, ANSWER)

    # Then bob is told it does not exist, and the workflow gets alice's answer only
    assert_problem(unclaimed, 404, "review task rt-1 not found")
    assert_problem(by_bob, 404, "review task rt-1 not found")
    assert by_alice.status == 200, by_alice.body
    status, output = execution_result(execution)
    assert status == "SUCCEEDED"
    assert output["task_id"] == "rt-1"
