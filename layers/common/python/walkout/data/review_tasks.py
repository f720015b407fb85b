"""Review tasks and their answers, in the sessions table (the console adapter's queue, and
the answer record of both adapters).

    pk                  sk        what
    REVIEW#<task_id>    TASK      a console task: the task, its Step Functions token, status
    REVIEW#<task_id>    ANSWER    the first answer recorded for the task (either adapter)

A console task is listed in the `by-store-status` index under `gsi1pk` REVIEWS#<retailer>
with `gsi1sk` <status>#<created_at>#<task_id>, so `next_task` takes a retailer's oldest open
task with one query. Status: open -> claimed (a reviewer has it) -> answered; closed when
its token is dead (the workflow timed out). A claim older than the claim timeout may be
taken over. Items expire `ttl_days` after the task's deadline.

The token is a capability (it completes the workflow's review step): it stays in this
table, encrypted at rest, and is never part of what a reviewer is shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from walkout._base import Identifier, Model
from walkout.data.dynamo import (
    Clock,
    cancellation_codes,
    conditional_write,
    from_item,
    is_conditional_failure,
    key,
    query_all,
    to_item,
    ttl_attribute,
    value,
)
from walkout.events import UtcTimestamp, format_timestamp
from walkout.review.contract import ReviewAnswer, ReviewTask

STATUS_INDEX = "by-store-status"
TASK = "TASK"
ANSWER = "ANSWER"


class ReviewTaskStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    CLOSED = "closed"


def task_pk(task_id: str) -> str:
    return f"REVIEW#{task_id}"


def queue_pk(retailer_id: str) -> str:
    return f"REVIEWS#{retailer_id}"


class StoredReviewTask(Model):
    task: ReviewTask
    token: str = Field(repr=False, min_length=1)
    status: ReviewTaskStatus
    claimed_by: Identifier | None = None
    claimed_at: UtcTimestamp | None = None
    closed_reason: str | None = None


class StoredAnswer(Model):
    answer: ReviewAnswer
    answered_by: str
    recorded_at: UtcTimestamp


class AnswerConflictError(RuntimeError):
    """The task was answered before, differently."""


class TaskNotAnswerableError(RuntimeError):
    """The task is closed (its workflow moved on) or unknown."""


class ReviewTasksTable:
    def __init__(self, ddb: Any, table_name: str, *, ttl_days: int, clock: Clock) -> None:
        self.ddb = ddb
        self.table = table_name
        self.ttl_days = ttl_days
        self.clock = clock

    def _expiry(self, task: ReviewTask) -> dict[str, int]:
        return ttl_attribute(task.deadline, self.ttl_days)

    def _task_item(self, stored: StoredReviewTask) -> dict[str, Any]:
        task = stored.task
        return to_item(
            {
                "pk": task_pk(task.task_id),
                "sk": TASK,
                "gsi1pk": queue_pk(task.retailer_id),
                "gsi1sk": self._queue_sk(stored.status, task),
                "task": task.model_dump(mode="json", by_alias=True),
                "token": stored.token,
                "status": stored.status.value,
                "store_id": task.store_id,
                "claimed_by": stored.claimed_by,
                "claimed_at": format_timestamp(stored.claimed_at) if stored.claimed_at else None,
                "closed_reason": stored.closed_reason,
                **self._expiry(task),
            }
        )

    @staticmethod
    def _queue_sk(status: ReviewTaskStatus, task: ReviewTask) -> str:
        return f"{status.value}#{format_timestamp(task.created_at)}#{task.task_id}"

    # console tasks -------------------------------------------------------------------------

    def put(self, task: ReviewTask, token: str) -> bool:
        """Queue a task with its token. A task not yet answered takes the new token (the
        workflow retried its review step, and only the newest token is alive); False when
        the task was answered or closed already (nothing is written)."""
        stored = StoredReviewTask(task=task, token=token, status=ReviewTaskStatus.OPEN)
        return conditional_write(
            self.ddb.put_item,
            TableName=self.table,
            Item=self._task_item(stored),
            ConditionExpression="attribute_not_exists(pk) OR #s IN (:open, :claimed)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":open": value(ReviewTaskStatus.OPEN.value),
                ":claimed": value(ReviewTaskStatus.CLAIMED.value),
            },
        )

    def get(self, task_id: str) -> StoredReviewTask | None:
        page = self.ddb.get_item(
            TableName=self.table, Key=key(task_pk(task_id), TASK), ConsistentRead=True
        )
        return _stored(from_item(page["Item"])) if "Item" in page else None

    def queued(
        self,
        retailer_id: str,
        status: ReviewTaskStatus,
        store_id: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[StoredReviewTask]:
        """A retailer's tasks in `status`, oldest first (optionally one store's), read a
        page at a time as they are taken (`page_size` tasks a page: one who wants the
        oldest reads a few, not the whole queue)."""
        params: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :status)",
            "ExpressionAttributeValues": {
                ":pk": value(queue_pk(retailer_id)),
                ":status": value(f"{status.value}#"),
            },
        }
        if store_id is not None:
            params["FilterExpression"] = "store_id = :store"
            params["ExpressionAttributeValues"][":store"] = value(store_id)
        if page_size is not None:
            params["Limit"] = page_size
        for item in query_all(self.ddb, **params):
            yield _stored(item)

    def claim(
        self, stored: StoredReviewTask, reviewer_id: str, *, claim_timeout_s: float
    ) -> StoredReviewTask | None:
        """Give the task to a reviewer if it is open, or its claim is stale; None if someone
        else got it first."""
        now = self.clock()
        after = stored.model_copy(
            update={
                "status": ReviewTaskStatus.CLAIMED,
                "claimed_by": reviewer_id,
                "claimed_at": now,
            }
        )
        stale = format_timestamp(now - timedelta(seconds=claim_timeout_s))
        claimed = conditional_write(
            self.ddb.update_item,
            TableName=self.table,
            Key=key(task_pk(stored.task.task_id), TASK),
            UpdateExpression="SET #s = :claimed, claimed_by = :who, claimed_at = :at, gsi1sk = :sk",
            ConditionExpression="#s = :open OR (#s = :claimed AND claimed_at < :stale)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":claimed": value(ReviewTaskStatus.CLAIMED.value),
                ":open": value(ReviewTaskStatus.OPEN.value),
                ":who": value(reviewer_id),
                ":at": value(format_timestamp(now)),
                ":stale": value(stale),
                ":sk": value(self._queue_sk(ReviewTaskStatus.CLAIMED, stored.task)),
            },
        )
        return after if claimed else None

    def close(self, task_id: str, reason: str) -> None:
        """The task's token is dead: take it off the queue for good."""
        stored = self.get(task_id)
        if stored is None or stored.status is ReviewTaskStatus.ANSWERED:
            return
        self.ddb.update_item(
            TableName=self.table,
            Key=key(task_pk(task_id), TASK),
            UpdateExpression="SET #s = :closed, closed_reason = :why, gsi1sk = :sk",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":closed": value(ReviewTaskStatus.CLOSED.value),
                ":why": value(reason[:500]),
                ":sk": value(self._queue_sk(ReviewTaskStatus.CLOSED, stored.task)),
            },
        )

    # answers -------------------------------------------------------------------------------

    def _answer_item(self, answer: ReviewAnswer, answered_by: str, deadline: datetime) -> Any:
        return to_item(
            {
                "pk": task_pk(answer.task_id),
                "sk": ANSWER,
                "answer": answer.model_dump(mode="json"),
                "answered_by": answered_by,
                "recorded_at": format_timestamp(self.clock()),
                **ttl_attribute(deadline, self.ttl_days),
            }
        )

    def record_answer(
        self, answer: ReviewAnswer, *, answered_by: str, deadline: datetime
    ) -> StoredAnswer:
        """Record the task's answer; the first one recorded stays and is returned (a
        redelivered message records nothing new)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=self._answer_item(answer, answered_by, deadline),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            stored = self.answer(answer.task_id)
            if stored is None:
                raise
            return stored
        return StoredAnswer(answer=answer, answered_by=answered_by, recorded_at=self.clock())

    def answer_console_task(
        self, stored: StoredReviewTask, answer: ReviewAnswer, reviewer_id: str
    ) -> StoredAnswer:
        """Record a reviewer's answer and mark the task answered, atomically. Repeating the
        same answer returns it; a different one after it is an `AnswerConflictError`."""
        task = stored.task
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": key(task_pk(task.task_id), TASK),
                            "UpdateExpression": "SET #s = :answered, gsi1sk = :sk",
                            "ConditionExpression": "#s IN (:open, :claimed)",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":answered": value(ReviewTaskStatus.ANSWERED.value),
                                ":open": value(ReviewTaskStatus.OPEN.value),
                                ":claimed": value(ReviewTaskStatus.CLAIMED.value),
                                ":sk": value(self._queue_sk(ReviewTaskStatus.ANSWERED, task)),
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": self._answer_item(answer, reviewer_id, task.deadline),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except self.ddb.exceptions.TransactionCanceledException as exc:
            if "ConditionalCheckFailed" not in cancellation_codes(exc):
                raise
            previous = self.answer(task.task_id)
            if previous is None:
                raise TaskNotAnswerableError(f"task {task.task_id} is {stored.status}") from exc
            if previous.answer.answers != answer.answers:
                raise AnswerConflictError(
                    f"task {task.task_id} was answered before by {previous.answered_by}"
                ) from exc
            return previous
        return StoredAnswer(answer=answer, answered_by=reviewer_id, recorded_at=self.clock())

    def answer(self, task_id: str) -> StoredAnswer | None:
        page = self.ddb.get_item(
            TableName=self.table, Key=key(task_pk(task_id), ANSWER), ConsistentRead=True
        )
        if "Item" not in page:
            return None
        item = from_item(page["Item"])
        return StoredAnswer(
            answer=ReviewAnswer.model_validate(item["answer"]),
            answered_by=item["answered_by"],
            recorded_at=item["recorded_at"],
        )


def _stored(item: dict[str, Any]) -> StoredReviewTask:
    return StoredReviewTask(
        task=ReviewTask.model_validate(item["task"]),
        token=item["token"],
        status=ReviewTaskStatus(item["status"]),
        claimed_by=item.get("claimed_by"),
        claimed_at=item.get("claimed_at"),
        closed_reason=item.get("closed_reason"),
    )
